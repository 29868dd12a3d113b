//! Topic-level configs, by Kafka's exact names (`segment.bytes`, `retention.ms`, ...).
//!
//! A topic stores only the keys that were set on it; everything else falls back
//! to the broker's defaults. Validation follows Kafka: an unknown name or a value
//! of the wrong type is INVALID_CONFIG.

use std::collections::BTreeMap;

use crate::config::Config;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
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
}

/// The topic configs runnel knows, with their type.
const KNOWN: &[(&str, Kind)] = &[
    ("cleanup.policy", Kind::ListOf(&["delete", "compact"])),
    (
        "compression.type",
        Kind::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
    ),
    ("delete.retention.ms", Kind::Long { min: 0 }),
    ("file.delete.delay.ms", Kind::Long { min: 0 }),
    ("flush.messages", Kind::Long { min: 1 }),
    ("flush.ms", Kind::Long { min: 0 }),
    ("index.interval.bytes", Kind::Int { min: 0 }),
    ("max.compaction.lag.ms", Kind::Long { min: 1 }),
    ("max.message.bytes", Kind::Int { min: 0 }),
    ("message.timestamp.after.max.ms", Kind::Long { min: 0 }),
    ("message.timestamp.before.max.ms", Kind::Long { min: 0 }),
    (
        "message.timestamp.type",
        Kind::OneOf(&["CreateTime", "LogAppendTime"]),
    ),
    (
        "min.cleanable.dirty.ratio",
        Kind::Double { min: 0.0, max: 1.0 },
    ),
    ("min.compaction.lag.ms", Kind::Long { min: 0 }),
    ("min.insync.replicas", Kind::Int { min: 1 }),
    ("preallocate", Kind::Bool),
    ("retention.bytes", Kind::Long { min: -1 }),
    ("retention.ms", Kind::Long { min: -1 }),
    ("segment.bytes", Kind::Int { min: 14 }),
    ("segment.index.bytes", Kind::Int { min: 4 }),
    ("segment.jitter.ms", Kind::Long { min: 0 }),
    ("segment.ms", Kind::Long { min: 1 }),
    ("unclean.leader.election.enable", Kind::Bool),
    ("message.downconversion.enable", Kind::Bool),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidConfig(pub String);

/// Checks one `name=value` pair the way Kafka's topic config validation does.
pub fn validate(name: &str, value: &str) -> Result<(), InvalidConfig> {
    let kind = KNOWN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, k)| *k)
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
        Kind::ListOf(words) => {
            if value.split(',').any(|w| !words.contains(&w.trim())) {
                return Err(bad());
            }
        }
    }
    Ok(())
}

/// The configs set on one topic, overriding the broker defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicConfig {
    pub overrides: BTreeMap<String, String>,
}

impl TopicConfig {
    pub fn get_i64(&self, name: &str) -> Option<i64> {
        self.overrides.get(name).and_then(|v| v.trim().parse().ok())
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
        assert!(validate("cleanup.policy", "shred").is_err());
        assert!(validate("min.cleanable.dirty.ratio", "0.5").is_ok());
        assert!(validate("no.such.config", "1").is_err());
        assert!(validate("message.timestamp.type", "LogAppendTime").is_ok());
    }
}
