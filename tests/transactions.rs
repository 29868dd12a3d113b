//! Transactions over TCP: the coordinator (InitProducerId with a transactional
//! id, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn), markers
//! in the log, read_committed fetches, fencing, timeouts and restarts.

mod common;

use bytes::{Buf, Bytes};
use common::{TestBroker, transactional_batch};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn tid(v: &str) -> TransactionalId {
    TransactionalId(s(v))
}

async fn init(c: &mut common::Client, id: &str, timeout_ms: i32) -> Result<(i64, i16), i16> {
    let r = c
        .send(
            &InitProducerIdRequest::default()
                .with_transactional_id(Some(tid(id)))
                .with_transaction_timeout_ms(timeout_ms),
            4,
        )
        .await;
    if r.error_code != 0 {
        return Err(r.error_code);
    }
    Ok((r.producer_id.0, r.producer_epoch))
}

async fn add_partitions(
    c: &mut common::Client,
    id: &str,
    (pid, epoch): (i64, i16),
    topic: &str,
    partitions: &[i32],
) -> Vec<i16> {
    let r = c
        .send(
            &AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(tid(id))
                .with_v3_and_below_producer_id(ProducerId(pid))
                .with_v3_and_below_producer_epoch(epoch)
                .with_v3_and_below_topics(vec![
                    AddPartitionsToTxnTopic::default()
                        .with_name(TopicName(s(topic)))
                        .with_partitions(partitions.to_vec()),
                ]),
            3,
        )
        .await;
    r.results_by_topic_v3_and_below[0]
        .results_by_partition
        .iter()
        .map(|p| p.partition_error_code)
        .collect()
}

async fn produce(
    c: &mut common::Client,
    topic: &str,
    partition: i32,
    records: Bytes,
) -> (i16, i64) {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_transactional_id(Some(tid("ignored")))
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(s(topic)))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records)),
                ]),
        ]);
    let r = c.send(&req, 9).await;
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

async fn end_txn(
    c: &mut common::Client,
    id: &str,
    (pid, epoch): (i64, i16),
    commit: bool,
    version: i16,
) -> i16 {
    c.send(
        &EndTxnRequest::default()
            .with_transactional_id(tid(id))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_committed(commit),
        version,
    )
    .await
    .error_code
}

struct Fetched {
    high_watermark: i64,
    last_stable_offset: i64,
    /// (offset, value) of the data records (control records left out).
    records: Vec<(i64, Bytes)>,
    /// (offset, is commit) of the markers.
    markers: Vec<(i64, bool)>,
    aborted: Option<Vec<(i64, i64)>>,
}

async fn fetch(c: &mut common::Client, topic: &str, offset: i64, isolation: i8) -> Fetched {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_bytes(1 << 20)
        .with_isolation_level(isolation)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(s(topic)))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let r = c.send(&req, 11).await;
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    let mut buf = p.records.clone().unwrap_or_default();
    let (mut records, mut markers) = (Vec::new(), Vec::new());
    while buf.remaining() > 0 {
        let set = RecordBatchDecoder::decode(&mut buf).expect("valid batch");
        for r in set.records {
            if r.control {
                let key = r.key.unwrap_or_default();
                markers.push((r.offset, key.get(3) == Some(&1)));
            } else {
                records.push((r.offset, r.value.unwrap_or_default()));
            }
        }
    }
    Fetched {
        high_watermark: p.high_watermark,
        last_stable_offset: p.last_stable_offset,
        records,
        markers,
        aborted: p.aborted_transactions.as_ref().map(|list| {
            list.iter()
                .map(|a| (a.producer_id.0, a.first_offset))
                .collect()
        }),
    }
}

fn values(f: &Fetched) -> Vec<&[u8]> {
    f.records.iter().map(|(_, v)| &v[..]).collect()
}

#[tokio::test]
async fn commit_and_abort_write_markers_and_read_committed_sees_only_committed() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("t", 2, &[]).await;

    let r = c
        .send(
            &FindCoordinatorRequest::default()
                .with_key_type(1)
                .with_key(s("tx1")),
            3,
        )
        .await;
    assert_eq!(
        (r.error_code, r.node_id.0),
        (0, 1),
        "transaction coordinator"
    );

    let p = init(&mut c, "tx1", 60_000).await.unwrap();
    assert_eq!(p.1, 0);
    // A transactional batch to a partition not in the transaction is refused.
    let (code, _) = produce(&mut c, "t", 0, transactional_batch(&[b"x"], p.0, p.1, 0)).await;
    assert_eq!(code, ResponseError::InvalidTxnState.code());

    assert_eq!(add_partitions(&mut c, "tx1", p, "t", &[0]).await, vec![0]);
    assert_eq!(
        produce(
            &mut c,
            "t",
            0,
            transactional_batch(&[b"a", b"b"], p.0, p.1, 0)
        )
        .await,
        (0, 0)
    );
    // Open: read_committed sees nothing, the LSO is the transaction's first offset.
    let open = fetch(&mut c, "t", 0, 1).await;
    assert_eq!((open.high_watermark, open.last_stable_offset), (2, 0));
    assert!(open.records.is_empty());
    assert_eq!(fetch(&mut c, "t", 0, 0).await.last_stable_offset, 0);
    assert_eq!(end_txn(&mut c, "tx1", p, true, 3).await, 0);
    // A retried commit is answered the same; an abort now is refused.
    assert_eq!(end_txn(&mut c, "tx1", p, true, 3).await, 0);
    assert_eq!(
        end_txn(&mut c, "tx1", p, false, 3).await,
        ResponseError::InvalidTxnState.code()
    );

    assert_eq!(add_partitions(&mut c, "tx1", p, "t", &[0]).await, vec![0]);
    assert_eq!(
        produce(&mut c, "t", 0, transactional_batch(&[b"c"], p.0, p.1, 2)).await,
        (0, 3)
    );
    assert_eq!(end_txn(&mut c, "tx1", p, false, 3).await, 0);

    let committed = fetch(&mut c, "t", 0, 1).await;
    assert_eq!(committed.high_watermark, 5);
    assert_eq!(committed.last_stable_offset, 5);
    assert_eq!(committed.markers, vec![(2, true), (4, false)]);
    assert_eq!(committed.aborted, Some(vec![(p.0, 3)]));
    let uncommitted = fetch(&mut c, "t", 0, 0).await;
    assert_eq!(values(&uncommitted), vec![&b"a"[..], b"b", b"c"]);
    assert_eq!(uncommitted.aborted, None);
    // The client drops the aborted records: what is left is the committed ones.
    let visible: Vec<&[u8]> = committed
        .records
        .iter()
        .filter(|(o, _)| *o < 3)
        .map(|(_, v)| &v[..])
        .collect();
    assert_eq!(visible, vec![&b"a"[..], b"b"]);
    // Fetching past the aborted transaction lists nothing.
    assert_eq!(fetch(&mut c, "t", 5, 1).await.aborted, Some(vec![]));

    // The aborted transaction is in the segment's .txnindex (Kafka's 34-byte entry).
    let index = std::fs::read(b.dir.join("t-0").join(format!("{:020}.txnindex", 0))).unwrap();
    assert_eq!(index.len(), 34);
    assert_eq!(i64::from_be_bytes(index[2..10].try_into().unwrap()), p.0);
    assert_eq!(i64::from_be_bytes(index[10..18].try_into().unwrap()), 3);
    assert_eq!(i64::from_be_bytes(index[18..26].try_into().unwrap()), 4);

    // ListOffsets latest: the high watermark, or the LSO with read_committed.
    assert_eq!(add_partitions(&mut c, "tx1", p, "t", &[0]).await, vec![0]);
    produce(&mut c, "t", 0, transactional_batch(&[b"d"], p.0, p.1, 3)).await;
    for (isolation, want) in [(0, 6), (1, 5)] {
        let r = c
            .send(
                &ListOffsetsRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_isolation_level(isolation)
                    .with_topics(vec![
                        ListOffsetsTopic::default()
                            .with_name(TopicName(s("t")))
                            .with_partitions(vec![
                                ListOffsetsPartition::default()
                                    .with_partition_index(0)
                                    .with_timestamp(-1),
                            ]),
                    ]),
                5,
            )
            .await;
        assert_eq!(
            r.topics[0].partitions[0].offset, want,
            "isolation {isolation}"
        );
    }
}

#[tokio::test]
async fn bad_requests_get_kafkas_errors() {
    let b = TestBroker::start_with(|c| c.transaction.max_timeout_ms = 10_000).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    assert_eq!(
        init(&mut c, "tx", 10_001).await,
        Err(ResponseError::InvalidTransactionTimeout.code())
    );
    assert_eq!(
        init(&mut c, "tx", 0).await,
        Err(ResponseError::InvalidTransactionTimeout.code())
    );
    let p = init(&mut c, "tx", 10_000).await.unwrap();
    // Unknown transactional id, wrong producer id, stale epoch.
    assert_eq!(
        add_partitions(&mut c, "nope", p, "t", &[0]).await,
        vec![ResponseError::InvalidProducerIdMapping.code()]
    );
    assert_eq!(
        add_partitions(&mut c, "tx", (p.0 + 1, p.1), "t", &[0]).await,
        vec![ResponseError::InvalidProducerIdMapping.code()]
    );
    assert_eq!(
        add_partitions(&mut c, "tx", (p.0, p.1 + 1), "t", &[0]).await,
        vec![ResponseError::ProducerFenced.code()]
    );
    // An unknown partition: nothing is added, the others are not attempted.
    assert_eq!(
        add_partitions(&mut c, "tx", p, "t", &[0, 7]).await,
        vec![
            ResponseError::OperationNotAttempted.code(),
            ResponseError::UnknownTopicOrPartition.code()
        ]
    );
    // EndTxn without an open transaction.
    assert_eq!(
        end_txn(&mut c, "tx", p, true, 3).await,
        ResponseError::InvalidTxnState.code()
    );

    // v4+: the batched form brokers send, with verify_only.
    assert_eq!(add_partitions(&mut c, "tx", p, "t", &[0]).await, vec![0]);
    let r = c
        .send(
            &AddPartitionsToTxnRequest::default().with_transactions(vec![
                AddPartitionsToTxnTransaction::default()
                    .with_transactional_id(tid("tx"))
                    .with_producer_id(ProducerId(p.0))
                    .with_producer_epoch(p.1)
                    .with_verify_only(true)
                    .with_topics(vec![
                        AddPartitionsToTxnTopic::default()
                            .with_name(TopicName(s("t")))
                            .with_partitions(vec![0]),
                    ]),
            ]),
            4,
        )
        .await;
    assert_eq!(r.error_code, 0);
    let result = &r.results_by_transaction[0];
    assert_eq!(result.transactional_id.as_str(), "tx");
    assert_eq!(
        result.topic_results[0].results_by_partition[0].partition_error_code,
        0
    );
}

#[tokio::test]
async fn a_second_init_fences_the_first_producer_and_aborts_its_transaction() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let first = init(&mut c, "tx", 60_000).await.unwrap();
    add_partitions(&mut c, "tx", first, "t", &[0]).await;
    assert_eq!(
        produce(
            &mut c,
            "t",
            0,
            transactional_batch(&[b"old"], first.0, first.1, 0)
        )
        .await,
        (0, 0)
    );
    let second = init(&mut c, "tx", 60_000).await.unwrap();
    assert_eq!(second.0, first.0);
    assert!(second.1 > first.1, "epoch bumped: {second:?}");

    // The old producer is fenced everywhere.
    assert_eq!(
        end_txn(&mut c, "tx", first, true, 3).await,
        ResponseError::ProducerFenced.code()
    );
    assert_eq!(
        end_txn(&mut c, "tx", first, true, 1).await,
        ResponseError::InvalidProducerEpoch.code(),
        "old versions get INVALID_PRODUCER_EPOCH (KIP-588)"
    );
    assert_eq!(
        add_partitions(&mut c, "tx", first, "t", &[0]).await,
        vec![ResponseError::ProducerFenced.code()]
    );
    let (code, _) = produce(
        &mut c,
        "t",
        0,
        transactional_batch(&[b"x"], first.0, first.1, 1),
    )
    .await;
    assert_eq!(code, ResponseError::InvalidProducerEpoch.code());

    // Its open transaction was aborted.
    let f = fetch(&mut c, "t", 0, 1).await;
    assert_eq!(f.last_stable_offset, f.high_watermark);
    assert_eq!(f.aborted, Some(vec![(first.0, 0)]));
    assert_eq!(f.markers, vec![(1, false)]);

    // The new producer works.
    add_partitions(&mut c, "tx", second, "t", &[0]).await;
    assert_eq!(
        produce(
            &mut c,
            "t",
            0,
            transactional_batch(&[b"new"], second.0, second.1, 0)
        )
        .await,
        (0, 2)
    );
    assert_eq!(end_txn(&mut c, "tx", second, true, 3).await, 0);
}

#[tokio::test]
async fn a_transaction_open_longer_than_its_timeout_is_aborted() {
    let b = TestBroker::start_with(|c| {
        c.transaction
            .abort_timed_out_transaction_cleanup_interval_ms = 50;
    })
    .await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let p = init(&mut c, "slow", 200).await.unwrap();
    add_partitions(&mut c, "slow", p, "t", &[0]).await;
    produce(&mut c, "t", 0, transactional_batch(&[b"a"], p.0, p.1, 0)).await;
    // The coordinator's clock is the wall clock (timestamps survive restarts).
    let mut aborted = None;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let f = fetch(&mut c, "t", 0, 1).await;
        if f.last_stable_offset == f.high_watermark {
            aborted = f.aborted;
            break;
        }
    }
    assert_eq!(aborted, Some(vec![(p.0, 0)]));
    assert_eq!(
        end_txn(&mut c, "slow", p, true, 3).await,
        ResponseError::ProducerFenced.code()
    );
    // The next InitProducerId gets a newer epoch and works.
    let again = init(&mut c, "slow", 200).await.unwrap();
    assert!(again.1 > p.1);
}

#[tokio::test]
async fn open_transactions_and_pending_offsets_survive_a_restart() {
    let mut b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("in", 1, &[]).await;
    c.create_topic("out", 1, &[]).await;
    let p = init(&mut c, "ctp", 60_000).await.unwrap();
    add_partitions(&mut c, "ctp", p, "out", &[0]).await;
    produce(
        &mut c,
        "out",
        0,
        transactional_batch(&[b"r1", b"r2"], p.0, p.1, 0),
    )
    .await;
    let r = c
        .send(
            &AddOffsetsToTxnRequest::default()
                .with_transactional_id(tid("ctp"))
                .with_producer_id(ProducerId(p.0))
                .with_producer_epoch(p.1)
                .with_group_id(GroupId(s("g"))),
            3,
        )
        .await;
    assert_eq!(r.error_code, 0);
    let r = c
        .send(
            &TxnOffsetCommitRequest::default()
                .with_transactional_id(tid("ctp"))
                .with_group_id(GroupId(s("g")))
                .with_producer_id(ProducerId(p.0))
                .with_producer_epoch(p.1)
                .with_generation_id(-1)
                .with_topics(vec![
                    TxnOffsetCommitRequestTopic::default()
                        .with_name(TopicName(s("in")))
                        .with_partitions(vec![
                            TxnOffsetCommitRequestPartition::default()
                                .with_partition_index(0)
                                .with_committed_offset(42),
                        ]),
                ]),
            3,
        )
        .await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    assert_eq!(committed_offset(&mut c).await, -1, "pending until commit");
    let r = c
        .send(
            &OffsetFetchRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_require_stable(true)
                .with_topics(Some(vec![
                    OffsetFetchRequestTopic::default()
                        .with_name(TopicName(s("in")))
                        .with_partition_indexes(vec![0]),
                ])),
            7,
        )
        .await;
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ResponseError::UnstableOffsetCommit.code()
    );

    b.restart(|_| {}).await;
    let mut c = b.client().await;
    let f = fetch(&mut c, "out", 0, 1).await;
    assert_eq!(
        (f.high_watermark, f.last_stable_offset),
        (2, 0),
        "still open"
    );
    assert_eq!(committed_offset(&mut c).await, -1, "still pending");
    assert_eq!(end_txn(&mut c, "ctp", p, true, 3).await, 0);
    let f = fetch(&mut c, "out", 0, 1).await;
    assert_eq!(values(&f), vec![&b"r1"[..], b"r2"]);
    assert_eq!(f.last_stable_offset, 3);
    assert_eq!(committed_offset(&mut c).await, 42);

    // After another restart the committed offset is still there (replayed
    // through the marker in __consumer_offsets).
    b.restart(|_| {}).await;
    let mut c = b.client().await;
    assert_eq!(committed_offset(&mut c).await, 42);
    let p2 = init(&mut c, "ctp", 60_000).await.unwrap();
    assert_eq!((p2.0, p2.1), (p.0, p.1 + 1));
}

async fn committed_offset(c: &mut common::Client) -> i64 {
    let r = c
        .send(
            &OffsetFetchRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_topics(Some(vec![
                    OffsetFetchRequestTopic::default()
                        .with_name(TopicName(s("in")))
                        .with_partition_indexes(vec![0]),
                ])),
            5,
        )
        .await;
    r.topics[0].partitions[0].committed_offset
}

/// A TransactionLogValue v0 record (Kafka's format) for `id`, in `status`, with
/// `partitions` of topic "t".
fn transaction_state_record(
    id: &str,
    pid: i64,
    epoch: i16,
    status: i8,
    partitions: &[i32],
) -> Bytes {
    use bytes::BufMut;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let mut key = bytes::BytesMut::new();
    key.put_i16(0);
    key.put_i16(id.len() as i16);
    key.put_slice(id.as_bytes());
    let mut value = bytes::BytesMut::new();
    value.put_i16(0);
    value.put_i64(pid);
    value.put_i16(epoch);
    value.put_i32(60_000);
    value.put_i8(status);
    value.put_i32(1);
    value.put_i16(1);
    value.put_slice(b"t");
    value.put_i32(partitions.len() as i32);
    for p in partitions {
        value.put_i32(*p);
    }
    value.put_i64(1_700_000_000_000);
    value.put_i64(1_700_000_000_000);
    let record = Record {
        transactional: false,
        control: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 1_700_000_000_000,
        key: Some(key.freeze()),
        value: Some(value.freeze()),
        headers: Default::default(),
        delete_horizon: false,
    };
    let mut buf = bytes::BytesMut::new();
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

#[tokio::test]
async fn a_transaction_caught_in_prepare_commit_is_completed_at_start_up() {
    let mut b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let p = init(&mut c, "mid", 60_000).await.unwrap();
    add_partitions(&mut c, "mid", p, "t", &[0]).await;
    produce(
        &mut c,
        "t",
        0,
        transactional_batch(&[b"m1", b"m2"], p.0, p.1, 0),
    )
    .await;
    // As if the broker stopped right after writing PrepareCommit (status 2),
    // before any marker.
    let state = b.broker.as_ref().unwrap().state().clone();
    let log = state.topics.get("__transaction_state").unwrap();
    let record = transaction_state_record("mid", p.0, p.1, 2, &[0]);
    let batches = runnel::log::validate_batches(&record).unwrap();
    log.partition(0)
        .unwrap()
        .append(&record, &batches, 0)
        .unwrap();

    b.restart(|_| {}).await;
    let mut c = b.client().await;
    // (The test batches carry 2023 timestamps, so the marker rolled a new
    // segment: a fetch reads one segment.)
    let f = fetch(&mut c, "t", 2, 1).await;
    assert_eq!(f.markers, vec![(2, true)], "the COMMIT marker was written");
    assert_eq!((f.high_watermark, f.last_stable_offset), (3, 3));
    let f = fetch(&mut c, "t", 0, 1).await;
    assert_eq!(values(&f), vec![&b"m1"[..], b"m2"]);
    // The transaction is complete: a retried commit succeeds, a new one can start.
    assert_eq!(end_txn(&mut c, "mid", p, true, 3).await, 0);
    assert_eq!(add_partitions(&mut c, "mid", p, "t", &[0]).await, vec![0]);
}

#[tokio::test]
async fn with_flush_always_every_step_is_answered_after_its_fsync() {
    let b = TestBroker::start_with(|c| c.log.flush = runnel::config::FlushMode::Always).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let p = init(&mut c, "sync", 60_000).await.unwrap();
    assert_eq!(add_partitions(&mut c, "sync", p, "t", &[0]).await, vec![0]);
    produce(&mut c, "t", 0, transactional_batch(&[b"s"], p.0, p.1, 0)).await;
    assert_eq!(end_txn(&mut c, "sync", p, true, 3).await, 0);
    let f = fetch(&mut c, "t", 0, 1).await;
    assert_eq!(values(&f), vec![&b"s"[..]]);
    assert_eq!(f.markers, vec![(1, true)]);
}

#[tokio::test]
async fn an_unused_transactional_id_expires() {
    let mut b = TestBroker::start_with(|c| {
        c.transaction.id_expiration_ms = 1;
        c.transaction
            .abort_timed_out_transaction_cleanup_interval_ms = 20;
        c.transaction.remove_expired_transaction_cleanup_interval_ms = 20;
    })
    .await;
    let mut c = b.client().await;
    init(&mut c, "idle", 60_000).await.unwrap();
    let listed = async |c: &mut common::Client| {
        c.send(&ListTransactionsRequest::default(), 1)
            .await
            .transaction_states
            .len()
    };
    let mut gone = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        if listed(&mut c).await == 0 {
            gone = true;
            break;
        }
    }
    assert!(gone, "the idle transactional id expired");
    // The tombstone keeps it gone after a restart.
    b.restart(|_| {}).await;
    let mut c = b.client().await;
    assert_eq!(listed(&mut c).await, 0);
}

#[tokio::test]
async fn kip_360_producers_bump_their_own_epoch() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    let p = init(&mut c, "k360", 60_000).await.unwrap();
    let bump = async |c: &mut common::Client, (pid, epoch): (i64, i16)| {
        let r = c
            .send(
                &InitProducerIdRequest::default()
                    .with_transactional_id(Some(tid("k360")))
                    .with_transaction_timeout_ms(60_000)
                    .with_producer_id(ProducerId(pid))
                    .with_producer_epoch(epoch),
                4,
            )
            .await;
        (r.error_code, r.producer_id.0, r.producer_epoch)
    };
    // The current id and epoch: bumped.
    assert_eq!(bump(&mut c, p).await, (0, p.0, p.1 + 1));
    // A retry naming the epoch before the bump gets the same answer.
    assert_eq!(bump(&mut c, p).await, (0, p.0, p.1 + 1));
    // Anything else is a fenced producer.
    assert_eq!(
        bump(&mut c, (p.0, p.1 + 7)).await.0,
        ResponseError::ProducerFenced.code()
    );
    assert_eq!(
        bump(&mut c, (p.0 + 1, p.1 + 1)).await.0,
        ResponseError::ProducerFenced.code()
    );
}
