//! ACLs against an in-process broker: every PLAINTEXT connection is
//! User:ANONYMOUS, so the ACLs are written while ANONYMOUS is a super user and
//! checked after a restart that takes that away.

mod common;

use common::{Client, TestBroker, batch};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

// Kafka's codes.
const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const CLUSTER: i8 = 4;
const ANY: i8 = 1;
const MATCH: i8 = 2;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const ALL: i8 = 2;
const READ: i8 = 3;
const WRITE: i8 = 4;
const DESCRIBE: i8 = 8;
const DENY: i8 = 2;
const ALLOW: i8 = 3;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn acl(rt: i8, name: &str, pt: i8, principal: &str, op: i8, perm: i8) -> AclCreation {
    AclCreation::default()
        .with_resource_type(rt)
        .with_resource_name(s(name))
        .with_resource_pattern_type(pt)
        .with_principal(s(principal))
        .with_host(s("*"))
        .with_operation(op)
        .with_permission_type(perm)
}

async fn create_acls(c: &mut Client, acls: Vec<AclCreation>) -> Vec<i16> {
    let r = c
        .send(&CreateAclsRequest::default().with_creations(acls), 3)
        .await;
    r.results.iter().map(|r| r.error_code).collect()
}

async fn describe_acls(c: &mut Client, rt: i8, name: Option<&str>, pt: i8) -> DescribeAclsResponse {
    let req = DescribeAclsRequest::default()
        .with_resource_type_filter(rt)
        .with_resource_name_filter(name.map(s))
        .with_pattern_type_filter(pt)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_operation(ANY)
        .with_permission_type(ANY);
    c.send(&req, 3).await
}

async fn produce(c: &mut Client, topic: &str) -> i16 {
    let req = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(s(topic)))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch(&[b"v"], Compression::None))),
                ]),
        ]);
    c.send(&req, 9).await.responses[0].partition_responses[0].error_code
}

async fn fetch(c: &mut Client, topic: &str) -> i16 {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(s(topic)))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    c.send(&req, 12).await.responses[0].partitions[0].error_code
}

async fn metadata(c: &mut Client, topics: Option<&[&str]>) -> Vec<(String, i16)> {
    let req = MetadataRequest::default()
        .with_allow_auto_topic_creation(true)
        .with_topics(topics.map(|t| {
            t.iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(TopicName(s(n)))))
                .collect()
        }));
    let mut out: Vec<(String, i16)> = c
        .send(&req, 12)
        .await
        .topics
        .into_iter()
        .map(|t| {
            (
                t.name.map(|n| n.to_string()).unwrap_or_default(),
                t.error_code,
            )
        })
        .collect();
    out.sort();
    out
}

fn code(e: ResponseError) -> i16 {
    e.code()
}

#[tokio::test]
async fn acls_decide_what_a_principal_may_do_and_survive_a_restart() {
    let mut b = TestBroker::start_with(|c| {
        c.authorizer.enabled = true;
        c.authorizer.super_users = "User:ANONYMOUS".into();
    })
    .await;
    let mut c = b.client().await;
    for t in ["readable", "secret", "logs-app", "logs-denied"] {
        c.create_topic(t, 1, &[]).await;
    }
    let anon = "User:ANONYMOUS";
    let codes = create_acls(
        &mut c,
        vec![
            acl(TOPIC, "readable", LITERAL, anon, READ, ALLOW),
            acl(TOPIC, "logs-", PREFIXED, "User:*", ALL, ALLOW),
            acl(TOPIC, "logs-denied", LITERAL, anon, WRITE, DENY),
            acl(GROUP, "allowed", LITERAL, anon, READ, ALLOW),
            acl(CLUSTER, "kafka-cluster", LITERAL, anon, DESCRIBE, ALLOW),
        ],
    )
    .await;
    assert_eq!(codes, vec![0; 5]);
    assert_eq!(
        produce(&mut c, "secret").await,
        0,
        "super users may do anything"
    );

    b.restart(|c| c.authorizer.enabled = true).await;
    let mut c = b.client().await;
    // READ but no WRITE: consumes, cannot produce.
    assert_eq!(fetch(&mut c, "readable").await, 0);
    assert_eq!(
        produce(&mut c, "readable").await,
        code(ResponseError::TopicAuthorizationFailed)
    );
    // A prefixed ALLOW ALL, and a literal DENY that beats it.
    assert_eq!(produce(&mut c, "logs-app").await, 0);
    assert_eq!(
        produce(&mut c, "logs-denied").await,
        code(ResponseError::TopicAuthorizationFailed)
    );
    assert_eq!(fetch(&mut c, "logs-denied").await, 0);
    // No ACL on the topic at all, allow.everyone.if.no.acl.found=false.
    assert_eq!(
        fetch(&mut c, "secret").await,
        code(ResponseError::TopicAuthorizationFailed)
    );
    // Metadata hides what may not be described; named, it says why.
    let all = metadata(&mut c, None).await;
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec!["logs-app", "logs-denied", "readable"]);
    assert_eq!(
        metadata(&mut c, Some(&["secret", "readable"])).await,
        vec![
            ("readable".to_string(), 0),
            (
                "secret".to_string(),
                code(ResponseError::TopicAuthorizationFailed)
            )
        ]
    );
    // Auto-creation needs CREATE; a prefixed ALL grants it.
    assert_eq!(
        metadata(&mut c, Some(&["logs-new"])).await,
        vec![("logs-new".to_string(), 0)]
    );
    assert_eq!(
        metadata(&mut c, Some(&["other-new"])).await,
        vec![(
            "other-new".to_string(),
            code(ResponseError::TopicAuthorizationFailed)
        )]
    );
    // Groups: READ on "allowed" only.
    let find = |group: &str| {
        FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![s(group)])
    };
    let r = c.send(&find("allowed"), 4).await;
    assert_eq!(r.coordinators[0].error_code, 0);
    let r = c.send(&find("denied"), 4).await;
    assert_eq!(
        r.coordinators[0].error_code,
        code(ResponseError::GroupAuthorizationFailed)
    );
    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(s("denied")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(s("consumer"));
    let r = c.send(&join, 5).await;
    assert_eq!(r.error_code, code(ResponseError::GroupAuthorizationFailed));
    // DESCRIBE on the cluster reads ACLs; changing them needs ALTER.
    let r = describe_acls(&mut c, ANY, None, ANY).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.resources.len(), 5, "the ACLs survived the restart");
    let codes = create_acls(
        &mut c,
        vec![acl(TOPIC, "secret", LITERAL, anon, ALL, ALLOW)],
    )
    .await;
    assert_eq!(codes, vec![code(ResponseError::ClusterAuthorizationFailed)]);
    // An idempotent producer may start: WRITE on some topic (KIP-679).
    let idempotent = InitProducerIdRequest::default().with_transactional_id(None);
    let r = c.send(&idempotent, 4).await;
    assert_eq!(r.error_code, 0);
    let r = c
        .send(
            &InitProducerIdRequest::default().with_transactional_id(Some(TransactionalId(s("t")))),
            4,
        )
        .await;
    assert_eq!(
        r.error_code,
        code(ResponseError::TransactionalIdAuthorizationFailed)
    );
}

#[tokio::test]
async fn acl_apis_filter_validate_and_delete() {
    let b = TestBroker::start_with(|c| {
        c.authorizer.enabled = true;
        c.authorizer.super_users = "User:ANONYMOUS".into();
    })
    .await;
    let mut c = b.client().await;
    let codes = create_acls(
        &mut c,
        vec![
            acl(TOPIC, "orders", LITERAL, "User:a", READ, ALLOW),
            acl(TOPIC, "ord", PREFIXED, "User:b", WRITE, ALLOW),
            acl(TOPIC, "*", LITERAL, "User:c", DESCRIBE, ALLOW),
            acl(TOPIC, "x", MATCH, "User:a", READ, ALLOW),
            acl(TOPIC, "x", LITERAL, "alice", READ, ALLOW),
            acl(CLUSTER, "other", LITERAL, "User:a", ALL, ALLOW),
            acl(TOPIC, "", LITERAL, "User:a", READ, ALLOW),
        ],
    )
    .await;
    let invalid = code(ResponseError::InvalidRequest);
    assert_eq!(codes, vec![0, 0, 0, invalid, invalid, invalid, invalid]);
    // MATCH: every ACL that applies to the named topic.
    let r = describe_acls(&mut c, TOPIC, Some("orders"), MATCH).await;
    assert_eq!(r.resources.len(), 3);
    let r = describe_acls(&mut c, TOPIC, Some("orders"), LITERAL).await;
    assert_eq!(r.resources.len(), 1);
    assert_eq!(r.resources[0].acls[0].principal.as_str(), "User:a");
    // ANY with a name: exactly that name, any pattern type.
    let r = describe_acls(&mut c, TOPIC, Some("ord"), ANY).await;
    assert_eq!(r.resources.len(), 1);
    assert_eq!(r.resources[0].pattern_type, PREFIXED);
    // An UNKNOWN filter field is refused.
    let r = describe_acls(&mut c, 0, None, ANY).await;
    assert_eq!(r.error_code, invalid);
    let filter = DeleteAclsFilter::default()
        .with_resource_type_filter(TOPIC)
        .with_pattern_type_filter(ANY)
        .with_resource_name_filter(None)
        .with_principal_filter(Some(s("User:b")))
        .with_host_filter(None)
        .with_operation(ANY)
        .with_permission_type(ANY);
    let r = c
        .send(&DeleteAclsRequest::default().with_filters(vec![filter]), 3)
        .await;
    assert_eq!(r.filter_results[0].error_code, 0);
    assert_eq!(r.filter_results[0].matching_acls.len(), 1);
    assert_eq!(
        r.filter_results[0].matching_acls[0].resource_name.as_str(),
        "ord"
    );
    let r = describe_acls(&mut c, ANY, None, ANY).await;
    assert_eq!(r.resources.len(), 2);
}

#[tokio::test]
async fn without_an_authorizer_everything_is_allowed_and_acl_apis_say_security_disabled() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    let codes = create_acls(
        &mut c,
        vec![acl(TOPIC, "t", LITERAL, "User:a", READ, ALLOW)],
    )
    .await;
    assert_eq!(codes, vec![code(ResponseError::SecurityDisabled)]);
    let r = describe_acls(&mut c, ANY, None, ANY).await;
    assert_eq!(r.error_code, code(ResponseError::SecurityDisabled));
    c.create_topic("t", 1, &[]).await;
    assert_eq!(produce(&mut c, "t").await, 0);
}

/// The checks Kafka's KafkaApis makes besides READ/WRITE on a topic: a
/// follower's fetch needs CLUSTER_ACTION, a KIP-848 heartbeat DESCRIBE on every
/// subscribed topic, and CreateTopics shows a new topic's configs only to
/// those who may describe them.
#[tokio::test]
async fn follower_fetch_subscriptions_and_created_configs_are_checked() {
    const CREATE: i8 = 5;
    const CLUSTER_ACTION: i8 = 9;
    const DESCRIBE_CONFIGS: i8 = 10;
    let anon = "User:ANONYMOUS";
    let mut b = TestBroker::start_with(|c| {
        c.authorizer.enabled = true;
        c.authorizer.super_users = anon.into();
    })
    .await;
    let mut c = b.client().await;
    for t in ["readable", "secret"] {
        c.create_topic(t, 1, &[]).await;
    }
    let codes = create_acls(
        &mut c,
        vec![
            acl(TOPIC, "readable", LITERAL, anon, READ, ALLOW),
            acl(TOPIC, "new-", PREFIXED, anon, CREATE, ALLOW),
            acl(TOPIC, "new-shown", LITERAL, anon, DESCRIBE_CONFIGS, ALLOW),
            acl(GROUP, "g", LITERAL, anon, READ, ALLOW),
        ],
    )
    .await;
    assert_eq!(codes, vec![0; 4]);
    b.restart(|c| c.authorizer.enabled = true).await;
    let mut c = b.client().await;

    // A follower's fetch without CLUSTER_ACTION: refused even where READ is allowed.
    let follower_fetch = |topic: &str| {
        FetchRequest::default()
            .with_replica_id(BrokerId(1))
            .with_max_bytes(1 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(TopicName(s(topic)))
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_partition(0)
                            .with_partition_max_bytes(1 << 20),
                    ]),
            ])
    };
    assert_eq!(fetch(&mut c, "readable").await, 0);
    let r = c.send(&follower_fetch("readable"), 12).await;
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        code(ResponseError::TopicAuthorizationFailed)
    );

    // KIP-848: the whole heartbeat is refused if one subscribed topic may not be described.
    let heartbeat = |topics: &[&str]| {
        ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_member_id(s("member-1"))
            .with_member_epoch(0)
            .with_rebalance_timeout_ms(10_000)
            .with_subscribed_topic_names(Some(topics.iter().map(|t| TopicName(s(t))).collect()))
            .with_topic_partitions(Some(vec![]))
    };
    let r = c.send(&heartbeat(&["readable", "secret"]), 0).await;
    assert_eq!(r.error_code, code(ResponseError::TopicAuthorizationFailed));
    let r = c.send(&heartbeat(&["readable"]), 0).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);

    // CreateTopics v7: created either way; configs and layout only with DESCRIBE_CONFIGS.
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    let create = CreateTopicsRequest::default().with_topics(
        ["new-hidden", "new-shown"]
            .iter()
            .map(|n| {
                CreatableTopic::default()
                    .with_name(TopicName(s(n)))
                    .with_num_partitions(2)
                    .with_replication_factor(1)
            })
            .collect(),
    );
    let r = c.send(&create, 7).await;
    let hidden = &r.topics[0];
    assert_eq!(hidden.error_code, 0);
    assert_eq!(
        hidden.topic_config_error_code,
        code(ResponseError::TopicAuthorizationFailed)
    );
    assert_eq!((hidden.num_partitions, hidden.replication_factor), (-1, -1));
    assert!(hidden.configs.as_ref().is_none_or(|c| c.is_empty()));
    let shown = &r.topics[1];
    assert_eq!((shown.error_code, shown.topic_config_error_code), (0, 0));
    assert_eq!((shown.num_partitions, shown.replication_factor), (2, 1));
    assert!(
        shown
            .configs
            .iter()
            .flatten()
            .any(|c| c.name.as_str() == "retention.ms"),
        "{:?}",
        shown.configs
    );

    // With CLUSTER_ACTION a follower may fetch any topic, READ or not.
    b.restart(|c| {
        c.authorizer.enabled = true;
        c.authorizer.super_users = anon.into();
    })
    .await;
    let mut c = b.client().await;
    let codes = create_acls(
        &mut c,
        vec![acl(
            CLUSTER,
            "kafka-cluster",
            LITERAL,
            anon,
            CLUSTER_ACTION,
            ALLOW,
        )],
    )
    .await;
    assert_eq!(codes, vec![0]);
    b.restart(|c| c.authorizer.enabled = true).await;
    let mut c = b.client().await;
    assert_eq!(
        fetch(&mut c, "secret").await,
        code(ResponseError::TopicAuthorizationFailed)
    );
    let r = c.send(&follower_fetch("secret"), 12).await;
    assert_eq!(r.responses[0].partitions[0].error_code, 0);
}

async fn set_config(c: &mut Client, resource_type: i8, name: &str, key: &str, value: &str) -> i16 {
    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configs(vec![
                AlterableConfig::default()
                    .with_name(s(key))
                    .with_config_operation(0)
                    .with_value(Some(s(value))),
            ]),
    ]);
    c.send(&req, 1).await.responses[0].error_code
}

#[tokio::test]
async fn altering_broker_and_group_configs_needs_alter_configs() {
    const ALTER_CONFIGS: i8 = 11;
    const BROKER_CONFIGS: i8 = 4;
    const GROUP_CONFIGS: i8 = 32;
    let mut b = TestBroker::start_with(|c| {
        c.authorizer.enabled = true;
        c.authorizer.super_users = "User:ANONYMOUS".into();
    })
    .await;
    let mut c = b.client().await;
    let anon = "User:ANONYMOUS";
    let codes = create_acls(
        &mut c,
        vec![acl(GROUP, "mine", LITERAL, anon, ALTER_CONFIGS, ALLOW)],
    )
    .await;
    assert_eq!(codes, vec![0]);

    b.restart(|c| c.authorizer.enabled = true).await;
    let mut c = b.client().await;
    let relogin = "sasl.kerberos.min.time.before.relogin";
    assert_eq!(
        set_config(&mut c, BROKER_CONFIGS, "1", relogin, "58000").await,
        code(ResponseError::ClusterAuthorizationFailed)
    );
    let timeout = "consumer.session.timeout.ms";
    assert_eq!(
        set_config(&mut c, GROUP_CONFIGS, "theirs", timeout, "50000").await,
        code(ResponseError::GroupAuthorizationFailed)
    );
    assert_eq!(
        set_config(&mut c, GROUP_CONFIGS, "mine", timeout, "50000").await,
        0
    );
}
