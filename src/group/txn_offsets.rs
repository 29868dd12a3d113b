//! Transactional offset commits (TxnOffsetCommit, KIP-98): offsets written to
//! the offsets log as part of a producer's transaction, held pending, and made
//! the group's committed offsets only when the transaction's COMMIT marker is
//! written (Kafka's pendingTransactionalOffsetCommits).

use std::collections::HashSet;

use tokio::time::Instant;

use super::GroupError;
use super::classic_group::Group;
use super::coordinator::{GroupCoordinator, Groups, PartitionKey};
use super::records::CommittedOffset;
use crate::broker::now_ms;

impl GroupCoordinator {
    /// TxnOffsetCommit: the offsets are written to the offsets log as part of
    /// `producer`'s transaction and held pending until its marker.
    #[allow(clippy::too_many_arguments)]
    pub fn commit_txn_offsets(
        &self,
        group_id: &str,
        producer: (i64, i16),
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
            classic,
            consumer,
            pending_txn,
        } = &mut *guard;
        // Without a generation the producer is not a group member: no check.
        if generation >= 0 {
            if let Some(group) = consumer.get_mut(group_id) {
                group.check_commit(member_id, generation)?;
            } else {
                let group = classic
                    .get_mut(group_id)
                    .ok_or(GroupError::IllegalGeneration)?;
                group.check_commit(member_id, instance_id, generation, Instant::now())?;
            }
        }
        let (results, records, accepted) = self.checked_offsets(group_id, offsets);
        if let Err(e) = self.log.append_txn(&records, producer, now_ms()) {
            tracing::error!(group = group_id, error = %e, "cannot write transactional offsets");
            return Err(GroupError::Storage);
        }
        pending_txn.entry(producer.0).or_default().extend(
            accepted
                .into_iter()
                .map(|(key, value)| (group_id.to_string(), key, value)),
        );
        Ok(results)
    }

    /// The partitions of `group_id` with transactional offsets still pending
    /// (OffsetFetch with require_stable answers UNSTABLE_OFFSET_COMMIT for them).
    pub fn pending_txn_partitions(&self, group_id: &str) -> HashSet<PartitionKey> {
        self.lock()
            .pending_txn
            .values()
            .flatten()
            .filter(|(g, _, _)| g == group_id)
            .map(|(_, key, _)| key.clone())
            .collect()
    }

    /// The transaction of `producer_id` ended (its marker is in the offsets log):
    /// its pending offsets become committed offsets, or are dropped.
    pub fn complete_txn(&self, producer_id: i64, commit: bool) {
        let mut guard = self.lock();
        let Groups {
            classic,
            consumer,
            pending_txn,
        } = &mut *guard;
        let Some(offsets) = pending_txn.remove(&producer_id) else {
            return;
        };
        if !commit {
            return;
        }
        for (group_id, key, value) in offsets {
            if let Some(group) = consumer.get_mut(&group_id) {
                group.offsets.insert(key, value);
            } else {
                classic
                    .entry(group_id.clone())
                    .or_insert_with(|| Group::new(group_id, now_ms()))
                    .offsets
                    .insert(key, value);
            }
        }
    }
}
