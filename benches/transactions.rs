//! Transactions over loopback TCP against an in-process broker (flush=never):
//! a transaction over 10 partitions (AddPartitionsToTxn, one Produce of a
//! transactional batch to each, EndTxn), and the EndTxn commit alone (the
//! PrepareCommit write, ten COMMIT markers and the CompleteCommit write).
//!
//! `cargo bench --bench transactions`

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, criterion_group, criterion_main};
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use runnel::client::Connection;
use runnel::{Broker, Config};
use tokio::runtime::Runtime;

async fn connect(addr: SocketAddr) -> Connection {
    Connection::connect(&addr.to_string(), "bench")
        .await
        .unwrap()
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

const PARTITIONS: i32 = 10;

/// One transactional batch of `pid`/`epoch` at sequence `seq`.
fn batch(pid: i64, epoch: i16, seq: i32) -> Bytes {
    let record = Record {
        transactional: true,
        control: false,
        partition_leader_epoch: 0,
        producer_id: pid,
        producer_epoch: epoch,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: seq,
        timestamp: 1_700_000_000_000,
        key: None,
        value: Some(Bytes::from_static(&[0u8; 100])),
        headers: Default::default(),
        delete_horizon: false,
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        std::iter::once(&record),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}

fn bench_transactions(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        listen: "127.0.0.1:0".into(),
        http_listen: "off".into(),
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let broker = rt.block_on(Broker::start(config)).unwrap();
    let mut client = rt.block_on(connect(broker.local_addr()));
    let create = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(TopicName(s("bench")))
            .with_num_partitions(PARTITIONS)
            .with_replication_factor(1),
    ]);
    rt.block_on(client.send_at(&create, 7)).unwrap();
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
                    .with_records(Some(batch(pid.0, epoch, seq)))
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

criterion_group!(benches, bench_transactions);
criterion_main!(benches);
