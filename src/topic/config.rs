//! Topic-level configs, by Kafka's exact names (`segment.bytes`, `retention.ms`, ...).
//!
//! A topic stores only the keys that were set on it; everything else falls back
//! to the broker's defaults. Validation follows Kafka: an unknown name or a value
//! of the wrong type is INVALID_CONFIG.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::{Config, FlushMode};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Long {
        min: i64,
    },
    Int {
        min: i64,
    },
    Double {
        min: f64,
        max: f64,
    },
    Bool,
    OneOf(&'static [&'static str]),
    /// A comma-separated list of the given words.
    ListOf(&'static [&'static str]),
    /// A Kafka release such as `2.8` or `3.0-IV1` (message.format.version).
    Version,
}

/// One topic config: its type, Kafka's default and the broker setting that
/// supplies the default (Kafka's synonym, as DescribeConfigs names it).
#[derive(Debug, Clone, Copy)]
pub struct ConfigDef {
    pub name: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    pub broker_name: &'static str,
}

const fn def(
    name: &'static str,
    kind: Kind,
    default: &'static str,
    broker_name: &'static str,
) -> ConfigDef {
    ConfigDef {
        name,
        kind,
        default,
        broker_name,
    }
}

const LONG_MAX: &str = "9223372036854775807";

/// The topic configs runnel knows, with Kafka's (3.9) defaults.
pub const DEFS: &[ConfigDef] = &[
    def(
        "cleanup.policy",
        Kind::ListOf(&["delete", "compact"]),
        "delete",
        "log.cleanup.policy",
    ),
    def(
        "compression.type",
        Kind::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
        "producer",
        "compression.type",
    ),
    def(
        "delete.retention.ms",
        Kind::Long { min: 0 },
        "86400000",
        "log.cleaner.delete.retention.ms",
    ),
    def(
        "file.delete.delay.ms",
        Kind::Long { min: 0 },
        "60000",
        "log.segment.delete.delay.ms",
    ),
    def(
        "flush.messages",
        Kind::Long { min: 1 },
        LONG_MAX,
        "log.flush.interval.messages",
    ),
    def(
        "flush.ms",
        Kind::Long { min: 0 },
        LONG_MAX,
        "log.flush.interval.ms",
    ),
    def(
        "index.interval.bytes",
        Kind::Int { min: 0 },
        "4096",
        "log.index.interval.bytes",
    ),
    def(
        "max.compaction.lag.ms",
        Kind::Long { min: 1 },
        LONG_MAX,
        "log.cleaner.max.compaction.lag.ms",
    ),
    def(
        "max.message.bytes",
        Kind::Int { min: 0 },
        "1048588",
        "message.max.bytes",
    ),
    def(
        "message.downconversion.enable",
        Kind::Bool,
        "true",
        "log.message.downconversion.enable",
    ),
    // Deprecated and ignored since Kafka 3.0 (record format v2 always), but
    // still accepted by Kafka 3.x; clients and tools still set it.
    def(
        "message.format.version",
        Kind::Version,
        "3.0-IV1",
        "log.message.format.version",
    ),
    def(
        "message.timestamp.after.max.ms",
        Kind::Long { min: 0 },
        LONG_MAX,
        "log.message.timestamp.after.max.ms",
    ),
    def(
        "message.timestamp.before.max.ms",
        Kind::Long { min: 0 },
        LONG_MAX,
        "log.message.timestamp.before.max.ms",
    ),
    def(
        "message.timestamp.type",
        Kind::OneOf(&["CreateTime", "LogAppendTime"]),
        "CreateTime",
        "log.message.timestamp.type",
    ),
    def(
        "min.cleanable.dirty.ratio",
        Kind::Double { min: 0.0, max: 1.0 },
        "0.5",
        "log.cleaner.min.cleanable.ratio",
    ),
    def(
        "min.compaction.lag.ms",
        Kind::Long { min: 0 },
        "0",
        "log.cleaner.min.compaction.lag.ms",
    ),
    def(
        "min.insync.replicas",
        Kind::Int { min: 1 },
        "1",
        "min.insync.replicas",
    ),
    def("preallocate", Kind::Bool, "false", "log.preallocate"),
    def(
        "retention.bytes",
        Kind::Long { min: -1 },
        "-1",
        "log.retention.bytes",
    ),
    def(
        "retention.ms",
        Kind::Long { min: -1 },
        "604800000",
        "log.retention.ms",
    ),
    def(
        "segment.bytes",
        Kind::Int { min: 14 },
        "1073741824",
        "log.segment.bytes",
    ),
    def(
        "segment.index.bytes",
        Kind::Int { min: 4 },
        "10485760",
        "log.index.size.max.bytes",
    ),
    def(
        "segment.jitter.ms",
        Kind::Long { min: 0 },
        "0",
        "log.roll.jitter.ms",
    ),
    def(
        "segment.ms",
        Kind::Long { min: 1 },
        "604800000",
        "log.roll.ms",
    ),
    def(
        "unclean.leader.election.enable",
        Kind::Bool,
        "false",
        "unclean.leader.election.enable",
    ),
];

pub fn find(name: &str) -> Option<&'static ConfigDef> {
    DEFS.iter().find(|d| d.name == name)
}

impl ConfigDef {
    /// The broker's value for this config: runnel's own setting where it has
    /// one, else Kafka's default.
    pub fn broker_value(&self, broker: &Config) -> String {
        match self.name {
            "segment.bytes" => broker.log.segment_bytes.to_string(),
            "segment.ms" => broker.log.roll_ms.to_string(),
            "index.interval.bytes" => broker.log.index_interval_bytes.to_string(),
            "segment.index.bytes" => broker.log.index_size_max_bytes.to_string(),
            "max.message.bytes" => broker.message_max_bytes.to_string(),
            "retention.ms" => broker.log.retention_ms.to_string(),
            "retention.bytes" => broker.log.retention_bytes.to_string(),
            "flush.ms" if broker.log.flush == FlushMode::Interval => {
                broker.log.flush_interval_ms.to_string()
            }
            "flush.messages" if broker.log.flush == FlushMode::Always => "1".to_string(),
            _ => self.default.to_string(),
        }
    }

    pub fn is_list(&self) -> bool {
        matches!(self.kind, Kind::ListOf(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidConfig(pub String);

/// Checks one `name=value` pair the way Kafka's topic config validation does.
pub fn validate(name: &str, value: &str) -> Result<(), InvalidConfig> {
    let kind = find(name)
        .map(|d| d.kind)
        .ok_or_else(|| InvalidConfig(format!("Unknown topic config name: {name}")))?;
    let bad = || InvalidConfig(format!("Invalid value {value} for configuration {name}"));
    match kind {
        Kind::Long { min } | Kind::Int { min } => {
            let v: i64 = value.trim().parse().map_err(|_| bad())?;
            let fits = matches!(kind, Kind::Long { .. }) || i32::try_from(v).is_ok();
            if v < min || !fits {
                return Err(bad());
            }
        }
        Kind::Double { min, max } => {
            let v: f64 = value.trim().parse().map_err(|_| bad())?;
            if !(min..=max).contains(&v) {
                return Err(bad());
            }
        }
        Kind::Bool => {
            value
                .trim()
                .to_ascii_lowercase()
                .parse::<bool>()
                .map_err(|_| bad())?;
        }
        Kind::OneOf(words) => {
            if !words.contains(&value.trim()) {
                return Err(bad());
            }
        }
        Kind::Version => {
            let ok = value.split('-').next().is_some_and(|release| {
                !release.is_empty() && release.split('.').all(|n| n.parse::<u16>().is_ok())
            });
            if !ok {
                return Err(bad());
            }
        }
        Kind::ListOf(words) => {
            // An empty list is valid (Kafka's ValidList).
            if !value.trim().is_empty() && value.split(',').any(|w| !words.contains(&w.trim())) {
                return Err(bad());
            }
        }
    }
    Ok(())
}

/// One change of IncrementalAlterConfigs, in Kafka's semantics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    Set(String, String),
    Delete(String),
    /// Adds list items not there yet (to the default when the topic has no value).
    Append(String, String),
    /// Removes list items.
    Subtract(String, String),
}

/// The list value `old` after an APPEND (items not there yet go last) or a
/// SUBTRACT (items removed) of the comma-separated `items`.
pub fn alter_list(old: &str, items: &str, append: bool) -> String {
    let mut list: Vec<&str> = old.split(',').filter(|s| !s.is_empty()).collect();
    for item in items.split(',') {
        if append && !list.contains(&item) {
            list.push(item);
        } else if !append {
            list.retain(|i| *i != item);
        }
    }
    list.join(",")
}

/// The dynamic broker configs that are topic defaults (`log.retention.ms`, ...),
/// by topic config name: this broker's own, then the cluster-wide default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicDefaults {
    pub broker: BTreeMap<String, String>,
    pub cluster: BTreeMap<String, String>,
}

impl TopicDefaults {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.broker
            .get(name)
            .or_else(|| self.cluster.get(name))
            .map(String::as_str)
    }
}

/// The configs set on one topic, overriding the broker defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicConfig {
    pub overrides: BTreeMap<String, String>,
    /// The dynamic broker defaults in effect, shared by every topic.
    pub defaults: Arc<TopicDefaults>,
}

impl TopicConfig {
    /// A topic's own value, else the dynamic broker default (None: the static one).
    pub fn value(&self, name: &str) -> Option<&str> {
        self.overrides
            .get(name)
            .map(String::as_str)
            .or_else(|| self.defaults.get(name))
    }

    pub fn get_i64(&self, name: &str) -> Option<i64> {
        self.value(name).and_then(|v| v.trim().parse().ok())
    }

    /// The same overrides under other dynamic defaults.
    pub fn with_defaults(&self, defaults: Arc<TopicDefaults>) -> TopicConfig {
        TopicConfig {
            overrides: self.overrides.clone(),
            defaults,
        }
    }

    /// Checks every override.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        self.overrides.iter().try_for_each(|(k, v)| validate(k, v))
    }

    /// This config with `changes` applied in order, then validated.
    pub fn with_changes(&self, changes: &[ConfigChange]) -> Result<TopicConfig, InvalidConfig> {
        let mut overrides = self.overrides.clone();
        for change in changes {
            match change {
                ConfigChange::Set(k, v) => {
                    overrides.insert(k.clone(), v.clone());
                }
                ConfigChange::Delete(k) => {
                    overrides.remove(k);
                }
                ConfigChange::Append(k, v) | ConfigChange::Subtract(k, v) => {
                    let append = matches!(change, ConfigChange::Append(..));
                    let d = find(k)
                        .ok_or_else(|| InvalidConfig(format!("Unknown topic config name: {k}")))?;
                    if !d.is_list() {
                        let op = if append { "APPEND" } else { "SUBTRACT" };
                        return Err(InvalidConfig(format!(
                            "Can't {op} to key {k} because its type is not LIST."
                        )));
                    }
                    let old = overrides.get(k).map_or(d.default, String::as_str);
                    overrides.insert(k.clone(), alter_list(old, v, append));
                }
            }
        }
        let config = TopicConfig {
            overrides,
            defaults: self.defaults.clone(),
        };
        config.validate()?;
        Ok(config)
    }

    /// The codec batches are stored with (`compression.type`), or None to store
    /// them as the producer sent them.
    pub fn compression_codec(&self) -> Option<u8> {
        self.value("compression.type")
            .and_then(|c| crate::log::codec_of(c.trim()))
    }

    /// True when `cleanup.policy` includes `compact`.
    pub fn is_compacted(&self) -> bool {
        self.value("cleanup.policy")
            .is_some_and(|p| p.split(',').any(|w| w.trim() == "compact"))
    }

    fn get_or_default<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.value(name)
            .or_else(|| find(name).map(|d| d.default))
            .and_then(|v| v.trim().parse().ok())
    }

    /// The compaction settings (`delete.retention.ms`, `min.cleanable.dirty.ratio`,
    /// `min.compaction.lag.ms`, `max.compaction.lag.ms`): overrides, else Kafka's defaults.
    pub fn cleaner_config(&self) -> crate::log::CleanerConfig {
        crate::log::CleanerConfig {
            delete_retention_ms: self
                .get_or_default("delete.retention.ms")
                .unwrap_or(86_400_000),
            min_cleanable_ratio: self
                .get_or_default("min.cleanable.dirty.ratio")
                .unwrap_or(0.5),
            min_compaction_lag_ms: self.get_or_default("min.compaction.lag.ms").unwrap_or(0),
            max_compaction_lag_ms: self
                .get_or_default("max.compaction.lag.ms")
                .unwrap_or(i64::MAX),
        }
    }

    /// True when `cleanup.policy` includes `delete` (the default).
    pub fn is_deleting(&self) -> bool {
        self.value("cleanup.policy")
            .is_none_or(|p| p.split(',').any(|w| w.trim() == "delete"))
    }

    /// What retention keeps: `retention.ms` / `retention.bytes` (else the broker's)
    /// when the policy includes `delete`, everything otherwise.
    pub fn retention_policy(&self, broker: &Config) -> crate::log::RetentionPolicy {
        if !self.is_deleting() {
            return crate::log::RetentionPolicy::KEEP_ALL;
        }
        crate::log::RetentionPolicy {
            retention_ms: self
                .get_i64("retention.ms")
                .unwrap_or(broker.log.retention_ms),
            retention_bytes: self
                .get_i64("retention.bytes")
                .unwrap_or(broker.log.retention_bytes),
        }
    }

    /// The log settings for this topic: its overrides, else the broker's.
    pub fn log_config(&self, broker: &Config) -> crate::log::LogConfig {
        crate::log::LogConfig {
            segment_bytes: self
                .get_i64("segment.bytes")
                .unwrap_or(broker.log.segment_bytes) as u64,
            segment_ms: self.get_i64("segment.ms").unwrap_or(broker.log.roll_ms) as u64,
            index_interval_bytes: self
                .get_i64("index.interval.bytes")
                .unwrap_or(broker.log.index_interval_bytes as i64)
                as u32,
            segment_index_bytes: self
                .get_i64("segment.index.bytes")
                .unwrap_or(broker.log.index_size_max_bytes as i64)
                as u32,
        }
    }

    /// True when `message.timestamp.type` is LogAppendTime: the broker stamps batches.
    pub fn is_log_append_time(&self) -> bool {
        self.value("message.timestamp.type")
            .is_some_and(|t| t.trim() == "LogAppendTime")
    }

    /// (`message.timestamp.before.max.ms`, `message.timestamp.after.max.ms`): how
    /// far a CreateTime record's timestamp may lie before or after the broker's clock.
    pub fn timestamp_bounds(&self) -> (i64, i64) {
        (
            self.get_i64("message.timestamp.before.max.ms")
                .unwrap_or(i64::MAX),
            self.get_i64("message.timestamp.after.max.ms")
                .unwrap_or(i64::MAX),
        )
    }

    pub fn max_message_bytes(&self, broker: &Config) -> i64 {
        self.get_i64("max.message.bytes")
            .unwrap_or(broker.message_max_bytes as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_follows_kafka_types() {
        assert!(validate("retention.ms", "-1").is_ok());
        assert!(validate("retention.ms", "-2").is_err());
        assert!(validate("segment.bytes", "99999999999").is_err());
        assert!(validate("cleanup.policy", "compact,delete").is_ok());
        assert!(validate("cleanup.policy", "").is_ok());
        assert!(validate("cleanup.policy", "shred").is_err());
        assert!(validate("min.cleanable.dirty.ratio", "0.5").is_ok());
        assert!(validate("no.such.config", "1").is_err());
        assert!(validate("message.timestamp.type", "LogAppendTime").is_ok());
        assert!(validate("message.format.version", "0.10.0").is_ok());
        assert!(validate("message.format.version", "3.0-IV1").is_ok());
        assert!(validate("message.format.version", "new").is_err());
    }

    #[test]
    fn every_default_is_valid() {
        for d in DEFS {
            assert_eq!(validate(d.name, d.default), Ok(()), "{}", d.name);
        }
    }

    #[test]
    fn incremental_changes() {
        let base = TopicConfig::default();
        let c = |k: &str, v: &str| (k.to_string(), v.to_string());
        let appended = base
            .with_changes(&[ConfigChange::Append(
                "cleanup.policy".into(),
                "compact".into(),
            )])
            .unwrap();
        assert_eq!(appended.overrides["cleanup.policy"], "delete,compact");
        assert!(appended.is_compacted());
        let subtracted = appended
            .with_changes(&[ConfigChange::Subtract(
                "cleanup.policy".into(),
                "compact".into(),
            )])
            .unwrap();
        assert_eq!(subtracted.overrides["cleanup.policy"], "delete");
        let (k, v) = c("retention.ms", "1000");
        let set = base.with_changes(&[ConfigChange::Set(k, v)]).unwrap();
        assert_eq!(set.get_i64("retention.ms"), Some(1000));
        let deleted = set
            .with_changes(&[ConfigChange::Delete("retention.ms".into())])
            .unwrap();
        assert!(deleted.overrides.is_empty());
        let err = base
            .with_changes(&[ConfigChange::Append("retention.ms".into(), "1".into())])
            .unwrap_err();
        assert_eq!(
            err.0,
            "Can't APPEND to key retention.ms because its type is not LIST."
        );
        assert!(
            base.with_changes(&[ConfigChange::Set("segment.bytes".into(), "x".into())])
                .is_err()
        );
    }
}
