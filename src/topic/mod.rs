//! The topic/partition manager: creates, loads and deletes topics, and hands the
//! api layer the partitions it reads and writes.
//!
//! On disk, next to the partition directories (`<topic>-<n>/`), each topic has
//! `topics/<topic>.toml` holding its id, partition count and config overrides.
//! That file is the topic's existence: it is written (atomically) before the
//! partitions are used and removed before they are deleted.

mod checkpoint;
mod cleaning;
pub mod config;
mod flusher;
mod internal_log;
mod name;
mod partition;
mod retention;
mod store;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use uuid::Uuid;

pub use cleaning::{clean_periodically, lower_thread_priority};
pub use config::{ConfigChange, InvalidConfig, TopicConfig, TopicDefaults};
pub use flusher::{Flusher, flush_periodically};
pub use internal_log::{InternalLog, InternalLogError};
pub use name::{is_internal_topic, validate_topic_name};
pub use partition::{AppendError, Appended, Isolation, Partition, Read};
pub use retention::{RetentionStats, enforce_retention_periodically};

use crate::config::Config;
use crate::log::{Log, LogError, Throttler};

pub struct Topic {
    pub name: String,
    pub id: Uuid,
    pub config: TopicConfig,
    pub partitions: Vec<Arc<Partition>>,
}

impl Topic {
    pub fn partition(&self, index: i32) -> Option<&Arc<Partition>> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("Topic '{0}' already exists.")]
    AlreadyExists(String),
    #[error("{0}")]
    InvalidName(String),
    #[error("Number of partitions must be larger than 0 (got {0}).")]
    InvalidPartitions(i32),
    /// CreatePartitions asked for no more partitions than the topic has.
    #[error("{0}")]
    PartitionCount(String),
    #[error("Replication factor must be 1 or -1 on a single broker (got {0}).")]
    InvalidReplicationFactor(i16),
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    #[error("{0}")]
    InvalidConfig(String),
    #[error("This server does not host this topic.")]
    UnknownTopic,
    #[error("storage: {0}")]
    Storage(#[from] LogError),
    #[error("storage: {0}")]
    Io(#[from] std::io::Error),
}

/// What a CreateTopics entry asks for, already in the broker's own terms.
pub struct NewTopic {
    pub name: String,
    /// -1: the broker default (num.partitions).
    pub partitions: i32,
    pub replication_factor: i16,
    pub configs: Vec<(String, String)>,
}

/// The most partitions a topic may have. Every partition is a directory and an
/// open log with its segment preallocated, so a request for millions is refused
/// instead of exhausting disk and file descriptors.
pub const MAX_PARTITIONS: i32 = 10_000;

/// What a CreatePartitions entry asks for, in the broker's own terms.
pub struct NewPartitions {
    /// The partition count wanted (the total, not the number to add).
    pub count: i32,
    /// Replica node ids for each new partition, when the client chose them.
    pub assignments: Option<Vec<Vec<i32>>>,
}

pub struct TopicManager {
    config: Arc<Config>,
    data_dir: PathBuf,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    /// The dynamic broker defaults; written under the `topics` write lock.
    defaults: RwLock<Arc<TopicDefaults>>,
    /// Serializes writers of the log start checkpoint.
    checkpoint_lock: Mutex<()>,
    /// log.cleaner.io.max.bytes.per.second, shared by every cleaning.
    cleaner_throttler: Throttler,
}

impl TopicManager {
    /// Loads every topic under the data dir. `clean_shutdown` skips log recovery.
    /// `defaults`: the dynamic broker configs that are topic defaults.
    pub fn open(
        config: Arc<Config>,
        defaults: TopicDefaults,
        clean_shutdown: bool,
    ) -> Result<TopicManager, TopicError> {
        let data_dir = config.data_dir.clone();
        let defaults = Arc::new(defaults);
        let mut topics = HashMap::new();
        let starts = checkpoint::read(&data_dir);
        for stored in store::load_all(&data_dir)? {
            let topic = open_topic(
                &config,
                &defaults,
                &data_dir,
                stored,
                clean_shutdown,
                &starts,
            )?;
            topics.insert(topic.name.clone(), Arc::new(topic));
        }
        store::remove_orphan_partitions(&data_dir, |name| topics.contains_key(name))?;
        Ok(TopicManager {
            data_dir,
            topics: RwLock::new(topics),
            defaults: RwLock::new(defaults),
            checkpoint_lock: Mutex::new(()),
            cleaner_throttler: Throttler::new(config.log.cleaner_io_max_bytes_per_second),
            config,
        })
    }

    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.read_topics().get(name).cloned()
    }

    pub fn get_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.read_topics().values().find(|t| t.id == id).cloned()
    }

    /// Every topic, sorted by name.
    pub fn all(&self) -> Vec<Arc<Topic>> {
        let mut all: Vec<_> = self.read_topics().values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    fn read_topics(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Topic>>> {
        self.topics.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks a creation request without creating anything.
    pub fn validate(&self, new: &NewTopic) -> Result<(), TopicError> {
        validate_topic_name(&new.name).map_err(TopicError::InvalidName)?;
        if self.get(&new.name).is_some() {
            return Err(TopicError::AlreadyExists(new.name.clone()));
        }
        if new.partitions == 0 || new.partitions < -1 {
            return Err(TopicError::InvalidPartitions(new.partitions));
        }
        if new.partitions > MAX_PARTITIONS {
            return Err(TopicError::PartitionCount(format!(
                "runnel allows at most {MAX_PARTITIONS} partitions per topic (asked for {}).",
                new.partitions
            )));
        }
        if new.replication_factor == 0 || new.replication_factor < -1 || new.replication_factor > 1
        {
            return Err(TopicError::InvalidReplicationFactor(new.replication_factor));
        }
        for (k, v) in &new.configs {
            config::validate(k, v).map_err(|InvalidConfig(m)| TopicError::InvalidConfig(m))?;
        }
        Ok(())
    }

    pub fn create(&self, new: NewTopic) -> Result<Arc<Topic>, TopicError> {
        self.validate(&new)?;
        let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        if topics.contains_key(&new.name) {
            return Err(TopicError::AlreadyExists(new.name));
        }
        let partitions = if new.partitions == -1 {
            self.config.num_partitions
        } else {
            new.partitions
        };
        let stored = store::StoredTopic {
            name: new.name.clone(),
            id: Uuid::new_v4(),
            partitions,
            configs: new.configs.into_iter().collect(),
        };
        store::save(&self.data_dir, &stored)?;
        let no_checkpoint = checkpoint::Checkpoint::new();
        let defaults = self
            .defaults
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let opened = open_topic(
            &self.config,
            &defaults,
            &self.data_dir,
            stored,
            true,
            &no_checkpoint,
        );
        let topic = match opened {
            Ok(t) => Arc::new(t),
            Err(e) => {
                // Leave no half-created topic behind.
                let _ = store::remove(&self.data_dir, &new.name);
                return Err(e);
            }
        };
        topics.insert(new.name, topic.clone());
        tracing::info!(topic = %topic.name, partitions, "created topic");
        Ok(topic)
    }

    /// Changes a topic's configs: validated, then (unless `validate_only`) stored
    /// atomically with the topic and applied to its partition logs.
    pub fn alter_config(
        &self,
        name: &str,
        change: impl FnOnce(&TopicConfig) -> Result<TopicConfig, InvalidConfig>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        let topic = topics.get(name).ok_or(TopicError::UnknownTopic)?;
        let config =
            change(&topic.config).map_err(|InvalidConfig(m)| TopicError::InvalidConfig(m))?;
        if validate_only || config == topic.config {
            return Ok(());
        }
        store::save(
            &self.data_dir,
            &store::StoredTopic {
                name: topic.name.clone(),
                id: topic.id,
                partitions: topic.partitions.len() as i32,
                configs: config.overrides.clone(),
            },
        )?;
        let log_config = config.log_config(&self.config);
        for p in &topic.partitions {
            p.set_log_config(log_config.clone());
        }
        tracing::info!(topic = name, configs = ?config.overrides, "altered topic configs");
        let altered = Topic {
            name: topic.name.clone(),
            id: topic.id,
            config,
            partitions: topic.partitions.clone(),
        };
        topics.insert(name.to_string(), Arc::new(altered));
        Ok(())
    }

    /// The dynamic broker defaults in effect.
    pub fn defaults(&self) -> Arc<TopicDefaults> {
        self.defaults
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Makes `defaults` the dynamic broker defaults of every topic, applied to
    /// the partition logs of those that do not override them.
    pub fn set_defaults(&self, defaults: TopicDefaults) {
        let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        if **self.defaults.read().unwrap_or_else(|p| p.into_inner()) == defaults {
            return;
        }
        let defaults = Arc::new(defaults);
        *self.defaults.write().unwrap_or_else(|p| p.into_inner()) = defaults.clone();
        for topic in topics.values_mut() {
            let config = topic.config.with_defaults(defaults.clone());
            let log_config = config.log_config(&self.config);
            for p in &topic.partitions {
                p.set_log_config(log_config.clone());
            }
            *topic = Arc::new(Topic {
                name: topic.name.clone(),
                id: topic.id,
                config,
                partitions: topic.partitions.clone(),
            });
        }
        tracing::info!(defaults = ?defaults, "applied dynamic topic defaults");
    }

    /// Grows `name` to `new.count` partitions, as Kafka's controller does: never
    /// shrinks, checks any manual assignment, and (unless `validate_only`) opens
    /// the new partitions, stores the count with the topic and publishes a new
    /// [`Topic`] that shares the existing partitions. Holders of the old `Arc<Topic>`
    /// keep a consistent, shorter view until they look the topic up again.
    pub fn add_partitions(
        &self,
        name: &str,
        new: &NewPartitions,
        validate_only: bool,
    ) -> Result<Arc<Topic>, TopicError> {
        let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        let topic = topics.get(name).ok_or(TopicError::UnknownTopic)?.clone();
        if is_internal_topic(name) {
            return Err(TopicError::InvalidName(format!(
                "Cannot change the number of partitions of internal topic {name}"
            )));
        }
        let current = topic.partitions.len() as i32;
        self.check_new_partitions(name, current, new)?;
        if validate_only {
            return Ok(topic);
        }
        let log_config = topic.config.log_config(&self.config);
        let mut partitions = topic.partitions.clone();
        for index in current..new.count {
            let dir = partition_dir(&self.data_dir, name, index);
            let opened = Log::open(&dir, log_config.clone(), true);
            match opened {
                Ok(log) => partitions.push(Arc::new(Partition::new(name.to_string(), index, log))),
                Err(e) => {
                    discard(&partitions[current as usize..]);
                    return Err(e.into());
                }
            }
        }
        let stored = store::StoredTopic {
            name: name.to_string(),
            id: topic.id,
            partitions: new.count,
            configs: topic.config.overrides.clone(),
        };
        if let Err(e) = store::save(&self.data_dir, &stored) {
            discard(&partitions[current as usize..]);
            return Err(e.into());
        }
        let grown = Arc::new(Topic {
            name: topic.name.clone(),
            id: topic.id,
            config: topic.config.clone(),
            partitions,
        });
        topics.insert(name.to_string(), grown.clone());
        tracing::info!(
            topic = name,
            from = current,
            to = new.count,
            "added partitions"
        );
        Ok(grown)
    }

    /// Kafka's checks (and messages) for a CreatePartitions entry, on one node.
    fn check_new_partitions(
        &self,
        name: &str,
        current: i32,
        new: &NewPartitions,
    ) -> Result<(), TopicError> {
        if new.count == current {
            return Err(TopicError::PartitionCount(format!(
                "Topic already has {current} partition(s)."
            )));
        }
        if new.count < current {
            return Err(TopicError::PartitionCount(format!(
                "The topic {name} currently has {current} partition(s); {} would not be an increase.",
                new.count
            )));
        }
        if new.count > MAX_PARTITIONS {
            return Err(TopicError::PartitionCount(format!(
                "runnel allows at most {MAX_PARTITIONS} partitions per topic (asked for {}).",
                new.count
            )));
        }
        let Some(assignments) = &new.assignments else {
            return Ok(());
        };
        let additional = new.count - current;
        if assignments.len() as i64 != i64::from(additional) {
            return Err(TopicError::InvalidReplicaAssignment(format!(
                "Attempted to add {additional} additional partition(s), but only {} assignment(s) were specified.",
                assignments.len()
            )));
        }
        assignments
            .iter()
            .try_for_each(|replicas| check_replicas(replicas, self.config.node_id))
    }

    pub fn get_or_create(&self, name: &str) -> Result<Arc<Topic>, TopicError> {
        if let Some(t) = self.get(name) {
            return Ok(t);
        }
        let new = NewTopic {
            name: name.to_string(),
            partitions: -1,
            replication_factor: -1,
            configs: Vec::new(),
        };
        match self.create(new) {
            Err(TopicError::AlreadyExists(_)) => self.get(name).ok_or(TopicError::UnknownTopic),
            other => other,
        }
    }

    pub fn delete(&self, name: &str) -> Result<Uuid, TopicError> {
        if is_internal_topic(name) {
            return Err(TopicError::InvalidName(format!(
                "Cannot delete internal topic {name}"
            )));
        }
        let topic = {
            let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
            let topic = topics.remove(name).ok_or(TopicError::UnknownTopic)?;
            store::remove(&self.data_dir, name)?;
            topic
        };
        for p in &topic.partitions {
            p.delete()?;
        }
        // Forget its log start offsets, so a topic created under the same name starts at 0.
        if let Err(e) = self.checkpoint_log_start_offsets() {
            tracing::warn!(error = %e, "writing the log start checkpoint");
        }
        tracing::info!(topic = name, "deleted topic");
        Ok(topic.id)
    }

    /// Every partition of every topic.
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.read_topics()
            .values()
            .flat_map(|t| t.partitions.iter().cloned())
            .collect()
    }

    /// Flushes and closes every log (clean shutdown).
    pub fn close(&self) -> Result<(), TopicError> {
        for p in self.partitions() {
            p.close()?;
        }
        Ok(())
    }
}

/// Kafka's check of one manual replica list, on a cluster of one node whose
/// partitions all have one replica.
pub fn check_replicas(replicas: &[i32], node_id: i32) -> Result<(), TopicError> {
    let bad = |m: String| Err(TopicError::InvalidReplicaAssignment(m));
    if replicas.is_empty() {
        return bad("The manual partition assignment includes an empty replica list.".into());
    }
    for (i, id) in replicas.iter().enumerate() {
        if replicas[..i].contains(id) {
            return bad(format!(
                "The manual partition assignment includes the broker {id} more than once."
            ));
        }
        if *id != node_id {
            return bad(format!(
                "The manual partition assignment includes broker {id}, but no such broker is registered."
            ));
        }
    }
    if replicas.len() != 1 {
        return bad(format!(
            "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have 1 replica(s).",
            replicas.len()
        ));
    }
    Ok(())
}

/// Removes partitions that were opened but never published.
fn discard(partitions: &[Arc<Partition>]) {
    for p in partitions {
        if let Err(e) = p.delete() {
            tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "removing an unpublished partition");
        }
    }
}

fn partition_dir(data_dir: &Path, topic: &str, index: i32) -> PathBuf {
    data_dir.join(format!("{topic}-{index}"))
}

fn open_topic(
    config: &Config,
    defaults: &Arc<TopicDefaults>,
    data_dir: &Path,
    stored: store::StoredTopic,
    clean_shutdown: bool,
    starts: &checkpoint::Checkpoint,
) -> Result<Topic, TopicError> {
    let topic_config = TopicConfig {
        overrides: stored.configs.clone(),
        defaults: defaults.clone(),
    };
    let log_config = topic_config.log_config(config);
    let mut partitions = Vec::with_capacity(stored.partitions.clamp(0, MAX_PARTITIONS) as usize);
    for index in 0..stored.partitions {
        let dir = partition_dir(data_dir, &stored.name, index);
        let mut log = Log::open(&dir, log_config.clone(), clean_shutdown)?;
        if let Some(&start) = starts.get(&(stored.name.clone(), index)) {
            crate::log::delete_segments(log.restore_log_start_offset(start));
        }
        partitions.push(Arc::new(Partition::new(stored.name.clone(), index, log)));
    }
    Ok(Topic {
        name: stored.name,
        id: stored.id,
        config: topic_config,
        partitions,
    })
}
