//! What metrics cost: a /metrics scrape of a broker with 1,000 partitions and
//! a consumer group committed on all of them, and the metric updates one
//! produce request makes (request count and latency, bytes and records of its
//! topic, the error codes of its response), to set against the time of the
//! produce itself (benches/log.rs, benches/end_to_end).

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ApiKey, ProduceResponse, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;
use runnel::group::CommittedOffset;
use runnel::topic::NewTopic;
use runnel::{Broker, Config};
use tokio::runtime::Runtime;

fn bench_metrics(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        listen: "127.0.0.1:0".into(),
        http_listen: "off".into(),
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let broker = rt.block_on(Broker::start(config)).unwrap();
    let state = broker.state().clone();
    for t in 0..10 {
        state
            .topics
            .create(NewTopic {
                name: format!("topic-{t}"),
                partitions: 100,
                replication_factor: 1,
                configs: Vec::new(),
            })
            .unwrap();
    }
    let offsets = (0..10)
        .flat_map(|t| (0..100).map(move |p| (format!("topic-{t}"), p)))
        .map(|key| {
            let offset = CommittedOffset {
                offset: 0,
                leader_epoch: -1,
                metadata: String::new(),
                commit_timestamp: 0,
            };
            (key, offset)
        })
        .collect();
    state
        .groups
        .commit_offsets("bench-group", "", None, -1, offsets)
        .unwrap();
    let scrape = state
        .metrics
        .render(&state.topics, &state.groups, &state.txn);
    assert!(
        scrape
            .contains("runnel_group_lag{group=\"bench-group\",topic=\"topic-9\",partition=\"99\"}")
    );
    c.bench_function("metrics_scrape_1000_partitions", |b| {
        b.iter(|| {
            state
                .metrics
                .render(&state.topics, &state.groups, &state.txn)
        })
    });

    let response = ResponseKind::Produce(ProduceResponse::default().with_responses(vec![
        TopicProduceResponse::default()
            .with_name(TopicName(StrBytes::from_static_str("topic-0")))
            .with_partition_responses(vec![PartitionProduceResponse::default()]),
    ]));
    c.bench_function("metrics_per_produce_request", |b| {
        b.iter(|| {
            let m = &state.metrics;
            m.produced("topic-0", 16384, 16);
            m.observe_request(ApiKey::Produce, Duration::from_micros(250));
            m.observe_errors(ApiKey::Produce, &response);
        })
    });
    rt.block_on(broker.shutdown()).unwrap();
}

criterion_group!(benches, bench_metrics);
criterion_main!(benches);
