//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs, for topics, the
//! broker (its dynamic configs, per broker or cluster-wide) and groups.

use std::collections::HashSet;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, alter_configs_response,
    incremental_alter_configs_response,
};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use super::error::topic_error;
use crate::broker::BrokerState;
use crate::config_report::{
    ConfigEntry, broker_entries, cluster_default_entries, group_entries, topic_entries,
};
use crate::dynamic_broker_config::{AlterError, Level};
use crate::security::acl::AclOperation;
use crate::topic::{ConfigChange, TopicConfig, TopicError, validate_topic_name};

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const GROUP: i8 = 32;

/// A resource's failure: Kafka's error code and message.
type Failure = (ResponseError, String);

fn resource_type_name(t: i8) -> String {
    match t {
        2 => "TOPIC".into(),
        4 => "BROKER".into(),
        8 => "BROKER_LOGGER".into(),
        16 => "CLIENT_METRICS".into(),
        32 => "GROUP".into(),
        t => t.to_string(),
    }
}

fn str(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

fn topic_failure(name: &str, e: &TopicError) -> Failure {
    let message = match e {
        TopicError::UnknownTopic => format!("The topic '{name}' does not exist."),
        e => e.to_string(),
    };
    (topic_error(e), message)
}

/// A broker resource names this node, or is empty (the cluster-wide default).
fn check_broker_name(broker: &BrokerState, name: &str) -> Result<(), Failure> {
    if name.is_empty() {
        return Ok(());
    }
    let invalid = |m: String| (ResponseError::InvalidRequest, m);
    let id: i32 = name
        .parse()
        .map_err(|_| invalid(format!("Node id must be an integer, but it is: {name}")))?;
    if id != broker.config.node_id {
        return Err(invalid(format!(
            "Unexpected broker id, expected {}, but received {name}",
            broker.config.node_id
        )));
    }
    Ok(())
}

/// DESCRIBE_CONFIGS or ALTER_CONFIGS on the resource: the topic, the group,
/// or the cluster for broker-wide resources.
fn authorize(
    broker: &BrokerState,
    ctx: &RequestContext,
    operation: AclOperation,
    resource_type: i8,
    name: &str,
) -> Result<(), Failure> {
    let (allowed, error) = match resource_type {
        TOPIC => (
            broker.authorize_topic(ctx, operation, name),
            ResponseError::TopicAuthorizationFailed,
        ),
        GROUP => (
            broker.authorize_group(ctx, operation, name),
            ResponseError::GroupAuthorizationFailed,
        ),
        _ => (
            broker.authorize_cluster(ctx, operation),
            ResponseError::ClusterAuthorizationFailed,
        ),
    };
    match allowed {
        true => Ok(()),
        false => Err((error, error.to_string())),
    }
}

pub fn describe(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    let results = request
        .resources
        .into_iter()
        .map(|r| {
            let name = r.resource_name.to_string();
            // The crate's defaults are empty strings where Kafka sends null.
            let result = DescribeConfigsResult::default()
                .with_error_message(None)
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name);
            // Null or empty: every config (as Kafka).
            let keys: Option<HashSet<String>> = r
                .configuration_keys
                .filter(|k| !k.is_empty())
                .map(|k| k.iter().map(|k| k.to_string()).collect());
            let found = authorize(
                broker,
                ctx,
                AclOperation::DescribeConfigs,
                r.resource_type,
                &name,
            )
            .and_then(|()| entries(broker, r.resource_type, &name));
            match found {
                Ok(entries) => result.with_configs(
                    entries
                        .into_iter()
                        .filter(|e| keys.as_ref().is_none_or(|k| k.contains(&e.name)))
                        .map(|e| wire_entry(e, request.include_synonyms, version))
                        .collect(),
                ),
                Err((e, m)) => result
                    .with_error_code(e.code())
                    .with_error_message(Some(str(m))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn entries(
    broker: &BrokerState,
    resource_type: i8,
    name: &str,
) -> Result<Vec<ConfigEntry>, Failure> {
    match resource_type {
        TOPIC => {
            validate_topic_name(name).map_err(|m| (ResponseError::InvalidTopicException, m))?;
            let topic = broker
                .topics
                .get(name)
                .ok_or_else(|| topic_failure(name, &TopicError::UnknownTopic))?;
            Ok(topic_entries(&topic.config, &broker.config))
        }
        BROKER => {
            check_broker_name(broker, name)?;
            let dynamic = broker.dynamic_config.snapshot();
            // The default resource holds only the dynamic cluster-wide settings.
            if name.is_empty() {
                return Ok(cluster_default_entries(&dynamic));
            }
            Ok(broker_entries(&broker.config, &broker.listeners, &dynamic))
        }
        GROUP => Ok(group_entries(broker.groups.configs.describe(name))),
        t => Err((
            ResponseError::InvalidRequest,
            format!("Unsupported resource type: {}", resource_type_name(t)),
        )),
    }
}

fn wire_entry(
    e: ConfigEntry,
    include_synonyms: bool,
    version: i16,
) -> DescribeConfigsResourceResult {
    let synonyms = if include_synonyms {
        e.synonyms
            .into_iter()
            .map(|s| {
                DescribeConfigsSynonym::default()
                    .with_name(str(s.name))
                    .with_value(s.value.map(str))
                    .with_source(s.source as i8)
            })
            .collect()
    } else {
        Vec::new()
    };
    let result = DescribeConfigsResourceResult::default()
        .with_name(str(e.name))
        .with_value(e.value.map(str))
        .with_read_only(e.read_only)
        .with_config_source(e.source as i8)
        .with_is_sensitive(e.sensitive)
        .with_synonyms(synonyms)
        .with_documentation(None);
    if version >= 3 {
        result.with_config_type(e.config_type as i8)
    } else {
        result
    }
}

/// One resource of either alter request, in the broker's terms.
struct Alteration {
    resource_type: i8,
    name: String,
    /// Config names in request order (duplicates are refused).
    keys: Vec<String>,
    changes: Result<Vec<ConfigChange>, Failure>,
    /// AlterConfigs: the changes replace every topic override.
    replace: bool,
}

fn alter_one(broker: &BrokerState, a: Alteration, validate_only: bool) -> Result<(), Failure> {
    let mut seen = HashSet::new();
    if !a.keys.iter().all(|k| seen.insert(k)) {
        return Err((
            ResponseError::InvalidRequest,
            "Error due to duplicate config keys".into(),
        ));
    }
    let changes = a.changes?;
    match a.resource_type {
        TOPIC => {
            let change = |current: &TopicConfig| {
                let base = if a.replace {
                    TopicConfig::default().with_defaults(current.defaults.clone())
                } else {
                    current.clone()
                };
                base.with_changes(&changes)
            };
            broker
                .topics
                .alter_config(&a.name, change, validate_only)
                .map_err(|e| topic_failure(&a.name, &e))
        }
        BROKER => {
            check_broker_name(broker, &a.name)?;
            let level = match a.name.is_empty() {
                true => Level::ClusterDefault,
                false => Level::Broker,
            };
            broker
                .dynamic_config
                .alter(
                    level,
                    &changes,
                    a.replace,
                    validate_only,
                    |dynamic| broker.check_connection_limits(dynamic),
                    |dynamic| broker.reconfigure(dynamic),
                )
                .map(drop)
                .map_err(alter_failure)
        }
        GROUP if a.name.is_empty() => Err((
            ResponseError::InvalidRequest,
            "Group name cannot be empty".into(),
        )),
        GROUP => broker
            .groups
            .configs
            .alter(&a.name, &changes, a.replace, validate_only)
            .map_err(alter_failure),
        t => Err((
            ResponseError::InvalidRequest,
            format!("Unknown resource type {t}"),
        )),
    }
}

fn alter_failure(e: AlterError) -> Failure {
    match e {
        AlterError::InvalidRequest(m) => (ResponseError::InvalidRequest, m),
        AlterError::InvalidConfig(m) => (ResponseError::InvalidConfig, m),
        AlterError::Storage(e) => (ResponseError::KafkaStorageError, e.to_string()),
    }
}

/// IncrementalAlterConfigs of one topic, for the web console: the same checks,
/// errors and messages as the Kafka API.
pub fn incremental_alter_topic(
    broker: &BrokerState,
    name: &str,
    changes: Vec<ConfigChange>,
    validate_only: bool,
) -> Result<(), Failure> {
    let keys = changes
        .iter()
        .map(|c| match c {
            ConfigChange::Set(k, _)
            | ConfigChange::Delete(k)
            | ConfigChange::Append(k, _)
            | ConfigChange::Subtract(k, _) => k.clone(),
        })
        .collect();
    let a = Alteration {
        resource_type: TOPIC,
        name: name.to_string(),
        keys,
        changes: Ok(changes),
        replace: false,
    };
    alter_one(broker, a, validate_only)
}

fn null_values(names: &[String]) -> Failure {
    (
        ResponseError::InvalidRequest,
        format!("Null value not supported for : {}", names.join(", ")),
    )
}

pub fn alter(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: AlterConfigsRequest,
    _version: i16,
) -> AlterConfigsResponse {
    let responses = request
        .resources
        .into_iter()
        .map(|r| {
            let nulls: Vec<String> = r
                .configs
                .iter()
                .filter(|c| c.value.is_none())
                .map(|c| c.name.to_string())
                .collect();
            let changes = if nulls.is_empty() {
                Ok(r.configs
                    .iter()
                    .map(|c| {
                        ConfigChange::Set(
                            c.name.to_string(),
                            c.value.as_deref().unwrap_or("").to_string(),
                        )
                    })
                    .collect())
            } else {
                Err(null_values(&nulls))
            };
            let a = Alteration {
                resource_type: r.resource_type,
                name: r.resource_name.to_string(),
                keys: r.configs.iter().map(|c| c.name.to_string()).collect(),
                changes,
                replace: true,
            };
            let response = alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name);
            let done = authorize(
                broker,
                ctx,
                AclOperation::AlterConfigs,
                a.resource_type,
                &a.name,
            )
            .and_then(|()| alter_one(broker, a, request.validate_only));
            match done {
                Ok(()) => response.with_error_message(None),
                Err((e, m)) => response
                    .with_error_code(e.code())
                    .with_error_message(Some(str(m))),
            }
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

pub fn incremental_alter(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: IncrementalAlterConfigsRequest,
    _version: i16,
) -> IncrementalAlterConfigsResponse {
    let responses = request
        .resources
        .into_iter()
        .map(|r| {
            let a = Alteration {
                resource_type: r.resource_type,
                name: r.resource_name.to_string(),
                keys: r.configs.iter().map(|c| c.name.to_string()).collect(),
                changes: incremental_changes(&r.configs),
                replace: false,
            };
            let response =
                incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name);
            let done = authorize(
                broker,
                ctx,
                AclOperation::AlterConfigs,
                a.resource_type,
                &a.name,
            )
            .and_then(|()| alter_one(broker, a, request.validate_only));
            match done {
                Ok(()) => response.with_error_message(None),
                Err((e, m)) => response
                    .with_error_code(e.code())
                    .with_error_message(Some(str(m))),
            }
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

fn incremental_changes(
    configs: &[kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig],
) -> Result<Vec<ConfigChange>, Failure> {
    // Kafka's ops: 0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT; all but DELETE need a value.
    let nulls: Vec<String> = configs
        .iter()
        .filter(|c| c.config_operation != 1 && c.value.is_none())
        .map(|c| c.name.to_string())
        .collect();
    if !nulls.is_empty() {
        return Err(null_values(&nulls));
    }
    configs
        .iter()
        .map(|c| {
            let name = c.name.to_string();
            let value = c.value.as_deref().unwrap_or("").to_string();
            match c.config_operation {
                0 => Ok(ConfigChange::Set(name, value)),
                1 => Ok(ConfigChange::Delete(name)),
                2 => Ok(ConfigChange::Append(name, value)),
                3 => Ok(ConfigChange::Subtract(name, value)),
                op => Err((
                    ResponseError::InvalidRequest,
                    format!("Unknown operations type {op}"),
                )),
            }
        })
        .collect()
}
