//! Idempotent producers: InitProducerId and sequence-number deduplication.

mod common;

use bytes::Bytes;
use common::{TestBroker, idempotent_batch};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

async fn produce(c: &mut common::Client, records: Bytes) -> (i16, i64) {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("idem")))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records)),
                ]),
        ]);
    let r = c.send(&req, 9).await;
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

async fn init_producer_id(c: &mut common::Client) -> (i64, i16) {
    let r = c
        .send(
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000),
            4,
        )
        .await;
    assert_eq!(r.error_code, 0);
    (r.producer_id.0, r.producer_epoch)
}

#[tokio::test]
async fn retries_are_written_once_gaps_and_old_epochs_refused() {
    let mut b = TestBroker::start_with(|c| c.auto_create_topics_enable = true).await;
    let mut c = b.client().await;
    c.send(
        &MetadataRequest::default()
            .with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_static_str("idem")))),
            ]))
            .with_allow_auto_topic_creation(true),
        12,
    )
    .await;
    let (pid, epoch) = init_producer_id(&mut c).await;
    let (pid2, _) = init_producer_id(&mut c).await;
    assert_ne!(pid, pid2, "every InitProducerId gets a new id");

    let first = idempotent_batch(&[b"a", b"b"], pid, epoch, 0);
    assert_eq!(produce(&mut c, first.clone()).await, (0, 0));
    assert_eq!(
        produce(&mut c, idempotent_batch(&[b"c"], pid, epoch, 2)).await,
        (0, 2)
    );
    // The retry of the first batch gets its original offset and is not written again.
    assert_eq!(produce(&mut c, first.clone()).await, (0, 0));
    // A gap in the sequence.
    assert_eq!(
        produce(&mut c, idempotent_batch(&[b"x"], pid, epoch, 7))
            .await
            .0,
        ResponseError::OutOfOrderSequenceNumber.code()
    );
    // Another producer is independent.
    assert_eq!(
        produce(&mut c, idempotent_batch(&[b"d"], pid2, 0, 0)).await,
        (0, 3)
    );

    // The state survives a restart: the retry is still recognised.
    b.restart(|_| {}).await;
    let mut c = b.client().await;
    assert_eq!(produce(&mut c, first).await, (0, 0));
    assert_eq!(
        produce(&mut c, idempotent_batch(&[b"e"], pid, epoch, 3)).await,
        (0, 4)
    );
    // A newer epoch restarts the sequence; then the old epoch is fenced.
    assert_eq!(
        produce(&mut c, idempotent_batch(&[b"f"], pid, epoch + 1, 0)).await,
        (0, 5)
    );
    assert_eq!(
        produce(&mut c, idempotent_batch(&[b"g"], pid, epoch, 4))
            .await
            .0,
        ResponseError::InvalidProducerEpoch.code()
    );
    let (pid3, _) = init_producer_id(&mut c).await;
    assert!(pid3 > pid2, "ids are not reused after a restart");
}
