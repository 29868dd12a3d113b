//! The admin APIs beyond topics and configs (CreatePartitions, DescribeCluster,
//! DescribeLogDirs, OffsetForLeaderEpoch, ElectLeaders, partition reassignments,
//! client quotas) and the broker-side timestamp configs (LogAppendTime,
//! message.timestamp.before/after.max.ms), over TCP against an in-process broker.

mod common;

use bytes::Bytes;
use common::{Client, TestBroker, batch, batch_at, reseal};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, RecordBatchDecoder, TimestampType};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn name(v: &str) -> TopicName {
    TopicName(s(v))
}

fn code(e: ResponseError) -> i16 {
    e.code()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn produce_to(
    c: &mut Client,
    topic: &str,
    partition: i32,
    records: Bytes,
) -> PartitionProduceResponse {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records)),
                ]),
        ]);
    c.send(&req, 9)
        .await
        .responses
        .remove(0)
        .partition_responses
        .remove(0)
}

async fn fetch_raw(c: &mut Client, topic: &str, partition: i32) -> Bytes {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(name(topic))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(partition)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let r = c.send(&req, 12).await;
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.records.clone().unwrap_or_default()
}

async fn partition_count(c: &mut Client, topic: &str) -> usize {
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    let req = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(name(topic))),
    ]));
    let r = c.send(&req, 12).await;
    assert_eq!(r.topics[0].error_code, 0);
    r.topics[0].partitions.len()
}

fn grow(topic: &str, count: i32, assignments: Option<Vec<Vec<i32>>>) -> CreatePartitionsTopic {
    CreatePartitionsTopic::default()
        .with_name(name(topic))
        .with_count(count)
        .with_assignments(assignments.map(|a| {
            a.into_iter()
                .map(|ids| {
                    CreatePartitionsAssignment::default()
                        .with_broker_ids(ids.into_iter().map(BrokerId).collect())
                })
                .collect()
        }))
}

/// CreatePartitions of `topics`; (error code, message) per topic, in order.
async fn create_partitions(
    c: &mut Client,
    topics: Vec<CreatePartitionsTopic>,
    validate_only: bool,
) -> Vec<(i16, Option<String>)> {
    let req = CreatePartitionsRequest::default()
        .with_timeout_ms(5000)
        .with_validate_only(validate_only)
        .with_topics(topics);
    c.send(&req, 3)
        .await
        .results
        .into_iter()
        .map(|r| (r.error_code, r.error_message.map(|m| m.to_string())))
        .collect()
}

#[tokio::test]
async fn create_partitions_grows_topics_and_refuses_what_kafka_refuses() {
    let mut b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("grow", 1, &[("retention.ms", "123456")])
        .await;

    let r = create_partitions(&mut c, vec![grow("grow", 3, None)], false).await;
    assert_eq!(r, vec![(0, None)]);
    assert_eq!(partition_count(&mut c, "grow").await, 3);
    assert!(b.dir.join("grow-1").is_dir() && b.dir.join("grow-2").is_dir());
    let p = produce_to(&mut c, "grow", 2, batch(&[b"in new"], Compression::None)).await;
    assert_eq!((p.error_code, p.base_offset), (0, 0));

    let r = create_partitions(&mut c, vec![grow("grow", 2, None)], false).await;
    assert_eq!(
        r[0],
        (
            code(ResponseError::InvalidPartitions),
            Some("The topic grow currently has 3 partition(s); 2 would not be an increase.".into())
        )
    );
    let r = create_partitions(&mut c, vec![grow("grow", 3, None)], false).await;
    assert_eq!(
        r[0],
        (
            code(ResponseError::InvalidPartitions),
            Some("Topic already has 3 partition(s).".into())
        )
    );

    // validate_only checks and changes nothing.
    let r = create_partitions(&mut c, vec![grow("grow", 5, None)], true).await;
    assert_eq!(r, vec![(0, None)]);
    assert_eq!(partition_count(&mut c, "grow").await, 3);

    // Manual assignments: this node once per new partition, or refused.
    let r = create_partitions(&mut c, vec![grow("grow", 4, Some(vec![vec![1]]))], false).await;
    assert_eq!(r, vec![(0, None)]);
    let refused = [
        (
            vec![vec![2]],
            "includes broker 2, but no such broker is registered",
        ),
        (vec![vec![1, 1]], "includes the broker 1 more than once"),
        (vec![vec![]], "includes an empty replica list"),
        (
            vec![vec![1], vec![1]],
            "Attempted to add 1 additional partition(s), but only 2",
        ),
    ];
    for (assignment, message) in refused {
        let r = create_partitions(&mut c, vec![grow("grow", 5, Some(assignment))], false).await;
        assert_eq!(r[0].0, code(ResponseError::InvalidReplicaAssignment));
        assert!(r[0].1.as_deref().unwrap().contains(message), "{r:?}");
    }

    let r = create_partitions(
        &mut c,
        vec![
            grow("nope", 2, None),
            grow("__consumer_offsets", 2, None),
            grow("grow", 9, None),
            grow("grow", 9, None),
            grow("grow", 1_000_000, None),
        ],
        false,
    )
    .await;
    assert_eq!(r[0], (code(ResponseError::UnknownTopicOrPartition), None));
    assert_eq!(r[1].0, code(ResponseError::InvalidTopicException));
    // Both entries of a duplicated topic get one answer, and nothing changes.
    assert_eq!(
        r[2],
        (
            code(ResponseError::InvalidRequest),
            Some("Duplicate topic name.".into())
        )
    );
    assert_eq!(r.len(), 3, "{r:?}");
    assert_eq!(partition_count(&mut c, "grow").await, 4);
    let r = create_partitions(&mut c, vec![grow("grow", 1_000_000, None)], false).await;
    assert_eq!(r[0].0, code(ResponseError::InvalidPartitions));

    // The count is stored with the topic, configs kept, data intact.
    b.restart(|_| {}).await;
    let mut c = b.client().await;
    assert_eq!(partition_count(&mut c, "grow").await, 4);
    let records = fetch_raw(&mut c, "grow", 2).await;
    assert_eq!(common::decode_records(&records).len(), 1);
    let toml = std::fs::read_to_string(b.dir.join("topics/grow.toml")).unwrap();
    assert!(
        toml.contains("partitions = 4") && toml.contains("123456"),
        "{toml}"
    );
}

#[tokio::test]
async fn describe_cluster_names_this_broker() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    for v in 0..=2 {
        let r = c.send(&DescribeClusterRequest::default(), v).await;
        assert_eq!(r.error_code, 0, "v{v}");
        assert_eq!(r.controller_id, 1);
        assert!(!r.cluster_id.is_empty());
        assert_eq!(r.brokers.len(), 1);
        assert_eq!(r.brokers[0].broker_id, 1);
        assert_eq!(r.brokers[0].host.as_str(), "127.0.0.1");
        assert_eq!(r.brokers[0].port, b.addr.port() as i32);
        assert_eq!(r.cluster_authorized_operations, i32::MIN);
        if v >= 1 {
            assert_eq!(r.endpoint_type, 1);
        }
    }
    let r = c
        .send(
            &DescribeClusterRequest::default().with_include_cluster_authorized_operations(true),
            2,
        )
        .await;
    // DESCRIBE (8) and ALTER (7) among the cluster's operations.
    assert_ne!(r.cluster_authorized_operations & (1 << 8), 0);
    assert_ne!(r.cluster_authorized_operations & (1 << 7), 0);
    let r = c
        .send(&DescribeClusterRequest::default().with_endpoint_type(2), 1)
        .await;
    assert_eq!(r.error_code, code(ResponseError::MismatchedEndpointType));

    // librdkafka's DescribeCluster and DescribeTopics ask Metadata (v8-10) for
    // the authorized operations (KIP-430): everything, with no authorizer.
    let req = MetadataRequest::default()
        .with_topics(None)
        .with_include_cluster_authorized_operations(true)
        .with_include_topic_authorized_operations(true);
    c.create_topic("ops", 1, &[]).await;
    let r = c.send(&req, 10).await;
    assert_eq!(r.cluster_authorized_operations.count_ones(), 7);
    assert_eq!(r.topics[0].topic_authorized_operations.count_ones(), 8);
    let r = c
        .send(&req.with_include_topic_authorized_operations(false), 10)
        .await;
    assert_eq!(r.topics[0].topic_authorized_operations, i32::MIN);
}

#[tokio::test]
async fn describe_log_dirs_reports_sizes_and_space() {
    use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("sized", 2, &[]).await;
    c.create_topic("other", 1, &[]).await;
    let records = batch(&[b"hello", b"world"], Compression::None);
    let len = records.len() as i64;
    assert_eq!(produce_to(&mut c, "sized", 1, records).await.error_code, 0);

    // Null topics: every partition.
    let all = DescribeLogDirsRequest::default().with_topics(None);
    let r = c.send(&all, 4).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.results.len(), 1);
    let dir = &r.results[0];
    assert_eq!(dir.error_code, 0);
    let canonical = std::fs::canonicalize(&b.dir).unwrap();
    assert_eq!(dir.log_dir.as_str(), canonical.to_str().unwrap());
    assert!(dir.total_bytes > 0 && dir.usable_bytes > 0 && dir.usable_bytes <= dir.total_bytes);
    let sized = dir
        .topics
        .iter()
        .find(|t| t.name.as_str() == "sized")
        .unwrap();
    let sizes: Vec<(i32, i64)> = sized
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.partition_size))
        .collect();
    assert_eq!(sizes, vec![(0, 0), (1, len)]);
    assert!(
        sized
            .partitions
            .iter()
            .all(|p| p.offset_lag == 0 && !p.is_future_key)
    );
    assert!(dir.topics.iter().any(|t| t.name.as_str() == "other"));

    // Only what was asked for; unknown topics and partitions are left out.
    let req = DescribeLogDirsRequest::default().with_topics(Some(vec![
        DescribableLogDirTopic::default()
            .with_topic(name("sized"))
            .with_partitions(vec![1, 7]),
        DescribableLogDirTopic::default()
            .with_topic(name("missing"))
            .with_partitions(vec![0]),
    ]));
    for v in 1..=4 {
        let r = c.send(&req, v).await;
        let topics = &r.results[0].topics;
        assert_eq!(topics.len(), 1, "v{v}");
        assert_eq!(topics[0].partitions.len(), 1);
        assert_eq!(topics[0].partitions[0].partition_size, len);
        if v < 4 {
            assert_eq!(r.results[0].total_bytes, -1);
        }
    }
    // An empty list: nothing.
    let none = DescribeLogDirsRequest::default().with_topics(Some(vec![]));
    assert!(c.send(&none, 4).await.results[0].topics.is_empty());
}

/// OffsetForLeaderEpoch of one partition: (error, leader epoch, end offset).
async fn epoch_end(
    c: &mut Client,
    topic: &str,
    partition: i32,
    current: i32,
    epoch: i32,
) -> (i16, i32, i64) {
    use kafka_protocol::messages::offset_for_leader_epoch_request::{
        OffsetForLeaderPartition, OffsetForLeaderTopic,
    };
    let req = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            OffsetForLeaderTopic::default()
                .with_topic(name(topic))
                .with_partitions(vec![
                    OffsetForLeaderPartition::default()
                        .with_partition(partition)
                        .with_current_leader_epoch(current)
                        .with_leader_epoch(epoch),
                ]),
        ]);
    let r = c.send(&req, 4).await;
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.leader_epoch, p.end_offset)
}

#[tokio::test]
async fn offset_for_leader_epoch_answers_from_a_one_epoch_history() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("epochs", 1, &[]).await;
    for _ in 0..3 {
        let records = batch(&[b"a", b"b"], Compression::None);
        assert_eq!(produce_to(&mut c, "epochs", 0, records).await.error_code, 0);
    }
    // The current epoch ends at the log end, with or without the fencing epoch.
    assert_eq!(epoch_end(&mut c, "epochs", 0, 0, 0).await, (0, 0, 6));
    assert_eq!(epoch_end(&mut c, "epochs", 0, -1, 0).await, (0, 0, 6));
    // No epoch asked for, or one newer than any known: undefined.
    assert_eq!(epoch_end(&mut c, "epochs", 0, 0, -1).await, (0, -1, -1));
    assert_eq!(epoch_end(&mut c, "epochs", 0, 0, 3).await, (0, -1, -1));
    // Older than any known: the start of the first epoch.
    assert_eq!(epoch_end(&mut c, "epochs", 0, 0, -5).await, (0, -5, 0));
    // The client's idea of the current epoch is checked first.
    assert_eq!(
        epoch_end(&mut c, "epochs", 0, 1, 0).await.0,
        code(ResponseError::UnknownLeaderEpoch)
    );
    assert_eq!(
        epoch_end(&mut c, "epochs", 0, -3, 0).await.0,
        code(ResponseError::FencedLeaderEpoch)
    );
    assert_eq!(
        epoch_end(&mut c, "epochs", 4, 0, 0).await,
        (code(ResponseError::UnknownTopicOrPartition), -1, -1)
    );
    assert_eq!(
        epoch_end(&mut c, "nope", 0, 0, 0).await.0,
        code(ResponseError::UnknownTopicOrPartition)
    );
}

#[tokio::test]
async fn elect_leaders_and_reassignments_on_one_node() {
    use kafka_protocol::messages::alter_partition_reassignments_request::{
        ReassignablePartition, ReassignableTopic,
    };
    use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("led", 2, &[]).await;

    let all = ElectLeadersRequest::default().with_topic_partitions(None);
    let r = c.send(&all, 2).await;
    assert_eq!(r.error_code, 0);
    assert!(r.replica_election_results.is_empty());
    for election_type in [0, 1] {
        let req = ElectLeadersRequest::default()
            .with_election_type(election_type)
            .with_topic_partitions(Some(vec![
                TopicPartitions::default()
                    .with_topic(name("led"))
                    .with_partitions(vec![0, 1, 9]),
                TopicPartitions::default()
                    .with_topic(name("nope"))
                    .with_partitions(vec![0]),
            ]));
        let r = c.send(&req, 2).await;
        let codes: Vec<Vec<i16>> = r
            .replica_election_results
            .iter()
            .map(|t| t.partition_result.iter().map(|p| p.error_code).collect())
            .collect();
        let not_needed = code(ResponseError::ElectionNotNeeded);
        let unknown = code(ResponseError::UnknownTopicOrPartition);
        assert_eq!(
            codes,
            vec![vec![not_needed, not_needed, unknown], vec![unknown]]
        );
    }
    let r = c
        .send(&ElectLeadersRequest::default().with_election_type(7), 1)
        .await;
    assert_eq!(r.error_code, code(ResponseError::InvalidRequest));

    let partition = |index: i32, replicas: Option<Vec<i32>>| {
        ReassignablePartition::default()
            .with_partition_index(index)
            .with_replicas(replicas.map(|r| r.into_iter().map(BrokerId).collect()))
    };
    let req = AlterPartitionReassignmentsRequest::default().with_topics(vec![
        ReassignableTopic::default()
            .with_name(name("led"))
            .with_partitions(vec![
                partition(0, Some(vec![1])),
                partition(1, Some(vec![2])),
                partition(0, Some(vec![1, 2])),
                partition(0, Some(vec![])),
                partition(1, None),
                partition(5, Some(vec![1])),
            ]),
    ]);
    for v in 0..=1 {
        let r = c.send(&req, v).await;
        assert_eq!(r.error_code, 0);
        let codes: Vec<i16> = r.responses[0]
            .partitions
            .iter()
            .map(|p| p.error_code)
            .collect();
        let invalid = code(ResponseError::InvalidReplicaAssignment);
        assert_eq!(
            codes,
            vec![
                0,
                invalid,
                invalid,
                invalid,
                code(ResponseError::NoReassignmentInProgress),
                code(ResponseError::UnknownTopicOrPartition),
            ],
            "v{v}"
        );
    }

    let r = c
        .send(
            &ListPartitionReassignmentsRequest::default().with_topics(None),
            0,
        )
        .await;
    assert_eq!(r.error_code, 0);
    assert!(r.topics.is_empty());
}

fn entity(parts: &[(&str, Option<&str>)]) -> Vec<alter_client_quotas_request::EntityData> {
    parts
        .iter()
        .map(|(t, n)| {
            alter_client_quotas_request::EntityData::default()
                .with_entity_type(s(t))
                .with_entity_name(n.map(s))
        })
        .collect()
}

fn set(key: &str, value: f64) -> alter_client_quotas_request::OpData {
    alter_client_quotas_request::OpData::default()
        .with_key(s(key))
        .with_value(value)
}

async fn alter_quotas(
    c: &mut Client,
    entries: Vec<alter_client_quotas_request::EntryData>,
    validate_only: bool,
) -> Vec<(i16, Option<String>)> {
    let req = AlterClientQuotasRequest::default()
        .with_entries(entries)
        .with_validate_only(validate_only);
    c.send(&req, 1)
        .await
        .entries
        .into_iter()
        .map(|e| (e.error_code, e.error_message.map(|m| m.to_string())))
        .collect()
}

/// Every stored quota as ("type=name,..." with "<default>", key, value).
async fn describe_quotas(
    c: &mut Client,
    components: Vec<describe_client_quotas_request::ComponentData>,
    strict: bool,
) -> Result<Vec<(String, String, f64)>, i16> {
    let req = DescribeClientQuotasRequest::default()
        .with_components(components)
        .with_strict(strict);
    let r = c.send(&req, 1).await;
    if r.error_code != 0 {
        return Err(r.error_code);
    }
    let mut out = Vec::new();
    for e in r.entries.unwrap() {
        let who: Vec<String> = e
            .entity
            .iter()
            .map(|d| {
                let n = d.entity_name.as_ref().map_or("<default>", |n| n.as_str());
                format!("{}={n}", d.entity_type.as_str())
            })
            .collect();
        for v in e.values {
            out.push((who.join(","), v.key.to_string(), v.value));
        }
    }
    Ok(out)
}

fn component(
    t: &str,
    match_type: i8,
    m: Option<&str>,
) -> describe_client_quotas_request::ComponentData {
    describe_client_quotas_request::ComponentData::default()
        .with_entity_type(s(t))
        .with_match_type(match_type)
        .with_match(m.map(s))
}

#[tokio::test]
async fn client_quotas_are_validated_stored_and_reported() {
    use alter_client_quotas_request::EntryData;
    let mut b = TestBroker::start().await;
    let mut c = b.client().await;
    let entry = |who: &[(&str, Option<&str>)], ops| {
        EntryData::default().with_entity(entity(who)).with_ops(ops)
    };
    let r = alter_quotas(
        &mut c,
        vec![
            entry(
                &[("user", Some("alice"))],
                vec![set("producer_byte_rate", 1024.0)],
            ),
            entry(
                &[("user", Some("alice")), ("client-id", Some("app"))],
                vec![
                    set("consumer_byte_rate", 2048.0),
                    set("request_percentage", 50.5),
                ],
            ),
            entry(
                &[("client-id", None)],
                vec![set("controller_mutation_rate", 2.5)],
            ),
            entry(
                &[("ip", Some("10.1.2.3"))],
                vec![set("connection_creation_rate", 10.0)],
            ),
            entry(&[("user", Some("bob"))], vec![set("bogus_rate", 1.0)]),
            entry(
                &[("group", Some("g"))],
                vec![set("producer_byte_rate", 1.0)],
            ),
            entry(
                &[("ip", Some("10.1.2.3")), ("user", None)],
                vec![set("connection_creation_rate", 1.0)],
            ),
            entry(
                &[("user", Some("bob"))],
                vec![set("producer_byte_rate", 0.5)],
            ),
        ],
        false,
    )
    .await;
    let ok: Vec<i16> = r.iter().map(|e| e.0).collect();
    let invalid = code(ResponseError::InvalidRequest);
    assert_eq!(
        ok,
        vec![
            0,
            0,
            0,
            0,
            invalid,
            code(ResponseError::UnsupportedVersion),
            invalid,
            invalid
        ]
    );
    assert_eq!(
        r[4].1.as_deref(),
        Some("Invalid configuration key bogus_rate")
    );

    // validate_only stores nothing.
    let r = alter_quotas(
        &mut c,
        vec![entry(
            &[("user", Some("carol"))],
            vec![set("producer_byte_rate", 1.0)],
        )],
        true,
    )
    .await;
    assert_eq!(r[0].0, 0);

    b.restart(|_| {}).await;
    let mut c = b.client().await;
    let all = describe_quotas(&mut c, vec![], false).await.unwrap();
    assert_eq!(all.len(), 5, "{all:?}");
    assert!(all.contains(&("user=alice".into(), "producer_byte_rate".into(), 1024.0)));
    assert!(all.contains(&(
        "client-id=app,user=alice".into(),
        "request_percentage".into(),
        50.5
    )));
    assert!(all.contains(&(
        "client-id=<default>".into(),
        "controller_mutation_rate".into(),
        2.5
    )));
    assert!(all.contains(&(
        "ip=10.1.2.3".into(),
        "connection_creation_rate".into(),
        10.0
    )));

    // EXACT, strict: only the user-alone entity.
    let alice = describe_quotas(&mut c, vec![component("user", 0, Some("alice"))], true)
        .await
        .unwrap();
    assert_eq!(
        alice,
        vec![("user=alice".into(), "producer_byte_rate".into(), 1024.0)]
    );
    // Not strict: the user+client-id entity too.
    let alice = describe_quotas(&mut c, vec![component("user", 0, Some("alice"))], false)
        .await
        .unwrap();
    assert_eq!(alice.len(), 3);
    // DEFAULT and SPECIFIED.
    let default = describe_quotas(&mut c, vec![component("client-id", 1, None)], false)
        .await
        .unwrap();
    assert_eq!(default.len(), 1);
    let specified = describe_quotas(&mut c, vec![component("client-id", 2, None)], false)
        .await
        .unwrap();
    assert_eq!(specified.len(), 2);
    // Bad filters.
    let err = describe_quotas(&mut c, vec![component("user", 0, None)], false).await;
    assert_eq!(err, Err(invalid));
    let err = describe_quotas(
        &mut c,
        vec![component("ip", 2, None), component("user", 2, None)],
        false,
    )
    .await;
    assert_eq!(err, Err(invalid));

    // Removing the last value removes the entity.
    let remove = alter_client_quotas_request::OpData::default()
        .with_key(s("connection_creation_rate"))
        .with_remove(true);
    let r = alter_quotas(
        &mut c,
        vec![entry(&[("ip", Some("10.1.2.3"))], vec![remove])],
        false,
    )
    .await;
    assert_eq!(r[0].0, 0);
    let ips = describe_quotas(&mut c, vec![component("ip", 2, None)], false)
        .await
        .unwrap();
    assert!(ips.is_empty());
}

/// The raw header fields of the first batch in `records`: (attributes, max timestamp).
fn first_batch_header(records: &Bytes) -> (i16, i64) {
    let attributes = i16::from_be_bytes(records[21..23].try_into().unwrap());
    let max_timestamp = i64::from_be_bytes(records[35..43].try_into().unwrap());
    (attributes, max_timestamp)
}

#[tokio::test]
async fn log_append_time_topics_stamp_batches_with_the_broker_clock() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("lat", 1, &[("message.timestamp.type", "LogAppendTime")])
        .await;
    c.create_topic("ct", 1, &[]).await;

    for compression in [Compression::None, Compression::Gzip] {
        let before = now_ms();
        let p = produce_to(&mut c, "lat", 0, batch_at(&[b"x", b"y"], compression, 1000)).await;
        let after = now_ms();
        assert_eq!(p.error_code, 0);
        assert!(
            (before..=after).contains(&p.log_append_time_ms),
            "{} not in {before}..={after}",
            p.log_append_time_ms
        );
    }
    let records = fetch_raw(&mut c, "lat", 0).await;
    let (attributes, max_timestamp) = first_batch_header(&records);
    assert_ne!(attributes & 0x08, 0, "timestamp type bit");
    assert!(max_timestamp > 1_700_000_000_000);
    // The CRC was recomputed: the batches decode (the decoder checks it), as
    // LogAppendTime batches with the records as sent.
    let mut buf = records.clone();
    let mut values = Vec::new();
    while !buf.is_empty() {
        let set = RecordBatchDecoder::decode(&mut buf).expect("valid batch");
        for r in set.records {
            assert_eq!(r.timestamp_type, TimestampType::LogAppend);
            values.push(r.value.unwrap());
        }
    }
    assert_eq!(values, vec!["x", "y", "x", "y"]);

    // A producer may not claim LogAppendTime itself.
    let mut claimed = batch(&[b"z"], Compression::None).to_vec();
    claimed[22] |= 0x08;
    reseal(&mut claimed);
    let p = produce_to(&mut c, "lat", 0, Bytes::from(claimed)).await;
    assert_eq!(p.error_code, code(ResponseError::InvalidTimestamp));
    assert_eq!(p.record_errors.len(), 1);

    // CreateTime topics keep the producer's timestamps and answer -1.
    let p = produce_to(&mut c, "ct", 0, batch_at(&[b"x"], Compression::None, 1000)).await;
    assert_eq!((p.error_code, p.log_append_time_ms), (0, -1));
    let (attributes, max_timestamp) = first_batch_header(&fetch_raw(&mut c, "ct", 0).await);
    assert_eq!((attributes & 0x08, max_timestamp), (0, 1000));
}

#[tokio::test]
async fn timestamps_outside_the_topic_bounds_are_invalid() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic(
        "bounded",
        1,
        &[
            ("message.timestamp.before.max.ms", "3600000"),
            ("message.timestamp.after.max.ms", "60000"),
        ],
    )
    .await;
    for compression in [Compression::None, Compression::Lz4] {
        let now = now_ms();
        let p = produce_to(
            &mut c,
            "bounded",
            0,
            batch_at(&[b"ok", b"ok"], compression, now),
        )
        .await;
        assert_eq!(p.error_code, 0, "{compression:?}");

        // Two hours old: too old.
        let old = now - 7_200_000;
        let p = produce_to(
            &mut c,
            "bounded",
            0,
            batch_at(&[b"a", b"b", b"c"], compression, old),
        )
        .await;
        assert_eq!(p.error_code, code(ResponseError::InvalidTimestamp));
        assert_eq!(
            p.error_message.as_deref(),
            Some("One or more records have been rejected due to invalid timestamp")
        );
        assert_eq!(p.record_errors.len(), 3);
        let first = p.record_errors[0]
            .batch_index_error_message
            .as_deref()
            .unwrap();
        assert!(
            first.starts_with(&format!(
                "Timestamp {old} of message with offset 0 is out of range."
            )),
            "{first}"
        );
        // Ten minutes ahead: too new.
        let ahead = now + 600_000;
        let p = produce_to(&mut c, "bounded", 0, batch_at(&[b"a"], compression, ahead)).await;
        assert_eq!(p.error_code, code(ResponseError::InvalidTimestamp));
    }
    // Nothing refused was stored.
    let records = fetch_raw(&mut c, "bounded", 0).await;
    assert_eq!(common::decode_records(&records).len(), 4);
}

#[tokio::test]
async fn compression_type_recompresses_batches_sent_with_another_codec() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    let codecs = [
        ("uncompressed", Compression::None),
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ];
    for (topic_codec, stored) in codecs {
        let topic = format!("stored-{topic_codec}");
        c.create_topic(&topic, 1, &[("compression.type", topic_codec)])
            .await;
        for (_, sent) in codecs {
            let p = produce_to(&mut c, &topic, 0, batch(&[b"one", b"two"], sent)).await;
            assert_eq!(p.error_code, 0, "{topic_codec} <- {sent:?}");
        }
        let mut records = fetch_raw(&mut c, &topic, 0).await;
        let mut values = Vec::new();
        let mut offsets = Vec::new();
        while !records.is_empty() {
            let codec = records[22] & 0x07;
            assert_eq!(codec, stored as u8, "{topic_codec}");
            let set = RecordBatchDecoder::decode(&mut records).expect("valid batch");
            for r in set.records {
                offsets.push(r.offset);
                values.push(r.value.unwrap());
            }
        }
        assert_eq!(offsets, (0..10).collect::<Vec<i64>>());
        assert_eq!(values, ["one", "two"].repeat(5), "{topic_codec}");
    }

    // `producer` stores each batch as it was sent.
    c.create_topic("as-sent", 1, &[]).await;
    produce_to(&mut c, "as-sent", 0, batch(&[b"x"], Compression::Lz4)).await;
    assert_eq!(fetch_raw(&mut c, "as-sent", 0).await[22] & 0x07, 3);

    // Stamping LogAppendTime after recompressing leaves a valid batch.
    c.create_topic(
        "stamped",
        1,
        &[
            ("compression.type", "gzip"),
            ("message.timestamp.type", "LogAppendTime"),
        ],
    )
    .await;
    produce_to(&mut c, "stamped", 0, batch(&[b"x"], Compression::None)).await;
    let mut records = fetch_raw(&mut c, "stamped", 0).await;
    assert_eq!(records[22] & 0x07, 1);
    let set = RecordBatchDecoder::decode(&mut records).expect("valid batch");
    assert_eq!(set.records[0].timestamp_type, TimestampType::LogAppend);

    // max.message.bytes applies to the batch as stored.
    c.create_topic(
        "small",
        1,
        &[
            ("compression.type", "zstd"),
            ("max.message.bytes", "100000"),
        ],
    )
    .await;
    let big = vec![b'x'; 200_000];
    let p = produce_to(&mut c, "small", 0, batch(&[&big], Compression::Gzip)).await;
    assert_eq!(p.error_code, 0, "compresses to far below max.message.bytes");
    c.create_topic(
        "plain",
        1,
        &[
            ("compression.type", "uncompressed"),
            ("max.message.bytes", "100000"),
        ],
    )
    .await;
    let p = produce_to(&mut c, "plain", 0, batch(&[&big], Compression::Gzip)).await;
    assert_eq!(
        p.error_code,
        code(ResponseError::MessageTooLarge),
        "inflated past max.message.bytes"
    );
}
