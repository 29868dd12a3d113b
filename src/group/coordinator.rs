//! The group coordinator: every group of this broker behind one lock, the
//! offsets log that makes their offsets durable, and the timer task that
//! evicts silent members, ends rebalances and expires old offsets. A request
//! runs its group's due deadlines first, so it never sees a session that has
//! run out only because the timer task has not woken yet.

use std::collections::{BTreeMap, HashMap};
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, oneshot, watch};
use tokio::time::Instant;

use super::GroupError;
use super::classic_group::{Group, GroupSettings, GroupState, SyncParams};
use super::consumer_group::{ConsumerGroup, ConsumerSettings};
use super::group_config::GroupConfigManager;
use super::member::{JoinParams, JoinResult, SyncResult};
use super::offsets_log::{OffsetsLog, Replayed};
use super::records::{CommittedOffset, OffsetsRecord};
use crate::broker::now_ms;
use crate::config::Config;
use crate::topic::{Partition, TopicError, TopicManager};

pub struct GroupCoordinator {
    settings: GroupSettings,
    session_timeout_range: (i32, i32),
    retention_ms: i64,
    retention_check: Duration,
    pub(super) metadata_max_bytes: usize,
    pub(super) consumer_settings: ConsumerSettings,
    /// Group configs: per-group session timeouts and heartbeat intervals.
    pub configs: GroupConfigManager,
    groups: Mutex<Groups>,
    pub(super) log: OffsetsLog,
    /// Wakes the timer task when a request may have set an earlier deadline.
    pub(super) wake: Notify,
}

/// Every group, by protocol. A group id is in one map at a time; an empty group
/// moves to the other map when a member of the other protocol arrives.
pub(super) struct Groups {
    pub(super) classic: HashMap<String, Group>,
    pub(super) consumer: HashMap<String, ConsumerGroup>,
    /// TxnOffsetCommit offsets by producer id, applied when the transaction
    /// commits and dropped when it aborts (Kafka's pendingTransactionalOffsetCommits).
    pub(super) pending_txn: HashMap<i64, Vec<(String, PartitionKey, CommittedOffset)>>,
}

impl Deref for Groups {
    type Target = HashMap<String, Group>;
    fn deref(&self) -> &Self::Target {
        &self.classic
    }
}

impl DerefMut for Groups {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.classic
    }
}

pub struct GroupDescription {
    pub state: &'static str,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

pub struct MemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// A group's members and committed offsets, for the lag metrics.
pub struct GroupReport {
    pub group_id: String,
    pub members: usize,
    pub offsets: Vec<(PartitionKey, i64)>,
}

pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: &'static str,
    /// "classic" or "consumer" (KIP-848).
    pub group_type: &'static str,
}

pub(super) type PartitionKey = (String, i32);

/// What [`GroupCoordinator::checked_offsets`] makes of an offset commit.
type CheckedOffsets = (
    Vec<Result<(), GroupError>>,
    Vec<OffsetsRecord>,
    Vec<(PartitionKey, CommittedOffset)>,
);

/// Runs a consumer-protocol group's deadlines that are due at `now`.
fn run_due_consumer(group: &mut ConsumerGroup, now: Instant) {
    if group.next_deadline().is_some_and(|d| d <= now) {
        group.expire(now, now_ms());
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The records that delete a group and all its committed offsets.
fn tombstones(
    group: &str,
    offsets: &BTreeMap<PartitionKey, CommittedOffset>,
) -> Vec<OffsetsRecord> {
    let mut records: Vec<OffsetsRecord> = offsets.keys().map(|key| tombstone(group, key)).collect();
    records.push(OffsetsRecord::Group {
        group: group.to_string(),
        value: None,
    });
    records
}

/// The record that deletes one committed offset.
fn tombstone(group: &str, (topic, partition): &PartitionKey) -> OffsetsRecord {
    OffsetsRecord::Offset {
        group: group.to_string(),
        topic: topic.clone(),
        partition: *partition,
        value: None,
    }
}

/// Applies one record of the offsets log to the groups being rebuilt.
fn apply_record(groups: &mut HashMap<String, Group>, record: OffsetsRecord, now: Instant) {
    match record {
        OffsetsRecord::Offset {
            group,
            topic,
            partition,
            value,
        } => {
            let g = groups
                .entry(group.clone())
                .or_insert_with(|| Group::new(group, now_ms()));
            match value {
                Some(v) => {
                    g.offsets.insert((topic, partition), v);
                }
                None => {
                    g.offsets.remove(&(topic, partition));
                }
            }
        }
        OffsetsRecord::Group { group, value: None } => {
            groups.remove(&group);
        }
        OffsetsRecord::Group {
            group,
            value: Some(stored),
        } => {
            let offsets = groups.remove(&group).map(|g| g.offsets).unwrap_or_default();
            let mut g = Group::restore(group.clone(), stored, now);
            g.offsets = offsets;
            groups.insert(group, g);
        }
    }
}

impl GroupCoordinator {
    /// Opens the offsets log and rebuilds every group from it.
    pub fn open(topics: &TopicManager, config: &Config) -> Result<GroupCoordinator, TopicError> {
        let log = OffsetsLog::open(topics, config)?;
        let mut groups: HashMap<String, Group> = HashMap::new();
        let now = Instant::now();
        let mut pending: HashMap<i64, Vec<OffsetsRecord>> = HashMap::new();
        log.replay(|item| match item {
            Replayed::Record(record) => apply_record(&mut groups, record, now),
            Replayed::Txn {
                producer_id,
                record,
            } => pending.entry(producer_id).or_default().push(record),
            Replayed::Marker {
                producer_id,
                commit,
            } => {
                for record in pending.remove(&producer_id).unwrap_or_default() {
                    if commit {
                        apply_record(&mut groups, record, now);
                    }
                }
            }
        })?;
        // Transactions still open: their offsets wait for the marker.
        let pending_txn = pending
            .into_iter()
            .map(|(pid, records)| {
                let offsets = records
                    .into_iter()
                    .filter_map(|r| match r {
                        OffsetsRecord::Offset {
                            group,
                            topic,
                            partition,
                            value: Some(v),
                        } => Some((group, (topic, partition), v)),
                        _ => None,
                    })
                    .collect();
                (pid, offsets)
            })
            .collect();
        tracing::info!(groups = groups.len(), "consumer groups loaded");
        Ok(GroupCoordinator {
            settings: GroupSettings {
                initial_rebalance_delay: Duration::from_millis(
                    config.group.initial_rebalance_delay_ms,
                ),
                max_size: config.group.max_size,
            },
            session_timeout_range: (
                config.group.min_session_timeout_ms,
                config.group.max_session_timeout_ms,
            ),
            retention_ms: config.offsets.retention_minutes.saturating_mul(60_000),
            retention_check: Duration::from_millis(config.offsets.retention_check_interval_ms),
            metadata_max_bytes: config.offsets.metadata_max_bytes,
            consumer_settings: ConsumerSettings {
                session_timeout: Duration::from_millis(config.group.consumer_session_timeout_ms),
                max_size: config.group.max_size,
            },
            configs: GroupConfigManager::open(config)?,
            groups: Mutex::new(Groups {
                classic: groups,
                consumer: HashMap::new(),
                pending_txn,
            }),
            log,
            wake: Notify::new(),
        })
    }

    /// The partition of the offsets log (for the flusher).
    pub fn offsets_partition(&self) -> &Arc<Partition> {
        self.log.partition()
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Groups> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The groups, locked, with `group_id`'s due deadlines run first: a request
    /// sees the group as its session and rebalance timeouts have it now, even
    /// when the timer task wakes a few milliseconds late.
    pub(super) fn lock_group(&self, group_id: &str) -> MutexGuard<'_, Groups> {
        let mut groups = self.lock();
        let now = Instant::now();
        if let Some(group) = groups.classic.get_mut(group_id) {
            self.run_due(group, now);
        }
        if let Some(group) = groups.consumer.get_mut(group_id) {
            run_due_consumer(group, now);
        }
        groups
    }

    /// Runs a classic group's deadlines that are due at `now`.
    fn run_due(&self, group: &mut Group, now: Instant) {
        if group.next_deadline().is_some_and(|d| d <= now) {
            group.expire(&self.settings, now, now_ms());
            self.persist(group);
        }
    }

    /// Writes a group's metadata when a transition asked for it.
    fn persist(&self, group: &mut Group) {
        if !group.dirty {
            return;
        }
        group.dirty = false;
        let value = (group.state != GroupState::Dead).then(|| group.stored());
        let record = OffsetsRecord::Group {
            group: group.id.clone(),
            value,
        };
        if let Err(e) = self.log.append(&[record], now_ms()) {
            tracing::error!(group = %group.id, error = %e, "cannot write group metadata");
        }
    }

    pub fn join(&self, group_id: &str, params: JoinParams) -> oneshot::Receiver<JoinResult> {
        let (tx, rx) = oneshot::channel();
        let (min, max) = self.session_timeout_range;
        if group_id.is_empty() {
            let _ = tx.send(JoinResult::error(
                GroupError::InvalidGroupId,
                params.member_id,
            ));
            return rx;
        }
        if !(min..=max).contains(&params.session_timeout_ms) {
            let _ = tx.send(JoinResult::error(
                GroupError::InvalidSessionTimeout,
                params.member_id,
            ));
            return rx;
        }
        let mut groups = self.lock_group(group_id);
        if let Some(consumer) = groups.consumer.get(group_id) {
            if !consumer.members.is_empty() {
                let _ = tx.send(JoinResult::error(
                    GroupError::InconsistentGroupProtocol,
                    params.member_id,
                ));
                return rx;
            }
            if let Some(consumer) = groups.consumer.remove(group_id) {
                let mut group = Group::new(group_id.to_string(), now_ms());
                group.offsets = consumer.offsets;
                groups.insert(group_id.to_string(), group);
            }
        }
        if !groups.contains_key(group_id) {
            if !params.member_id.is_empty() {
                let _ = tx.send(JoinResult::error(
                    GroupError::UnknownMemberId,
                    params.member_id,
                ));
                return rx;
            }
            groups.insert(
                group_id.to_string(),
                Group::new(group_id.to_string(), now_ms()),
            );
        }
        if let Some(group) = groups.get_mut(group_id) {
            group.join(params, tx, &self.settings, Instant::now(), now_ms());
            self.persist(group);
        }
        drop(groups);
        self.wake.notify_one();
        rx
    }

    pub fn sync(&self, group_id: &str, params: SyncParams) -> oneshot::Receiver<SyncResult> {
        let (tx, rx) = oneshot::channel();
        let mut groups = self.lock_group(group_id);
        match groups.get_mut(group_id) {
            None => {
                let _ = tx.send(SyncResult::error(GroupError::UnknownMemberId));
            }
            Some(group) => {
                group.sync(params, tx, Instant::now());
                self.persist(group);
            }
        }
        drop(groups);
        self.wake.notify_one();
        rx
    }

    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), GroupError> {
        let mut groups = self.lock_group(group_id);
        let group = groups
            .get_mut(group_id)
            .ok_or(GroupError::UnknownMemberId)?;
        group.heartbeat(member_id, instance_id, generation, Instant::now())
    }

    /// LeaveGroup: one result per (member id, instance id).
    pub fn leave(
        &self,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> Result<Vec<Result<(), GroupError>>, GroupError> {
        let mut groups = self.lock_group(group_id);
        let group = groups
            .get_mut(group_id)
            .ok_or(GroupError::UnknownMemberId)?;
        if group.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        let results = members
            .iter()
            .map(|(member_id, instance_id)| {
                group.leave(
                    member_id,
                    instance_id.as_deref(),
                    &self.settings,
                    Instant::now(),
                    now_ms(),
                )
            })
            .collect();
        self.persist(group);
        drop(groups);
        self.wake.notify_one();
        Ok(results)
    }

    /// OffsetCommit: per-partition results in the order given. The offsets are
    /// in the offsets log (page cache) when this returns.
    pub fn commit_offsets(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        offsets: Vec<(PartitionKey, CommittedOffset)>,
    ) -> Result<Vec<Result<(), GroupError>>, GroupError> {
        if group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        let mut guard = self.lock_group(group_id);
        let Groups {
            classic, consumer, ..
        } = &mut *guard;
        let committed = if let Some(group) = consumer.get_mut(group_id) {
            group.check_commit(member_id, generation)?;
            &mut group.offsets
        } else {
            if !classic.contains_key(group_id) {
                if generation >= 0 {
                    return Err(GroupError::IllegalGeneration);
                }
                classic.insert(
                    group_id.to_string(),
                    Group::new(group_id.to_string(), now_ms()),
                );
            }
            let group = classic
                .get_mut(group_id)
                .ok_or(GroupError::CoordinatorNotAvailable)?;
            group.check_commit(member_id, instance_id, generation, Instant::now())?;
            &mut group.offsets
        };
        let (results, records, accepted) = self.checked_offsets(group_id, offsets);
        if let Err(e) = self.log.append(&records, now_ms()) {
            tracing::error!(group = group_id, error = %e, "cannot write committed offsets");
            return Err(GroupError::Storage);
        }
        committed.extend(accepted);
        Ok(results)
    }

    /// An offset commit split up: each partition's answer (metadata over
    /// offset.metadata.max.bytes is refused), the records to write, and the
    /// offsets to apply once they are written.
    pub(super) fn checked_offsets(
        &self,
        group_id: &str,
        offsets: Vec<(PartitionKey, CommittedOffset)>,
    ) -> CheckedOffsets {
        let mut results = Vec::with_capacity(offsets.len());
        let mut records = Vec::new();
        let mut accepted = Vec::new();
        for ((topic, partition), value) in offsets {
            if value.metadata.len() > self.metadata_max_bytes {
                results.push(Err(GroupError::OffsetMetadataTooLarge));
                continue;
            }
            results.push(Ok(()));
            records.push(OffsetsRecord::Offset {
                group: group_id.to_string(),
                topic: topic.clone(),
                partition,
                value: Some(value.clone()),
            });
            accepted.push(((topic, partition), value));
        }
        (results, records, accepted)
    }

    /// OffsetFetch: the committed offset of each asked partition (None: none
    /// committed), or of every partition the group has when `partitions` is None.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<Vec<PartitionKey>>,
    ) -> Vec<(PartitionKey, Option<CommittedOffset>)> {
        let groups = self.lock();
        let offsets = match groups.consumer.get(group_id) {
            Some(g) => Some(&g.offsets),
            None => groups.get(group_id).map(|g| &g.offsets),
        };
        match partitions {
            Some(asked) => asked
                .into_iter()
                .map(|key| {
                    let value = offsets.and_then(|o| o.get(&key)).cloned();
                    (key, value)
                })
                .collect(),
            None => offsets
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), Some(v.clone())))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// OffsetDelete: per-partition results; partitions of topics the group's
    /// members still subscribe to are kept.
    pub fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[PartitionKey],
    ) -> Result<Vec<Result<(), GroupError>>, GroupError> {
        let mut guard = self.lock_group(group_id);
        let Groups {
            classic, consumer, ..
        } = &mut *guard;
        let (offsets, subscribed) = if let Some(group) = consumer.get_mut(group_id) {
            let subscribed = group
                .members
                .values()
                .flat_map(|m| m.topics.iter().cloned())
                .collect();
            (&mut group.offsets, subscribed)
        } else {
            let group = classic
                .get_mut(group_id)
                .filter(|g| g.state != GroupState::Dead)
                .ok_or(GroupError::GroupIdNotFound)?;
            if !group.members.is_empty() && group.protocol_type.as_deref() != Some("consumer") {
                return Err(GroupError::NonEmptyGroup);
            }
            let subscribed = group.subscribed_topics();
            (&mut group.offsets, subscribed)
        };
        let mut records = Vec::new();
        let results = partitions
            .iter()
            .map(|(topic, partition)| {
                if subscribed.contains(topic) {
                    return Err(GroupError::GroupSubscribedToTopic);
                }
                let key = (topic.clone(), *partition);
                if offsets.contains_key(&key) {
                    records.push(tombstone(group_id, &key));
                }
                Ok(())
            })
            .collect();
        self.log
            .append(&records, now_ms())
            .map_err(|_| GroupError::Storage)?;
        for (topic, partition) in partitions {
            if !subscribed.contains(topic) {
                offsets.remove(&(topic.clone(), *partition));
            }
        }
        Ok(results)
    }

    /// DeleteGroups for one group: only a group without members can go.
    pub fn delete_group(&self, group_id: &str) -> Result<(), GroupError> {
        let mut groups = self.lock_group(group_id);
        if let Some(group) = groups.consumer.get(group_id) {
            if !group.members.is_empty() {
                return Err(GroupError::NonEmptyGroup);
            }
            self.log
                .append(&tombstones(group_id, &group.offsets), now_ms())
                .map_err(|_| GroupError::Storage)?;
            groups.consumer.remove(group_id);
            return Ok(());
        }
        let group = groups
            .get_mut(group_id)
            .filter(|g| g.state != GroupState::Dead)
            .ok_or(GroupError::GroupIdNotFound)?;
        if group.state != GroupState::Empty {
            return Err(GroupError::NonEmptyGroup);
        }
        self.remove_group(group)?;
        groups.remove(group_id);
        Ok(())
    }

    /// Writes the tombstones of a group and its offsets, and marks it Dead.
    fn remove_group(&self, group: &mut Group) -> Result<(), GroupError> {
        self.log
            .append(&tombstones(&group.id, &group.offsets), now_ms())
            .map_err(|_| GroupError::Storage)?;
        group.state = GroupState::Dead;
        group.offsets.clear();
        Ok(())
    }

    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let groups = self.lock_group(group_id);
        if let Some(group) = groups.consumer.get(group_id) {
            // A consumer-protocol group as an old admin client can show it.
            return Some(GroupDescription {
                state: group.state_name(),
                protocol_type: "consumer".into(),
                protocol: group.assignor.clone(),
                members: group
                    .members
                    .values()
                    .map(|m| MemberDescription {
                        member_id: m.id.clone(),
                        instance_id: m.instance_id.clone(),
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        metadata: Bytes::new(),
                        assignment: Bytes::new(),
                    })
                    .collect(),
            });
        }
        let group = groups.get(group_id)?;
        let protocol = group.protocol.clone().unwrap_or_default();
        // Kafka shows metadata and assignments only once the group is Stable.
        let stable = group.state == GroupState::Stable;
        Some(GroupDescription {
            state: group.state.name(),
            protocol_type: group.protocol_type.clone().unwrap_or_default(),
            protocol: protocol.clone(),
            members: group
                .members
                .values()
                .map(|m| MemberDescription {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata(&protocol)
                    } else {
                        Bytes::new()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        })
    }

    pub fn lag_report(&self) -> Vec<GroupReport> {
        let groups = self.lock();
        let report =
            |id: &String, members: usize, offsets: &BTreeMap<PartitionKey, CommittedOffset>| {
                GroupReport {
                    group_id: id.clone(),
                    members,
                    offsets: offsets.iter().map(|(k, v)| (k.clone(), v.offset)).collect(),
                }
            };
        groups
            .values()
            .filter(|g| g.state != GroupState::Dead)
            .map(|g| report(&g.id, g.members.len(), &g.offsets))
            .chain(
                groups
                    .consumer
                    .values()
                    .map(|g| report(&g.id, g.members.len(), &g.offsets)),
            )
            .collect()
    }

    pub fn list(&self) -> Vec<GroupListing> {
        let groups = self.lock();
        let mut list: Vec<GroupListing> = groups
            .values()
            .filter(|g| g.state != GroupState::Dead)
            .map(|g| GroupListing {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state.name(),
                group_type: "classic",
            })
            .chain(groups.consumer.values().map(|g| GroupListing {
                group_id: g.id.clone(),
                protocol_type: "consumer".into(),
                state: g.state_name(),
                group_type: "consumer",
            }))
            .collect();
        list.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        list
    }

    /// The timer task: runs until shutdown, then answers every waiting
    /// JoinGroup and SyncGroup so their connections can close.
    pub async fn run_timers(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut next_retention_check = Instant::now() + self.retention_check;
        loop {
            let now = Instant::now();
            if now >= next_retention_check {
                self.expire_offsets(now_ms());
                next_retention_check = now + self.retention_check;
            }
            let next = self.expire_groups(now).unwrap_or(next_retention_check);
            let next = next.min(next_retention_check);
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
        let mut groups = self.lock();
        for group in groups.values_mut() {
            for member in group.members.values_mut() {
                member.answer_join(JoinResult::error(
                    GroupError::NotCoordinator,
                    member.id.clone(),
                ));
                member.answer_sync(SyncResult::error(GroupError::NotCoordinator));
            }
        }
    }

    /// Runs every group's due deadlines; returns the next one.
    fn expire_groups(&self, now: Instant) -> Option<Instant> {
        let mut groups = self.lock();
        let mut next: Option<Instant> = None;
        for group in groups.values_mut() {
            self.run_due(group, now);
            next = earliest(next, group.next_deadline());
        }
        for group in groups.consumer.values_mut() {
            run_due_consumer(group, now);
            next = earliest(next, group.next_deadline());
        }
        next
    }

    /// offsets.retention.minutes: a group without members loses its offsets that
    /// long after it became Empty (or, if it never had members, after each
    /// commit); a group left with nothing is removed.
    pub fn expire_offsets(&self, now_ms: i64) {
        let mut groups = self.lock();
        let mut removed = Vec::new();
        for group in groups.consumer.values_mut() {
            if group.members.is_empty()
                && group.state_timestamp.saturating_add(self.retention_ms) <= now_ms
                && self
                    .log
                    .append(&tombstones(&group.id, &group.offsets), now_ms)
                    .is_ok()
            {
                removed.push(group.id.clone());
            }
        }
        for id in removed.drain(..) {
            groups.consumer.remove(&id);
        }
        for group in groups.values_mut() {
            if group.state != GroupState::Empty {
                continue;
            }
            let expired: Vec<PartitionKey> = group
                .offsets
                .iter()
                .filter(|(_, v)| {
                    let since = if group.protocol_type.is_some() {
                        group.state_timestamp
                    } else {
                        v.commit_timestamp
                    };
                    since.saturating_add(self.retention_ms) <= now_ms
                })
                .map(|(k, _)| k.clone())
                .collect();
            let records: Vec<OffsetsRecord> = expired
                .iter()
                .map(|key| tombstone(&group.id, key))
                .collect();
            if let Err(e) = self.log.append(&records, now_ms) {
                tracing::error!(group = %group.id, error = %e, "cannot expire offsets");
                continue;
            }
            for key in &expired {
                group.offsets.remove(key);
            }
            if !expired.is_empty() {
                tracing::info!(group = %group.id, partitions = expired.len(), "expired committed offsets");
            }
            if group.is_empty_shell() && self.remove_group(group).is_ok() {
                removed.push(group.id.clone());
            }
        }
        for id in removed {
            groups.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::member::Protocol;
    use crate::topic::TopicDefaults;

    /// A coordinator without its timer task: only requests move its clock.
    fn coordinator(dir: &std::path::Path) -> GroupCoordinator {
        let mut config = Config {
            data_dir: dir.to_path_buf(),
            ..Config::default()
        };
        config.group.initial_rebalance_delay_ms = 0;
        config.group.min_session_timeout_ms = 10;
        let topics = TopicManager::open(Arc::new(config.clone()), TopicDefaults::default(), true)
            .expect("topics");
        GroupCoordinator::open(&topics, &config).expect("coordinator")
    }

    fn static_member(session_timeout_ms: i32) -> JoinParams {
        JoinParams {
            member_id: String::new(),
            instance_id: Some("instance-0".into()),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms,
            rebalance_timeout_ms: 10_000,
            protocol_type: "consumer".into(),
            protocols: vec![Protocol {
                name: "range".into(),
                metadata: Bytes::new(),
            }],
            require_known_member_id: false,
        }
    }

    /// librdkafka's 0081 deletes a group of static members (which do not leave)
    /// right when their session runs out: the request must not lose that race
    /// to a timer task that wakes late.
    #[tokio::test(start_paused = true)]
    async fn a_request_sees_the_sessions_that_ran_out_before_the_timer_task_ran() {
        let dir = tempfile::tempdir().expect("tempdir");
        let groups = coordinator(dir.path());
        let mut joined = groups.join("g", static_member(50));
        // The join completes at its deadline, run by the next request.
        assert_eq!(groups.describe("g").map(|d| d.members.len()), Some(1));
        let member = joined.try_recv().expect("joined");
        assert_eq!(member.error, None);
        let mut synced = groups.sync(
            "g",
            SyncParams {
                member_id: member.member_id.clone(),
                instance_id: Some("instance-0".into()),
                generation: member.generation,
                protocol_type: Some("consumer".into()),
                protocol: Some("range".into()),
                assignments: vec![(member.member_id, Bytes::new())],
            },
        );
        assert_eq!(synced.try_recv().expect("synced").error, None);
        assert_eq!(groups.delete_group("g"), Err(GroupError::NonEmptyGroup));
        tokio::time::advance(Duration::from_millis(80)).await;
        assert_eq!(groups.delete_group("g"), Ok(()));
    }
}
