//! The HTTP listener: /health, /ready and /metrics in Prometheus text format.

mod common;

use std::net::SocketAddr;

use common::{TestBroker, batch};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// (status code, body) of a GET.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: runnel\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn health_ready_and_metrics() {
    let broker = TestBroker::start().await;
    let http = broker
        .broker
        .as_ref()
        .and_then(|b| b.http_addr())
        .expect("HTTP is on");
    assert_eq!(get(http, "/health").await.0, 200);
    assert_eq!(get(http, "/ready").await.0, 200);
    assert_eq!(get(http, "/nope").await.0, 404);

    let mut c = broker.client().await;
    let req = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("metered")))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch(&[b"a", b"b", b"c"], Compression::None))),
                ]),
        ]);
    let meta = MetadataRequest::default().with_topics(Some(vec![
        metadata_request::MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("metered")))),
    ]));
    c.send(&meta, 12).await;
    let r = c.send(&req, 9).await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);

    let (status, text) = get(http, "/metrics").await;
    assert_eq!(status, 200);
    for line in [
        "runnel_requests_total{api=\"Produce\"} 1",
        "runnel_produced_records_total{topic=\"metered\"} 3",
        "runnel_log_end_offset{topic=\"metered\",partition=\"0\"} 3",
        "runnel_log_start_offset{topic=\"metered\",partition=\"0\"} 0",
        "runnel_connections 1",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
    for name in [
        "runnel_request_duration_seconds_bucket{le=",
        "runnel_produced_bytes_total{topic=\"metered\"}",
        "runnel_log_size_bytes{topic=\"metered\",partition=\"0\"}",
        "runnel_process_cpu_seconds_total",
        "runnel_process_resident_memory_bytes",
        "runnel_flush_duration_seconds_count",
    ] {
        assert!(text.contains(name), "missing `{name}` in:\n{text}");
    }
}

#[tokio::test]
async fn the_http_listener_can_be_off() {
    let broker = TestBroker::start_with(|c| c.http_listen = "off".into()).await;
    assert!(broker.broker.as_ref().and_then(|b| b.http_addr()).is_none());
}

fn produce_request(topic: &str, records: bytes::Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records)),
                ]),
        ])
}

/// The value of the sample `name` (with its labels) in a scrape, if present.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn error_codes_rolls_retention_and_cleaning_are_counted() {
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    let broker = TestBroker::start_with(|c| {
        c.log.retention_check_interval_ms = 20;
        c.log.cleaner_backoff_ms = 20;
        c.offsets.topic_segment_bytes = 1024;
    })
    .await;
    let http = broker.broker.as_ref().and_then(|b| b.http_addr()).unwrap();
    let mut c = broker.client().await;

    let r = c
        .send(
            &produce_request("no such topic!", batch(&[b"x"], Compression::None)),
            9,
        )
        .await;
    assert_ne!(r.responses[0].partition_responses[0].error_code, 0);

    c.create_topic(
        "aged",
        1,
        &[("segment.bytes", "100"), ("retention.ms", "60000")],
    )
    .await;
    let hour_ago = runnel::broker::now_ms() - 3_600_000;
    for i in 0..5 {
        let old = common::batch_at(&[b"old value"], Compression::None, hour_ago + i);
        c.send(&produce_request("aged", old), 9).await;
    }
    let fresh = common::batch_at(&[b"new"], Compression::None, runnel::broker::now_ms());
    c.send(&produce_request("aged", fresh), 9).await;

    // Committing one offset over and over leaves __consumer_offsets to the cleaner.
    c.create_topic("o", 1, &[]).await;
    for i in 0..200 {
        let req = OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str("g")))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(StrBytes::from_static_str("o")))
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(i),
                    ]),
            ]);
        c.send(&req, 8).await;
    }

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let text = loop {
        let (_, text) = get(http, "/metrics").await;
        let done = sample(&text, "runnel_retention_deleted_segments_total").unwrap_or(0.0) >= 5.0
            && sample(&text, "runnel_cleaner_removed_records_total").unwrap_or(0.0) > 0.0;
        if done || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(
        sample(
            &text,
            "runnel_request_errors_total{api=\"Produce\",error=\"UNKNOWN_TOPIC_OR_PARTITION\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "runnel_log_segment_rolls_total{topic=\"aged\",partition=\"0\"}"
        ),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "runnel_retention_deleted_segments_total"),
        Some(5.0),
        "{text}"
    );
    assert!(sample(&text, "runnel_retention_deleted_bytes_total").unwrap_or(0.0) > 0.0);
    assert!(sample(&text, "runnel_cleaner_cleaned_partitions_total").unwrap_or(0.0) >= 1.0);
    assert!(sample(&text, "runnel_cleaner_removed_records_total").unwrap_or(0.0) > 0.0);
    assert!(sample(&text, "runnel_cleaner_reclaimed_bytes_total").unwrap_or(0.0) > 0.0);
    assert!(text.contains("runnel_cleaner_pass_duration_seconds_count"));
}
