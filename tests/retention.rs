//! Retention, DeleteRecords and compaction over TCP against the in-process broker:
//! tiny segments, short retention and short background intervals, so every test
//! finishes within a few seconds.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Client, TestBroker, batch_at, decode_records};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn produce(c: &mut Client, topic: &str, records: Bytes) -> i64 {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(s(topic)))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records)),
                ]),
        ]);
    let r = c.send(&req, 9).await;
    let p = &r.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0);
    p.base_offset
}

async fn fetch(c: &mut Client, topic: &str, offset: i64) -> fetch_response::PartitionData {
    let req = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(50 << 20)
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
    c.send(&req, 12).await.responses[0].partitions[0].clone()
}

/// ListOffsets of partition 0 at `ts` (-2 earliest, -1 latest).
async fn list_offset(c: &mut Client, topic: &str, ts: i64) -> i64 {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(ts),
                ]),
        ]);
    let r = c.send(&req, 7).await;
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.offset
}

/// Polls until the earliest offset satisfies `done`, for at most 5 s.
async fn wait_for_earliest(c: &mut Client, topic: &str, done: impl Fn(i64) -> bool) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let earliest = list_offset(c, topic, -2).await;
        if done(earliest) || Instant::now() > deadline {
            return earliest;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn segment_files(b: &TestBroker, topic: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(b.dir.join(format!("{topic}-0")))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".log"))
        .collect();
    names.sort();
    names
}

/// The segment files once the first is `first` (files are unlinked just after the
/// log start moves), waiting at most 5 s.
async fn wait_for_first_segment(b: &TestBroker, topic: &str, first: i64) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let files = segment_files(b, topic);
        if files.first() == Some(&format!("{first:020}.log")) || Instant::now() > deadline {
            return files;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn short_intervals() -> TestBroker {
    TestBroker::start_with(|c| {
        c.log.retention_check_interval_ms = 20;
        c.log.cleaner_backoff_ms = 20;
    })
    .await
}

#[tokio::test]
async fn time_retention_deletes_old_segments_and_moves_the_earliest_offset() {
    let b = short_intervals().await;
    let mut c = b.client().await;
    c.create_topic(
        "t",
        1,
        &[("segment.bytes", "200"), ("retention.ms", "60000")],
    )
    .await;
    // Ten batches an hour old (one segment each), then two fresh ones.
    let old = now_ms() - 3_600_000;
    for i in 0..10 {
        produce(
            &mut c,
            "t",
            batch_at(&[b"old value"], Compression::None, old + i),
        )
        .await;
    }
    let fresh_start = produce(
        &mut c,
        "t",
        batch_at(&[b"new"], Compression::None, now_ms()),
    )
    .await;
    produce(
        &mut c,
        "t",
        batch_at(&[b"new"], Compression::None, now_ms()),
    )
    .await;

    let earliest = wait_for_earliest(&mut c, "t", |o| o >= fresh_start).await;
    assert_eq!(
        earliest, fresh_start,
        "every old segment goes, the fresh ones stay"
    );
    let files = wait_for_first_segment(&b, "t", fresh_start).await;
    assert_eq!(files[0], format!("{fresh_start:020}.log"), "{files:?}");

    // A consumer below the log start is told so, with the new start.
    let p = fetch(&mut c, "t", 0).await;
    assert_eq!(p.error_code, ResponseError::OffsetOutOfRange.code());
    assert_eq!(p.log_start_offset, fresh_start);
    let p = fetch(&mut c, "t", fresh_start).await;
    assert_eq!(p.error_code, 0);
    assert_eq!(p.log_start_offset, fresh_start);
    assert_eq!(decode_records(&p.records.unwrap()).len(), 2);
}

#[tokio::test]
async fn size_retention_keeps_the_partition_under_retention_bytes() {
    let b = short_intervals().await;
    let mut c = b.client().await;
    c.create_topic(
        "s",
        1,
        &[("segment.bytes", "200"), ("retention.bytes", "500")],
    )
    .await;
    let mut last = 0;
    for _ in 0..20 {
        last = produce(
            &mut c,
            "s",
            batch_at(&[&[b'x'; 60]], Compression::None, now_ms()),
        )
        .await;
    }
    // One batch (~130 bytes) per segment: retention.bytes 500 keeps four of them
    // (a segment goes only while the rest still hold 500 bytes, as in Kafka).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut files = segment_files(&b, "s");
    while files.len() > 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        files = segment_files(&b, "s");
    }
    assert_eq!(files.len(), 4, "{files:?}");
    let earliest = list_offset(&mut c, "s", -2).await;
    assert_eq!(files[0], format!("{earliest:020}.log"));
    assert_eq!(earliest, last - 3);
    assert_eq!(list_offset(&mut c, "s", -1).await, last + 1);
}

#[tokio::test]
async fn compact_only_topics_keep_old_segments() {
    let b = short_intervals().await;
    let mut c = b.client().await;
    c.create_topic(
        "k",
        1,
        &[
            ("segment.bytes", "200"),
            ("retention.ms", "1000"),
            ("cleanup.policy", "compact"),
        ],
    )
    .await;
    let old = now_ms() - 3_600_000;
    for _ in 0..5 {
        produce(&mut c, "k", batch_at(&[b"v"], Compression::None, old)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(list_offset(&mut c, "k", -2).await, 0);
}

async fn delete_records(
    c: &mut Client,
    topic: &str,
    partition: i32,
    offset: i64,
    version: i16,
) -> (i16, i64) {
    use kafka_protocol::messages::delete_records_request::{
        DeleteRecordsPartition, DeleteRecordsTopic,
    };
    let req = DeleteRecordsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            DeleteRecordsTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![
                    DeleteRecordsPartition::default()
                        .with_partition_index(partition)
                        .with_offset(offset),
                ]),
        ]);
    let r = c.send(&req, version).await;
    assert_eq!(r.topics[0].name.0.as_str(), topic);
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.partition_index, partition);
    (p.error_code, p.low_watermark)
}

#[tokio::test]
async fn delete_records_moves_the_log_start_and_survives_a_restart() {
    let mut b = short_intervals().await;
    let mut c = b.client().await;
    c.create_topic("d", 1, &[("segment.bytes", "100")]).await;
    // Three records per batch, one batch per segment: segments at 0, 3, 6, ...
    for _ in 0..6 {
        produce(
            &mut c,
            "d",
            batch_at(&[b"a", b"b", b"c"], Compression::None, now_ms()),
        )
        .await;
    }
    assert_eq!(list_offset(&mut c, "d", -1).await, 18);

    // Into the middle of the third segment: the two before it go.
    assert_eq!(delete_records(&mut c, "d", 0, 7, 2).await, (0, 7));
    assert_eq!(list_offset(&mut c, "d", -2).await, 7);
    let files = wait_for_first_segment(&b, "d", 6).await;
    assert_eq!(files[0], format!("{:020}.log", 6), "{files:?}");
    let p = fetch(&mut c, "d", 6).await;
    assert_eq!(p.error_code, ResponseError::OffsetOutOfRange.code());
    assert_eq!(p.log_start_offset, 7);
    let p = fetch(&mut c, "d", 7).await;
    assert_eq!((p.error_code, p.log_start_offset), (0, 7));

    // Earlier offsets change nothing; past the high watermark is out of range.
    assert_eq!(delete_records(&mut c, "d", 0, 2, 0).await, (0, 7));
    assert_eq!(
        delete_records(&mut c, "d", 0, 19, 1).await,
        (ResponseError::OffsetOutOfRange.code(), -1)
    );
    assert_eq!(
        delete_records(&mut c, "d", 3, 1, 2).await.0,
        ResponseError::UnknownTopicOrPartition.code()
    );
    assert_eq!(
        delete_records(&mut c, "nope", 0, 1, 2).await.0,
        ResponseError::UnknownTopicOrPartition.code()
    );

    // The start inside a segment survives a clean restart and a crash.
    b.restart(|c| c.log.retention_check_interval_ms = 20).await;
    let mut c = b.client().await;
    assert_eq!(list_offset(&mut c, "d", -2).await, 7);
    assert_eq!(list_offset(&mut c, "d", -1).await, 18);

    // -1 is the high watermark: everything goes but the active segment.
    assert_eq!(delete_records(&mut c, "d", 0, -1, 2).await, (0, 18));
    assert_eq!(list_offset(&mut c, "d", -2).await, 18);
    assert_eq!(fetch(&mut c, "d", 18).await.error_code, 0);
    drop(b.broker.take()); // no clean shutdown: a crash
    b.restart(|_| {}).await;
    let mut c = b.client().await;
    assert_eq!(list_offset(&mut c, "d", -2).await, 18);
    assert_eq!(
        produce(&mut c, "d", batch_at(&[b"z"], Compression::None, now_ms())).await,
        18
    );
}

/// One batch of one record (value None: a tombstone).
fn keyed(key: &str, value: Option<&str>) -> Bytes {
    use kafka_protocol::records::{Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
    let record = Record {
        transactional: false,
        control: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: now_ms(),
        key: Some(Bytes::copy_from_slice(key.as_bytes())),
        value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
        headers: Default::default(),
        delete_horizon: false,
    };
    let mut buf = bytes::BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, [record].iter(), &options).unwrap();
    buf.freeze()
}

/// Every record from `offset` on as (offset, key, value), like a consumer.
async fn consume_all(c: &mut Client, topic: &str) -> Vec<(i64, String, Option<String>)> {
    use kafka_protocol::records::RecordBatchDecoder;
    let mut out = Vec::new();
    let mut offset = list_offset(c, topic, -2).await;
    let end = list_offset(c, topic, -1).await;
    while offset < end {
        let p = fetch(c, topic, offset).await;
        assert_eq!(p.error_code, 0);
        let mut buf = p.records.unwrap();
        assert!(!buf.is_empty());
        while !buf.is_empty() {
            let last = i64::from_be_bytes(buf[0..8].try_into().unwrap())
                + i64::from(i32::from_be_bytes(buf[23..27].try_into().unwrap()));
            let set = RecordBatchDecoder::decode(&mut buf).unwrap();
            let s = |b: Bytes| String::from_utf8(b.to_vec()).unwrap();
            for r in set.records {
                out.push((r.offset, s(r.key.unwrap()), r.value.map(s)));
            }
            offset = last + 1;
        }
    }
    out
}

#[tokio::test]
async fn compaction_keeps_the_latest_value_per_key_and_drops_tombstones() {
    let b = short_intervals().await;
    let mut c = b.client().await;
    c.create_topic(
        "c",
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "200"),
            ("delete.retention.ms", "0"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    )
    .await;
    let mut latest = std::collections::HashMap::new();
    for i in 0..30 {
        let (k, v) = (format!("k{}", i % 3), format!("v{i}"));
        let o = produce(&mut c, "c", keyed(&k, Some(&v))).await;
        latest.insert(k, (o, v));
    }
    produce(&mut c, "c", keyed("k0", None)).await;
    latest.remove("k0");
    // Distinct keys after the tombstone, so that it lands in a sealed segment (the
    // active one is never cleaned).
    for p in ["p1", "p2", "p3"] {
        let o = produce(&mut c, "c", keyed(p, Some(p))).await;
        latest.insert(p.to_string(), (o, p.to_string()));
    }
    let last = produce(&mut c, "c", keyed("z", Some("last"))).await;

    let deadline = Instant::now() + Duration::from_secs(5);
    let mut records = consume_all(&mut c, "c").await;
    while records.len() > 6 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        records = consume_all(&mut c, "c").await;
    }
    let mut expected: Vec<(i64, String, Option<String>)> = latest
        .into_iter()
        .map(|(k, (o, v))| (o, k, Some(v)))
        .collect();
    expected.push((last, "z".into(), Some("last".into())));
    expected.sort();
    assert_eq!(records, expected);
    assert_eq!(list_offset(&mut c, "c", -2).await, 0);
    assert_eq!(list_offset(&mut c, "c", -1).await, last + 1);
    // The log goes on at the same end.
    assert_eq!(
        produce(&mut c, "c", keyed("k1", Some("again"))).await,
        last + 1
    );
}

#[tokio::test]
async fn consumer_offsets_are_compacted_and_replay_after_a_restart() {
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
    let tweak = |c: &mut runnel::Config| {
        c.log.cleaner_backoff_ms = 20;
        c.offsets.topic_segment_bytes = 1024;
    };
    let mut b = TestBroker::start_with(tweak).await;
    let mut c = b.client().await;
    c.create_topic("o", 1, &[]).await;
    for i in 0..200 {
        let req = OffsetCommitRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("o")))
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(i),
                    ]),
            ]);
        let r = c.send(&req, 8).await;
        assert_eq!(r.topics[0].partitions[0].error_code, 0);
    }
    let dir = b.dir.join("__consumer_offsets-0");
    let size = || -> u64 {
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
            .sum()
    };
    let full = size();
    let deadline = Instant::now() + Duration::from_secs(5);
    while size() > full / 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(size() <= full / 4, "{} of {full} bytes left", size());

    b.restart(tweak).await;
    let mut c = b.client().await;
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(TopicName(s("o")))
                .with_partition_indexes(vec![0]),
        ]));
    let r = c.send(&req, 7).await;
    assert_eq!(r.topics[0].partitions[0].committed_offset, 199);
}
