//! Dynamic broker configs (Kafka's DynamicBrokerConfig): settings changed at
//! run time with AlterConfigs / IncrementalAlterConfigs on the BROKER resource,
//! per broker (resource name = this node's id) or as the cluster-wide default
//! (empty resource name). Stored in `<data_dir>/broker-configs.toml`.
//!
//! The `log.*` topic defaults (and `message.max.bytes`, `log.cleaner.*` topic
//! defaults) take effect at once through [`DynamicConfigs::topic_defaults`], and
//! the connection limits (`max.connections`, `max.connections.per.ip`,
//! `max.connections.per.ip.overrides`, `max.connection.creation.rate` and
//! their `listener.name.<listener>.` forms) and
//! `log.cleaner.io.max.bytes.per.second` through `BrokerState::reconfigure`;
//! the other names are accepted, stored and reported only.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::config::parse_ip_overrides;
use crate::topic::config::{DEFS, alter_list, validate as validate_topic_value};
use crate::topic::{ConfigChange, TopicDefaults};

pub const FILE: &str = "broker-configs.toml";

/// A config value's type, for validation and DescribeConfigs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Int,
    Short,
    Long,
    Double,
    Bool,
    String,
    List,
    Password,
}

/// A dynamic broker config that is not a topic default.
pub struct DynamicDef {
    pub name: &'static str,
    pub value_type: ValueType,
    /// Kafka's default, None where Kafka has none (null).
    pub default: Option<&'static str>,
    /// Only per broker, never at the cluster default level.
    pub per_broker: bool,
    /// The least value a number may take (Kafka's atLeast).
    pub min: Option<f64>,
}

const fn d(
    name: &'static str,
    value_type: ValueType,
    default: Option<&'static str>,
    per_broker: bool,
) -> DynamicDef {
    DynamicDef {
        name,
        value_type,
        default,
        per_broker,
        min: None,
    }
}

impl DynamicDef {
    const fn at_least(self, min: f64) -> DynamicDef {
        DynamicDef {
            min: Some(min),
            ..self
        }
    }
}

use ValueType::{Bool, Double, Int, List, Long, Password, Short};

/// Kafka's dynamic configs that are not topic defaults: thread pools, the log
/// cleaner's buffers and IO rate, SASL/GSSAPI login settings, socket server limits
/// and the producer state manager. Most have no equivalent in runnel (see
/// `BrokerState::reconfigure` for those that do). The topic defaults (`log.*`)
/// come from [`DEFS`].
pub const OTHER_DEFS: &[DynamicDef] = &[
    // DynamicThreadPool
    d("background.threads", Int, Some("10"), false),
    d("num.io.threads", Int, Some("8"), false),
    d("num.network.threads", Int, Some("3"), false),
    d("num.recovery.threads.per.data.dir", Int, Some("2"), false),
    d("num.replica.fetchers", Int, Some("1"), false),
    // LogCleaner.ReconfigurableConfigs (message.max.bytes is a topic default)
    d("log.cleaner.backoff.ms", Long, Some("15000"), false),
    d(
        "log.cleaner.dedupe.buffer.size",
        Long,
        Some("134217728"),
        false,
    ),
    d(
        "log.cleaner.io.buffer.load.factor",
        Double,
        Some("0.9"),
        false,
    ),
    d("log.cleaner.io.buffer.size", Int, Some("524288"), false),
    // Above 0: a rate of 0 would stop the cleaner for good (Kafka takes it).
    d(
        "log.cleaner.io.max.bytes.per.second",
        Double,
        Some("1.7976931348623157E308"),
        false,
    )
    .at_least(f64::MIN_POSITIVE),
    d("log.cleaner.threads", Int, Some("1"), false),
    d("metric.reporters", List, Some(""), false),
    // DynamicListenerConfig: per broker
    d("sasl.jaas.config", Password, None, true),
    d(
        "sasl.kerberos.kinit.cmd",
        ValueType::String,
        Some("/usr/bin/kinit"),
        true,
    ),
    d(
        "sasl.kerberos.min.time.before.relogin",
        Long,
        Some("60000"),
        true,
    ),
    d(
        "sasl.kerberos.principal.to.local.rules",
        List,
        Some("DEFAULT"),
        true,
    ),
    d("sasl.kerberos.service.name", ValueType::String, None, true),
    d(
        "sasl.kerberos.ticket.renew.jitter",
        Double,
        Some("0.05"),
        true,
    ),
    d(
        "sasl.kerberos.ticket.renew.window.factor",
        Double,
        Some("0.8"),
        true,
    ),
    d(
        "sasl.login.refresh.buffer.seconds",
        Short,
        Some("300"),
        true,
    ),
    d(
        "sasl.login.refresh.min.period.seconds",
        Short,
        Some("60"),
        true,
    ),
    d(
        "sasl.login.refresh.window.factor",
        Double,
        Some("0.8"),
        true,
    ),
    d(
        "sasl.login.refresh.window.jitter",
        Double,
        Some("0.05"),
        true,
    ),
    // SocketServer.ReconfigurableConfigs
    d(
        "max.connection.creation.rate",
        Int,
        Some("2147483647"),
        false,
    )
    .at_least(0.0),
    d("max.connections", Int, Some("2147483647"), false).at_least(0.0),
    d("max.connections.per.ip", Int, Some("2147483647"), false).at_least(0.0),
    d(
        "max.connections.per.ip.overrides",
        ValueType::String,
        Some(""),
        false,
    ),
    // DynamicProducerStateManagerConfig
    d("producer.id.expiration.ms", Int, Some("86400000"), false),
    d(
        "transaction.partition.verification.enable",
        Bool,
        Some("true"),
        false,
    ),
];

/// SslConfigs.RECONFIGURABLE_CONFIGS: dynamic only with a listener prefix.
const LISTENER_ONLY: &[&str] = &[
    "ssl.key.password",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.keystore.type",
    "ssl.truststore.certificates",
    "ssl.truststore.location",
    "ssl.truststore.password",
    "ssl.truststore.type",
];

/// The topic config a dynamic broker name is the default of, if any.
/// `log.message.format.version` is not dynamic (as in Kafka).
pub fn topic_config_of(broker_name: &str) -> Option<&'static str> {
    DEFS.iter()
        .find(|d| d.broker_name == broker_name && d.broker_name != "log.message.format.version")
        .map(|d| d.name)
}

pub fn other_def(name: &str) -> Option<&'static DynamicDef> {
    OTHER_DEFS.iter().find(|d| d.name == name)
}

/// Kafka's listener.name.<listener>.<config> form: the listener (lower case in
/// Kafka's own names, ListenerName.configPrefix) and the config.
pub fn listener_config(name: &str) -> Option<(&str, &str)> {
    name.strip_prefix("listener.name.")?.split_once('.')
}

/// The listener configs runnel changes at run time (Kafka's
/// SocketServer.ListenerReconfigurableConfigs); Kafka allows them at the
/// cluster default level too.
pub const LISTENER_DYNAMIC: &[&str] = &["max.connections", "max.connection.creation.rate"];

/// The dynamic name for `listener`'s own `config`.
pub fn listener_config_name(listener: &str, config: &str) -> String {
    format!("listener.name.{}.{config}", listener.to_lowercase())
}

pub fn is_dynamic(name: &str) -> bool {
    topic_config_of(name).is_some()
        || other_def(name).is_some()
        || listener_config(name).is_some_and(|(_, base)| LISTENER_DYNAMIC.contains(&base))
}

/// Which set of dynamic configs a BROKER resource names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// This broker (resource name = its node id).
    Broker,
    /// The cluster-wide default (empty resource name).
    ClusterDefault,
}

#[derive(Debug)]
pub enum AlterError {
    InvalidRequest(String),
    InvalidConfig(String),
    Storage(io::Error),
}

/// The dynamic configs of both levels, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicConfigs {
    #[serde(default)]
    pub broker: BTreeMap<String, String>,
    #[serde(default)]
    pub cluster_default: BTreeMap<String, String>,
}

impl DynamicConfigs {
    pub fn level(&self, level: Level) -> &BTreeMap<String, String> {
        match level {
            Level::Broker => &self.broker,
            Level::ClusterDefault => &self.cluster_default,
        }
    }

    fn level_mut(&mut self, level: Level) -> &mut BTreeMap<String, String> {
        match level {
            Level::Broker => &mut self.broker,
            Level::ClusterDefault => &mut self.cluster_default,
        }
    }

    /// The value in effect: this broker's, else the cluster default.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.broker
            .get(name)
            .or_else(|| self.cluster_default.get(name))
            .map(String::as_str)
    }

    /// [`DynamicConfigs::get`] parsed as a `T`; None when unset or unparsable.
    pub fn parsed<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.get(name).and_then(|v| v.trim().parse().ok())
    }

    /// The topic defaults these configs set, by topic config name.
    pub fn topic_defaults(&self) -> TopicDefaults {
        let by_topic_name = |m: &BTreeMap<String, String>| {
            m.iter()
                .filter_map(|(k, v)| topic_config_of(k).map(|t| (t.to_string(), v.clone())))
                .collect()
        };
        TopicDefaults {
            broker: by_topic_name(&self.broker),
            cluster: by_topic_name(&self.cluster_default),
        }
    }
}

pub struct DynamicBrokerConfig {
    path: PathBuf,
    configs: Mutex<DynamicConfigs>,
}

impl DynamicBrokerConfig {
    /// Loads the stored configs (none when there is no file yet).
    pub fn open(data_dir: &Path) -> io::Result<DynamicBrokerConfig> {
        let path = data_dir.join(FILE);
        let configs = match crate::data_dir::read_optional(&path)? {
            Some(text) => toml::from_str(&text).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?,
            None => DynamicConfigs::default(),
        };
        Ok(DynamicBrokerConfig {
            path,
            configs: Mutex::new(configs),
        })
    }

    fn lock(&self) -> MutexGuard<'_, DynamicConfigs> {
        self.configs.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn snapshot(&self) -> DynamicConfigs {
        self.lock().clone()
    }

    /// Applies `changes` at `level` (on an empty set when `replace`, as
    /// AlterConfigs does), validated as Kafka's DynamicBrokerConfig.validateConfigs
    /// and then as a whole by `check` (Kafka's message of what is wrong, sent
    /// as INVALID_REQUEST); unless `validate_only`, stores the result and hands
    /// it to `reconfigure` (under the lock, so concurrent changes apply in
    /// order). Returns the configs in effect.
    pub fn alter(
        &self,
        level: Level,
        changes: &[ConfigChange],
        replace: bool,
        validate_only: bool,
        check: impl FnOnce(&DynamicConfigs) -> Result<(), String>,
        reconfigure: impl FnOnce(&DynamicConfigs),
    ) -> Result<DynamicConfigs, AlterError> {
        let mut configs = self.lock();
        let names: BTreeSet<&str> = changes.iter().map(change_name).collect();
        check_names(&names, level)?;
        let mut altered = configs.clone();
        let current = altered.level_mut(level);
        if replace {
            current.clear();
        }
        for change in changes {
            apply_change(current, change, list_default)?;
        }
        for name in &names {
            if let Some(value) = current.get(*name) {
                validate_value(name, value)?;
            }
        }
        check(&altered).map_err(AlterError::InvalidRequest)?;
        if validate_only || altered == *configs {
            return Ok(configs.clone());
        }
        let body = toml::to_string(&altered)
            .map_err(|e| AlterError::Storage(io::Error::new(io::ErrorKind::InvalidData, e)))?;
        crate::data_dir::write_atomically(&self.path, body.as_bytes(), 0o600)
            .map_err(AlterError::Storage)?;
        tracing::info!(?level, configs = ?altered.level(level), "altered dynamic broker configs");
        *configs = altered;
        reconfigure(&configs);
        Ok(configs.clone())
    }
}

pub fn change_name(change: &ConfigChange) -> &str {
    match change {
        ConfigChange::Set(k, _)
        | ConfigChange::Delete(k)
        | ConfigChange::Append(k, _)
        | ConfigChange::Subtract(k, _) => k,
    }
}

/// Kafka prints the offending names as a Scala Set.
fn scala_set(names: &[&str]) -> String {
    format!("Set({})", names.join(", "))
}

fn check_names(names: &BTreeSet<&str>, level: Level) -> Result<(), AlterError> {
    let refuse = |names: Vec<&str>, message: &str| match names.is_empty() {
        true => Ok(()),
        false => Err(AlterError::InvalidRequest(format!(
            "{message}: {}",
            scala_set(&names)
        ))),
    };
    refuse(
        names
            .iter()
            .copied()
            .filter(|n| !is_dynamic(n) && !LISTENER_ONLY.contains(n))
            .collect(),
        "Cannot update these configs dynamically",
    )?;
    refuse(
        names
            .iter()
            .copied()
            .filter(|n| LISTENER_ONLY.contains(n))
            .collect(),
        "These security configs can be dynamically updated only per-listener using the listener prefix",
    )?;
    if level == Level::ClusterDefault {
        refuse(
            names
                .iter()
                .copied()
                .filter(|n| other_def(n).is_some_and(|d| d.per_broker))
                .collect(),
            "Cannot update these configs at default cluster level, broker id must be specified",
        )?;
    }
    Ok(())
}

/// The default an APPEND or SUBTRACT starts from when no value is set.
fn list_default(name: &str) -> Option<&'static str> {
    match topic_config_of(name) {
        Some(topic_name) => DEFS
            .iter()
            .find(|d| d.name == topic_name && d.is_list())
            .map(|d| d.default),
        None => other_def(name)
            .filter(|d| d.value_type == List)
            .map(|d| d.default.unwrap_or("")),
    }
}

/// One change of IncrementalAlterConfigs on a set of configs, in Kafka's
/// semantics; `list_default` gives a LIST config's default (None: not a list).
pub fn apply_change(
    configs: &mut BTreeMap<String, String>,
    change: &ConfigChange,
    list_default: impl Fn(&str) -> Option<&'static str>,
) -> Result<(), AlterError> {
    match change {
        ConfigChange::Set(k, v) => {
            configs.insert(k.clone(), v.clone());
        }
        ConfigChange::Delete(k) => {
            configs.remove(k);
        }
        ConfigChange::Append(k, v) | ConfigChange::Subtract(k, v) => {
            let append = matches!(change, ConfigChange::Append(..));
            let Some(default) = list_default(k) else {
                let op = if append { "append" } else { "subtract" };
                return Err(AlterError::InvalidConfig(format!(
                    "Config value {op} is not allowed for config key: {k}"
                )));
            };
            let old = configs.get(k).map_or(default, String::as_str);
            configs.insert(k.clone(), alter_list(old, v, append));
        }
    }
    Ok(())
}

fn validate_value(name: &str, value: &str) -> Result<(), AlterError> {
    let invalid =
        || AlterError::InvalidRequest(format!("Invalid value {value} for configuration {name}"));
    if let Some(topic_name) = topic_config_of(name) {
        return validate_topic_value(topic_name, value).map_err(|_| invalid());
    }
    if listener_config(name).is_some() {
        // A listener's max.connections or max.connection.creation.rate: above
        // 0, as Kafka's ListenerConnectionQuota validates them.
        return match value.trim().parse::<i32>() {
            Ok(v) if v > 0 => Ok(()),
            _ => Err(invalid()),
        };
    }
    if name == "max.connections.per.ip.overrides" {
        return parse_ip_overrides(value)
            .map(drop)
            .map_err(AlterError::InvalidRequest);
    }
    let Some(def) = other_def(name) else {
        return Ok(());
    };
    let v = value.trim();
    let in_range = |n: Option<f64>| n.is_some_and(|n| def.min.is_none_or(|min| n >= min));
    let ok = match def.value_type {
        Int => in_range(v.parse::<i32>().ok().map(f64::from)),
        Short => in_range(v.parse::<i16>().ok().map(f64::from)),
        Long => in_range(v.parse::<i64>().ok().map(|n| n as f64)),
        Double => in_range(v.parse::<f64>().ok()),
        Bool => v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false"),
        ValueType::String | List | Password => true,
    };
    match ok {
        true => Ok(()),
        false => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(k: &str, v: &str) -> ConfigChange {
        ConfigChange::Set(k.into(), v.into())
    }

    fn alter(
        store: &DynamicBrokerConfig,
        level: Level,
        changes: &[ConfigChange],
        replace: bool,
    ) -> Result<DynamicConfigs, AlterError> {
        store.alter(level, changes, replace, false, |_| Ok(()), |_| {})
    }

    #[test]
    fn names_levels_and_values() {
        let dir = tempfile::tempdir().unwrap();
        let store = DynamicBrokerConfig::open(dir.path()).unwrap();
        let bad = |r: Result<DynamicConfigs, AlterError>| match r {
            Err(AlterError::InvalidRequest(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            bad(alter(
                &store,
                Level::Broker,
                &[set("log.dirs", "/x")],
                false
            )),
            "Cannot update these configs dynamically: Set(log.dirs)"
        );
        let relogin = [set("sasl.kerberos.min.time.before.relogin", "1")];
        assert_eq!(
            bad(alter(&store, Level::ClusterDefault, &relogin, false)),
            "Cannot update these configs at default cluster level, broker id must be specified: \
             Set(sasl.kerberos.min.time.before.relogin)"
        );
        bad(alter(
            &store,
            Level::Broker,
            &[set("background.threads", "x")],
            false,
        ));
        bad(alter(
            &store,
            Level::Broker,
            &[set("log.retention.ms", "-5")],
            false,
        ));
        let changes = [
            set("log.retention.ms", "1000"),
            ConfigChange::Append("log.cleanup.policy".into(), "compact".into()),
        ];
        let mut applied = None;
        let c = store
            .alter(
                Level::Broker,
                &changes,
                false,
                false,
                |_| Ok(()),
                |c| applied = Some(c.clone()),
            )
            .unwrap();
        assert_eq!(applied.as_ref(), Some(&c));
        assert_eq!(c.broker["log.cleanup.policy"], "delete,compact");
        let defaults = c.topic_defaults();
        assert_eq!(defaults.get("retention.ms"), Some("1000"));
        drop(store);
        let reopened = DynamicBrokerConfig::open(dir.path()).unwrap();
        assert_eq!(reopened.snapshot(), c);
        // A listener's own connection creation rate is dynamic, at either
        // level; other listener configs are not.
        let rate = [set(
            "listener.name.external.max.connection.creation.rate",
            "5",
        )];
        alter(&reopened, Level::ClusterDefault, &rate, false).unwrap();
        let zero = [set(
            "listener.name.external.max.connection.creation.rate",
            "0",
        )];
        bad(alter(&reopened, Level::Broker, &zero, false));
        bad(alter(
            &reopened,
            Level::Broker,
            &[set("max.connection.creation.rate", "-1")],
            false,
        ));
        alter(
            &reopened,
            Level::ClusterDefault,
            &[set("listener.name.external.max.connections", "5")],
            false,
        )
        .unwrap();
        bad(alter(
            &reopened,
            Level::Broker,
            &[set("listener.name.external.max.connections", "0")],
            false,
        ));
        bad(alter(
            &reopened,
            Level::Broker,
            &[set("max.connections", "-1")],
            false,
        ));
        assert_eq!(
            bad(alter(
                &reopened,
                Level::Broker,
                &[set("listener.name.external.ssl.cipher.suites", "x")],
                false
            )),
            "Cannot update these configs dynamically: Set(listener.name.external.ssl.cipher.suites)"
        );
        // Kafka's messages for overrides it cannot read.
        let overrides = |v: &str| {
            bad(alter(
                &reopened,
                Level::Broker,
                &[set("max.connections.per.ip.overrides", v)],
                false,
            ))
        };
        assert_eq!(
            overrides("hostName#:100"),
            "max.connections.per.ip.overrides contains invalid addresses : hostName#"
        );
        assert_eq!(overrides("a:1,b:x"), "For input string: \"x\"");
        assert_eq!(
            overrides("a:1,b"),
            "Error parsing configuration property 'max.connections.per.ip.overrides': \
             begin 0, end -1, length 1"
        );
        alter(
            &reopened,
            Level::Broker,
            &[set(
                "max.connections.per.ip.overrides",
                "hostName1:100, ::1:0",
            )],
            false,
        )
        .unwrap();
        // The whole is checked too, and nothing stored when it fails.
        let refused = reopened.alter(
            Level::Broker,
            &[set("num.io.threads", "2")],
            false,
            false,
            |_| Err("requirement failed".into()),
            |_| panic!("not applied"),
        );
        assert_eq!(bad(refused), "requirement failed");
        let replaced = alter(
            &reopened,
            Level::Broker,
            &[set("num.io.threads", "4")],
            true,
        )
        .unwrap();
        assert_eq!(replaced.broker.len(), 1);
    }
}
