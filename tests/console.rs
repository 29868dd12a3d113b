//! The web console's JSON API and pages, against a broker filled over the
//! Kafka protocol.

mod common;

use std::net::SocketAddr;

use bytes::Bytes;
use common::{Client, TestBroker, batch};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// (status, body) of one HTTP/1.1 request with an optional JSON body.
async fn request(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: runnel\r\nConnection: close\r\n\
Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

async fn get_json(addr: SocketAddr, path: &str) -> (u16, Value) {
    let (status, body) = request(addr, "GET", path, None).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

async fn send_json(addr: SocketAddr, method: &str, path: &str, body: Value) -> (u16, Value) {
    let (status, text) = request(addr, method, path, Some(body)).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn http(broker: &TestBroker) -> SocketAddr {
    broker
        .broker
        .as_ref()
        .and_then(|b| b.http_addr())
        .expect("HTTP is on")
}

async fn produce(c: &mut Client, topic: &str, partition: i32, records: Bytes) {
    let req = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
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
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
}

const BINARY: &[u8] = &[0x00, 0x9f, 0x92, 0x96, 0xff];

/// A broker with topic `orders` (2 partitions): partition 0 holds a JSON value,
/// a binary value and plain text, in a compressed batch.
async fn filled() -> (TestBroker, SocketAddr) {
    let broker = TestBroker::start_with(|c| c.group.initial_rebalance_delay_ms = 0).await;
    let mut c = broker.client().await;
    c.create_topic("orders", 2, &[]).await;
    let values: [&[u8]; 3] = [br#"{"id":7,"item":"tea"}"#, BINARY, b"plain text"];
    produce(&mut c, "orders", 0, batch(&values, Compression::Zstd)).await;
    let addr = http(&broker);
    (broker, addr)
}

#[tokio::test]
async fn topics_list_shows_offsets_sizes_and_configs() {
    let (_broker, addr) = filled().await;
    let (status, topics) = get_json(addr, "/api/topics").await;
    assert_eq!(status, 200);
    let orders = topics
        .as_array()
        .and_then(|a| a.iter().find(|t| t["name"] == "orders"))
        .expect("orders listed");
    assert_eq!(orders["partitions"], 2);
    assert_eq!(orders["records"], 3);
    assert_eq!(orders["log_end_offsets"], json!([3, 0]));
    assert_eq!(orders["log_start_offsets"], json!([0, 0]));
    assert_eq!(orders["cleanup_policy"], "delete");
    assert!(orders["size_bytes"].as_u64().unwrap() > 0);
    assert!(orders["bytes_in"].as_u64().unwrap() > 0);

    let (status, detail) = get_json(addr, "/api/topics/orders").await;
    assert_eq!(status, 200);
    assert_eq!(detail["partition_detail"][0]["log_end_offset"], 3);
    let retention = detail["configs"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "retention.ms"))
        .expect("retention.ms");
    assert_eq!(retention["source"], "DEFAULT_CONFIG");

    let (status, overview) = get_json(addr, "/api/overview").await;
    assert_eq!(status, 200);
    assert_eq!(overview["version"], env!("CARGO_PKG_VERSION"));
    assert!(overview["counters"]["requests"].as_u64().unwrap() >= 2);
    assert_eq!(overview["listeners"][0]["name"], "PLAINTEXT");
    assert_eq!(overview["config"]["console"]["enabled"], true);
}

#[tokio::test]
async fn records_show_json_text_and_binary_values() {
    let (_broker, addr) = filled().await;
    let (status, page) = get_json(
        addr,
        "/api/topics/orders/records?partition=0&offset=0&limit=10",
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let records = page["records"].as_array().expect("records");
    assert_eq!(records.len(), 3);
    assert_eq!(records[0]["offset"], 0);
    assert_eq!(records[0]["key"]["data"], "k0");
    assert_eq!(records[0]["value"]["encoding"], "text");
    assert_eq!(records[0]["value"]["data"], r#"{"id":7,"item":"tea"}"#);
    assert_eq!(records[1]["value"]["encoding"], "base64");
    assert_eq!(records[1]["value"]["data"], "AJ+Slv8=");
    assert_eq!(records[1]["value"]["size"], 5);
    assert_eq!(records[2]["value"]["data"], "plain text");
    assert_eq!(page["next_offset"], 3);

    // Paging: one record at a time; the newest when no offset is given.
    let (_, one) = get_json(addr, "/api/topics/orders/records?offset=1&limit=1").await;
    assert_eq!(one["records"].as_array().map(Vec::len), Some(1));
    assert_eq!(one["records"][0]["offset"], 1);
    assert_eq!(one["next_offset"], 2);
    let (_, newest) = get_json(addr, "/api/topics/orders/records?limit=1").await;
    assert_eq!(newest["records"][0]["offset"], 2);
    let (_, by_time) = get_json(
        addr,
        "/api/topics/orders/records?timestamp=1700000000001&limit=5",
    )
    .await;
    assert_eq!(by_time["records"][0]["offset"], 1);
    let (_, empty) = get_json(addr, "/api/topics/orders/records?partition=1").await;
    assert_eq!(empty["records"], json!([]));

    // Outside the log, an unknown partition, a bad query.
    let (status, e) = get_json(addr, "/api/topics/orders/records?offset=99").await;
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("OFFSET_OUT_OF_RANGE"))
    );
    let (status, e) = get_json(addr, "/api/topics/orders/records?partition=7").await;
    assert_eq!(
        (status, e["error"].as_str()),
        (404, Some("UNKNOWN_TOPIC_OR_PARTITION"))
    );
    let (status, _) = get_json(addr, "/api/topics/orders/records?offset=x").await;
    assert_eq!(status, 400);

    // The page: pretty JSON and hex.
    let (status, html) = request(addr, "GET", "/topics/orders/messages?offset=0", None).await;
    assert_eq!(status, 200);
    assert!(html.contains("&quot;item&quot;: &quot;tea&quot;"), "{html}");
    assert!(html.contains("00 9f 92 96 ff"), "{html}");
    assert!(html.contains("plain text"));
}

#[tokio::test]
async fn large_values_are_cut_with_a_way_to_the_whole() {
    let (broker, addr) = filled().await;
    let mut c = broker.client().await;
    let big = vec![b'x'; 10_000];
    produce(&mut c, "orders", 1, batch(&[&big], Compression::None)).await;
    let (_, page) = get_json(addr, "/api/topics/orders/records?partition=1&offset=0").await;
    let value = &page["records"][0]["value"];
    assert_eq!(value["truncated"], true);
    assert_eq!(value["size"], 10_000);
    assert_eq!(value["data"].as_str().map(str::len), Some(4096));
    let (status, whole) = request(
        addr,
        "GET",
        "/api/topics/orders/partitions/1/records/0/value",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(whole.len(), 10_000);
    let (status, _) = request(
        addr,
        "GET",
        "/api/topics/orders/partitions/1/records/5/value",
        None,
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn produce_a_test_record_through_the_api() {
    let (_broker, addr) = filled().await;
    let (status, r) = send_json(
        addr,
        "POST",
        "/api/topics/orders/records",
        json!({"partition": 1, "key": "k", "value": "hello", "headers": {"h": "v"}}),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(r["offset"], 0);
    let (_, page) = get_json(addr, "/api/topics/orders/records?partition=1&offset=0").await;
    assert_eq!(page["records"][0]["value"]["data"], "hello");
    assert_eq!(page["records"][0]["headers"][0]["key"], "h");
    let (status, _) = send_json(
        addr,
        "POST",
        "/api/topics/orders/records",
        json!({"partition": 1, "value": "AJ8=", "encoding": "base64"}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, e) = send_json(
        addr,
        "POST",
        "/api/topics/orders/records",
        json!({"partition": 9, "value": "x"}),
    )
    .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (404, Some("UNKNOWN_TOPIC_OR_PARTITION"))
    );
}

#[tokio::test]
async fn create_and_delete_a_topic_with_kafka_validation() {
    let (broker, addr) = filled().await;
    let (status, created) = send_json(
        addr,
        "POST",
        "/api/topics",
        json!({"name": "made", "partitions": 3, "configs": {"retention.ms": "60000"}}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["partitions"], 3);
    assert!(
        broker
            .broker
            .as_ref()
            .unwrap()
            .state()
            .topics
            .get("made")
            .is_some()
    );

    let (status, e) = send_json(addr, "POST", "/api/topics", json!({"name": "made"})).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (409, Some("TOPIC_ALREADY_EXISTS"))
    );
    let (status, e) = send_json(addr, "POST", "/api/topics", json!({"name": "bad name!"})).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("INVALID_TOPIC_EXCEPTION"))
    );
    assert!(e["message"].as_str().unwrap().contains("illegal"), "{e}");
    let (status, e) = send_json(
        addr,
        "POST",
        "/api/topics",
        json!({"name": "t2", "configs": {"retention.ms": "soon"}}),
    )
    .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("INVALID_CONFIG")));
    let (status, _) = send_json(addr, "POST", "/api/topics", json!({"partitions": 1})).await;
    assert_eq!(status, 400);
    let (status, e) = get_json(addr, "/api/topics/bad%20name").await;
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("INVALID_TOPIC_EXCEPTION"))
    );
    let (status, e) = get_json(addr, "/api/topics/nope").await;
    assert_eq!(
        (status, e["error"].as_str()),
        (404, Some("UNKNOWN_TOPIC_OR_PARTITION"))
    );

    let (status, _) = request(addr, "DELETE", "/api/topics/made", None).await;
    assert_eq!(status, 204);
    let (status, _) = get_json(addr, "/api/topics/made").await;
    assert_eq!(status, 404);
    let (status, _) = request(addr, "DELETE", "/api/topics/made", None).await;
    assert_eq!(status, 404);
    let (status, _) = request(addr, "DELETE", "/api/topics/__consumer_offsets", None).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_config_change_is_what_describe_configs_sees() {
    let (broker, addr) = filled().await;
    let (status, r) = send_json(
        addr,
        "PATCH",
        "/api/topics/orders/configs",
        json!({"set": {"retention.ms": "12345"}}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let mut c = broker.client().await;
    let describe = DescribeConfigsRequest::default().with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("orders"))
            .with_configuration_keys(Some(vec![s("retention.ms")])),
    ]);
    let d = c.send(&describe, 4).await;
    let entry = &d.results[0].configs[0];
    assert_eq!(entry.value.as_deref(), Some("12345"));
    assert_eq!(entry.config_source, 1, "DYNAMIC_TOPIC_CONFIG");

    let (status, e) = send_json(
        addr,
        "POST",
        "/api/topics/orders/configs",
        json!({"set": {"retention.ms": "abc"}}),
    )
    .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("INVALID_CONFIG")));
    let (status, e) = send_json(
        addr,
        "POST",
        "/api/topics/orders/configs",
        json!({"set": {"no.such.config": "1"}}),
    )
    .await;
    assert_eq!(status, 400, "{e}");
    let (status, _) = send_json(
        addr,
        "POST",
        "/api/topics/orders/configs",
        json!({"delete": ["retention.ms"]}),
    )
    .await;
    assert_eq!(status, 200);
    let d = c.send(&describe, 4).await;
    assert_eq!(
        d.results[0].configs[0].config_source, 5,
        "back to the default"
    );
}

#[tokio::test]
async fn read_only_mode_refuses_every_change() {
    let broker = TestBroker::start_with(|c| c.console.read_only = true).await;
    let addr = http(&broker);
    let (status, _) = get_json(addr, "/api/topics").await;
    assert_eq!(status, 200);
    let (status, e) = send_json(addr, "POST", "/api/topics", json!({"name": "x"})).await;
    assert_eq!((status, e["error"].as_str()), (403, Some("READ_ONLY")));
    for (method, path) in [
        ("DELETE", "/api/topics/x"),
        ("POST", "/api/topics/x/configs"),
        ("POST", "/api/topics/x/records"),
        ("POST", "/api/groups/g/reset-offsets"),
    ] {
        let (status, _) = send_json(addr, method, path, json!({})).await;
        assert_eq!(status, 403, "{method} {path}");
    }
    assert!(
        broker
            .broker
            .as_ref()
            .unwrap()
            .state()
            .topics
            .get("x")
            .is_none()
    );
    let (status, html) = request(addr, "GET", "/topics", None).await;
    assert_eq!(status, 200);
    assert!(!html.contains("create-topic") && html.contains("read-only"));
}

#[tokio::test]
async fn the_console_can_be_turned_off() {
    let broker = TestBroker::start_with(|c| c.console.enabled = false).await;
    let addr = http(&broker);
    assert_eq!(request(addr, "GET", "/api/topics", None).await.0, 404);
    assert_eq!(request(addr, "GET", "/", None).await.0, 404);
    assert_eq!(request(addr, "GET", "/metrics", None).await.0, 200);
}

#[tokio::test]
async fn every_page_renders() {
    let (_broker, addr) = filled().await;
    for path in [
        "/",
        "/topics",
        "/topics/orders",
        "/topics/orders/messages",
        "/groups",
        "/assets/console.js",
        "/assets/console.css",
    ] {
        let (status, body) = request(addr, "GET", path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (status, body) = request(addr, "GET", "/topics/bad%20name", None).await;
    assert_eq!(status, 400);
    assert!(body.contains("INVALID_TOPIC_EXCEPTION"));
    assert_eq!(request(addr, "GET", "/groups/nope", None).await.0, 404);
    assert_eq!(request(addr, "GET", "/api/nope", None).await.0, 404);
    assert_eq!(request(addr, "GET", "/nope", None).await.0, 404);
}

fn commit(group: &str, topic: &str, partition: i32, offset: i64) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(partition)
                        .with_committed_offset(offset),
                ]),
        ])
}

#[tokio::test]
async fn groups_show_lag_and_reset_only_without_members() {
    let (broker, addr) = filled().await;
    let mut c = broker.client().await;
    let r = c.send(&commit("idle", "orders", 0, 1), 8).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);

    let (status, groups) = get_json(addr, "/api/groups").await;
    assert_eq!(status, 200);
    let idle = groups
        .as_array()
        .and_then(|g| g.iter().find(|g| g["group_id"] == "idle"))
        .expect("idle listed");
    assert_eq!(idle["total_lag"], 2);
    let (_, g) = get_json(addr, "/api/groups/idle").await;
    assert_eq!(g["offsets"][0]["committed_offset"], 1);
    assert_eq!(g["offsets"][0]["log_end_offset"], 3);
    assert_eq!(g["offsets"][0]["lag"], 2);

    let (status, g) = send_json(
        addr,
        "POST",
        "/api/groups/idle/reset-offsets",
        json!({"to": "latest"}),
    )
    .await;
    assert_eq!(status, 200, "{g}");
    assert_eq!(g["total_lag"], 0);
    let (_, g) = send_json(
        addr,
        "POST",
        "/api/groups/idle/reset-offsets",
        json!({"to": "offset", "offset": 1, "topic": "orders"}),
    )
    .await;
    assert_eq!(g["offsets"].as_array().map(Vec::len), Some(2), "{g}");
    assert_eq!(g["total_lag"], 2);
    let (status, _) = send_json(
        addr,
        "POST",
        "/api/groups/idle/reset-offsets",
        json!({"to": "tomorrow"}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = send_json(
        addr,
        "POST",
        "/api/groups/nope/reset-offsets",
        json!({"to": "earliest"}),
    )
    .await;
    assert_eq!(status, 404);

    // A group with a member: shown, and its offsets stay.
    let join = |member: &str| {
        JoinGroupRequest::default()
            .with_group_id(GroupId(s("busy")))
            .with_session_timeout_ms(30_000)
            .with_rebalance_timeout_ms(10_000)
            .with_member_id(s(member))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default()
                    .with_name(s("range"))
                    .with_metadata(Bytes::from_static(b"\0\0\0\0\0\0\0\0")),
            ])
    };
    let first = c.send(&join(""), 5).await;
    assert_eq!(first.error_code, ResponseError::MemberIdRequired.code());
    let joined = c.send(&join(first.member_id.as_str()), 5).await;
    assert_eq!(joined.error_code, 0);
    let (_, g) = get_json(addr, "/api/groups/busy").await;
    assert_eq!(g["members"].as_array().map(Vec::len), Some(1), "{g}");
    let (status, e) = send_json(
        addr,
        "POST",
        "/api/groups/busy/reset-offsets",
        json!({"to": "earliest"}),
    )
    .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (409, Some("NON_EMPTY_GROUP"))
    );
    let (status, html) = request(addr, "GET", "/groups/busy", None).await;
    assert_eq!(status, 200);
    assert!(
        !html.contains("reset-offsets"),
        "no reset form while it has members"
    );
}

/// A page on another site can post a form (text/plain) to 127.0.0.1 without a
/// CORS preflight; the API takes only application/json bodies, so it refuses.
#[tokio::test]
async fn a_cross_site_form_post_changes_nothing() {
    let (broker, addr) = filled().await;
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let body = r#"{"name":"csrf"}"#;
    let req = format!(
        "POST /api/topics HTTP/1.1\r\nHost: runnel\r\nConnection: close\r\n\
Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.expect("read");
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    assert!(
        broker
            .broker
            .as_ref()
            .unwrap()
            .state()
            .topics
            .get("csrf")
            .is_none()
    );
}

#[tokio::test]
async fn newest_records_of_every_partition() {
    let (broker, addr) = filled().await;
    let mut c = broker.client().await;
    let later = common::batch_at(&[b"p1-a", b"p1-b"], Compression::None, 1_700_000_000_100);
    produce(&mut c, "orders", 1, later).await;
    let (status, page) = get_json(addr, "/api/topics/orders/newest?limit=3").await;
    assert_eq!(status, 200, "{page}");
    let got: Vec<(i64, i64)> = page["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["partition"].as_i64().unwrap(),
                r["offset"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, vec![(0, 2), (1, 0), (1, 1)], "oldest first");
    let (status, _) = get_json(addr, "/api/topics/nope/newest").await;
    assert_eq!(status, 404);
    let (status, html) = request(addr, "GET", "/topics/orders/messages?partition=all", None).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("p1-b") && html.contains("plain text"),
        "{html}"
    );
}
