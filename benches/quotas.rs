//! What quota enforcement costs one produce request: a Produce of one batch
//! (10 records of 100 bytes) run through the handler and the quota step, with
//! no quotas stored, and with a producer_byte_rate quota on the client id
//! (high enough never to throttle, so every request is looked up and counted).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, criterion_group, criterion_main};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, RequestKind, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use runnel::api::throttle::{self, ConnectionThrottle, RequestCost};
use runnel::api::{self, RequestContext};
use runnel::quota::QuotaOp;
use runnel::security::KafkaPrincipal;
use runnel::topic::NewTopic;
use runnel::{Broker, Config};
use tokio::runtime::Runtime;

fn batch() -> Bytes {
    let records: Vec<Record> = (0..10)
        .map(|i| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i,
            sequence: -1,
            timestamp: 1_700_000_000_000 + i,
            key: None,
            value: Some(Bytes::from(vec![b'x'; 100])),
            headers: Default::default(),
            delete_horizon: false,
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
    buf.freeze()
}

fn bench_quotas(c: &mut Criterion) {
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
    state
        .topics
        .create(NewTopic {
            name: "bench".into(),
            partitions: 1,
            replication_factor: 1,
            configs: Vec::new(),
        })
        .unwrap();
    let records = batch();
    let request = ProduceRequest::default().with_acks(1).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("bench")))
            .with_partition_data(vec![
                PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(records.clone())),
            ]),
    ]);
    let ctx = RequestContext {
        client_id: "ingest".into(),
        client_host: "/127.0.0.1".into(),
        listener: 0,
        principal: KafkaPrincipal::anonymous(),
        mutation_throttle_ms: Default::default(),
    };
    let mut conn = ConnectionThrottle::default();
    let mut produce = || {
        rt.block_on(async {
            let handling = std::time::Instant::now();
            let reply = api::handle(&state, &ctx, RequestKind::Produce(request.clone()), 9).await;
            let cost = RequestCost {
                bytes: records.len() + 60,
                handling: handling.elapsed(),
            };
            throttle::apply(&state, &ctx, &mut conn, ApiKey::Produce, 9, cost, reply)
        })
    };

    let mut g = c.benchmark_group("quotas");
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("produce_no_quotas", |b| b.iter(&mut produce));
    let set = state.quotas.alter(
        vec![(
            vec![("client-id".into(), Some("ingest".into()))],
            vec![QuotaOp::Set("producer_byte_rate".into(), 1e15)],
        )],
        false,
    );
    assert!(set[0].is_ok());
    g.bench_function("produce_client_id_quota", |b| b.iter(&mut produce));
    g.finish();
}

criterion_group!(benches, bench_quotas);
criterion_main!(benches);
