//! Client quotas (KIP-546): the table DescribeClientQuotas and
//! AlterClientQuotas read and change. `crate::quota_manager` enforces it.
//!
//! A quota belongs to an entity: a `user`, a `client-id`, both, or an `ip`, each
//! named or the default (no name). Values are kept by Kafka's key names
//! (`producer_byte_rate`, ...). The table lives in `<data_dir>/quotas.toml`,
//! rewritten atomically on every change. Validation follows Kafka's
//! `ClientQuotaControlManager`, messages included.

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

const FILE: &str = "quotas.toml";

pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";
pub const IP: &str = "ip";

/// Entity type → name (None: the default entity of that type).
pub type Entity = BTreeMap<String, Option<String>>;
/// Quota key → value.
pub type Values = BTreeMap<String, f64>;
/// One AlterClientQuotas entry as asked: the entity's (type, name) parts, unchecked,
/// and its operations.
pub type AlterEntry = (Vec<(String, Option<String>)>, Vec<QuotaOp>);

#[derive(Clone, Copy, PartialEq)]
enum KeyType {
    Long,
    Int,
    Double,
}

/// The quota keys of user and client-id entities, with Kafka's types.
const CLIENT_KEYS: &[(&str, KeyType)] = &[
    ("producer_byte_rate", KeyType::Long),
    ("consumer_byte_rate", KeyType::Long),
    ("request_percentage", KeyType::Double),
    ("controller_mutation_rate", KeyType::Double),
];
/// The quota keys of ip entities.
const IP_KEYS: &[(&str, KeyType)] = &[("connection_creation_rate", KeyType::Int)];

#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    /// INVALID_REQUEST.
    #[error("{0}")]
    Invalid(String),
    /// UNSUPPORTED_VERSION: Kafka's answer for an entity type it does not know.
    #[error("{0}")]
    Unsupported(String),
    /// CLUSTER_AUTHORIZATION_FAILED: no ALTER_CONFIGS on the cluster.
    #[error("Cluster authorization failed.")]
    Unauthorized,
    #[error("storing quotas: {0}")]
    Io(#[from] io::Error),
}

/// How a DescribeClientQuotas filter component matches an entity type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// This name.
    Exact(String),
    /// The default entity (no name).
    Default,
    /// Any name, not the default.
    Specified,
}

/// One AlterClientQuotas operation.
#[derive(Debug, Clone, PartialEq)]
pub enum QuotaOp {
    Set(String, f64),
    Remove(String),
}

pub struct QuotaStore {
    path: PathBuf,
    quotas: Mutex<BTreeMap<Entity, Values>>,
    /// Counts the changes of `quotas` (from 1), so that what was resolved
    /// from them can be kept until the next change.
    generation: AtomicU64,
}

impl QuotaStore {
    /// Loads the quotas stored in `data_dir` (none when there is no file yet).
    pub fn open(data_dir: &Path) -> io::Result<QuotaStore> {
        let path = data_dir.join(FILE);
        let quotas = match crate::data_dir::read_optional(&path)? {
            Some(text) => load(&text).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?,
            None => BTreeMap::new(),
        };
        Ok(QuotaStore {
            path,
            quotas: Mutex::new(quotas),
            generation: AtomicU64::new(1),
        })
    }

    /// Changes whenever the quotas do (never 0).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Entity, Values>> {
        self.quotas.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The entities (with their values) that match every component.
    pub fn describe(
        &self,
        components: &[(String, Match)],
        strict: bool,
    ) -> Result<Vec<(Entity, Values)>, QuotaError> {
        check_filter(components)?;
        Ok(self
            .lock()
            .iter()
            .filter(|(entity, _)| !strict || entity.len() == components.len())
            .filter(|(entity, _)| {
                components
                    .iter()
                    .all(|(kind, m)| match (entity.get(kind), m) {
                        (Some(Some(name)), Match::Exact(want)) => name == want,
                        (Some(None), Match::Default) => true,
                        (Some(Some(_)), Match::Specified) => true,
                        _ => false,
                    })
            })
            .map(|(e, v)| (e.clone(), v.clone()))
            .collect())
    }

    /// Applies each entry's operations (or only checks them), each entry on its
    /// own as Kafka does; returns one outcome per entry, in order.
    pub fn alter(
        &self,
        entries: Vec<AlterEntry>,
        validate_only: bool,
    ) -> Vec<Result<(), QuotaError>> {
        let mut quotas = self.lock();
        let mut altered = quotas.clone();
        let mut outcomes: Vec<Result<(), QuotaError>> = entries
            .into_iter()
            .map(|(entity, ops)| {
                let entity = check_entity(entity)?;
                let keys = if entity.contains_key(IP) {
                    IP_KEYS
                } else {
                    CLIENT_KEYS
                };
                let mut values = altered.get(&entity).cloned().unwrap_or_default();
                for op in ops {
                    match op {
                        QuotaOp::Set(key, value) => {
                            check_value(keys, &key, value)?;
                            values.insert(key, value);
                        }
                        QuotaOp::Remove(key) => {
                            values.remove(&key);
                        }
                    }
                }
                if values.is_empty() {
                    altered.remove(&entity);
                } else {
                    altered.insert(entity, values);
                }
                Ok(())
            })
            .collect();
        if validate_only || altered == *quotas {
            return outcomes;
        }
        match save(&self.path, &altered) {
            Ok(()) => {
                *quotas = altered;
                self.generation.fetch_add(1, Ordering::AcqRel);
            }
            Err(e) => {
                tracing::error!(error = %e, "storing client quotas failed");
                for o in outcomes.iter_mut().filter(|o| o.is_ok()) {
                    *o = Err(QuotaError::Io(io::Error::new(e.kind(), e.to_string())));
                }
            }
        }
        outcomes
    }
}

/// The quota that applies to one client, and the client it is measured for.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientQuota {
    /// The quota's value (bytes per second for the byte rates).
    pub bound: f64,
    /// Whose traffic counts against it, as Kafka's quota metric tags: an empty
    /// user or client id is shared by every user or client id.
    pub user: String,
    pub client_id: String,
}

impl QuotaStore {
    /// The `key` quota (producer_byte_rate, ...) of `user` using `client_id`:
    /// the first entity that sets it, in Kafka's order of precedence:
    /// user and client-id, user and default client-id, user, default user and
    /// client-id, default user and default client-id, default user, client-id,
    /// default client-id.
    pub fn client_quota(&self, user: &str, client_id: &str, key: &str) -> Option<ClientQuota> {
        let quotas = self.lock();
        if quotas.is_empty() {
            return None;
        }
        let entity = |u: Option<Option<&str>>, c: Option<Option<&str>>| {
            let mut e = Entity::new();
            if let Some(u) = u {
                e.insert(USER.to_string(), u.map(str::to_string));
            }
            if let Some(c) = c {
                e.insert(CLIENT_ID.to_string(), c.map(str::to_string));
            }
            e
        };
        let (u, c) = (Some(user), Some(client_id));
        // (user part, client-id part, counted per user, counted per client id)
        let order = [
            (Some(u), Some(c), true, true),
            (Some(u), Some(None), true, true),
            (Some(u), None, true, false),
            (Some(None), Some(c), true, true),
            (Some(None), Some(None), true, true),
            (Some(None), None, true, false),
            (None, Some(c), false, true),
            (None, Some(None), false, true),
        ];
        order
            .into_iter()
            .find_map(|(eu, ec, per_user, per_client)| {
                let bound = *quotas.get(&entity(eu, ec))?.get(key)?;
                Some(ClientQuota {
                    bound,
                    user: if per_user { user } else { "" }.to_string(),
                    client_id: if per_client { client_id } else { "" }.to_string(),
                })
            })
    }
}

impl QuotaStore {
    /// The connection_creation_rate of `ip`: its own entity's, else the
    /// default ip entity's (Kafka's connectionRateForIp).
    pub fn ip_connection_rate(&self, ip: IpAddr) -> Option<f64> {
        let quotas = self.lock();
        if quotas.is_empty() {
            return None;
        }
        let key = "connection_creation_rate";
        let named = quotas.iter().find_map(|(entity, values)| {
            let name = entity.get(IP)?.as_deref()?;
            (name.parse::<IpAddr>().ok()? == ip).then(|| values.get(key).copied())?
        });
        named.or_else(|| {
            let default = Entity::from([(IP.to_string(), None)]);
            quotas.get(&default)?.get(key).copied()
        })
    }
}

fn check_entity(parts: Vec<(String, Option<String>)>) -> Result<Entity, QuotaError> {
    if parts.is_empty() {
        return Err(QuotaError::Invalid(
            "Invalid empty client quota entity".into(),
        ));
    }
    let mut entity = Entity::new();
    for (kind, name) in parts {
        if entity.contains_key(&kind) {
            return Err(QuotaError::Invalid(format!(
                "Invalid empty client quota entity, duplicate entity entry {kind}"
            )));
        }
        if ![USER, CLIENT_ID, IP].contains(&kind.as_str()) {
            return Err(QuotaError::Unsupported(format!(
                "Unhandled client quota entity type: {kind}"
            )));
        }
        if name.as_deref() == Some("") {
            return Err(QuotaError::Invalid(format!("Empty {kind} not supported")));
        }
        entity.insert(kind, name);
    }
    if let Some(ip) = entity.get(IP) {
        if entity.len() > 1 {
            return Err(QuotaError::Invalid(
                "Invalid quota entity combination, IP entity should not be combined with User or ClientId".into(),
            ));
        }
        if let Some(ip) = ip
            && ip.parse::<IpAddr>().is_err()
        {
            return Err(QuotaError::Invalid(format!(
                "{ip} is not a valid IP or resolvable host."
            )));
        }
    }
    Ok(entity)
}

fn check_value(keys: &[(&str, KeyType)], key: &str, value: f64) -> Result<(), QuotaError> {
    let invalid = |m: String| Err(QuotaError::Invalid(m));
    let Some(&(_, kind)) = keys.iter().find(|(k, _)| *k == key) else {
        return invalid(format!("Invalid configuration key {key}"));
    };
    // NaN is not greater than 0 either.
    if value.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return invalid(format!("Quota {key} must be greater than 0"));
    }
    let (max, name) = match kind {
        KeyType::Double => return Ok(()),
        KeyType::Int => (f64::from(i32::MAX), "INT"),
        KeyType::Long => (i64::MAX as f64, "LONG"),
    };
    if value > max {
        return invalid(format!(
            "Proposed value for {key} is too large for a {name}."
        ));
    }
    if (value % 1.0).abs() > 1e-6 {
        return invalid(format!("{key} cannot be a fractional value."));
    }
    Ok(())
}

fn check_filter(components: &[(String, Match)]) -> Result<(), QuotaError> {
    for (i, (kind, _)) in components.iter().enumerate() {
        if kind.is_empty() {
            return Err(QuotaError::Invalid("Invalid empty entity type.".into()));
        }
        if components[..i].iter().any(|(k, _)| k == kind) {
            return Err(QuotaError::Invalid(format!(
                "Entity type {kind} cannot appear more than once in the filter."
            )));
        }
        if ![USER, CLIENT_ID, IP].contains(&kind.as_str()) {
            return Err(QuotaError::Unsupported(format!(
                "Unsupported entity type {kind}"
            )));
        }
    }
    let has = |k: &str| components.iter().any(|(c, _)| c == k);
    if has(IP) && (has(USER) || has(CLIENT_ID)) {
        return Err(QuotaError::Invalid(
            "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.".into(),
        ));
    }
    Ok(())
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaFile {
    #[serde(default)]
    quota: Vec<StoredQuota>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredQuota {
    entity: Vec<StoredEntity>,
    values: Values,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredEntity {
    #[serde(rename = "type")]
    kind: String,
    /// Absent for the default entity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

fn load(text: &str) -> Result<BTreeMap<Entity, Values>, toml::de::Error> {
    let file: QuotaFile = toml::from_str(text)?;
    Ok(file
        .quota
        .into_iter()
        .map(|q| {
            let entity = q.entity.into_iter().map(|e| (e.kind, e.name)).collect();
            (entity, q.values)
        })
        .collect())
}

/// Writes the table atomically: a temp file, fsync, rename, fsync the dir.
fn save(path: &Path, quotas: &BTreeMap<Entity, Values>) -> io::Result<()> {
    let file = QuotaFile {
        quota: quotas
            .iter()
            .map(|(entity, values)| StoredQuota {
                entity: entity
                    .iter()
                    .map(|(kind, name)| StoredEntity {
                        kind: kind.clone(),
                        name: name.clone(),
                    })
                    .collect(),
                values: values.clone(),
            })
            .collect(),
    };
    let body = toml::to_string(&file).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    crate::data_dir::write_atomically(path, body.as_bytes(), 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: Option<&str>) -> Vec<(String, Option<String>)> {
        vec![(USER.to_string(), name.map(str::to_string))]
    }

    #[test]
    fn alter_describe_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let store = QuotaStore::open(dir.path()).unwrap();
        let out = store.alter(
            vec![
                (
                    user(Some("alice")),
                    vec![QuotaOp::Set("producer_byte_rate".into(), 1024.0)],
                ),
                (
                    user(None),
                    vec![QuotaOp::Set("request_percentage".into(), 12.5)],
                ),
                (
                    user(Some("bob")),
                    vec![QuotaOp::Set("producer_byte_rate".into(), 1.5)],
                ),
            ],
            false,
        );
        assert!(out[0].is_ok() && out[1].is_ok());
        assert!(
            matches!(&out[2], Err(QuotaError::Invalid(m)) if m == "producer_byte_rate cannot be a fractional value.")
        );
        let reopened = QuotaStore::open(dir.path()).unwrap();
        let all = reopened.describe(&[], false).unwrap();
        assert_eq!(all.len(), 2);
        let named = reopened
            .describe(&[(USER.into(), Match::Specified)], true)
            .unwrap();
        assert_eq!(named.len(), 1);
        assert_eq!(named[0].1["producer_byte_rate"], 1024.0);
        let default = reopened
            .describe(&[(USER.into(), Match::Default)], false)
            .unwrap();
        assert_eq!(default[0].1["request_percentage"], 12.5);
        // Removing the last value removes the entity.
        let out = reopened.alter(
            vec![(
                user(Some("alice")),
                vec![QuotaOp::Remove("producer_byte_rate".into())],
            )],
            false,
        );
        assert!(out[0].is_ok());
        assert_eq!(reopened.describe(&[], false).unwrap().len(), 1);
    }

    #[test]
    fn client_quota_follows_kafkas_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let store = QuotaStore::open(dir.path()).unwrap();
        let key = "producer_byte_rate";
        assert_eq!(store.client_quota("alice", "app", key), None);
        let set = |entity: Vec<(&str, Option<&str>)>, v: f64| {
            let entity = entity
                .into_iter()
                .map(|(k, n)| (k.to_string(), n.map(str::to_string)))
                .collect();
            let out = store.alter(vec![(entity, vec![QuotaOp::Set(key.into(), v)])], false);
            assert!(out[0].is_ok());
        };
        let bound = |user: &str, client: &str| {
            store
                .client_quota(user, client, key)
                .map(|q| (q.bound, q.user, q.client_id))
        };
        set(vec![(CLIENT_ID, None)], 8.0);
        assert_eq!(bound("alice", "app"), Some((8.0, "".into(), "app".into())));
        set(vec![(CLIENT_ID, Some("app"))], 7.0);
        assert_eq!(bound("alice", "app").unwrap().0, 7.0);
        set(vec![(USER, None)], 6.0);
        assert_eq!(
            bound("alice", "app"),
            Some((6.0, "alice".into(), "".into()))
        );
        set(vec![(USER, None), (CLIENT_ID, None)], 5.0);
        assert_eq!(bound("alice", "app").unwrap().0, 5.0);
        set(vec![(USER, None), (CLIENT_ID, Some("app"))], 4.0);
        assert_eq!(bound("alice", "app").unwrap().0, 4.0);
        set(vec![(USER, Some("alice"))], 3.0);
        assert_eq!(
            bound("alice", "app"),
            Some((3.0, "alice".into(), "".into()))
        );
        set(vec![(USER, Some("alice")), (CLIENT_ID, None)], 2.0);
        assert_eq!(bound("alice", "app").unwrap().0, 2.0);
        set(vec![(USER, Some("alice")), (CLIENT_ID, Some("app"))], 1.0);
        assert_eq!(
            bound("alice", "app"),
            Some((1.0, "alice".into(), "app".into()))
        );
        // Another user falls back to the default user and client id entities.
        assert_eq!(bound("bob", "app").unwrap().0, 4.0);
        assert_eq!(bound("bob", "other").unwrap().0, 5.0);
        assert_eq!(store.client_quota("bob", "app", "consumer_byte_rate"), None);
    }

    #[test]
    fn refuses_what_kafka_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let store = QuotaStore::open(dir.path()).unwrap();
        let ip = |n: &str| vec![(IP.to_string(), Some(n.to_string()))];
        let set = |k: &str, v: f64| vec![QuotaOp::Set(k.into(), v)];
        let out = store.alter(
            vec![
                (vec![], set("producer_byte_rate", 1.0)),
                (vec![("group".into(), None)], set("producer_byte_rate", 1.0)),
                (ip("10.0.0.1"), set("producer_byte_rate", 1.0)),
                (ip("not an ip"), set("connection_creation_rate", 1.0)),
                (user(Some("a")), set("consumer_byte_rate", -1.0)),
                (ip("10.0.0.1"), set("connection_creation_rate", 5.0)),
            ],
            true,
        );
        assert!(matches!(out[0], Err(QuotaError::Invalid(_))));
        assert!(matches!(out[1], Err(QuotaError::Unsupported(_))));
        assert!(
            matches!(&out[2], Err(QuotaError::Invalid(m)) if m == "Invalid configuration key producer_byte_rate")
        );
        assert!(matches!(out[3], Err(QuotaError::Invalid(_))));
        assert!(
            matches!(&out[4], Err(QuotaError::Invalid(m)) if m == "Quota consumer_byte_rate must be greater than 0")
        );
        assert!(out[5].is_ok());
        // validate_only changed nothing.
        assert!(store.describe(&[], false).unwrap().is_empty());
        assert!(
            store
                .describe(
                    &[(IP.into(), Match::Default), (USER.into(), Match::Default)],
                    false
                )
                .is_err()
        );
    }

    #[test]
    fn ip_rates_and_the_generation_follow_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store = QuotaStore::open(dir.path()).unwrap();
        let ip: IpAddr = [10, 0, 0, 1].into();
        let first = store.generation();
        assert_eq!(store.ip_connection_rate(ip), None);
        let set = |name: Option<&str>, v: f64| {
            let entity = vec![(IP.to_string(), name.map(str::to_string))];
            let op = QuotaOp::Set("connection_creation_rate".into(), v);
            assert!(store.alter(vec![(entity, vec![op])], false)[0].is_ok());
        };
        set(None, 5.0);
        assert_eq!(store.ip_connection_rate(ip), Some(5.0));
        set(Some("10.0.0.1"), 2.0);
        assert_eq!(store.ip_connection_rate(ip), Some(2.0));
        assert_eq!(store.ip_connection_rate([10, 0, 0, 2].into()), Some(5.0));
        let changed = store.generation();
        assert!(changed > first);
        // Setting what is already set changes nothing.
        set(Some("10.0.0.1"), 2.0);
        assert_eq!(store.generation(), changed);
    }
}
