//! Topics for the console: the list, one topic's detail, create, delete and
//! config changes, each through the code path its Kafka API uses and behind
//! the ACL checks it makes (Metadata's DESCRIBE, DescribeConfigs'
//! DESCRIBE_CONFIGS, CreateTopics' CREATE, DeleteTopics' DELETE,
//! IncrementalAlterConfigs' ALTER_CONFIGS).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::access::require_topic;
use super::error::{ApiError, ApiResult};
use crate::api::RequestContext;
use crate::broker::BrokerState;
use crate::config_report::{ConfigSource, topic_entries};
use crate::security::acl::AclOperation;
use crate::topic::{ConfigChange, NewTopic, Topic, is_internal_topic, validate_topic_name};

#[derive(Serialize)]
pub struct TopicSummary {
    pub name: String,
    pub internal: bool,
    pub partitions: usize,
    /// Records between each partition's log start and end, summed.
    pub records: i64,
    pub log_start_offsets: Vec<i64>,
    pub log_end_offsets: Vec<i64>,
    pub size_bytes: u64,
    pub cleanup_policy: String,
    pub retention_ms: String,
    /// Bytes produced to and fetched from the topic since the broker started.
    pub bytes_in: u64,
    pub bytes_out: u64,
}

#[derive(Serialize)]
pub struct PartitionDetail {
    pub partition: i32,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    pub records: i64,
    pub size_bytes: u64,
    /// Newest record timestamp, when the log has one.
    pub max_timestamp: Option<i64>,
}

#[derive(Serialize)]
pub struct ConfigValue {
    pub name: String,
    pub value: Option<String>,
    /// Kafka's ConfigSource name: DYNAMIC_TOPIC_CONFIG, STATIC_BROKER_CONFIG, DEFAULT_CONFIG.
    pub source: &'static str,
    pub read_only: bool,
}

#[derive(Serialize)]
pub struct TopicDetail {
    #[serde(flatten)]
    pub summary: TopicSummary,
    pub id: String,
    pub partition_detail: Vec<PartitionDetail>,
    /// None when the caller may not DESCRIBE_CONFIGS the topic.
    pub configs: Option<Vec<ConfigValue>>,
}

#[derive(Deserialize)]
pub struct CreateTopic {
    pub name: String,
    #[serde(default = "minus_one")]
    pub partitions: i32,
    #[serde(default = "minus_one_i16")]
    pub replication_factor: i16,
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

fn minus_one() -> i32 {
    -1
}

fn minus_one_i16() -> i16 {
    -1
}

/// An IncrementalAlterConfigs of one topic: values to set, names to delete.
#[derive(Deserialize, Default)]
pub struct AlterConfigs {
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    #[serde(default)]
    pub delete: Vec<String>,
    #[serde(default)]
    pub validate_only: bool,
}

fn source_name(s: ConfigSource) -> &'static str {
    match s {
        ConfigSource::DynamicTopic => "DYNAMIC_TOPIC_CONFIG",
        ConfigSource::DynamicBroker => "DYNAMIC_BROKER_CONFIG",
        ConfigSource::DynamicDefaultBroker => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        ConfigSource::DynamicGroup => "DYNAMIC_GROUP_CONFIG",
        ConfigSource::StaticBroker => "STATIC_BROKER_CONFIG",
        ConfigSource::Default => "DEFAULT_CONFIG",
    }
}

/// The topic named `name`: 400 for a name Kafka refuses, 404 when there is none.
pub fn find(broker: &BrokerState, name: &str) -> ApiResult<std::sync::Arc<Topic>> {
    validate_topic_name(name)
        .map_err(|m| ApiError::kafka(kafka_protocol::ResponseError::InvalidTopicException, m))?;
    broker
        .topics
        .get(name)
        .ok_or_else(|| ApiError::topic(name, &crate::topic::TopicError::UnknownTopic))
}

fn config_value(broker: &BrokerState, topic: &Topic, name: &str) -> String {
    topic_entries(&topic.config, &broker.config)
        .into_iter()
        .find(|e| e.name == name)
        .and_then(|e| e.value)
        .unwrap_or_default()
}

pub fn summary(broker: &BrokerState, topic: &Topic) -> TopicSummary {
    let mut starts = Vec::with_capacity(topic.partitions.len());
    let mut ends = Vec::with_capacity(topic.partitions.len());
    let mut size_bytes = 0;
    for p in &topic.partitions {
        let (start, end) = p.offsets();
        starts.push(start);
        ends.push(end);
        size_bytes += p.size_bytes();
    }
    let (bytes_in, bytes_out) = broker.metrics.topic_bytes(&topic.name);
    TopicSummary {
        name: topic.name.clone(),
        internal: is_internal_topic(&topic.name),
        partitions: topic.partitions.len(),
        records: ends.iter().zip(&starts).map(|(e, s)| e - s).sum(),
        log_start_offsets: starts,
        log_end_offsets: ends,
        size_bytes,
        cleanup_policy: config_value(broker, topic, "cleanup.policy"),
        retention_ms: config_value(broker, topic, "retention.ms"),
        bytes_in,
        bytes_out,
    }
}

/// The topics the caller may DESCRIBE, as Metadata lists them.
pub fn list(broker: &BrokerState, caller: &RequestContext) -> Vec<TopicSummary> {
    broker
        .topics
        .all()
        .iter()
        .filter(|t| broker.authorize_topic(caller, AclOperation::Describe, &t.name))
        .map(|t| summary(broker, t))
        .collect()
}

/// One topic: DESCRIBE for its partitions, DESCRIBE_CONFIGS for its configs.
pub fn detail(broker: &BrokerState, caller: &RequestContext, name: &str) -> ApiResult<TopicDetail> {
    require_topic(broker, caller, AclOperation::Describe, name)?;
    let configs = broker.authorize_topic(caller, AclOperation::DescribeConfigs, name);
    describe(broker, name, configs)
}

fn describe(broker: &BrokerState, name: &str, with_configs: bool) -> ApiResult<TopicDetail> {
    let topic = find(broker, name)?;
    let partition_detail = topic
        .partitions
        .iter()
        .map(|p| {
            let (start, end) = p.offsets();
            PartitionDetail {
                partition: p.index,
                log_start_offset: start,
                log_end_offset: end,
                records: end - start,
                size_bytes: p.size_bytes(),
                max_timestamp: p.max_timestamp().map(|(ts, _)| ts),
            }
        })
        .collect();
    let configs = with_configs.then(|| {
        topic_entries(&topic.config, &broker.config)
            .into_iter()
            .map(|e| ConfigValue {
                name: e.name,
                value: e.value,
                source: source_name(e.source),
                read_only: e.read_only,
            })
            .collect()
    });
    Ok(TopicDetail {
        summary: summary(broker, &topic),
        id: topic.id.to_string(),
        partition_detail,
        configs,
    })
}

/// CreateTopics for one topic: CREATE on the cluster or on the topic. The
/// answer shows the configs only to who may DESCRIBE_CONFIGS them, as
/// CreateTopics' response does.
pub fn create(
    broker: &BrokerState,
    caller: &RequestContext,
    new: CreateTopic,
) -> ApiResult<TopicDetail> {
    let name = new.name.clone();
    if !broker.authorize_cluster(caller, AclOperation::Create) {
        require_topic(broker, caller, AclOperation::Create, &name)?;
    }
    broker
        .topics
        .create(NewTopic {
            name: new.name,
            partitions: new.partitions,
            replication_factor: new.replication_factor,
            configs: new.configs.into_iter().collect(),
        })
        .map_err(|e| ApiError::topic(&name, &e))?;
    let configs = broker.authorize_topic(caller, AclOperation::DescribeConfigs, &name);
    describe(broker, &name, configs)
}

/// DeleteTopics for one topic: DELETE on it.
pub fn delete(broker: &BrokerState, caller: &RequestContext, name: &str) -> ApiResult<()> {
    require_topic(broker, caller, AclOperation::Delete, name)?;
    find(broker, name)?;
    broker
        .topics
        .delete(name)
        .map(|_| ())
        .map_err(|e| ApiError::topic(name, &e))
}

/// IncrementalAlterConfigs for one topic (ALTER_CONFIGS on it); answers the
/// configs after the change.
pub fn alter_configs(
    broker: &BrokerState,
    caller: &RequestContext,
    name: &str,
    alter: AlterConfigs,
) -> ApiResult<TopicDetail> {
    require_topic(broker, caller, AclOperation::AlterConfigs, name)?;
    find(broker, name)?;
    let changes: Vec<ConfigChange> = alter
        .set
        .into_iter()
        .map(|(k, v)| ConfigChange::Set(k, v))
        .chain(alter.delete.into_iter().map(ConfigChange::Delete))
        .collect();
    if changes.is_empty() {
        return Err(ApiError::bad_request("no config to set or delete"));
    }
    crate::api::incremental_alter_topic(broker, name, changes, alter.validate_only)
        .map_err(|(e, m)| ApiError::kafka(e, m))?;
    // ALTER_CONFIGS implies DESCRIBE_CONFIGS.
    describe(broker, name, true)
}
