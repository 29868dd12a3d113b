//! The Kafka APIs over real TCP against an in-process broker.

mod common;

use bytes::Bytes;
use common::{TestBroker, batch, batch_at, decode_records};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn produce_request(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records)),
                ]),
        ])
}

fn fetch_request(topic: &str, partition: i32, offset: i64, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(50 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(name(topic))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(partition)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ])
}

async fn create_topic(
    client: &mut common::Client,
    topic: &str,
    partitions: i32,
) -> CreateTopicsResponse {
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(name(topic))
                .with_num_partitions(partitions)
                .with_replication_factor(1),
        ]);
    client.send(&req, 7).await
}

async fn produce(
    client: &mut common::Client,
    topic: &str,
    partition: i32,
    records: Bytes,
) -> (i16, i64) {
    let resp = client
        .send(&produce_request(topic, partition, records, -1), 9)
        .await;
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

async fn fetch(
    client: &mut common::Client,
    topic: &str,
    partition: i32,
    offset: i64,
) -> fetch_response::PartitionData {
    let resp = client
        .send(&fetch_request(topic, partition, offset, 0), 12)
        .await;
    resp.responses[0].partitions[0].clone()
}

#[tokio::test]
async fn api_versions_lists_supported_apis_and_answers_unknown_versions_in_v0() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    let resp = c.send(&ApiVersionsRequest::default(), 3).await;
    assert_eq!(resp.error_code, 0);
    let produce = resp
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::Produce as i16)
        .unwrap();
    assert_eq!((produce.min_version, produce.max_version), (3, 13));
    assert!(
        resp.api_keys
            .iter()
            .any(|k| k.api_key == ApiKey::Fetch as i16)
    );

    // KIP-511: a future ApiVersions version gets a v0 response with the ranges.
    let mut req = c.encode(&ApiVersionsRequest::default(), 3).to_vec();
    req[6..8].copy_from_slice(&99i16.to_be_bytes());
    use tokio::io::AsyncWriteExt;
    c.stream.write_all(&req).await.unwrap();
    let mut body = c.read_frame().await.unwrap();
    let _header =
        <ResponseHeader as kafka_protocol::protocol::Decodable>::decode(&mut body, 0).unwrap();
    let v0 =
        <ApiVersionsResponse as kafka_protocol::protocol::Decodable>::decode(&mut body, 0).unwrap();
    assert_eq!(v0.error_code, ResponseError::UnsupportedVersion.code());
    assert!(!v0.api_keys.is_empty());
}

#[tokio::test]
async fn metadata_auto_creates_and_rejects_bad_names() {
    let b = TestBroker::start_with(|c| c.num_partitions = 3).await;
    let mut c = b.client().await;
    let req = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name("auto"))),
            MetadataRequestTopic::default().with_name(Some(name("bad/name"))),
        ]))
        .with_allow_auto_topic_creation(true);
    let resp = c.send(&req, 12).await;
    assert_eq!(resp.brokers.len(), 1);
    assert_eq!(resp.brokers[0].port, b.addr.port() as i32);
    assert!(resp.cluster_id.is_some());
    assert_eq!(resp.topics[0].error_code, 0);
    assert_eq!(resp.topics[0].partitions.len(), 3);
    assert_eq!(
        resp.topics[1].error_code,
        ResponseError::InvalidTopicException.code()
    );

    let no_create = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name("nope"))),
        ]))
        .with_allow_auto_topic_creation(false);
    let resp = c.send(&no_create, 12).await;
    assert_eq!(
        resp.topics[0].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );

    let all = c
        .send(&MetadataRequest::default().with_topics(None), 12)
        .await;
    let names: Vec<_> = all
        .topics
        .iter()
        .map(|t| t.name.clone().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["auto".to_string()]);
}

#[tokio::test]
async fn produce_then_fetch_round_trips_bytes_and_offsets() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "t", 2).await;
    let first = batch(&[b"a", b"b", b"c"], Compression::None);
    let second = batch(&[b"d"], Compression::Lz4);
    assert_eq!(produce(&mut c, "t", 1, first.clone()).await, (0, 0));
    assert_eq!(produce(&mut c, "t", 1, second.clone()).await, (0, 3));

    let p = fetch(&mut c, "t", 1, 0).await;
    assert_eq!(p.error_code, 0);
    assert_eq!(p.high_watermark, 4);
    assert_eq!(p.log_start_offset, 0);
    let records = p.records.unwrap();
    // Stored exactly as sent but for the base offset.
    assert_eq!(records.len(), first.len() + second.len());
    assert_eq!(&records[8..first.len()], &first[8..]);
    let values: Vec<_> = decode_records(&records)
        .into_iter()
        .map(|(o, v)| (o, v.to_vec()))
        .collect();
    assert_eq!(
        values,
        vec![
            (0, b"a".to_vec()),
            (1, b"b".to_vec()),
            (2, b"c".to_vec()),
            (3, b"d".to_vec())
        ]
    );

    // Fetching from the middle of a batch returns that whole batch.
    let p = fetch(&mut c, "t", 1, 3).await;
    assert_eq!(decode_records(&p.records.unwrap())[0].0, 3);
    // At the end: nothing, no error.
    let p = fetch(&mut c, "t", 1, 4).await;
    assert_eq!(p.error_code, 0);
    assert!(p.records.unwrap().is_empty());
    // Past the end.
    let p = fetch(&mut c, "t", 1, 5).await;
    assert_eq!(p.error_code, ResponseError::OffsetOutOfRange.code());
    // Other partition untouched.
    assert_eq!(fetch(&mut c, "t", 0, 0).await.high_watermark, 0);
}

#[tokio::test]
async fn fetch_long_poll_wakes_on_produce() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "wait", 1).await;
    let mut consumer = b.client().await;
    let waiting = tokio::spawn(async move {
        let resp = consumer
            .send(&fetch_request("wait", 0, 0, 30_000), 12)
            .await;
        resp.responses[0].partitions[0].records.clone().unwrap()
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "fetch must wait for data");
    produce(&mut c, "wait", 0, batch(&[b"wake"], Compression::None)).await;
    let records = tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
        .await
        .expect("woken well before max_wait")
        .unwrap();
    assert_eq!(&decode_records(&records)[0].1[..], b"wake");
}

#[tokio::test]
async fn produce_rejects_bad_batches_and_keeps_serving() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "v", 1).await;

    let mut corrupt = batch(&[b"x"], Compression::None).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    assert_eq!(
        produce(&mut c, "v", 0, corrupt.into()).await.0,
        ResponseError::CorruptMessage.code()
    );

    let mut old_magic = batch(&[b"x"], Compression::None).to_vec();
    old_magic[16] = 1;
    let code = produce(&mut c, "v", 0, old_magic.into()).await.0;
    assert!(
        code == ResponseError::CorruptMessage.code() || code == ResponseError::InvalidRecord.code()
    );

    let truncated = batch(&[b"x"], Compression::None).slice(..30);
    assert_eq!(
        produce(&mut c, "v", 0, truncated).await.0,
        ResponseError::CorruptMessage.code()
    );

    let big = vec![7u8; 1_100_000];
    let too_large = batch(&[&big], Compression::None);
    assert_eq!(
        produce(&mut c, "v", 0, too_large).await.0,
        ResponseError::MessageTooLarge.code()
    );

    assert_eq!(
        produce(&mut c, "v", 9, batch(&[b"x"], Compression::None))
            .await
            .0,
        ResponseError::UnknownTopicOrPartition.code()
    );
    assert_eq!(
        produce(&mut c, "missing", 0, batch(&[b"x"], Compression::None))
            .await
            .0,
        ResponseError::UnknownTopicOrPartition.code()
    );

    // Nothing of the rejected batches was written; the connection still works.
    assert_eq!(
        produce(&mut c, "v", 0, batch(&[b"ok"], Compression::None)).await,
        (0, 0)
    );
    assert_eq!(fetch(&mut c, "v", 0, 0).await.high_watermark, 1);
}

#[tokio::test]
async fn list_offsets_earliest_latest_and_by_timestamp() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "lo", 1).await;
    produce(
        &mut c,
        "lo",
        0,
        batch_at(&[b"a", b"b"], Compression::None, 1000),
    )
    .await;
    produce(
        &mut c,
        "lo",
        0,
        batch_at(&[b"c", b"d"], Compression::None, 5000),
    )
    .await;
    let ask = |ts: i64| {
        ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(name("lo"))
                    .with_partitions(vec![
                        ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_timestamp(ts),
                    ]),
            ])
    };
    let mut answer = async |ts: i64| {
        let r = c.send(&ask(ts), 7).await;
        let p = &r.topics[0].partitions[0];
        assert_eq!(p.error_code, 0);
        (p.offset, p.timestamp)
    };
    assert_eq!(answer(-2).await.0, 0);
    assert_eq!(answer(-1).await.0, 4);
    assert_eq!(answer(-3).await, (3, 5001));
    assert_eq!(answer(4000).await.0, 2);
    assert_eq!(answer(99_999).await, (-1, -1));
}

#[tokio::test]
async fn create_validate_and_delete_topics() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    assert_eq!(create_topic(&mut c, "ct", 2).await.topics[0].error_code, 0);
    assert_eq!(
        create_topic(&mut c, "ct", 2).await.topics[0].error_code,
        ResponseError::TopicAlreadyExists.code()
    );
    assert_eq!(
        create_topic(&mut c, "bad name", 1).await.topics[0].error_code,
        ResponseError::InvalidTopicException.code()
    );
    // Found by the request fuzz target: a huge count used to be allocated up front.
    assert_eq!(
        create_topic(&mut c, "huge", i32::MAX).await.topics[0].error_code,
        ResponseError::InvalidPartitions.code()
    );
    assert!(!b.dir.join("huge-0").exists());
    let bad_config = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(name("cfg"))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(vec![
                CreatableTopicConfig::default()
                    .with_name(StrBytes::from_static_str("retention.ms"))
                    .with_value(Some(StrBytes::from_static_str("soon"))),
            ]),
    ]);
    assert_eq!(
        c.send(&bad_config, 7).await.topics[0].error_code,
        ResponseError::InvalidConfig.code()
    );
    let validate_only = CreateTopicsRequest::default()
        .with_validate_only(true)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(name("dry"))
                .with_num_partitions(4)
                .with_replication_factor(1),
        ]);
    let r = c.send(&validate_only, 7).await;
    assert_eq!((r.topics[0].error_code, r.topics[0].num_partitions), (0, 4));
    assert!(!b.dir.join("dry-0").exists());

    produce(&mut c, "ct", 1, batch(&[b"x"], Compression::None)).await;
    assert!(b.dir.join("ct-1").exists());
    let del = DeleteTopicsRequest::default().with_topics(vec![
        DeleteTopicState::default().with_name(Some(name("ct"))),
        DeleteTopicState::default().with_name(Some(name("never"))),
    ]);
    let r = c.send(&del, 6).await;
    assert_eq!(r.responses[0].error_code, 0);
    assert_eq!(
        r.responses[1].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    assert!(!b.dir.join("ct-1").exists());
    let all = c
        .send(&MetadataRequest::default().with_topics(None), 12)
        .await;
    assert!(all.topics.is_empty());
}

#[tokio::test]
async fn data_survives_a_clean_restart() {
    let mut b = TestBroker::start().await;
    {
        let mut c = b.client().await;
        create_topic(&mut c, "keep", 1).await;
        for i in 0..50 {
            let v = format!("m{i}");
            produce(&mut c, "keep", 0, batch(&[v.as_bytes()], Compression::Zstd)).await;
        }
    }
    b.restart(|_| {}).await;
    let mut c = b.client().await;
    let mut offset = 0;
    let mut seen = Vec::new();
    while offset < 50 {
        let p = fetch(&mut c, "keep", 0, offset).await;
        assert_eq!(p.high_watermark, 50);
        for (o, v) in decode_records(&p.records.unwrap()) {
            seen.push((o, String::from_utf8(v.to_vec()).unwrap()));
            offset = o + 1;
        }
    }
    let expected: Vec<_> = (0..50).map(|i| (i as i64, format!("m{i}"))).collect();
    assert_eq!(seen, expected);
}
