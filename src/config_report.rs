//! What DescribeConfigs reports for a topic or for the broker, in the broker's
//! own terms: each config's value, where it comes from and its synonyms.

use crate::config::{ClientAuth, Config, FlushMode};
use crate::dynamic_broker_config::{
    DynamicConfigs, LISTENER_DYNAMIC, OTHER_DEFS, ValueType, is_dynamic, listener_config,
    listener_config_name,
};
use crate::listener::{Listener, kafka_form};
use crate::topic::TopicConfig;
use crate::topic::config::{DEFS, Kind};

/// Kafka's `ConfigSource`, by its wire value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    DynamicTopic = 1,
    DynamicBroker = 2,
    DynamicDefaultBroker = 3,
    StaticBroker = 4,
    Default = 5,
    DynamicGroup = 8,
}

/// Kafka's `ConfigType` (DescribeConfigs v3+), by its wire value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    Double = 6,
    List = 7,
    Password = 9,
}

fn value_type(t: ValueType) -> ConfigType {
    match t {
        ValueType::Int => ConfigType::Int,
        ValueType::Short => ConfigType::Short,
        ValueType::Long => ConfigType::Long,
        ValueType::Double => ConfigType::Double,
        ValueType::Bool => ConfigType::Boolean,
        ValueType::String => ConfigType::String,
        ValueType::List => ConfigType::List,
        ValueType::Password => ConfigType::Password,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synonym {
    pub name: String,
    pub value: Option<String>,
    pub source: ConfigSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub sensitive: bool,
    pub name: String,
    pub value: Option<String>,
    pub source: ConfigSource,
    pub read_only: bool,
    pub config_type: ConfigType,
    /// Most specific first, as Kafka orders them.
    pub synonyms: Vec<Synonym>,
}

fn kind_type(kind: Kind) -> ConfigType {
    match kind {
        Kind::Long { .. } => ConfigType::Long,
        Kind::Int { .. } => ConfigType::Int,
        Kind::Double { .. } => ConfigType::Double,
        Kind::Bool => ConfigType::Boolean,
        Kind::OneOf(_) | Kind::Version => ConfigType::String,
        Kind::ListOf(_) => ConfigType::List,
    }
}

/// The broker-level synonyms of a value: the broker's own setting when it
/// differs from Kafka's default (as if set in server.properties), then the default.
fn broker_synonyms(name: &str, value: Option<String>, default: Option<&str>) -> Vec<Synonym> {
    let mut out = Vec::new();
    if value.as_deref() != default {
        out.push(Synonym {
            name: name.to_string(),
            value,
            source: ConfigSource::StaticBroker,
        });
    }
    if let Some(d) = default {
        out.push(Synonym {
            name: name.to_string(),
            value: Some(d.to_string()),
            source: ConfigSource::Default,
        });
    }
    out
}

/// A double as Java's Double.toString writes it, as Kafka reports one: plain
/// from 10^-3 to 10^7, else in E notation (f64::MAX is "1.7976931348623157E308").
fn java_double(v: f64) -> String {
    if v == 0.0 || (1e-3..1e7).contains(&v.abs()) {
        format!("{v:?}")
    } else {
        format!("{v:E}")
    }
}

/// Every topic config with the value in effect for a topic with `config`.
pub fn topic_entries(config: &TopicConfig, broker: &Config) -> Vec<ConfigEntry> {
    DEFS.iter()
        .map(|d| {
            let mut synonyms = Vec::new();
            if let Some(v) = config.overrides.get(d.name) {
                synonyms.push(Synonym {
                    name: d.name.to_string(),
                    value: Some(v.clone()),
                    source: ConfigSource::DynamicTopic,
                });
            }
            let dynamic = [
                (&config.defaults.broker, ConfigSource::DynamicBroker),
                (&config.defaults.cluster, ConfigSource::DynamicDefaultBroker),
            ];
            for (values, source) in dynamic {
                if let Some(v) = values.get(d.name) {
                    synonyms.push(Synonym {
                        name: d.broker_name.to_string(),
                        value: Some(v.clone()),
                        source,
                    });
                }
            }
            synonyms.extend(broker_synonyms(
                d.broker_name,
                Some(d.broker_value(broker)),
                Some(d.default),
            ));
            entry(d.name, kind_type(d.kind), false, synonyms)
        })
        .collect()
}

/// The entry whose value and source are those of its first synonym.
fn entry(
    name: &str,
    config_type: ConfigType,
    read_only: bool,
    synonyms: Vec<Synonym>,
) -> ConfigEntry {
    let (value, source) = synonyms.first().map_or((None, ConfigSource::Default), |s| {
        (s.value.clone(), s.source)
    });
    // Kafka never shows a password.
    let sensitive = config_type == ConfigType::Password;
    let (value, synonyms) = match sensitive {
        true => (
            None,
            synonyms
                .into_iter()
                .map(|s| Synonym { value: None, ..s })
                .collect(),
        ),
        false => (value, synonyms),
    };
    ConfigEntry {
        sensitive,
        name: name.to_string(),
        value,
        source,
        read_only,
        config_type,
        synonyms,
    }
}

/// The cluster-wide dynamic defaults (the BROKER resource with an empty name).
pub fn cluster_default_entries(dynamic: &DynamicConfigs) -> Vec<ConfigEntry> {
    dynamic
        .cluster_default
        .iter()
        .map(|(name, value)| {
            let synonyms = vec![Synonym {
                name: name.clone(),
                value: Some(value.clone()),
                source: ConfigSource::DynamicDefaultBroker,
            }];
            entry(name, config_type_of(name), false, synonyms)
        })
        .collect()
}

fn config_type_of(name: &str) -> ConfigType {
    if listener_config(name).is_some() {
        return ConfigType::Int; // max.connection.creation.rate, the one dynamic
    }
    match OTHER_DEFS.iter().find(|d| d.name == name) {
        Some(d) => value_type(d.value_type),
        None => DEFS
            .iter()
            .find(|d| d.broker_name == name)
            .map_or(ConfigType::String, |d| kind_type(d.kind)),
    }
}

/// A group's configs: its own (DYNAMIC_GROUP_CONFIG), else the broker's defaults.
pub fn group_entries(configs: Vec<(&'static str, String, bool)>) -> Vec<ConfigEntry> {
    configs
        .into_iter()
        .map(|(name, value, own)| {
            let source = match own {
                true => ConfigSource::DynamicGroup,
                false => ConfigSource::Default,
            };
            let synonyms = vec![Synonym {
                name: name.to_string(),
                value: Some(value),
                source,
            }];
            entry(name, ConfigType::Int, false, synonyms)
        })
        .collect()
}

/// Each listener's own max.connections and max.connection.creation.rate,
/// static or dynamic, as `listener.name.<listener>.<config>` (the dynamic
/// values are added as synonyms below, as for every dynamic config).
fn listener_entries(broker: &Config, dynamic: &DynamicConfigs) -> Vec<ConfigEntry> {
    let statics = [
        ("max.connections", broker.listener_max_connections()),
        (
            "max.connection.creation.rate",
            broker.listener_connection_creation_rates(),
        ),
    ];
    let mut names: Vec<(String, Option<String>)> = Vec::new();
    for (config, values) in statics {
        for (listener, v) in values.unwrap_or_default() {
            names.push((listener_config_name(&listener, config), Some(v.to_string())));
        }
    }
    for name in dynamic.broker.keys().chain(dynamic.cluster_default.keys()) {
        let ours = listener_config(name).is_some_and(|(_, base)| LISTENER_DYNAMIC.contains(&base));
        if ours && !names.iter().any(|(n, _)| n == name) {
            names.push((name.clone(), None));
        }
    }
    names
        .into_iter()
        .map(|(name, value)| {
            let synonyms = broker_synonyms(&name, value, None);
            entry(&name, ConfigType::Int, true, synonyms)
        })
        .collect()
}

/// The broker's settings under their Kafka names; those Kafka can change at run
/// time (the dynamic configs) with this broker's and the cluster's dynamic
/// values first, in Kafka's precedence order.
pub fn broker_entries(
    broker: &Config,
    listeners: &[Listener],
    dynamic: &DynamicConfigs,
) -> Vec<ConfigEntry> {
    let node_id = broker.node_id.to_string();
    let bound = kafka_form(listeners.iter().map(|l| {
        (
            l.name.as_str(),
            l.bound.ip().to_string(),
            l.bound.port() as i32,
        )
    }));
    let advertised = kafka_form(
        listeners
            .iter()
            .map(|l| (l.name.as_str(), l.advertised.0.clone(), l.advertised.1)),
    );
    let protocol_map = listeners
        .iter()
        .map(|l| format!("{}:{}", l.name, l.protocol))
        .collect::<Vec<_>>()
        .join(",");
    let own: Vec<(&str, ConfigType, Option<String>, Option<&str>)> = vec![
        ("node.id", ConfigType::Int, Some(node_id.clone()), None),
        ("broker.id", ConfigType::Int, Some(node_id), Some("-1")),
        (
            "listeners",
            ConfigType::String,
            Some(bound),
            Some("PLAINTEXT://:9092"),
        ),
        (
            "advertised.listeners",
            ConfigType::String,
            Some(advertised),
            None,
        ),
        (
            "listener.security.protocol.map",
            ConfigType::String,
            Some(protocol_map),
            Some("SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"),
        ),
        (
            "log.dirs",
            ConfigType::String,
            Some(broker.data_dir.display().to_string()),
            None,
        ),
        (
            "auto.create.topics.enable",
            ConfigType::Boolean,
            Some(broker.auto_create_topics_enable.to_string()),
            Some("true"),
        ),
        (
            "num.partitions",
            ConfigType::Int,
            Some(broker.num_partitions.to_string()),
            Some("1"),
        ),
        (
            "socket.request.max.bytes",
            ConfigType::Int,
            Some(broker.socket.request_max_bytes.to_string()),
            Some("104857600"),
        ),
        (
            "max.connections",
            ConfigType::Int,
            Some(broker.socket.max_connections.to_string()),
            Some("2147483647"),
        ),
        (
            "max.connections.per.ip",
            ConfigType::Int,
            Some(broker.socket.max_connections_per_ip.to_string()),
            Some("2147483647"),
        ),
        (
            "max.connections.per.ip.overrides",
            ConfigType::String,
            Some(broker.socket.max_connections_per_ip_overrides.clone()),
            Some(""),
        ),
        (
            "max.connection.creation.rate",
            ConfigType::Int,
            Some(broker.socket.max_connection_creation_rate.to_string()),
            Some("2147483647"),
        ),
        (
            "connections.max.idle.ms",
            ConfigType::Long,
            Some(broker.socket.connections_max_idle_ms.to_string()),
            Some("600000"),
        ),
        (
            "connection.failed.authentication.delay.ms",
            ConfigType::Int,
            Some(
                broker
                    .socket
                    .connection_failed_authentication_delay_ms
                    .to_string(),
            ),
            Some("100"),
        ),
        (
            "queued.max.request.bytes",
            ConfigType::Long,
            Some(broker.socket.queued_max_request_bytes.to_string()),
            Some("-1"),
        ),
        (
            "quota.window.num",
            ConfigType::Int,
            Some(broker.quota.window_num.to_string()),
            Some("11"),
        ),
        (
            "quota.window.size.seconds",
            ConfigType::Int,
            Some(broker.quota.window_size_seconds.to_string()),
            Some("1"),
        ),
        (
            "sasl.enabled.mechanisms",
            ConfigType::List,
            Some(broker.sasl.mechanisms().join(",")),
            Some("GSSAPI"),
        ),
        (
            "connections.max.reauth.ms",
            ConfigType::Long,
            Some(broker.sasl.connections_max_reauth_ms.to_string()),
            Some("0"),
        ),
        (
            "default.replication.factor",
            ConfigType::Int,
            Some("1".into()),
            Some("1"),
        ),
        (
            "authorizer.class.name",
            ConfigType::String,
            Some(if broker.authorizer.enabled {
                crate::security::Authorizer::KAFKA_CLASS.to_string()
            } else {
                String::new()
            }),
            Some(""),
        ),
        (
            "super.users",
            ConfigType::String,
            Some(broker.authorizer.super_users.clone()),
            Some(""),
        ),
        (
            "allow.everyone.if.no.acl.found",
            ConfigType::Boolean,
            Some(broker.authorizer.allow_everyone_if_no_acl_found.to_string()),
            Some("false"),
        ),
        (
            "log.flush.scheduler.interval.ms",
            ConfigType::Long,
            Some(match broker.log.flush {
                FlushMode::Interval => broker.log.flush_interval_ms.to_string(),
                _ => "9223372036854775807".to_string(),
            }),
            Some("9223372036854775807"),
        ),
        (
            "log.cleaner.io.max.bytes.per.second",
            ConfigType::Double,
            Some(java_double(broker.log.cleaner_io_max_bytes_per_second)),
            Some("1.7976931348623157E308"),
        ),
        (
            "ssl.keystore.type",
            ConfigType::String,
            Some(broker.ssl.keystore_type.clone()),
            Some("JKS"),
        ),
        (
            "ssl.keystore.location",
            ConfigType::String,
            Some(broker.ssl.keystore_location.clone()).filter(|l| !l.is_empty()),
            None,
        ),
        (
            "ssl.truststore.type",
            ConfigType::String,
            Some(broker.ssl.truststore_type.clone()),
            Some("JKS"),
        ),
        (
            "ssl.truststore.location",
            ConfigType::String,
            Some(broker.ssl.truststore_location.clone()).filter(|l| !l.is_empty()),
            None,
        ),
        (
            "ssl.client.auth",
            ConfigType::String,
            Some(
                match broker.ssl.client_auth {
                    ClientAuth::None => "none",
                    ClientAuth::Requested => "requested",
                    ClientAuth::Required => "required",
                }
                .to_string(),
            ),
            Some("none"),
        ),
        (
            "ssl.principal.mapping.rules",
            ConfigType::String,
            Some(broker.ssl.principal_mapping_rules.clone()),
            Some("DEFAULT"),
        ),
    ];
    let mut entries: Vec<ConfigEntry> = own
        .into_iter()
        .map(|(name, ty, value, default)| {
            let synonyms = broker_synonyms(name, value, default);
            entry(name, ty, true, synonyms)
        })
        .collect();
    entries.extend(listener_entries(broker, dynamic));
    for d in DEFS {
        if entries.iter().any(|e| e.name == d.broker_name) {
            continue;
        }
        let synonyms =
            broker_synonyms(d.broker_name, Some(d.broker_value(broker)), Some(d.default));
        entries.push(entry(d.broker_name, kind_type(d.kind), true, synonyms));
    }
    for d in OTHER_DEFS {
        if entries.iter().any(|e| e.name == d.name) {
            continue;
        }
        let synonyms = broker_synonyms(d.name, d.default.map(str::to_string), d.default);
        entries.push(entry(d.name, value_type(d.value_type), true, synonyms));
    }
    let entries = entries.into_iter().map(|e| {
        if !is_dynamic(&e.name) {
            return e;
        }
        let levels = [
            (&dynamic.broker, ConfigSource::DynamicBroker),
            (&dynamic.cluster_default, ConfigSource::DynamicDefaultBroker),
        ];
        let mut synonyms: Vec<Synonym> = levels
            .into_iter()
            .filter_map(|(values, source)| {
                values.get(&e.name).map(|v| Synonym {
                    name: e.name.clone(),
                    value: Some(v.clone()),
                    source,
                })
            })
            .collect();
        synonyms.extend(e.synonyms);
        entry(&e.name, e.config_type, false, synonyms)
    });
    let mut entries: Vec<ConfigEntry> = entries.collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_defaults_and_overrides() {
        let broker = Config {
            num_partitions: 3,
            ..Config::default()
        };
        let mut topic = TopicConfig::default();
        topic.overrides.insert("retention.ms".into(), "1000".into());
        let entries = topic_entries(&topic, &broker);
        assert_eq!(entries.len(), DEFS.len());
        let get = |n: &str| entries.iter().find(|e| e.name == n).unwrap();
        let r = get("retention.ms");
        assert_eq!(r.value.as_deref(), Some("1000"));
        assert_eq!(r.source, ConfigSource::DynamicTopic);
        assert_eq!(r.synonyms.len(), 2);
        assert_eq!(r.synonyms[1].name, "log.retention.ms");
        let s = get("segment.bytes");
        assert_eq!(s.value.as_deref(), Some("1073741824"));
        assert_eq!(s.source, ConfigSource::Default);
        assert_eq!(get("cleanup.policy").config_type, ConfigType::List);
    }

    #[test]
    fn broker_settings_that_differ_are_static() {
        let mut broker = Config::default();
        broker.log.segment_bytes = 1000;
        let listener = Listener {
            name: "PLAINTEXT".into(),
            protocol: crate::security::SecurityProtocol::Plaintext,
            bound: "127.0.0.1:9092".parse().unwrap(),
            advertised: ("h".into(), 1),
        };
        let entries = broker_entries(&broker, &[listener], &DynamicConfigs::default());
        let s = entries
            .iter()
            .find(|e| e.name == "log.segment.bytes")
            .unwrap();
        assert_eq!(s.value.as_deref(), Some("1000"));
        assert_eq!(s.source, ConfigSource::StaticBroker);
        assert!(!s.read_only, "log.segment.bytes is a dynamic config");
        let node = entries.iter().find(|e| e.name == "node.id").unwrap();
        assert!(node.read_only);
        let map = entries
            .iter()
            .find(|e| e.name == "listener.security.protocol.map")
            .unwrap();
        assert_eq!(map.value.as_deref(), Some("PLAINTEXT:PLAINTEXT"));
        let topic = topic_entries(&TopicConfig::default(), &broker);
        let t = topic.iter().find(|e| e.name == "segment.bytes").unwrap();
        assert_eq!(t.source, ConfigSource::StaticBroker);
        assert_eq!(t.value.as_deref(), Some("1000"));
        let n = entries.iter().find(|e| e.name == "num.partitions").unwrap();
        assert_eq!(n.source, ConfigSource::Default);
    }

    #[test]
    fn dynamic_values_come_first_in_kafkas_order() {
        let mut broker = Config::default();
        broker.log.retention_ms = 5000;
        let mut dynamic = DynamicConfigs::default();
        dynamic
            .cluster_default
            .insert("log.retention.ms".into(), "2000".into());
        dynamic
            .broker
            .insert("log.retention.ms".into(), "1000".into());
        dynamic
            .broker
            .insert("sasl.jaas.config".into(), "secret".into());
        let entries = broker_entries(&broker, &[], &dynamic);
        let r = entries
            .iter()
            .find(|e| e.name == "log.retention.ms")
            .unwrap();
        let sources: Vec<_> = r.synonyms.iter().map(|s| s.source).collect();
        assert_eq!(
            sources,
            [
                ConfigSource::DynamicBroker,
                ConfigSource::DynamicDefaultBroker,
                ConfigSource::StaticBroker,
                ConfigSource::Default
            ]
        );
        assert_eq!(r.value.as_deref(), Some("1000"));
        let jaas = entries
            .iter()
            .find(|e| e.name == "sasl.jaas.config")
            .unwrap();
        assert!(jaas.sensitive);
        assert_eq!(jaas.value, None);
        let topic =
            TopicConfig::default().with_defaults(std::sync::Arc::new(dynamic.topic_defaults()));
        let t = topic_entries(&topic, &broker);
        let r = t.iter().find(|e| e.name == "retention.ms").unwrap();
        assert_eq!(r.source, ConfigSource::DynamicBroker);
        assert_eq!(r.value.as_deref(), Some("1000"));
        assert_eq!(r.synonyms[0].name, "log.retention.ms");
    }

    #[test]
    fn listener_connection_limits_are_reported() {
        let mut broker = Config::default();
        broker.socket.max_connection_creation_rate = 50;
        broker.socket.listener_max_connection_creation_rate = "PLAINTEXT:7".into();
        broker.socket.listener_max_connections = "PLAINTEXT:4".into();
        broker.socket.max_connections_per_ip_overrides = "127.0.0.1:5".into();
        let mut dynamic = DynamicConfigs::default();
        let name = "listener.name.plaintext.max.connection.creation.rate";
        dynamic.broker.insert(name.into(), "3".into());
        let other = "listener.name.other.max.connection.creation.rate";
        dynamic.cluster_default.insert(other.into(), "9".into());
        let entries = broker_entries(&broker, &[], &dynamic);
        let find = |n: &str| entries.iter().find(|e| e.name == n).unwrap();
        let own = find(name);
        assert_eq!(own.value.as_deref(), Some("3"));
        assert!(!own.read_only);
        let sources: Vec<_> = own.synonyms.iter().map(|s| s.source).collect();
        assert_eq!(
            sources,
            [ConfigSource::DynamicBroker, ConfigSource::StaticBroker]
        );
        assert_eq!(find(other).source, ConfigSource::DynamicDefaultBroker);
        let broker_wide = find("max.connection.creation.rate");
        assert_eq!(broker_wide.value.as_deref(), Some("50"));
        assert_eq!(broker_wide.source, ConfigSource::StaticBroker);
        let max = find("listener.name.plaintext.max.connections");
        assert_eq!(max.value.as_deref(), Some("4"));
        assert_eq!(max.source, ConfigSource::StaticBroker);
        let overrides = find("max.connections.per.ip.overrides");
        assert_eq!(overrides.value.as_deref(), Some("127.0.0.1:5"));
        assert_eq!(overrides.source, ConfigSource::StaticBroker);
    }
}
