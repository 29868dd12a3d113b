//! Limits that keep the broker up: max.connections (broker-wide and per
//! listener, static and dynamic), max.connections.per.ip and its overrides,
//! connections.max.idle.ms and queued.max.request.bytes, over real sockets;
//! and clients over their byte-rate, request-time (KIP-124) or connection
//! creation rate (KIP-612) quotas throttled as Kafka throttles them, and the
//! broker's and a listener's max.connection.creation.rate.

mod common;

use std::time::{Duration, Instant};

use common::{Client, TestBroker};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    AlterClientQuotasRequest, ApiVersionsRequest, BrokerId, CreatePartitionsRequest,
    CreateTopicsRequest, DeleteTopicsRequest, FetchRequest, IncrementalAlterConfigsRequest,
    ListOffsetsRequest, MetadataRequest, ProduceRequest, TopicName, alter_client_quotas_request,
    create_partitions_request, create_topics_request, incremental_alter_configs_request,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use tokio::io::AsyncWriteExt;
use tokio::time::timeout;

async fn answers(c: &mut Client) -> bool {
    let frame = c.encode(&ApiVersionsRequest::default(), 0);
    if c.stream.write_all(&frame).await.is_err() {
        return false;
    }
    matches!(
        timeout(Duration::from_secs(1), c.read_frame()).await,
        Ok(Some(_))
    )
}

#[tokio::test]
async fn a_connection_beyond_max_connections_per_ip_is_closed() {
    let b = TestBroker::start_with(|c| c.socket.max_connections_per_ip = 2).await;
    let mut first = b.client().await;
    let mut second = b.client().await;
    assert!(answers(&mut first).await && answers(&mut second).await);
    let mut third = b.client().await;
    assert!(third.is_closed_by_broker().await);
    // The two open ones are still served; once one closes, a new one is too.
    assert!(answers(&mut second).await);
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = b.client().await;
    assert!(answers(&mut fourth).await);
}

/// IncrementalAlterConfigs of one broker config at the cluster-wide default
/// level, as `kafka-configs --entity-default` does: SET `value`, or DELETE
/// when None. The error code and message.
async fn alter_broker_config(
    admin: &mut Client,
    name: &str,
    value: Option<&str>,
) -> (i16, Option<String>) {
    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(StrBytes::from_static_str(""))
            .with_configs(vec![
                AlterableConfig::default()
                    .with_name(StrBytes::from_string(name.into()))
                    .with_config_operation(if value.is_some() { 0 } else { 1 })
                    .with_value(value.map(|v| StrBytes::from_string(v.into()))),
            ]),
    ]);
    let r = admin.send(&req, 1).await;
    let r = &r.responses[0];
    (
        r.error_code,
        r.error_message.as_ref().map(|m| m.to_string()),
    )
}

#[tokio::test]
async fn max_connections_per_ip_is_a_dynamic_config() {
    let b = TestBroker::start().await;
    let mut admin = b.client().await;
    let mut other = b.client().await;
    assert!(answers(&mut other).await);
    let r = alter_broker_config(&mut admin, "max.connections.per.ip", Some("2")).await;
    assert_eq!(r.0, 0);
    // Both open connections stay; a third is refused.
    assert!(answers(&mut other).await);
    let mut third = b.client().await;
    assert!(third.is_closed_by_broker().await);
}

#[tokio::test]
async fn max_connections_per_ip_overrides_replace_the_limit_for_their_addresses() {
    // Only the overrides' addresses may connect, as Kafka allows with 0.
    let b = TestBroker::start_with(|c| {
        c.socket.max_connections_per_ip = 0;
        c.socket.max_connections_per_ip_overrides = "10.0.0.1:5, 127.0.0.1:2".into();
    })
    .await;
    let mut admin = b.client().await;
    let mut second = b.client().await;
    assert!(answers(&mut admin).await && answers(&mut second).await);
    let mut third = b.client().await;
    assert!(third.is_closed_by_broker().await);
    // Dynamic, by host name: localhost resolves to 127.0.0.1.
    let overrides = "max.connections.per.ip.overrides";
    let r = alter_broker_config(&mut admin, overrides, Some("localhost:3")).await;
    assert_eq!(r.0, 0);
    let mut third = b.client().await;
    assert!(answers(&mut third).await);
    let mut fourth = b.client().await;
    assert!(fourth.is_closed_by_broker().await);
    // Kafka's refusals: an address it cannot read, and no override left
    // with max.connections.per.ip at 0.
    let invalid = ResponseError::InvalidRequest.code();
    let r = alter_broker_config(&mut admin, overrides, Some("hostName#:100")).await;
    assert_eq!(
        r,
        (
            invalid,
            Some("max.connections.per.ip.overrides contains invalid addresses : hostName#".into())
        )
    );
    let r = alter_broker_config(&mut admin, overrides, Some("")).await;
    assert_eq!(r.0, invalid);
    assert_eq!(
        r.1.as_deref(),
        Some(
            "requirement failed: max.connections.per.ip can be set to zero only if \
             max.connections.per.ip.overrides property is set."
        )
    );
    // Deleted, the static overrides apply again: three open, over 2, so
    // the next is refused.
    assert_eq!(alter_broker_config(&mut admin, overrides, None).await.0, 0);
    let mut fourth = b.client().await;
    assert!(fourth.is_closed_by_broker().await);
    assert!(answers(&mut third).await, "open connections stay");
}

#[tokio::test]
async fn at_max_connections_the_broker_holds_back_accepting() {
    let b = TestBroker::start_with(|c| c.socket.max_connections = 2).await;
    let mut first = b.client().await;
    let mut second = b.client().await;
    assert!(answers(&mut first).await && answers(&mut second).await);
    // The kernel completes the handshake, but the broker does not take the
    // connection: its request waits unanswered, the connection stays open.
    let mut third = b.client().await;
    assert!(!answers(&mut third).await);
    drop(first);
    let reply = timeout(Duration::from_secs(5), third.read_frame()).await;
    assert!(matches!(reply, Ok(Some(_))), "accepted once a slot is free");
    assert!(answers(&mut third).await);
}

#[tokio::test]
async fn max_connections_is_a_dynamic_config() {
    let b = TestBroker::start_with(|c| c.socket.max_connections = 2).await;
    let mut admin = b.client().await;
    let mut second = b.client().await;
    assert!(answers(&mut admin).await && answers(&mut second).await);
    let mut third = b.client().await;
    assert!(!answers(&mut third).await);
    // Raised: the connection waiting is taken at once.
    let r = alter_broker_config(&mut admin, "max.connections", Some("3")).await;
    assert_eq!(r.0, 0);
    let reply = timeout(Duration::from_secs(5), third.read_frame()).await;
    assert!(matches!(reply, Ok(Some(_))), "accepted once raised");
    // Lowered below the open ones: the least recently active are closed (the
    // admin's request was the last one read), and a new one waits until fewer
    // than the new limit are open.
    let r = alter_broker_config(&mut admin, "max.connections", Some("1")).await;
    assert_eq!(r.0, 0);
    assert!(second.is_closed_by_broker().await && third.is_closed_by_broker().await);
    assert!(answers(&mut admin).await);
    let mut fourth = b.client().await;
    assert!(!answers(&mut fourth).await, "one open: at the limit");
    drop(admin);
    let reply = timeout(Duration::from_secs(5), fourth.read_frame()).await;
    assert!(matches!(reply, Ok(Some(_))), "accepted under the limit");
}

#[tokio::test]
async fn a_lowered_max_connections_closes_the_least_recently_used() {
    let b = TestBroker::start().await;
    let mut c = Vec::new();
    for _ in 0..4 {
        c.push(b.client().await);
    }
    c[1].create_topic("quiet", 1, &[]).await;
    // Used in the order 2, 0, 3, 1; 0 is still waiting on a long poll, which
    // does not keep it open.
    assert!(answers(&mut c[2]).await);
    let fetch = long_poll("quiet", 30_000);
    let frame = c[0].encode(&fetch, 12);
    c[0].stream.write_all(&frame).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(answers(&mut c[3]).await);
    let r = alter_broker_config(&mut c[1], "max.connections", Some("2")).await;
    assert_eq!(r.0, 0);
    let closing = Instant::now();
    assert!(c[0].is_closed_by_broker().await && c[2].is_closed_by_broker().await);
    assert!(closing.elapsed() < Duration::from_secs(5));
    assert!(answers(&mut c[3]).await && answers(&mut c[1]).await);
}

#[tokio::test]
async fn at_a_listener_s_max_connections_that_listener_holds_back_accepting() {
    let b = TestBroker::start_with(|c| {
        c.listen = "PLAINTEXT://127.0.0.1:0,SMALL://127.0.0.1:0".into();
        c.listener_security_protocol_map = "PLAINTEXT:PLAINTEXT,SMALL:PLAINTEXT".into();
        c.socket.listener_max_connections = "SMALL:1".into();
        c.socket.max_connections = 4;
    })
    .await;
    let small = b.broker.as_ref().unwrap().listener_addr("SMALL").unwrap();
    let mut first = Client::connect(small).await;
    assert!(answers(&mut first).await);
    let mut waiting = Client::connect(small).await;
    assert!(!answers(&mut waiting).await);
    // The other listener takes connections meanwhile ...
    let mut admin = b.client().await;
    let mut other = b.client().await;
    assert!(answers(&mut admin).await && answers(&mut other).await);
    // ... and a dynamic max.connections of the listener applies at once.
    let name = "listener.name.small.max.connections";
    assert_eq!(alter_broker_config(&mut admin, name, Some("2")).await.0, 0);
    let reply = timeout(Duration::from_secs(5), waiting.read_frame()).await;
    assert!(matches!(reply, Ok(Some(_))), "accepted once raised");
    // Four open: the broker's max.connections holds every listener.
    let mut fifth = b.client().await;
    assert!(!answers(&mut fifth).await);
    drop(other);
    let reply = timeout(Duration::from_secs(5), fifth.read_frame()).await;
    assert!(matches!(reply, Ok(Some(_))));
    // Back to the static 1 with two open: the listener waits until both close.
    assert_eq!(alter_broker_config(&mut admin, name, None).await.0, 0);
    let mut third = Client::connect(small).await;
    assert!(!answers(&mut third).await);
    drop((first, waiting));
    let reply = timeout(Duration::from_secs(5), third.read_frame()).await;
    assert!(
        matches!(reply, Ok(Some(_))),
        "accepted once the listener is under"
    );
    let blocked = b
        .broker
        .as_ref()
        .unwrap()
        .state()
        .metrics
        .connection_accept_blocked_seconds
        .get_or_create(&runnel::metrics::ListenerLabels {
            listener: "SMALL".into(),
        })
        .get();
    assert!(blocked > 1.0, "SMALL waited {blocked} s");
    let r = alter_broker_config(&mut admin, name, Some("0")).await;
    assert_eq!(r.0, ResponseError::InvalidRequest.code());
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_connections_max_idle_ms() {
    let b = TestBroker::start_with(|c| c.socket.connections_max_idle_ms = 500).await;
    let mut idle = b.client().await;
    let mut busy = b.client().await;
    assert!(answers(&mut idle).await);
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(answers(&mut busy).await, "a connection in use stays open");
    }
    assert!(idle.is_closed_by_broker().await);
}

/// Writes `bytes` to `c`, giving up after `within`; answers how much went.
async fn write_within(c: &mut Client, bytes: &[u8], within: Duration) -> usize {
    let mut sent = 0;
    let deadline = tokio::time::Instant::now() + within;
    while sent < bytes.len() {
        match tokio::time::timeout_at(deadline, c.stream.write(&bytes[sent..])).await {
            Ok(Ok(n)) if n > 0 => sent += n,
            _ => break,
        }
    }
    sent
}

#[tokio::test]
async fn at_queued_max_request_bytes_the_broker_stops_reading() {
    const MIB: usize = 1 << 20;
    let b = TestBroker::start_with(|c| {
        c.socket.queued_max_request_bytes = 40 * MIB as u64;
        c.socket.queued_max_request_bytes_per_connection = 40 * MIB as u64;
    })
    .await;
    // A 30 MiB request (zeros: Produce v0, which the broker does not serve,
    // so the whole frame is read and then the connection is closed).
    let mut frame = vec![0u8; 4 + 30 * MIB];
    frame[..4].copy_from_slice(&(30 * MIB as i32).to_be_bytes());

    let mut first = b.client().await;
    let head = 4 + 25 * MIB;
    assert_eq!(
        write_within(&mut first, &frame[..head], Duration::from_secs(20)).await,
        head,
        "the first request is read while memory is free"
    );
    // 30 of 40 MiB are held: the second request's body is not read, so the
    // socket buffers fill and its writer stalls far short of 30 MiB.
    let mut second = b.client().await;
    let sent = write_within(&mut second, &frame, Duration::from_secs(3)).await;
    assert!(
        sent < 20 * MIB,
        "the broker read {sent} bytes past its bound"
    );
    // The first request completes and is done with: the second is read.
    assert_eq!(
        write_within(&mut first, &frame[head..], Duration::from_secs(20)).await,
        frame.len() - head
    );
    assert!(first.is_closed_by_broker().await);
    let rest = write_within(&mut second, &frame[sent..], Duration::from_secs(20)).await;
    assert_eq!(
        sent + rest,
        frame.len(),
        "reading resumed once memory was freed"
    );
    assert!(second.is_closed_by_broker().await);
}

fn produce(records: bytes::Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("q")))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records)),
                ]),
        ])
}

#[tokio::test]
async fn a_producer_over_its_quota_is_told_and_muted() {
    let b = TestBroker::start().await;
    let mut admin = b.client().await;
    admin.create_topic("q", 1, &[]).await;
    // 1000 bytes/s for the harness's client id: 11 KB at once is 1100 bytes/s
    // over the 10 s window, so about one second of throttle.
    admin
        .set_quota(
            "client-id",
            Some("runnel-test"),
            "producer_byte_rate",
            1000.0,
        )
        .await;
    let value = vec![b'v'; 10_900];
    let records = common::batch(&[&value], Compression::None);

    // A client that throttles itself (v9) is answered at once, then not read
    // from for the throttle time.
    let mut c = b.client().await;
    let start = Instant::now();
    let r = c.send(&produce(records.clone()), 9).await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    assert!(start.elapsed() < Duration::from_millis(800));
    assert!(
        (900..1500).contains(&r.throttle_time_ms),
        "throttle_time_ms {}",
        r.throttle_time_ms
    );
    let muted = Instant::now();
    assert!(answers_within(&mut c, Duration::from_secs(5)).await);
    assert!(
        muted.elapsed() >= Duration::from_millis(700),
        "muted for {:?}",
        muted.elapsed()
    );

    // An older one (v5), which does not throttle itself, is answered at once
    // too (Kafka 2.0+): the mute is what holds back its next request.
    let mut old = b.client().await;
    let start = Instant::now();
    let r = old.send(&produce(records), 5).await;
    assert!(r.throttle_time_ms > 0);
    assert!(start.elapsed() < Duration::from_millis(800));
    let ms = r.throttle_time_ms as u64;
    let muted = Instant::now();
    assert!(answers_within(&mut old, Duration::from_millis(ms + 5000)).await);
    assert!(
        muted.elapsed() >= Duration::from_millis(ms.saturating_sub(300)),
        "muted for {:?} of a {ms} ms throttle",
        muted.elapsed()
    );
}

async fn answers_within(c: &mut Client, within: Duration) -> bool {
    let frame = c.encode(&ApiVersionsRequest::default(), 0);
    c.stream.write_all(&frame).await.unwrap();
    matches!(timeout(within, c.read_frame()).await, Ok(Some(_)))
}

/// A broker measuring rates over two 1-second samples, so a rate is taken
/// over one second (not ten) and a burst shows at once.
async fn one_second_quota_window() -> TestBroker {
    TestBroker::start_with(|c| {
        c.quota.window_num = 2;
        c.quota.window_size_seconds = 1;
    })
    .await
}

#[tokio::test]
async fn request_time_over_request_percentage_is_throttled() {
    let b = one_second_quota_window().await;
    let mut admin = b.client().await;
    admin.create_topic("idle", 1, &[]).await;
    // 10% of a thread: 100 ms of handling a second.
    admin
        .set_quota("client-id", Some("runnel-test"), "request_percentage", 10.0)
        .await;

    // A long poll waits 600 ms without a handler working: not counted.
    let mut c = b.client().await;
    let fetch = long_poll("idle", 600);
    let start = Instant::now();
    let r = c.send(&fetch, 12).await;
    assert!(start.elapsed() >= Duration::from_millis(500));
    assert_eq!(r.throttle_time_ms, 0, "a long poll's wait was counted");
    for _ in 0..3 {
        let r = c.send(&MetadataRequest::default(), 12).await;
        assert_eq!(r.throttle_time_ms, 0);
    }

    // A ten-thousandth of a percent: 10 µs a second, which any few requests
    // exceed. The throttle is at most one quota window, and the connection is
    // not read from meanwhile.
    admin
        .set_quota(
            "client-id",
            Some("runnel-test"),
            "request_percentage",
            0.001,
        )
        .await;
    let mut throttle = 0;
    for _ in 0..200 {
        throttle = c
            .send(&MetadataRequest::default(), 12)
            .await
            .throttle_time_ms;
        if throttle > 0 {
            break;
        }
    }
    assert!(
        (1..=1000).contains(&throttle),
        "throttle_time_ms {throttle}"
    );
    if throttle >= 500 {
        let muted = Instant::now();
        assert!(answers_within(&mut c, Duration::from_secs(5)).await);
        assert!(
            muted.elapsed() >= Duration::from_millis(throttle as u64 - 300),
            "muted for {:?} of {throttle} ms",
            muted.elapsed()
        );
    }
    let throttled = b
        .broker
        .as_ref()
        .unwrap()
        .state()
        .metrics
        .throttled_requests
        .get_or_create(&runnel::metrics::QuotaLabels {
            quota_type: "Request".into(),
        })
        .get();
    assert!(throttled >= 1);
}

#[tokio::test]
async fn connections_over_connection_creation_rate_are_closed() {
    let b = one_second_quota_window().await;
    let mut admin = b.client().await;
    admin
        .set_quota("ip", None, "connection_creation_rate", 5.0)
        .await;
    // A burst of 30 from one address: about five a second get in; the others
    // are never served and closed after their throttle time.
    let mut clients = Vec::new();
    for _ in 0..30 {
        clients.push(Client::connect(b.addr).await);
    }
    let mut served = 0;
    for c in &mut clients {
        if answers(c).await {
            served += 1;
        }
    }
    assert!((3..=12).contains(&served), "{served} of 30 served");
    let refused = b
        .broker
        .as_ref()
        .unwrap()
        .state()
        .metrics
        .connections_refused
        .get_or_create(&runnel::metrics::ReasonLabels {
            reason: "connection_creation_rate".into(),
        })
        .get();
    assert_eq!(refused, 30 - served);
    // Another IP entity's own rate replaces the default: 127.0.0.1 at 1000/s.
    admin
        .set_quota("ip", Some("127.0.0.1"), "connection_creation_rate", 1000.0)
        .await;
    let mut more = Vec::new();
    for _ in 0..20 {
        more.push(Client::connect(b.addr).await);
    }
    for c in &mut more {
        assert!(answers(c).await);
    }
}

#[tokio::test]
async fn partition_mutations_over_controller_mutation_rate_are_refused_or_throttled() {
    let b = one_second_quota_window().await;
    let mut admin = b.client().await;
    // One partition a second: a bucket of two (one per sample).
    admin
        .set_quota(
            "client-id",
            Some("runnel-test"),
            "controller_mutation_rate",
            1.0,
        )
        .await;
    let topic = |name: &str, partitions: i32| {
        create_topics_request::CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.to_string())))
            .with_num_partitions(partitions)
            .with_replication_factor(1)
    };
    // Strict (v6+): taken while the bucket is not in debt, even into debt; then refused.
    let r = admin
        .send(
            &CreateTopicsRequest::default().with_topics(vec![
                topic("m1", 2),
                topic("m2", 1),
                topic("m3", 1),
            ]),
            7,
        )
        .await;
    let codes: Vec<i16> = r.topics.iter().map(|t| t.error_code).collect();
    let throttled = ResponseError::ThrottlingQuotaExceeded.code();
    assert_eq!(codes, vec![0, 0, throttled]);
    assert!(
        (1..=1000).contains(&r.throttle_time_ms),
        "throttle_time_ms {}",
        r.throttle_time_ms
    );
    let mut c = b.client().await;
    let r = c
        .send(
            &CreatePartitionsRequest::default().with_topics(vec![
                create_partitions_request::CreatePartitionsTopic::default()
                    .with_name(TopicName(StrBytes::from_static_str("m1")))
                    .with_count(3),
            ]),
            3,
        )
        .await;
    assert_eq!(r.results[0].error_code, throttled, "{r:?}");
    let delete = DeleteTopicsRequest::default()
        .with_topic_names(vec![TopicName(StrBytes::from_static_str("m2"))]);
    // (A throttled connection is muted: each step on a new one.)
    let mut c = b.client().await;
    let r = c.send(&delete, 5).await;
    assert_eq!(r.responses[0].error_code, throttled, "{r:?}");
    // Permissive (CreateTopics v5): served, and throttled after.
    let mut c = b.client().await;
    let r = c
        .send(
            &CreateTopicsRequest::default().with_topics(vec![topic("m4", 1)]),
            5,
        )
        .await;
    assert_eq!(r.topics[0].error_code, 0);
    assert!(r.throttle_time_ms > 0);
    // Without the quota, everything is served again.
    let entry = alter_client_quotas_request::EntryData::default()
        .with_entity(vec![
            alter_client_quotas_request::EntityData::default()
                .with_entity_type(StrBytes::from_static_str("client-id"))
                .with_entity_name(Some(StrBytes::from_static_str("runnel-test"))),
        ])
        .with_ops(vec![
            alter_client_quotas_request::OpData::default()
                .with_key(StrBytes::from_static_str("controller_mutation_rate"))
                .with_remove(true),
        ]);
    let mut fresh = b.client().await;
    let r = fresh
        .send(
            &AlterClientQuotasRequest::default().with_entries(vec![entry]),
            1,
        )
        .await;
    assert_eq!(r.entries[0].error_code, 0);
    let r = fresh.send(&delete, 5).await;
    assert_eq!(r.responses[0].error_code, 0);
}

/// Opens `n` connections to `addr` at once, each sending ApiVersions: how long
/// after the burst began each was answered (None: not within 30 s).
async fn burst(addr: std::net::SocketAddr, n: usize) -> Vec<Option<Duration>> {
    let start = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            tokio::spawn(async move {
                let mut c = Client::connect(addr).await;
                answers_within(&mut c, Duration::from_secs(30))
                    .await
                    .then(|| start.elapsed())
            })
        })
        .collect();
    let mut answered = Vec::new();
    for t in tasks {
        answered.push(t.await.unwrap());
    }
    answered
}

fn within(answered: &[Option<Duration>], limit: Duration) -> usize {
    answered.iter().flatten().filter(|d| **d < limit).count()
}

#[tokio::test]
async fn new_connections_over_max_connection_creation_rate_wait_in_the_backlog() {
    let b = TestBroker::start_with(|c| {
        c.quota.window_num = 2;
        c.quota.window_size_seconds = 1;
        c.socket.max_connection_creation_rate = 5;
    })
    .await;
    let mut steady = b.client().await;
    assert!(answers(&mut steady).await);
    // 30 at once at 5 a second, measured over one-second windows: a first
    // second's worth at once, then about five a second. None is refused; the
    // rest wait to be taken.
    let addr = b.addr;
    let waiting = tokio::spawn(burst(addr, 30));
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Connections already open are served as before meanwhile.
    for _ in 0..3 {
        let asked = Instant::now();
        assert!(answers(&mut steady).await);
        assert!(asked.elapsed() < Duration::from_millis(900));
    }
    let answered = waiting.await.unwrap();
    assert!(
        answered.iter().all(Option::is_some),
        "every connection is served in the end: {answered:?}"
    );
    let early = within(&answered, Duration::from_secs(2));
    assert!(
        (3..=18).contains(&early),
        "{early} of 30 served in the first 2 s: {answered:?}"
    );
    let throttled = b
        .broker
        .as_ref()
        .unwrap()
        .state()
        .metrics
        .connection_accept_throttled
        .get_or_create(&runnel::metrics::ListenerLabels {
            listener: "PLAINTEXT".into(),
        })
        .get();
    assert!(throttled >= 5, "{throttled} connections waited");
}

#[tokio::test]
async fn a_listener_s_connection_creation_rate_is_a_dynamic_config() {
    let b = TestBroker::start_with(|c| {
        c.listen = "PLAINTEXT://127.0.0.1:0,SLOW://127.0.0.1:0".into();
        c.listener_security_protocol_map = "PLAINTEXT:PLAINTEXT,SLOW:PLAINTEXT".into();
        c.quota.window_num = 2;
        c.quota.window_size_seconds = 1;
    })
    .await;
    let slow = b.broker.as_ref().unwrap().listener_addr("SLOW").unwrap();
    let mut admin = b.client().await;
    let rate = "listener.name.slow.max.connection.creation.rate";
    assert_eq!(alter_broker_config(&mut admin, rate, Some("2")).await.0, 0);
    // Two a second on SLOW: of twelve, a handful in the first 1.5 s ...
    let answered = burst(slow, 12).await;
    let early = within(&answered, Duration::from_millis(1500));
    assert!(early <= 7, "{early} of 12 served in 1.5 s: {answered:?}");
    // ... while the other listener takes twelve at once.
    let answered = burst(b.addr, 12).await;
    assert_eq!(
        within(&answered, Duration::from_millis(1500)),
        12,
        "{answered:?}"
    );
    // Deleted, the bound is gone.
    assert_eq!(alter_broker_config(&mut admin, rate, None).await.0, 0);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let answered = burst(slow, 12).await;
    assert_eq!(
        within(&answered, Duration::from_millis(1500)),
        12,
        "{answered:?}"
    );
}

#[tokio::test]
async fn a_throttled_response_goes_out_at_once_at_every_version_and_the_mute_holds_back_the_next() {
    let b = one_second_quota_window().await;
    let mut admin = b.client().await;
    admin.create_topic("t", 1, &[]).await;
    admin
        .set_quota(
            "client-id",
            Some("runnel-test"),
            "request_percentage",
            0.001,
        )
        .await;
    // A ten-thousandth of a percent: once over it, every request is throttled
    // (by at most one window).
    let mut c = b.client().await;
    for _ in 0..200 {
        if c.send(&MetadataRequest::default(), 12)
            .await
            .throttle_time_ms
            > 0
        {
            break;
        }
    }
    let list = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(-1),
                ]),
        ]);
    // Metadata v6 (a client that throttles itself), v5 and ListOffsets v2
    // (clients that do not) alike: answered without waiting out the throttle.
    for version in [6, 5] {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let asked = Instant::now();
        let r = c.send(&MetadataRequest::default(), version).await;
        let took = asked.elapsed();
        assert!(r.throttle_time_ms > 0);
        if r.throttle_time_ms >= 500 {
            assert!(
                took < Duration::from_millis(r.throttle_time_ms as u64 - 300),
                "Metadata v{version} answered after {took:?} of a {} ms throttle",
                r.throttle_time_ms
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = c.send(&list, 2).await;
    assert!(r.throttle_time_ms > 0);
    // The next request is read only once the throttle is over.
    let muted = Instant::now();
    let ms = r.throttle_time_ms as u64;
    assert!(answers_within(&mut c, Duration::from_millis(ms + 5000)).await);
    assert!(
        muted.elapsed() >= Duration::from_millis(ms.saturating_sub(300)),
        "the next request answered after {:?} of a {ms} ms throttle",
        muted.elapsed()
    );
}

/// A Fetch of partition 0 of `topic` from offset 0 that waits up to `max_wait_ms`
/// for a first byte.
fn long_poll(topic: &'static str, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str(topic)))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ])
}
