//! Compacted topics: every produced record needs a key (Kafka's INVALID_RECORD with
//! record_errors otherwise), in every codec; nothing of a refused batch is written.

mod common;

use bytes::Bytes;
use common::{Client, TestBroker, batch_with_keys};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn produce(
    c: &mut Client,
    topic: &str,
    records: Bytes,
    version: i16,
) -> PartitionProduceResponse {
    let req = ProduceRequest::default()
        .with_acks(1)
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
    c.send(&req, version)
        .await
        .responses
        .remove(0)
        .partition_responses
        .remove(0)
}

#[tokio::test]
async fn compacted_topics_refuse_records_without_a_key() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("c", 1, &[("cleanup.policy", "compact")])
        .await;

    assert_eq!(
        produce(
            &mut c,
            "c",
            batch_with_keys(&[Some("a"), Some("b")], Compression::None),
            9
        )
        .await
        .error_code,
        0
    );
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let records = batch_with_keys(&[Some("a"), None, Some("b"), None], compression);
        let r = produce(&mut c, "c", records, 9).await;
        assert_eq!(r.error_code, ResponseError::InvalidRecord.code());
        assert_eq!(r.base_offset, -1);
        let indexes: Vec<i32> = r.record_errors.iter().map(|e| e.batch_index).collect();
        assert_eq!(indexes, [1, 3], "{compression:?}");
        let m = r.record_errors[0]
            .batch_index_error_message
            .as_deref()
            .unwrap();
        assert_eq!(
            m,
            "Compacted topic cannot accept message without key in topic partition c-0."
        );
        let msg = r.error_message.unwrap();
        assert!(msg.starts_with("One or more records have been rejected due to 2 record errors"));
        assert!(msg.contains(
            "RecordError(batchIndex=1, message='Compacted topic cannot accept message without key"
        ));
    }
    // Before v8 there is no room for record errors: the code alone.
    let r = produce(&mut c, "c", batch_with_keys(&[None], Compression::None), 7).await;
    assert_eq!(r.error_code, ResponseError::InvalidRecord.code());
    assert!(r.record_errors.is_empty());

    // Nothing of the refused batches was written.
    let next = produce(
        &mut c,
        "c",
        batch_with_keys(&[Some("z")], Compression::None),
        9,
    )
    .await;
    assert_eq!((next.error_code, next.base_offset), (0, 2));

    // Not compacted: keyless records are fine.
    c.create_topic("d", 1, &[]).await;
    let r = produce(&mut c, "d", batch_with_keys(&[None], Compression::None), 9).await;
    assert_eq!(r.error_code, 0);
}
