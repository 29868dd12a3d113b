//! Transactions and idempotent produce over loopback TCP against an
//! in-process broker (flush=never).
//!
//! A transaction over 10 partitions (AddPartitionsToTxn, one Produce of a
//! transactional batch to each, EndTxn), and the EndTxn commit alone (the
//! PrepareCommit write, ten COMMIT markers and the CompleteCommit write).
//!
//! `produce_5_in_flight`: 1 MiB Produce requests (1,000 records of 1 KiB,
//! acks=-1) to one partition over one connection with five in flight, the
//! next sent when the oldest is answered, as the Java producer pipelines
//! them; `plain`, and `idempotent` with a producer id from InitProducerId and
//! consecutive base sequences. Both copy one encoded batch for each request
//! and set its base sequence and CRC, so the client does the same work for
//! both. After criterion's figures it prints an interleaved ratio (rounds of
//! each in turn, medians) and the broker's CPU per MiB of each.
//!
//! `cargo bench --bench transactions`

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "common/cpu.rs"]
mod cpu;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use runnel::client::Connection;
use runnel::config::LogSection;
use runnel::{Broker, Config};
use tempfile::TempDir;
use tokio::runtime::Runtime;

async fn connect(addr: SocketAddr) -> Connection {
    Connection::connect(&addr.to_string(), "bench", None)
        .await
        .unwrap()
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// A broker on loopback with `log.flush=never` (the default) and `log` tweaked.
fn start(rt: &Runtime, log: impl FnOnce(&mut LogSection)) -> (Broker, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        listen: "127.0.0.1:0".into(),
        http_listen: "off".into(),
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    log(&mut config.log);
    (rt.block_on(Broker::start(config)).unwrap(), dir)
}

async fn create_topic(client: &mut Connection, name: &str, partitions: i32) {
    let create = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(TopicName(s(name)))
            .with_num_partitions(partitions)
            .with_replication_factor(1),
    ]);
    let r = client.send_at(&create, 7).await.unwrap();
    assert_eq!(r.topics[0].error_code, 0);
}

const PARTITIONS: i32 = 10;

fn bench_transactions(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let (broker, _dir) = start(&rt, |_| {});
    let mut client = rt.block_on(connect(broker.local_addr()));
    rt.block_on(create_topic(&mut client, "bench", PARTITIONS));
    let init = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s("bench"))))
        .with_transaction_timeout_ms(60_000);
    let r = rt.block_on(client.send_at(&init, 4)).unwrap();
    let (pid, epoch) = (r.producer_id, r.producer_epoch);
    let add = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(s("bench")))
        .with_v3_and_below_producer_id(pid)
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![
            AddPartitionsToTxnTopic::default()
                .with_name(TopicName(s("bench")))
                .with_partitions((0..PARTITIONS).collect()),
        ]);
    let end = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s("bench")))
        .with_producer_id(pid)
        .with_producer_epoch(epoch)
        .with_committed(true);
    let mut seq = 0;
    let mut open = |client: &mut Connection| {
        let r = rt.block_on(client.send_at(&add, 3)).unwrap();
        assert_eq!(
            r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
            0
        );
        let data = (0..PARTITIONS)
            .map(|p| {
                PartitionProduceData::default()
                    .with_index(p)
                    .with_records(Some(common::transactional_batch(
                        &[&[0u8; 100]],
                        pid.0,
                        epoch,
                        seq,
                    )))
            })
            .collect();
        seq += 1;
        let produce = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_transactional_id(Some(TransactionalId(s("bench"))))
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(TopicName(s("bench")))
                    .with_partition_data(data),
            ]);
        let r = rt.block_on(client.send_at(&produce, 9)).unwrap();
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    };
    c.bench_function("end_txn_commit_10_partitions", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                open(&mut client);
                let start = Instant::now();
                let r = rt.block_on(client.send_at(&end, 3)).unwrap();
                total += start.elapsed();
                assert_eq!(r.error_code, 0);
            }
            total
        })
    });
    c.bench_function("transaction_10_partitions", |b| {
        b.iter(|| {
            open(&mut client);
            rt.block_on(client.send_at(&end, 3)).unwrap()
        })
    });
}

/// Produce requests kept in flight on one connection.
const IN_FLIGHT: usize = 5;
/// Records of 1 KiB per request (one batch, uncompressed).
const RECORDS: usize = 1000;
const PRODUCE_VERSION: i16 = 9;

/// One producer of one partition with up to `IN_FLIGHT` Produce requests
/// unanswered.
struct Pipeline {
    conn: Connection,
    topic: &'static str,
    /// The encoded batch each request sends a copy of.
    batch: Bytes,
    /// The next batch's base sequence; None for a plain producer.
    sequence: Option<i32>,
    /// Correlation ids, oldest first.
    in_flight: VecDeque<i32>,
    /// The base offset the next response must give: no batch written twice
    /// or skipped.
    next_offset: i64,
}

impl Pipeline {
    async fn start(addr: SocketAddr, topic: &'static str, idempotent: bool) -> Pipeline {
        let mut conn = connect(addr).await;
        create_topic(&mut conn, topic, 1).await;
        let value = [b'x'; 1024];
        let values = [&value[..]; RECORDS];
        // The producer id and epoch of a plain batch are -1; every request
        // sets the base sequence (-1 for a plain one).
        let (producer_id, epoch, sequence) = if idempotent {
            let init = InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000);
            let r = conn.send_at(&init, 4).await.unwrap();
            assert_eq!(r.error_code, 0);
            (r.producer_id.0, r.producer_epoch, Some(0))
        } else {
            (-1, -1, None)
        };
        let batch = common::idempotent_batch(&values, producer_id, epoch, 0);
        let length = i32::from_be_bytes(batch[8..12].try_into().unwrap());
        assert_eq!(length as usize + 12, batch.len(), "one batch");
        Pipeline {
            conn,
            topic,
            batch,
            sequence,
            in_flight: VecDeque::new(),
            next_offset: 0,
        }
    }

    async fn send(&mut self) {
        let records = with_base_sequence(&self.batch, self.sequence.unwrap_or(-1));
        // A bench run sends far fewer than the 2^31 records where Kafka's
        // sequences wrap to 0.
        if let Some(sequence) = &mut self.sequence {
            *sequence += RECORDS as i32;
        }
        let produce = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(TopicName(s(self.topic)))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(records)),
                    ]),
            ]);
        let id = self
            .conn
            .write_request(&produce, PRODUCE_VERSION)
            .await
            .unwrap();
        self.in_flight.push_back(id);
    }

    async fn receive(&mut self) {
        let id = self.in_flight.pop_front().unwrap();
        let r = self
            .conn
            .read_response::<ProduceRequest>(PRODUCE_VERSION, id)
            .await
            .unwrap();
        let p = &r.responses[0].partition_responses[0];
        assert_eq!(p.error_code, 0);
        assert_eq!(p.base_offset, self.next_offset);
        self.next_offset += RECORDS as i64;
    }

    async fn fill(&mut self) {
        while self.in_flight.len() < IN_FLIGHT {
            self.send().await;
        }
    }

    /// The oldest request answered and the next one sent.
    async fn step(&mut self) {
        self.receive().await;
        self.send().await;
    }

    async fn drain(&mut self) {
        while !self.in_flight.is_empty() {
            self.receive().await;
        }
    }

    /// `requests` requests from an empty pipeline to an empty one.
    async fn round(&mut self, requests: usize) {
        self.fill().await;
        for _ in IN_FLIGHT..requests {
            self.step().await;
        }
        self.drain().await;
    }
}

/// A copy of `batch` with base sequence `sequence` and the CRC to match.
fn with_base_sequence(batch: &Bytes, sequence: i32) -> Bytes {
    let mut copy = BytesMut::from(&batch[..]);
    copy[53..57].copy_from_slice(&sequence.to_be_bytes());
    common::reseal(&mut copy);
    copy.freeze()
}

fn bench_produce_in_flight(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    // Produced to in a loop: retention keeps the logs small.
    let (broker, _dir) = start(&rt, |log| {
        log.segment_bytes = 16 << 20;
        log.retention_bytes = 64 << 20;
        log.retention_check_interval_ms = 1000;
    });
    let addr = broker.local_addr();
    let mut plain = rt.block_on(Pipeline::start(addr, "plain", false));
    let mut idempotent = rt.block_on(Pipeline::start(addr, "idempotent", true));

    let mut group = c.benchmark_group("produce_5_in_flight");
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(8));
    for (name, p) in [("plain", &mut plain), ("idempotent", &mut idempotent)] {
        group.throughput(Throughput::Bytes(p.batch.len() as u64));
        rt.block_on(p.fill());
        group.bench_function(name, |b| b.iter(|| rt.block_on(p.step())));
        rt.block_on(p.drain());
    }
    group.finish();

    // The two in turn, a round of each at a time (not criterion): a ratio of
    // medians that the machine's load, drifting over seconds, moves far less
    // than two criterion figures measured one after the other. The broker's
    // CPU is the process's less this thread's, where the client runs.
    const PAIRS: usize = 100;
    const ROUND: usize = 20;
    let mut times = [Vec::with_capacity(PAIRS), Vec::with_capacity(PAIRS)];
    let mut broker_cpu = [Duration::ZERO; 2];
    for _ in 0..PAIRS {
        for (i, p) in [&mut plain, &mut idempotent].into_iter().enumerate() {
            let (client_before, all_before) = cpu::cpu_times();
            let start = Instant::now();
            rt.block_on(p.round(ROUND));
            times[i].push(start.elapsed());
            let (client_after, all_after) = cpu::cpu_times();
            broker_cpu[i] += (all_after - all_before).saturating_sub(client_after - client_before);
        }
    }
    let mib = |p: &Pipeline| (ROUND * p.batch.len()) as f64 / f64::from(1 << 20);
    let [plain_median, idempotent_median] = times.map(|mut t| {
        t.sort();
        t[t.len() / 2].as_secs_f64()
    });
    let cpu_per_mib =
        |i: usize, p: &Pipeline| broker_cpu[i].as_secs_f64() * 1e3 / (PAIRS as f64 * mib(p));
    let plain_rate = mib(&plain) / plain_median;
    let idempotent_rate = mib(&idempotent) / idempotent_median;
    println!(
        "interleaved produce_5_in_flight: plain {plain_rate:.0} MiB/s, idempotent \
         {idempotent_rate:.0} MiB/s (medians of {PAIRS} rounds of {ROUND} requests each), \
         idempotent/plain {:.2}; broker CPU plain {:.2} ms/MiB, idempotent {:.2} ms/MiB",
        idempotent_rate / plain_rate,
        cpu_per_mib(0, &plain),
        cpu_per_mib(1, &idempotent),
    );
    drop((plain, idempotent));
    rt.block_on(broker.shutdown()).unwrap();
}

criterion_group!(benches, bench_transactions, bench_produce_in_flight);
criterion_main!(benches);
