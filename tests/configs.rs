//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs against an
//! in-process broker, and the key check of compacted topics.

mod common;

use bytes::Bytes;
use common::{Client, TestBroker, batch_with_keys};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const BROKER_LOGGER: i8 = 8;
const GROUP: i8 = 32;
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const DYNAMIC_BROKER_CONFIG: i8 = 2;
const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
const DEFAULT_CONFIG: i8 = 5;
const GROUP_CONFIG: i8 = 8;
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn describe(
    c: &mut Client,
    resource_type: i8,
    name: &str,
    keys: Option<&[&str]>,
    synonyms: bool,
) -> DescribeConfigsResult {
    let resource = DescribeConfigsResource::default()
        .with_resource_type(resource_type)
        .with_resource_name(s(name))
        .with_configuration_keys(keys.map(|k| k.iter().map(|k| s(k)).collect()));
    let req = DescribeConfigsRequest::default()
        .with_resources(vec![resource])
        .with_include_synonyms(synonyms);
    c.send(&req, 4).await.results.remove(0)
}

/// (value, source) of one config of a topic.
async fn topic_config(c: &mut Client, topic: &str, key: &str) -> (Option<String>, i8) {
    let r = describe(c, TOPIC, topic, Some(&[key]), false).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert_eq!(r.configs.len(), 1, "{key}");
    let e = &r.configs[0];
    (e.value.as_ref().map(|v| v.to_string()), e.config_source)
}

/// IncrementalAlterConfigs of one resource; returns (error code, message).
async fn incremental(
    c: &mut Client,
    resource_type: i8,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> (i16, Option<String>) {
    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let configs = ops
        .iter()
        .map(|(k, op, v)| {
            AlterableConfig::default()
                .with_name(s(k))
                .with_config_operation(*op)
                .with_value(v.map(s))
        })
        .collect();
    let req = IncrementalAlterConfigsRequest::default()
        .with_validate_only(validate_only)
        .with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(s(name))
                .with_configs(configs),
        ]);
    let r = c.send(&req, 1).await.responses.remove(0);
    (r.error_code, r.error_message.map(|m| m.to_string()))
}

async fn alter(c: &mut Client, resource_type: i8, name: &str, configs: &[(&str, &str)]) -> i16 {
    use alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let configs = configs
        .iter()
        .map(|(k, v)| {
            AlterableConfig::default()
                .with_name(s(k))
                .with_value(Some(s(v)))
        })
        .collect();
    let req = AlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configs(configs),
    ]);
    c.send(&req, 2).await.responses[0].error_code
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
async fn describe_topic_defaults_overrides_and_synonyms() {
    let b = TestBroker::start_with(|c| c.log.segment_bytes = 1 << 20).await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[("retention.ms", "1000")]).await;

    let all = describe(&mut c, TOPIC, "t", None, true).await;
    assert_eq!(all.error_code, 0);
    let get = |n: &str| all.configs.iter().find(|e| e.name.as_str() == n).unwrap();
    for name in [
        "cleanup.policy",
        "retention.bytes",
        "max.message.bytes",
        "segment.ms",
    ] {
        assert_eq!(get(name).config_source, DEFAULT_CONFIG, "{name}");
        assert!(!get(name).read_only);
    }
    assert_eq!(get("cleanup.policy").value.as_deref(), Some("delete"));
    assert_eq!(get("cleanup.policy").config_type, 7, "LIST");
    assert_eq!(get("max.message.bytes").value.as_deref(), Some("1048588"));

    let retention = get("retention.ms");
    assert_eq!(retention.value.as_deref(), Some("1000"));
    assert_eq!(retention.config_source, DYNAMIC_TOPIC_CONFIG);
    assert_eq!(retention.config_type, 5, "LONG");
    let synonyms: Vec<(&str, Option<&str>, i8)> = retention
        .synonyms
        .iter()
        .map(|s| (s.name.as_str(), s.value.as_deref(), s.source))
        .collect();
    assert_eq!(
        synonyms,
        [
            ("retention.ms", Some("1000"), DYNAMIC_TOPIC_CONFIG),
            ("log.retention.ms", Some("604800000"), DEFAULT_CONFIG)
        ]
    );

    // A broker setting that differs from Kafka's default is a static broker config.
    let segment = get("segment.bytes");
    assert_eq!(segment.value.as_deref(), Some("1048576"));
    assert_eq!(segment.config_source, 4, "STATIC_BROKER_CONFIG");
    assert_eq!(segment.synonyms[0].name.as_str(), "log.segment.bytes");

    // A subset of keys, no synonyms unless asked; v1 has no config type.
    let some = describe(&mut c, TOPIC, "t", Some(&["segment.ms", "nope"]), false).await;
    assert_eq!(some.configs.len(), 1);
    assert!(some.configs[0].synonyms.is_empty());

    let missing = describe(&mut c, TOPIC, "nope", None, false).await;
    assert_eq!(
        missing.error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    assert!(missing.configs.is_empty());
    let bad = describe(&mut c, TOPIC, "no spaces", None, false).await;
    assert_eq!(bad.error_code, ResponseError::InvalidTopicException.code());
}

#[tokio::test]
async fn describe_the_broker() {
    let b = TestBroker::start_with(|c| c.num_partitions = 3).await;
    let mut c = b.client().await;
    let r = describe(&mut c, BROKER, "1", None, true).await;
    assert_eq!(r.error_code, 0);
    let get = |n: &str| r.configs.iter().find(|e| e.name.as_str() == n).unwrap();
    assert_eq!(get("num.partitions").value.as_deref(), Some("3"));
    assert_eq!(
        get("num.partitions").config_source,
        4,
        "STATIC_BROKER_CONFIG"
    );
    assert_eq!(
        get("log.segment.bytes").value.as_deref(),
        Some("1073741824")
    );
    assert_eq!(get("log.segment.bytes").config_source, DEFAULT_CONFIG);
    assert_eq!(get("message.max.bytes").value.as_deref(), Some("1048588"));
    assert_eq!(
        get("auto.create.topics.enable").value.as_deref(),
        Some("true")
    );
    assert_eq!(
        get("socket.request.max.bytes").value.as_deref(),
        Some("104857600")
    );
    assert_eq!(get("log.retention.ms").value.as_deref(), Some("604800000"));
    assert!(get("node.id").read_only);
    assert!(!get("log.retention.ms").read_only, "a dynamic config");

    let default = describe(&mut c, BROKER, "", None, false).await;
    assert_eq!((default.error_code, default.configs.len()), (0, 0));
    let other = describe(&mut c, BROKER, "2", None, false).await;
    assert_eq!(other.error_code, ResponseError::InvalidRequest.code());
    let logger = describe(&mut c, BROKER_LOGGER, "1", None, false).await;
    assert_eq!(logger.error_code, ResponseError::InvalidRequest.code());
}

#[tokio::test]
async fn incremental_alter_each_operation() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;

    let ok = (0, None);
    let op = |k, o, v| [(k, o, v)];
    assert_eq!(
        incremental(
            &mut c,
            TOPIC,
            "t",
            &op("retention.ms", SET, Some("5000")),
            false
        )
        .await,
        ok
    );
    assert_eq!(
        topic_config(&mut c, "t", "retention.ms").await,
        (Some("5000".into()), DYNAMIC_TOPIC_CONFIG)
    );
    let compact = op("cleanup.policy", APPEND, Some("compact"));
    assert_eq!(incremental(&mut c, TOPIC, "t", &compact, false).await, ok);
    assert_eq!(
        topic_config(&mut c, "t", "cleanup.policy")
            .await
            .0
            .as_deref(),
        Some("delete,compact")
    );
    let uncompact = op("cleanup.policy", SUBTRACT, Some("compact"));
    assert_eq!(incremental(&mut c, TOPIC, "t", &uncompact, false).await, ok);
    assert_eq!(
        topic_config(&mut c, "t", "cleanup.policy")
            .await
            .0
            .as_deref(),
        Some("delete")
    );
    assert_eq!(
        incremental(&mut c, TOPIC, "t", &op("retention.ms", DELETE, None), false).await,
        ok
    );
    assert_eq!(
        topic_config(&mut c, "t", "retention.ms").await,
        (Some("604800000".into()), DEFAULT_CONFIG)
    );
}

#[tokio::test]
async fn incremental_alter_validates_like_kafka() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let invalid_config = ResponseError::InvalidConfig.code();
    let invalid_request = ResponseError::InvalidRequest.code();

    let (code, msg) = incremental(
        &mut c,
        TOPIC,
        "t",
        &[("segment.bytes", SET, Some("big"))],
        false,
    )
    .await;
    assert_eq!(code, invalid_config);
    assert!(msg.unwrap().contains("segment.bytes"));
    let (code, msg) = incremental(&mut c, TOPIC, "t", &[("no.such", SET, Some("1"))], false).await;
    assert_eq!(code, invalid_config);
    assert!(msg.unwrap().contains("no.such"));
    let (code, msg) = incremental(
        &mut c,
        TOPIC,
        "t",
        &[("retention.ms", APPEND, Some("1"))],
        false,
    )
    .await;
    assert_eq!(code, invalid_config);
    assert_eq!(
        msg.as_deref(),
        Some("Can't APPEND to key retention.ms because its type is not LIST.")
    );
    let dup = [
        ("retention.ms", SET, Some("1")),
        ("retention.ms", SET, Some("2")),
    ];
    assert_eq!(
        incremental(&mut c, TOPIC, "t", &dup, false).await.0,
        invalid_request
    );
    let null = [("retention.ms", SET, None)];
    assert_eq!(
        incremental(&mut c, TOPIC, "t", &null, false).await.0,
        invalid_request
    );
    let bad_op = [("retention.ms", 9, Some("1"))];
    assert_eq!(
        incremental(&mut c, TOPIC, "t", &bad_op, false).await.0,
        invalid_request
    );
    let (code, msg) = incremental(
        &mut c,
        TOPIC,
        "gone",
        &[("retention.ms", SET, Some("1"))],
        false,
    )
    .await;
    assert_eq!(code, ResponseError::UnknownTopicOrPartition.code());
    assert_eq!(msg.as_deref(), Some("The topic 'gone' does not exist."));

    // validate_only checks but changes nothing; a failed change changes nothing.
    let set = [("retention.ms", SET, Some("1234"))];
    assert_eq!(incremental(&mut c, TOPIC, "t", &set, true).await, (0, None));
    let bad_only = [("retention.ms", SET, Some("x"))];
    assert_eq!(
        incremental(&mut c, TOPIC, "t", &bad_only, true).await.0,
        invalid_config
    );
    let partly_bad = [
        ("retention.ms", SET, Some("1234")),
        ("segment.ms", SET, Some("0")),
    ];
    assert_eq!(
        incremental(&mut c, TOPIC, "t", &partly_bad, false).await.0,
        invalid_config
    );
    assert_eq!(
        topic_config(&mut c, "t", "retention.ms").await.1,
        DEFAULT_CONFIG
    );

    // Broker settings cannot change at run time.
    let (code, msg) = incremental(
        &mut c,
        BROKER,
        "1",
        &[("num.partitions", SET, Some("2"))],
        false,
    )
    .await;
    assert_eq!(code, invalid_request);
    assert!(msg.unwrap().contains("num.partitions"));
    let logger = [("root", SET, Some("DEBUG"))];
    assert_eq!(
        incremental(&mut c, BROKER_LOGGER, "1", &logger, false)
            .await
            .0,
        invalid_request
    );
}

#[tokio::test]
async fn alter_configs_replaces_every_override() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[("retention.ms", "1000")]).await;
    assert_eq!(
        alter(&mut c, TOPIC, "t", &[("segment.ms", "60000")]).await,
        0
    );
    assert_eq!(
        topic_config(&mut c, "t", "segment.ms").await,
        (Some("60000".into()), DYNAMIC_TOPIC_CONFIG)
    );
    assert_eq!(
        topic_config(&mut c, "t", "retention.ms").await.1,
        DEFAULT_CONFIG
    );
    assert_eq!(
        alter(&mut c, TOPIC, "t", &[("segment.ms", "0")]).await,
        ResponseError::InvalidConfig.code()
    );
    assert_eq!(
        topic_config(&mut c, "t", "segment.ms").await.0.as_deref(),
        Some("60000")
    );
    assert_eq!(
        alter(&mut c, BROKER, "1", &[("num.partitions", "2")]).await,
        ResponseError::InvalidRequest.code()
    );
    assert_eq!(alter(&mut c, BROKER, "1", &[]).await, 0);
}

#[tokio::test]
async fn changes_persist_across_a_restart() {
    let mut b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let set = [
        ("cleanup.policy", SET, Some("compact")),
        ("retention.bytes", SET, Some("123456")),
    ];
    assert_eq!(incremental(&mut c, TOPIC, "t", &set, false).await.0, 0);
    b.restart(|_| {}).await;
    let mut c = b.client().await;
    assert_eq!(
        topic_config(&mut c, "t", "retention.bytes").await,
        (Some("123456".into()), DYNAMIC_TOPIC_CONFIG)
    );
    assert_eq!(
        topic_config(&mut c, "t", "cleanup.policy")
            .await
            .0
            .as_deref(),
        Some("compact")
    );
    // Still compacted after the restart: a keyless record is refused.
    let r = produce(&mut c, "t", batch_with_keys(&[None], Compression::None), 9).await;
    assert_eq!(r.error_code, ResponseError::InvalidRecord.code());
}

#[tokio::test]
async fn log_settings_apply_at_run_time() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("t", 1, &[]).await;
    let value = "x".repeat(2000);
    let big = || common::batch(&[value.as_bytes()], Compression::None);
    assert_eq!(produce(&mut c, "t", big(), 9).await.error_code, 0);

    let set = [("max.message.bytes", SET, Some("1000"))];
    assert_eq!(incremental(&mut c, TOPIC, "t", &set, false).await.0, 0);
    let r = produce(&mut c, "t", big(), 9).await;
    assert_eq!(r.error_code, ResponseError::MessageTooLarge.code());

    // Smaller segments: the running log rolls from the next append on.
    let set = [
        ("max.message.bytes", DELETE, None),
        ("segment.bytes", SET, Some("4096")),
    ];
    assert_eq!(incremental(&mut c, TOPIC, "t", &set, false).await.0, 0);
    for _ in 0..6 {
        assert_eq!(produce(&mut c, "t", big(), 9).await.error_code, 0);
    }
    let logs = std::fs::read_dir(b.dir.join("t-0"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "log")
        })
        .count();
    assert!(logs >= 3, "{logs} segments");
}

/// (value, source, synonym sources) of one config of a resource.
async fn config_of(
    c: &mut Client,
    resource_type: i8,
    name: &str,
    key: &str,
) -> (Option<String>, i8, Vec<i8>) {
    let r = describe(c, resource_type, name, Some(&[key]), true).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert_eq!(r.configs.len(), 1, "{key}");
    let e = &r.configs[0];
    (
        e.value.as_ref().map(|v| v.to_string()),
        e.config_source,
        e.synonyms.iter().map(|s| s.source).collect(),
    )
}

#[tokio::test]
async fn dynamic_broker_configs_each_operation() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    // As librdkafka's 0081-admin test does.
    let relogin = [("sasl.kerberos.min.time.before.relogin", "58000")];
    assert_eq!(alter(&mut c, BROKER, "1", &relogin).await, 0);
    let set = [("sasl.kerberos.min.time.before.relogin", SET, Some("58000"))];
    assert_eq!(
        incremental(&mut c, BROKER, "1", &set, false).await,
        (0, None)
    );
    assert_eq!(
        config_of(&mut c, BROKER, "1", "sasl.kerberos.min.time.before.relogin").await,
        (
            Some("58000".into()),
            DYNAMIC_BROKER_CONFIG,
            vec![DYNAMIC_BROKER_CONFIG, DEFAULT_CONFIG]
        )
    );

    let set = [("background.threads", SET, Some("9"))];
    assert_eq!(incremental(&mut c, BROKER, "1", &set, false).await.0, 0);
    assert_eq!(
        config_of(&mut c, BROKER, "1", "background.threads").await.0,
        Some("9".into())
    );
    let delete = [("background.threads", DELETE, None)];
    assert_eq!(incremental(&mut c, BROKER, "1", &delete, false).await.0, 0);
    assert_eq!(
        config_of(&mut c, BROKER, "1", "background.threads").await,
        (Some("10".into()), DEFAULT_CONFIG, vec![DEFAULT_CONFIG])
    );

    let append = [("log.cleanup.policy", APPEND, Some("compact"))];
    assert_eq!(incremental(&mut c, BROKER, "1", &append, false).await.0, 0);
    let (value, source, _) = config_of(&mut c, BROKER, "1", "log.cleanup.policy").await;
    assert_eq!(
        (value.as_deref(), source),
        (Some("delete,compact"), DYNAMIC_BROKER_CONFIG)
    );
    let subtract = [("log.cleanup.policy", SUBTRACT, Some("compact"))];
    assert_eq!(
        incremental(&mut c, BROKER, "1", &subtract, false).await.0,
        0
    );
    assert_eq!(
        config_of(&mut c, BROKER, "1", "log.cleanup.policy").await.0,
        Some("delete".into())
    );
    // APPEND to a config that is not a list.
    let bad_append = [("background.threads", APPEND, Some("1"))];
    assert_eq!(
        incremental(&mut c, BROKER, "1", &bad_append, false).await.0,
        ResponseError::InvalidConfig.code()
    );

    let invalid_request = ResponseError::InvalidRequest.code();
    let static_only = [("log.dirs", SET, Some("/elsewhere"))];
    assert_eq!(
        incremental(&mut c, BROKER, "1", &static_only, false).await,
        (
            invalid_request,
            Some("Cannot update these configs dynamically: Set(log.dirs)".into())
        )
    );
    let per_broker = [("sasl.kerberos.min.time.before.relogin", SET, Some("1"))];
    assert_eq!(
        incremental(&mut c, BROKER, "", &per_broker, false).await,
        (
            invalid_request,
            Some(
                "Cannot update these configs at default cluster level, broker id must be \
                 specified: Set(sasl.kerberos.min.time.before.relogin)"
                    .into()
            )
        )
    );
    let not_a_number = [("num.io.threads", SET, Some("many"))];
    assert_eq!(
        incremental(&mut c, BROKER, "1", &not_a_number, false)
            .await
            .0,
        invalid_request
    );
    // validate_only changes nothing.
    let io = [("num.io.threads", SET, Some("4"))];
    assert_eq!(incremental(&mut c, BROKER, "1", &io, true).await.0, 0);
    assert_eq!(
        config_of(&mut c, BROKER, "1", "num.io.threads").await.1,
        DEFAULT_CONFIG
    );

    // AlterConfigs replaces every dynamic config of the level.
    assert_eq!(
        alter(&mut c, BROKER, "1", &[("num.io.threads", "4")]).await,
        0
    );
    assert_eq!(
        config_of(&mut c, BROKER, "1", "sasl.kerberos.min.time.before.relogin")
            .await
            .1,
        DEFAULT_CONFIG
    );
    assert_eq!(
        config_of(&mut c, BROKER, "1", "num.io.threads").await.0,
        Some("4".into())
    );
}

#[tokio::test]
async fn dynamic_topic_defaults_apply_to_topics_without_an_override() {
    let mut b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("plain", 1, &[]).await;
    c.create_topic("own", 1, &[("retention.ms", "1000")]).await;

    let cluster = [("log.retention.ms", SET, Some("2000"))];
    assert_eq!(incremental(&mut c, BROKER, "", &cluster, false).await.0, 0);
    assert_eq!(
        topic_config(&mut c, "plain", "retention.ms").await,
        (Some("2000".into()), DYNAMIC_DEFAULT_BROKER_CONFIG)
    );
    assert_eq!(
        topic_config(&mut c, "own", "retention.ms").await,
        (Some("1000".into()), DYNAMIC_TOPIC_CONFIG)
    );
    let default = describe(&mut c, BROKER, "", None, false).await;
    assert_eq!(default.configs.len(), 1);
    assert_eq!(default.configs[0].name.as_str(), "log.retention.ms");
    assert_eq!(
        default.configs[0].config_source,
        DYNAMIC_DEFAULT_BROKER_CONFIG
    );

    // This broker's own value wins over the cluster default.
    let own = [("log.retention.ms", SET, Some("3000"))];
    assert_eq!(incremental(&mut c, BROKER, "1", &own, false).await.0, 0);
    assert_eq!(
        config_of(&mut c, TOPIC, "plain", "retention.ms").await,
        (
            Some("3000".into()),
            DYNAMIC_BROKER_CONFIG,
            vec![
                DYNAMIC_BROKER_CONFIG,
                DYNAMIC_DEFAULT_BROKER_CONFIG,
                DEFAULT_CONFIG
            ]
        )
    );
    assert_eq!(
        config_of(&mut c, BROKER, "1", "log.retention.ms").await.2,
        vec![
            DYNAMIC_BROKER_CONFIG,
            DYNAMIC_DEFAULT_BROKER_CONFIG,
            DEFAULT_CONFIG
        ]
    );

    // message.max.bytes applies on the produce path at once.
    let value = "x".repeat(2000);
    let big = || common::batch(&[value.as_bytes()], Compression::None);
    assert_eq!(produce(&mut c, "plain", big(), 9).await.error_code, 0);
    let small = [("message.max.bytes", SET, Some("1000"))];
    assert_eq!(incremental(&mut c, BROKER, "", &small, false).await.0, 0);
    assert_eq!(
        produce(&mut c, "plain", big(), 9).await.error_code,
        ResponseError::MessageTooLarge.code()
    );

    b.restart(|_| {}).await;
    let mut c = b.client().await;
    assert_eq!(
        topic_config(&mut c, "plain", "retention.ms").await,
        (Some("3000".into()), DYNAMIC_BROKER_CONFIG)
    );
    assert_eq!(
        config_of(&mut c, BROKER, "", "message.max.bytes").await.1,
        DYNAMIC_DEFAULT_BROKER_CONFIG
    );
    assert_eq!(
        produce(&mut c, "plain", big(), 9).await.error_code,
        ResponseError::MessageTooLarge.code()
    );
    let delete = [("log.retention.ms", DELETE, None)];
    assert_eq!(incremental(&mut c, BROKER, "1", &delete, false).await.0, 0);
    assert_eq!(incremental(&mut c, BROKER, "", &delete, false).await.0, 0);
    assert_eq!(
        topic_config(&mut c, "plain", "retention.ms").await,
        (Some("604800000".into()), DEFAULT_CONFIG)
    );
}

#[tokio::test]
async fn group_configs() {
    let mut b = TestBroker::start().await;
    let mut c = b.client().await;
    let invalid_config = ResponseError::InvalidConfig.code();
    // A group may be configured before it exists.
    let set = [("consumer.session.timeout.ms", SET, Some("50000"))];
    assert_eq!(
        incremental(&mut c, GROUP, "my-group", &set, false).await,
        (0, None)
    );
    assert_eq!(
        config_of(&mut c, GROUP, "my-group", "consumer.session.timeout.ms").await,
        (Some("50000".into()), GROUP_CONFIG, vec![GROUP_CONFIG])
    );
    let heartbeat = [("consumer.heartbeat.interval.ms", SET, Some("6000"))];
    assert_eq!(
        incremental(&mut c, GROUP, "my-group", &heartbeat, false)
            .await
            .0,
        0
    );

    let too_short = [("consumer.session.timeout.ms", SET, Some("1000"))];
    assert_eq!(
        incremental(&mut c, GROUP, "my-group", &too_short, false).await,
        (
            invalid_config,
            Some(
                "consumer.session.timeout.ms must be greater than or equal to \
                 group.consumer.min.session.timeout.ms"
                    .into()
            )
        )
    );
    let unknown = [("share.session.timeout.ms", SET, Some("50000"))];
    assert_eq!(
        incremental(&mut c, GROUP, "my-group", &unknown, false).await,
        (
            invalid_config,
            Some("Unknown group config name: share.session.timeout.ms".into())
        )
    );

    // The group's heartbeat interval is what a KIP-848 member is told.
    c.create_topic("k", 1, &[]).await;
    let join = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s("my-group")))
        .with_member_id(s("m1"))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(10_000)
        .with_subscribed_topic_names(Some(vec![TopicName(s("k"))]))
        .with_topic_partitions(Some(vec![]));
    let r = c.send(&join, 0).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.heartbeat_interval_ms, 6000);

    b.restart(|_| {}).await;
    let mut c = b.client().await;
    assert_eq!(
        config_of(&mut c, GROUP, "my-group", "consumer.session.timeout.ms")
            .await
            .0,
        Some("50000".into())
    );
    let delete = [
        ("consumer.session.timeout.ms", DELETE, None),
        ("consumer.heartbeat.interval.ms", DELETE, None),
    ];
    assert_eq!(
        incremental(&mut c, GROUP, "my-group", &delete, false)
            .await
            .0,
        0
    );
    let (value, source, _) =
        config_of(&mut c, GROUP, "my-group", "consumer.session.timeout.ms").await;
    assert_eq!(source, DEFAULT_CONFIG);
    let default = runnel::Config::default().group.consumer_session_timeout_ms;
    assert_eq!(value, Some(default.to_string()));
}

/// log.cleaner.io.max.bytes.per.second: static, then set per broker and as the
/// cluster default (the broker's own wins), each change reported and held by the
/// running cleaner's throttle, and kept across a restart.
#[tokio::test]
async fn cleaner_io_rate_reaches_the_cleaner() {
    const KEY: &str = "log.cleaner.io.max.bytes.per.second";
    const STATIC: i8 = 4; // STATIC_BROKER_CONFIG
    let mut b = TestBroker::start_with(|c| c.log.cleaner_io_max_bytes_per_second = 3e6).await;
    let rate = |b: &TestBroker| {
        let broker = b.broker.as_ref().unwrap();
        broker.state().topics.cleaner_throttler().rate()
    };
    let mut c = b.client().await;
    assert_eq!(rate(&b), 3e6);
    let (value, source, synonyms) = config_of(&mut c, BROKER, "1", KEY).await;
    assert_eq!(value.as_deref(), Some("3000000.0"));
    assert_eq!(synonyms, vec![STATIC, DEFAULT_CONFIG]);
    assert_eq!(source, STATIC);

    let set = [(KEY, SET, Some("1048576"))];
    assert_eq!(incremental(&mut c, BROKER, "1", &set, false).await.0, 0);
    assert_eq!(rate(&b), 1048576.0);
    assert_eq!(
        config_of(&mut c, BROKER, "1", KEY).await,
        (
            Some("1048576".into()),
            DYNAMIC_BROKER_CONFIG,
            vec![DYNAMIC_BROKER_CONFIG, STATIC, DEFAULT_CONFIG]
        )
    );
    // The cluster default is under the broker's own value.
    assert_eq!(alter(&mut c, BROKER, "", &[(KEY, "5e7")]).await, 0);
    assert_eq!(rate(&b), 1048576.0);
    let delete = [(KEY, DELETE, None)];
    assert_eq!(incremental(&mut c, BROKER, "1", &delete, false).await.0, 0);
    assert_eq!(rate(&b), 5e7);
    // validate_only and refused values change nothing.
    let set = [(KEY, SET, Some("2000"))];
    assert_eq!(incremental(&mut c, BROKER, "1", &set, true).await.0, 0);
    for bad in ["0", "-5", "fast"] {
        let set = [(KEY, SET, Some(bad))];
        assert_eq!(
            incremental(&mut c, BROKER, "1", &set, false).await.0,
            ResponseError::InvalidRequest.code(),
            "{bad}"
        );
    }
    assert_eq!(rate(&b), 5e7);

    b.restart(|c| c.log.cleaner_io_max_bytes_per_second = 3e6)
        .await;
    assert_eq!(rate(&b), 5e7);
    let mut c = b.client().await;
    // Deleting the cluster default falls back to the static setting.
    assert_eq!(alter(&mut c, BROKER, "", &[]).await, 0);
    assert_eq!(rate(&b), 3e6);
}
