//! Produce and fetch throughput over TLS against plaintext: one broker with a
//! PLAINTEXT and an SSL listener, a client on loopback sending 1 MiB produce
//! requests (1,000 records of 1 KiB, acks=1) and fetching them back through
//! each; the interleaved figures also time 1 KiB produce requests, where
//! TLS costs per request rather than per byte. The target: TLS at
//! least 70% of plaintext.
//!
//! Client and broker share the machine's cores, so after criterion's figures
//! the bench prints the CPU time each side spent per MiB: the client runs on
//! this thread, the broker on its runtime's worker threads. The client has a
//! runtime of its own, as a client process has: sharing the broker's, its
//! socket would be polled by the broker's I/O driver, which a worker busy
//! encrypting a response does not poll, so it could not decrypt one part of
//! the response while the broker encrypts the next. The TLS client reads the
//! socket through a 64 KiB buffer, as a real client reads whole records, so
//! that its 4 KiB rustls reads do not make it the bottleneck.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/pki.rs"]
mod pki;

use std::time::Duration;

use bytes::Bytes;
use common::Client;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use runnel::{Broker, Config};
use tokio::runtime::Runtime;

const BATCH: usize = 1 << 20;

fn topic(name: &'static str) -> TopicName {
    TopicName(StrBytes::from_static_str(name))
}

fn produce_request(name: &'static str, records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic(name))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records)),
                ]),
        ])
}

fn fetch_request(name: &'static str) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_bytes(2 * BATCH as i32)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(topic(name))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(2 * BATCH as i32),
                ]),
        ])
}

#[path = "common/cpu.rs"]
mod cpu;
use cpu::cpu_times;

/// One request of a benchmark case, sent and checked.
#[derive(Clone, Copy)]
enum Op {
    Produce,
    /// One 1 KiB record a request: TLS's cost per request, not per byte.
    ProduceSmall,
    Fetch,
}

struct Requests {
    produce: ProduceRequest,
    produce_small: ProduceRequest,
    fetch: FetchRequest,
}

async fn once(client: &mut Client, op: Op, requests: &Requests) {
    match op {
        Op::Produce => produce(client, &requests.produce).await,
        Op::ProduceSmall => produce(client, &requests.produce_small).await,
        Op::Fetch => {
            let r = client.send(&requests.fetch, 12).await;
            let p = &r.responses[0].partitions[0];
            assert_eq!(p.error_code, 0);
            assert!(!p.records.as_ref().unwrap().is_empty());
        }
    }
}

async fn produce(client: &mut Client, request: &ProduceRequest) {
    let r = client.send(request, 9).await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
}

/// A TLS client whose socket is read through a 64 KiB buffer.
async fn connect_tls(ca: &pki::Ca, addr: std::net::SocketAddr) -> Client {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let tcp = tokio::io::BufReader::with_capacity(64 * 1024, tcp);
    let tls = pki::connector(ca, None)
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    let (_, session) = tls.get_ref();
    eprintln!(
        "TLS: {:?}, {:?}",
        session.protocol_version(),
        session.negotiated_cipher_suite().map(|s| s.suite())
    );
    Client::over(tls)
}

fn bench_tls(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = pki::Ca::new("bench CA");
    let keystore = ca
        .server()
        .write_keystore(&ca, &dir.path().join("broker.pem"));
    let mut config = Config {
        listen: "PLAIN://127.0.0.1:0,SECURE://127.0.0.1:0".into(),
        listener_security_protocol_map: "PLAIN:PLAINTEXT,SECURE:SSL".into(),
        http_listen: "off".into(),
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    config.ssl.keystore_location = keystore.display().to_string();
    config.log.retention_check_interval_ms = 1000;
    let broker = rt.block_on(Broker::start(config)).unwrap();
    let plain_addr = broker.listener_addr("PLAIN").unwrap();
    let ssl_addr = broker.listener_addr("SECURE").unwrap();
    let mut plain = client_rt.block_on(Client::connect(plain_addr));
    let mut ssl = client_rt.block_on(connect_tls(&ca, ssl_addr));
    // Produced to in a loop: retention keeps it small.
    client_rt.block_on(plain.create_topic(
        "produced",
        1,
        &[
            ("segment.bytes", "16777216"),
            ("retention.bytes", "67108864"),
        ],
    ));
    client_rt.block_on(plain.create_topic("fetched", 1, &[]));
    let value = vec![b'x'; 1024];
    let values: Vec<&[u8]> = (0..1000).map(|_| value.as_slice()).collect();
    let records = common::batch(&values, Compression::None);
    let requests = Requests {
        produce: produce_request("produced", records.clone()),
        produce_small: produce_request("produced", common::batch(&[&value], Compression::None)),
        fetch: fetch_request("fetched"),
    };
    client_rt.block_on(async {
        let r = plain
            .send(&produce_request("fetched", records.clone()), 9)
            .await;
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    });

    let mut group = c.benchmark_group("tls");
    group.throughput(Throughput::Bytes(records.len() as u64));
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(8));
    // Each operation over both listeners back to back, so that the two
    // figures of a ratio are measured under the same machine load.
    let cases = [("produce_1MiB", Op::Produce), ("fetch_1MiB", Op::Fetch)];
    for (op_name, op) in cases {
        for (name, client) in [("plaintext", &mut plain), ("ssl", &mut ssl)] {
            group.bench_function(format!("{op_name}/{name}"), |b| {
                b.iter(|| client_rt.block_on(once(client, op, &requests)))
            });
        }
    }
    group.finish();

    // CPU per MiB, client and broker apart (not a criterion figure).
    const ROUNDS: u32 = 300;
    let mib = f64::from(ROUNDS) * records.len() as f64 / f64::from(1 << 20);
    let mut plain_fetch_cpu = (0.0, 0.0);
    for (op_name, op) in cases {
        for (name, client) in [("plaintext", &mut plain), ("ssl", &mut ssl)] {
            let wall = std::time::Instant::now();
            let (client_before, all_before) = cpu_times();
            for _ in 0..ROUNDS {
                client_rt.block_on(once(client, op, &requests));
            }
            let (client_after, all_after) = cpu_times();
            let wall = wall.elapsed();
            let client_cpu = client_after - client_before;
            let broker_cpu = (all_after - all_before).saturating_sub(client_cpu);
            let per_mib = |d: Duration| d.as_secs_f64() / mib;
            if let (Op::Fetch, "plaintext") = (op, name) {
                plain_fetch_cpu = (per_mib(broker_cpu), per_mib(client_cpu));
            }
            println!(
                "cpu {op_name}/{name}: broker {:.2} ms/MiB, client {:.2} ms/MiB, {:.0} MiB/s over {ROUNDS} requests",
                per_mib(broker_cpu) * 1e3,
                per_mib(client_cpu) * 1e3,
                mib / wall.as_secs_f64(),
            );
        }
    }
    let (seal, open) = cipher_floor();
    println!(
        "cipher floor: AES-128-GCM seal {:.2} ms/MiB, open {:.2} ms/MiB (ring, 16 KiB records, each with one copy)",
        seal * 1e3,
        open * 1e3
    );
    // The two listeners request by request in turn (not criterion): a ratio of
    // medians that the machine's load, drifting over seconds, moves far less
    // than two criterion groups measured one after the other.
    const PAIRS: usize = 400;
    for (op_name, op) in cases
        .into_iter()
        .chain([("produce_1KiB", Op::ProduceSmall)])
    {
        let mut times = [Vec::with_capacity(PAIRS), Vec::with_capacity(PAIRS)];
        for _ in 0..PAIRS {
            for (i, client) in [&mut plain, &mut ssl].into_iter().enumerate() {
                let start = std::time::Instant::now();
                client_rt.block_on(once(client, op, &requests));
                times[i].push(start.elapsed());
            }
        }
        let [plain_median, ssl_median] = times.map(|mut t| {
            t.sort();
            t[t.len() / 2]
        });
        println!(
            "interleaved {op_name}: plaintext {:.0} µs, ssl {:.0} µs (medians of {PAIRS}), ssl/plaintext throughput {:.2}",
            plain_median.as_secs_f64() * 1e6,
            ssl_median.as_secs_f64() * 1e6,
            plain_median.as_secs_f64() / ssl_median.as_secs_f64(),
        );
        if let Op::Fetch = op {
            let (broker, client) = plain_fetch_cpu;
            let request_mib = records.len() as f64 / f64::from(1 << 20);
            let ssl_at_least = request_mib
                * f64::max(
                    f64::max(broker + seal, client + open),
                    (broker + client + seal + open) / 2.0,
                );
            println!(
                "fetch ceiling: ssl/plaintext throughput at most {:.2} (an SSL fetch takes at least {:.0} µs: its plaintext CPU plus the cipher floor, each side on one core, both on this machine's 2)",
                plain_median.as_secs_f64() / ssl_at_least,
                ssl_at_least * 1e6,
            );
        }
    }
    drop(plain);
    drop(ssl);
    rt.block_on(broker.shutdown()).unwrap();
}

/// The least CPU per MiB that TLS can add to each side of a fetch, in
/// seconds: the broker seals 16 KiB records (copied from the log into its
/// record buffer, as ring seals in place), the client opens them in place and
/// copies the plaintext out. rustls adds its framing and buffering to this.
fn cipher_floor() -> (f64, f64) {
    use ring::aead::{AES_128_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
    const RECORD: usize = 16 * 1024;
    const ROUNDS: usize = 64;
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &[7; 16]).unwrap());
    let nonce = |i: usize| {
        let mut n = [0; NONCE_LEN];
        n[4..].copy_from_slice(&(i as u64).to_be_bytes());
        Nonce::assume_unique_for_key(n)
    };
    let log = vec![b'x'; BATCH];
    let seal_record = |i: usize, chunk: &[u8], record: &mut Vec<u8>| {
        record.clear();
        record.extend_from_slice(chunk);
        let tag = key
            .seal_in_place_separate_tag(nonce(i), Aad::empty(), record)
            .unwrap();
        record.extend_from_slice(tag.as_ref());
    };
    let sealed: Vec<Vec<u8>> = log
        .chunks(RECORD)
        .enumerate()
        .map(|(i, chunk)| {
            let mut record = Vec::new();
            seal_record(i, chunk, &mut record);
            record
        })
        .collect();
    let mut record = Vec::with_capacity(RECORD + AES_128_GCM.tag_len());
    let start = std::time::Instant::now();
    for _ in 0..ROUNDS {
        for (i, chunk) in log.chunks(RECORD).enumerate() {
            seal_record(i, chunk, &mut record);
        }
    }
    let seal = start.elapsed().as_secs_f64() / ROUNDS as f64;
    let mut plaintext = vec![0; BATCH];
    let mut open = Duration::ZERO;
    for _ in 0..ROUNDS {
        // The received records, as the socket read left them (not timed: a
        // plaintext client reads the same bytes).
        let mut received = sealed.clone();
        let start = std::time::Instant::now();
        for (i, (record, out)) in received
            .iter_mut()
            .zip(plaintext.chunks_mut(RECORD))
            .enumerate()
        {
            let opened = key.open_in_place(nonce(i), Aad::empty(), record).unwrap();
            out.copy_from_slice(opened);
        }
        open += start.elapsed();
    }
    let open = open.as_secs_f64() / ROUNDS as f64;
    assert!(plaintext == log, "the records open to what was sealed");
    let mib = BATCH as f64 / f64::from(1 << 20);
    (seal / mib, open / mib)
}

criterion_group!(benches, bench_tls);
criterion_main!(benches);
