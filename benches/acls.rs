//! What ACL checks cost: one `authorize` call with 1,000 ACLs, and a produce
//! request through a real broker with the authorizer off and on (1,000 ACLs,
//! the producer allowed by one of them). The target: checks cost
//! under 2% of produce throughput.
//!
//! `cargo bench --bench acls` (add `-- authorize` or `-- produce` for one group).

use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{MetadataRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use runnel::client::Connection;
use runnel::client::batch::{OutRecord, encode};
use runnel::security::acl::{
    AccessControlEntry, AclBinding, AclOperation, AclPermissionType, PatternType, ResourcePattern,
    ResourceType,
};
use runnel::security::{Authorizer, KafkaPrincipal};
use runnel::{Broker, Config};

const TOPIC: &str = "bench-topic";
/// Records of one produce request: 16 KiB, the Java client's batch.size.
const RECORDS: usize = 160;
const VALUE_BYTES: usize = 100;

/// 1,000 ACLs: literal and prefixed ones of other users on other topics and
/// groups, and one ALLOW ALL on the bench topic for User:ANONYMOUS.
fn thousand_acls() -> Vec<AclBinding> {
    let binding = |rt, name: String, pt, principal: &str, op| AclBinding {
        pattern: ResourcePattern {
            resource_type: rt,
            name,
            pattern_type: pt,
        },
        entry: AccessControlEntry {
            principal: principal.into(),
            host: "*".into(),
            operation: op,
            permission: AclPermissionType::Allow,
        },
    };
    let mut acls: Vec<AclBinding> = (0..999)
        .map(|i| match i % 3 {
            0 => binding(
                ResourceType::Topic,
                format!("topic-{i}"),
                PatternType::Literal,
                &format!("User:u{i}"),
                AclOperation::Read,
            ),
            1 => binding(
                ResourceType::Topic,
                format!("bench-{i}-"),
                PatternType::Prefixed,
                &format!("User:u{i}"),
                AclOperation::Write,
            ),
            _ => binding(
                ResourceType::Group,
                format!("group-{i}"),
                PatternType::Literal,
                &format!("User:u{i}"),
                AclOperation::Read,
            ),
        })
        .collect();
    acls.push(binding(
        ResourceType::Topic,
        TOPIC.into(),
        PatternType::Literal,
        "User:ANONYMOUS",
        AclOperation::All,
    ));
    acls
}

fn authorize(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let authorizer = Authorizer::open(dir.path(), "User:admin", false).unwrap();
    assert!(authorizer.create(thousand_acls()).iter().all(Result::is_ok));
    let anonymous = KafkaPrincipal::anonymous();
    let mut group = c.benchmark_group("authorize");
    group.bench_function("write_with_1000_acls", |b| {
        b.iter(|| {
            assert!(authorizer.authorize(
                &anonymous,
                "127.0.0.1",
                AclOperation::Write,
                ResourceType::Topic,
                std::hint::black_box(TOPIC),
            ))
        })
    });
    group.finish();
}

fn produce_request() -> ProduceRequest {
    let value = Bytes::from(vec![b'x'; VALUE_BYTES]);
    let records: Vec<OutRecord> = (0..RECORDS)
        .map(|_| OutRecord {
            key: None,
            value: Some(value.clone()),
            headers: Vec::new(),
            timestamp: 1_700_000_000_000,
        })
        .collect();
    let batch = encode(&records, Compression::None).unwrap();
    ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch)),
                ]),
        ])
}

fn produce(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let request = produce_request();
    let mut group = c.benchmark_group("produce");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.measurement_time(Duration::from_secs(10));
    for enabled in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        if enabled {
            let a = Authorizer::open(dir.path(), "", false).unwrap();
            assert!(a.create(thousand_acls()).iter().all(Result::is_ok));
        }
        let mut config = Config {
            listen: "127.0.0.1:0".into(),
            http_listen: "off".into(),
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        config.authorizer.enabled = enabled;
        config.log.segment_bytes = 64 << 20;
        config.log.retention_bytes = 256 << 20;
        let (broker, mut conn) = runtime.block_on(async {
            let broker = Broker::start(config).await.unwrap();
            let addr = broker.local_addr().to_string();
            let mut conn = Connection::connect(&addr, "bench", None).await.unwrap();
            // Metadata auto-creates the topic.
            let metadata = MetadataRequest::default()
                .with_allow_auto_topic_creation(true)
                .with_topics(Some(vec![
                    MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_static_str(TOPIC)))),
                ]));
            let r = conn.send(&metadata).await.unwrap();
            assert_eq!(r.topics[0].error_code, 0);
            (broker, conn)
        });
        let name = if enabled {
            "authorizer_on_1000_acls"
        } else {
            "authorizer_off"
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let r = conn.send(&request).await.unwrap();
                    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
                })
            })
        });
        runtime.block_on(async { broker.shutdown().await.unwrap() });
    }
    group.finish();
}

criterion_group!(benches, authorize, produce);
criterion_main!(benches);
