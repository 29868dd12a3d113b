//! Produce and fetch throughput over TLS against plaintext: one broker with a
//! PLAINTEXT and an SSL listener, a client on loopback sending 1 MiB produce
//! requests (1,000 records of 1 KiB, acks=1) and fetching them back through each. The issue's
//! target: TLS at least 70% of plaintext.

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

fn bench_tls(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
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
    let mut plain = rt.block_on(Client::connect(plain_addr));
    let mut ssl = Client::over(
        rt.block_on(pki::connect(&pki::connector(&ca, None), ssl_addr))
            .unwrap(),
    );
    // Produced to in a loop: retention keeps it small.
    rt.block_on(plain.create_topic(
        "produced",
        1,
        &[
            ("segment.bytes", "16777216"),
            ("retention.bytes", "67108864"),
        ],
    ));
    rt.block_on(plain.create_topic("fetched", 1, &[]));
    let value = vec![b'x'; 1024];
    let values: Vec<&[u8]> = (0..1000).map(|_| value.as_slice()).collect();
    let records = common::batch(&values, Compression::None);
    let produce = produce_request("produced", records.clone());
    let fetch = fetch_request("fetched");
    rt.block_on(async {
        let r = plain
            .send(&produce_request("fetched", records.clone()), 9)
            .await;
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    });

    let mut group = c.benchmark_group("tls");
    group.throughput(Throughput::Bytes(records.len() as u64));
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(8));
    for (name, client) in [("plaintext", &mut plain), ("ssl", &mut ssl)] {
        group.bench_function(format!("produce_1MiB/{name}"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let r = client.send(&produce, 9).await;
                    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
                })
            })
        });
        group.bench_function(format!("fetch_1MiB/{name}"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let r = client.send(&fetch, 12).await;
                    let p = &r.responses[0].partitions[0];
                    assert_eq!(p.error_code, 0);
                    assert!(!p.records.as_ref().unwrap().is_empty());
                })
            })
        });
    }
    group.finish();
    drop(plain);
    drop(ssl);
    rt.block_on(broker.shutdown()).unwrap();
}

criterion_group!(benches, bench_tls);
criterion_main!(benches);
