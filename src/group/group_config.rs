//! Group configs (KIP-848, Kafka's GroupConfig and GroupConfigManager): a
//! consumer group's own session timeout and heartbeat interval, set with
//! IncrementalAlterConfigs on the GROUP resource, stored in
//! `<data_dir>/group-configs.toml`. A group may be configured before it exists.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::dynamic_broker_config::{AlterError, apply_change, change_name};
use crate::topic::ConfigChange;

pub const FILE: &str = "group-configs.toml";
pub const SESSION_TIMEOUT: &str = "consumer.session.timeout.ms";
pub const HEARTBEAT_INTERVAL: &str = "consumer.heartbeat.interval.ms";
/// Every group config runnel knows (it has no share or streams groups).
pub const NAMES: &[&str] = &[HEARTBEAT_INTERVAL, SESSION_TIMEOUT];

/// Kafka's group.consumer.{min,max}.session.timeout.ms defaults.
const SESSION_TIMEOUT_RANGE: (i64, i64) = (45_000, 60_000);
/// Kafka's group.consumer.{min,max}.heartbeat.interval.ms defaults.
const HEARTBEAT_INTERVAL_RANGE: (i64, i64) = (5_000, 15_000);

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupConfigFile {
    #[serde(default)]
    group: BTreeMap<String, BTreeMap<String, String>>,
}

pub struct GroupConfigManager {
    path: PathBuf,
    /// The broker's group.consumer.* settings: the defaults.
    default_session_timeout_ms: i64,
    default_heartbeat_interval_ms: i64,
    configs: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
}

impl GroupConfigManager {
    pub fn open(config: &Config) -> io::Result<GroupConfigManager> {
        let path = config.data_dir.join(FILE);
        let file: GroupConfigFile = match crate::data_dir::read_optional(&path)? {
            Some(text) => toml::from_str(&text).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?,
            None => GroupConfigFile::default(),
        };
        let ms = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        Ok(GroupConfigManager {
            path,
            default_session_timeout_ms: ms(config.group.consumer_session_timeout_ms),
            default_heartbeat_interval_ms: ms(config.group.consumer_heartbeat_interval_ms),
            configs: Mutex::new(file.group),
        })
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, BTreeMap<String, String>>> {
        self.configs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The configs set on `group` (empty when none).
    pub fn get(&self, group: &str) -> BTreeMap<String, String> {
        self.lock().get(group).cloned().unwrap_or_default()
    }

    fn get_ms(&self, group: &str, name: &str) -> Option<i64> {
        self.lock()
            .get(group)
            .and_then(|c| c.get(name))
            .and_then(|v| v.trim().parse().ok())
    }

    /// The group's session timeout, or the broker's group.consumer.session.timeout.ms.
    pub fn session_timeout_ms(&self, group: &str) -> i64 {
        self.get_ms(group, SESSION_TIMEOUT)
            .unwrap_or(self.default_session_timeout_ms)
    }

    /// The group's heartbeat interval, or the broker's group.consumer.heartbeat.interval.ms.
    pub fn heartbeat_interval_ms(&self, group: &str) -> i64 {
        self.get_ms(group, HEARTBEAT_INTERVAL)
            .unwrap_or(self.default_heartbeat_interval_ms)
    }

    /// Every group config with its value: the group's own (true) or the default.
    pub fn describe(&self, group: &str) -> Vec<(&'static str, String, bool)> {
        let own = self.get(group);
        let defaults = [
            (HEARTBEAT_INTERVAL, self.default_heartbeat_interval_ms),
            (SESSION_TIMEOUT, self.default_session_timeout_ms),
        ];
        defaults
            .into_iter()
            .map(|(name, default)| match own.get(name) {
                Some(v) => (name, v.clone(), true),
                None => (name, default.to_string(), false),
            })
            .collect()
    }

    /// Applies `changes` to `group`'s configs (on an empty set when `replace`),
    /// validated as Kafka's GroupConfig.validate; stored unless `validate_only`.
    pub fn alter(
        &self,
        group: &str,
        changes: &[ConfigChange],
        replace: bool,
        validate_only: bool,
    ) -> Result<(), AlterError> {
        let mut all = self.lock();
        let unknown = changes.iter().map(change_name).find(|n| !NAMES.contains(n));
        if let Some(name) = unknown {
            return Err(AlterError::InvalidConfig(format!(
                "Unknown group config name: {name}"
            )));
        }
        let mut configs = match replace {
            true => BTreeMap::new(),
            false => all.get(group).cloned().unwrap_or_default(),
        };
        for change in changes {
            apply_change(&mut configs, change, |_| None)?;
        }
        self.validate(&configs)?;
        if validate_only || all.get(group).cloned().unwrap_or_default() == configs {
            return Ok(());
        }
        let mut altered = all.clone();
        match configs.is_empty() {
            true => altered.remove(group),
            false => altered.insert(group.to_string(), configs),
        };
        let file = GroupConfigFile {
            group: altered.clone(),
        };
        let body = toml::to_string(&file)
            .map_err(|e| AlterError::Storage(io::Error::new(io::ErrorKind::InvalidData, e)))?;
        crate::data_dir::write_atomically(&self.path, body.as_bytes(), 0o644)
            .map_err(AlterError::Storage)?;
        tracing::info!(group, configs = ?altered.get(group), "altered group configs");
        *all = altered;
        Ok(())
    }

    fn validate(&self, configs: &BTreeMap<String, String>) -> Result<(), AlterError> {
        let int = |name: &str, default: i64| match configs.get(name) {
            None => Ok(default),
            Some(v) => v.trim().parse::<i32>().map(i64::from).map_err(|_| {
                AlterError::InvalidConfig(format!(
                    "Invalid value {v} for configuration {name}: Not a number of type INT"
                ))
            }),
        };
        let session = int(SESSION_TIMEOUT, self.default_session_timeout_ms)?;
        let heartbeat = int(HEARTBEAT_INTERVAL, self.default_heartbeat_interval_ms)?;
        let in_range = |name: &str, value: i64, (min, max): (i64, i64), broker: &str| {
            if value < min {
                return Err(AlterError::InvalidConfig(format!(
                    "{name} must be greater than or equal to group.consumer.min.{broker}"
                )));
            }
            if value > max {
                return Err(AlterError::InvalidConfig(format!(
                    "{name} must be less than or equal to group.consumer.max.{broker}"
                )));
            }
            Ok(())
        };
        if configs.contains_key(HEARTBEAT_INTERVAL) {
            in_range(
                HEARTBEAT_INTERVAL,
                heartbeat,
                HEARTBEAT_INTERVAL_RANGE,
                "heartbeat.interval.ms",
            )?;
        }
        if configs.contains_key(SESSION_TIMEOUT) {
            in_range(
                SESSION_TIMEOUT,
                session,
                SESSION_TIMEOUT_RANGE,
                "session.timeout.ms",
            )?;
        }
        if heartbeat >= session {
            return Err(AlterError::InvalidConfig(format!(
                "{HEARTBEAT_INTERVAL} must be less than {SESSION_TIMEOUT}"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_validate_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let groups = GroupConfigManager::open(&config).unwrap();
        let set = |k: &str, v: &str| ConfigChange::Set(k.into(), v.into());
        groups
            .alter("g", &[set(SESSION_TIMEOUT, "50000")], false, false)
            .unwrap();
        assert_eq!(groups.session_timeout_ms("g"), 50_000);
        assert!(matches!(
            groups.alter("g", &[set(SESSION_TIMEOUT, "1000")], false, false),
            Err(AlterError::InvalidConfig(_))
        ));
        assert!(matches!(
            groups.alter("g", &[set("share.session.timeout.ms", "50000")], false, false),
            Err(AlterError::InvalidConfig(m)) if m == "Unknown group config name: share.session.timeout.ms"
        ));
        drop(groups);
        let groups = GroupConfigManager::open(&config).unwrap();
        assert_eq!(groups.session_timeout_ms("g"), 50_000);
        groups
            .alter(
                "g",
                &[ConfigChange::Delete(SESSION_TIMEOUT.into())],
                false,
                false,
            )
            .unwrap();
        assert!(groups.get("g").is_empty());
    }
}
