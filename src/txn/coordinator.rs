//! The transaction coordinator (Kafka's TransactionCoordinator and
//! TransactionStateManager on one node): every transactional id's metadata
//! behind one lock, written to `__transaction_state` before each transition is
//! acted on. Markers are written synchronously while the lock is held, so a
//! Prepare state is visible only while a commit or abort is under way, or after
//! a crash, when start-up completes it.
//!
//! Lock order: this coordinator, then a partition or the group coordinator.
//! Produce of a transactional batch checks and appends under this lock too, so
//! no batch lands after its transaction's marker.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::TxnError;
use super::metadata::{TopicPartition, TransactionMetadata, TransactionState};
use super::state_log::TransactionLog;
use crate::broker::now_ms;
use crate::config::Config;
use crate::group::{GroupCoordinator, OFFSETS_TOPIC};
use crate::producer::ProducerIdManager;
use crate::topic::{Partition, TopicError, TopicManager};

/// Markers carry the coordinator epoch; one node never changes coordinator.
const COORDINATOR_EPOCH: i32 = 0;

pub struct TransactionCoordinator {
    max_timeout_ms: i32,
    pub(super) cleanup_interval: Duration,
    pub(super) id_expiration_ms: i64,
    pub(super) id_expiration_check: Duration,
    state: Mutex<State>,
    pub(super) log: TransactionLog,
    topics: Arc<TopicManager>,
    groups: Arc<GroupCoordinator>,
    producer_ids: Arc<ProducerIdManager>,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) txns: HashMap<String, TransactionMetadata>,
    /// producer id -> transactional id, for checking transactional produce.
    pub(super) by_producer: HashMap<i64, String>,
}

/// A transaction as DescribeTransactions and ListTransactions show it.
pub struct TransactionDescription {
    pub transactional_id: String,
    pub state: TransactionState,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub start_timestamp: i64,
    pub partitions: BTreeSet<TopicPartition>,
}

impl TransactionCoordinator {
    /// Opens `__transaction_state` and rebuilds every transactional id from it.
    /// Transactions caught mid-commit or mid-abort are completed by [`Self::recover`].
    pub fn open(
        topics: Arc<TopicManager>,
        groups: Arc<GroupCoordinator>,
        producer_ids: Arc<ProducerIdManager>,
        config: &Config,
    ) -> Result<TransactionCoordinator, TopicError> {
        let log = TransactionLog::open(&topics, config)?;
        let mut state = State::default();
        log.replay(|id, metadata| match metadata {
            Some(m) => {
                state.txns.insert(id, m);
            }
            None => {
                state.txns.remove(&id);
            }
        })?;
        for (id, m) in &state.txns {
            state.by_producer.insert(m.producer_id, id.clone());
        }
        tracing::info!(transactional_ids = state.txns.len(), "transactions loaded");
        Ok(TransactionCoordinator {
            max_timeout_ms: config.transaction.max_timeout_ms,
            cleanup_interval: Duration::from_millis(
                config
                    .transaction
                    .abort_timed_out_transaction_cleanup_interval_ms,
            ),
            id_expiration_ms: config.transaction.id_expiration_ms,
            id_expiration_check: Duration::from_millis(
                config
                    .transaction
                    .remove_expired_transaction_cleanup_interval_ms,
            ),
            state: Mutex::new(state),
            log,
            topics,
            groups,
            producer_ids,
        })
    }

    /// The partition of `__transaction_state` (for the flusher).
    pub fn state_partition(&self) -> &Arc<Partition> {
        self.log.partition()
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Completes the transactions a crash left in PrepareCommit or PrepareAbort:
    /// their markers are written (again, which is harmless) and they end.
    pub fn recover(&self) {
        let mut state = self.lock();
        let pending: Vec<String> = state
            .txns
            .iter()
            .filter(|(_, m)| m.is_completing())
            .map(|(id, _)| id.clone())
            .collect();
        for id in pending {
            if let Some(m) = state.txns.get_mut(&id) {
                tracing::info!(transactional_id = %id, state = m.state.name(), "completing a transaction after restart");
                let _ = self.complete(&id, m);
            }
        }
    }

    /// Writes `m` to the transaction log.
    fn persist(&self, id: &str, m: &TransactionMetadata) -> Result<(), TxnError> {
        self.log.append(id, m, now_ms()).map_err(|e| {
            tracing::error!(transactional_id = id, error = %e, "cannot write transaction state");
            TxnError::CoordinatorNotAvailable
        })
    }

    /// Applies `change` to a copy of `m`, writes the copy, then makes it current.
    fn transition(
        &self,
        id: &str,
        m: &mut TransactionMetadata,
        change: impl FnOnce(&mut TransactionMetadata),
    ) -> Result<(), TxnError> {
        let mut next = m.clone();
        change(&mut next);
        next.last_update_timestamp = now_ms();
        self.persist(id, &next)?;
        *m = next;
        Ok(())
    }

    /// InitProducerId with a transactional id: a new producer id, or the epoch of
    /// the existing one bumped, fencing older producers and aborting a transaction
    /// they left open. `expected` is the producer id and epoch a KIP-360 client
    /// names (-1: none).
    pub fn init_producer_id(
        &self,
        id: &str,
        timeout_ms: i32,
        expected: (i64, i16),
    ) -> Result<(i64, i16), TxnError> {
        if id.is_empty() {
            return Err(TxnError::InvalidRequest);
        }
        if timeout_ms <= 0 || timeout_ms > self.max_timeout_ms {
            return Err(TxnError::InvalidTransactionTimeout);
        }
        let mut guard = self.lock();
        let state = &mut *guard;
        let Some(m) = state.txns.get_mut(id) else {
            let producer_id = self.new_producer_id()?;
            let m = TransactionMetadata {
                producer_id,
                producer_epoch: 0,
                last_producer_epoch: -1,
                timeout_ms,
                state: TransactionState::Empty,
                partitions: BTreeSet::new(),
                start_timestamp: -1,
                last_update_timestamp: now_ms(),
            };
            self.persist(id, &m)?;
            state.by_producer.insert(producer_id, id.to_string());
            state.txns.insert(id.to_string(), m);
            return Ok((producer_id, 0));
        };
        let (expected_id, expected_epoch) = expected;
        if expected_id >= 0 {
            if expected_id == m.producer_id
                && expected_epoch == m.last_producer_epoch
                && m.state == TransactionState::Empty
            {
                // A retry of the InitProducerId that bumped to the current epoch.
                return Ok((m.producer_id, m.producer_epoch));
            }
            if expected_id != m.producer_id || expected_epoch != m.producer_epoch {
                return Err(TxnError::ProducerFenced);
            }
        }
        if m.is_completing() {
            return Err(TxnError::ConcurrentTransactions);
        }
        if m.state == TransactionState::Ongoing {
            // Fence the producer of the open transaction and abort it.
            self.fence_and_abort(id, m)?;
        }
        let old_id = m.producer_id;
        let (producer_id, epoch) = if m.producer_epoch >= i16::MAX - 1 {
            (self.new_producer_id()?, 0)
        } else {
            (m.producer_id, m.producer_epoch + 1)
        };
        let last_epoch = m.producer_epoch;
        self.transition(id, m, |m| {
            m.producer_id = producer_id;
            m.producer_epoch = epoch;
            m.last_producer_epoch = last_epoch;
            m.timeout_ms = timeout_ms;
            m.state = TransactionState::Empty;
            m.partitions.clear();
            m.start_timestamp = -1;
        })?;
        if producer_id != old_id {
            state.by_producer.remove(&old_id);
            state.by_producer.insert(producer_id, id.to_string());
        }
        Ok((producer_id, epoch))
    }

    fn new_producer_id(&self) -> Result<i64, TxnError> {
        self.producer_ids.next_id().map_err(|e| {
            tracing::error!(error = %e, "cannot allocate a producer id");
            TxnError::CoordinatorNotAvailable
        })
    }

    /// Bumps the epoch of an open transaction's producer (so the old one is
    /// fenced) and aborts the transaction with the new epoch.
    pub(super) fn fence_and_abort(
        &self,
        id: &str,
        m: &mut TransactionMetadata,
    ) -> Result<(), TxnError> {
        let epoch = m.producer_epoch.saturating_add(1);
        let last_epoch = m.producer_epoch;
        self.transition(id, m, |m| {
            m.producer_epoch = epoch;
            m.last_producer_epoch = last_epoch;
            m.state = TransactionState::PrepareAbort;
        })?;
        self.complete(id, m)
    }

    /// Checks the producer id and epoch a request names against `m`.
    fn check_producer(
        m: &TransactionMetadata,
        producer_id: i64,
        epoch: i16,
    ) -> Result<(), TxnError> {
        if m.producer_id != producer_id {
            return Err(TxnError::InvalidProducerIdMapping);
        }
        if m.producer_epoch != epoch {
            return Err(TxnError::ProducerFenced);
        }
        Ok(())
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn, with the offsets partition): the
    /// partitions join the transaction, which starts if none is open.
    pub fn add_partitions(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[TopicPartition],
    ) -> Result<(), TxnError> {
        let mut state = self.lock();
        let m = state
            .txns
            .get_mut(id)
            .ok_or(TxnError::InvalidProducerIdMapping)?;
        Self::check_producer(m, producer_id, epoch)?;
        if m.is_completing() {
            return Err(TxnError::ConcurrentTransactions);
        }
        if m.state == TransactionState::Dead {
            return Err(TxnError::InvalidTxnState);
        }
        let ongoing = m.state == TransactionState::Ongoing;
        if ongoing && partitions.iter().all(|p| m.partitions.contains(p)) {
            return Ok(());
        }
        let now = now_ms();
        self.transition(id, m, |m| {
            if !ongoing {
                m.partitions.clear();
                m.start_timestamp = now;
            }
            m.state = TransactionState::Ongoing;
            m.partitions.extend(partitions.iter().cloned());
        })
    }

    /// AddPartitionsToTxn with verify_only (v4+, KIP-890): whether the partitions
    /// are in the open transaction.
    pub fn verify_partitions(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[TopicPartition],
    ) -> Result<Vec<bool>, TxnError> {
        let state = self.lock();
        let m = state
            .txns
            .get(id)
            .ok_or(TxnError::InvalidProducerIdMapping)?;
        Self::check_producer(m, producer_id, epoch)?;
        let ongoing = m.state == TransactionState::Ongoing;
        Ok(partitions
            .iter()
            .map(|p| ongoing && m.partitions.contains(p))
            .collect())
    }

    /// Runs `write` (a transactional append to `partition`) if the producer's
    /// transaction is open and holds that partition, under the coordinator lock.
    pub fn with_verified<T, E: From<TxnError>>(
        &self,
        producer_id: i64,
        epoch: i16,
        partition: &TopicPartition,
        write: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let state = self.lock();
        let m = state
            .by_producer
            .get(&producer_id)
            .and_then(|id| state.txns.get(id))
            .ok_or(TxnError::InvalidProducerIdMapping)?;
        if m.producer_epoch != epoch {
            return Err(TxnError::ProducerFenced.into());
        }
        if m.state != TransactionState::Ongoing || !m.partitions.contains(partition) {
            return Err(TxnError::InvalidTxnState.into());
        }
        write()
    }

    /// EndTxn: commits or aborts the open transaction: PrepareCommit/PrepareAbort
    /// is written, then a marker into every partition, then CompleteCommit/
    /// CompleteAbort. Returns the producer id and epoch (EndTxn v5 carries them)
    /// and the partitions that got a marker.
    pub fn end_txn(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
    ) -> Result<(i64, i16, Vec<TopicPartition>), TxnError> {
        let mut state = self.lock();
        let m = state
            .txns
            .get_mut(id)
            .ok_or(TxnError::InvalidProducerIdMapping)?;
        Self::check_producer(m, producer_id, epoch)?;
        use TransactionState::*;
        let mut marked = Vec::new();
        match (m.state, commit) {
            (Ongoing, _) => {
                marked.extend(m.partitions.iter().cloned());
                let prepare = if commit { PrepareCommit } else { PrepareAbort };
                self.transition(id, m, |m| m.state = prepare)?;
                // The Prepare state is durable: the outcome is decided. A marker that
                // cannot be written now is retried by the timer task.
                let _ = self.complete(id, m);
            }
            (CompleteCommit, true) | (CompleteAbort, false) => {}
            (PrepareCommit, true) | (PrepareAbort, false) | (PrepareEpochFence, _) => {
                return Err(TxnError::ConcurrentTransactions);
            }
            _ => return Err(TxnError::InvalidTxnState),
        }
        Ok((m.producer_id, m.producer_epoch, marked))
    }

    /// Writes the markers of a transaction in PrepareCommit/PrepareAbort and moves
    /// it to CompleteCommit/CompleteAbort.
    pub(super) fn complete(&self, id: &str, m: &mut TransactionMetadata) -> Result<(), TxnError> {
        let commit = match m.state {
            TransactionState::PrepareCommit => true,
            TransactionState::PrepareAbort | TransactionState::PrepareEpochFence => false,
            _ => return Ok(()),
        };
        let now = now_ms();
        let mut failed = false;
        for (topic, index) in &m.partitions {
            let Some(partition) = self
                .topics
                .get(topic)
                .and_then(|t| t.partition(*index).cloned())
            else {
                continue; // deleted since: nothing to mark
            };
            match partition.append_marker(
                m.producer_id,
                m.producer_epoch,
                commit,
                COORDINATOR_EPOCH,
                now,
            ) {
                Ok(_) => {
                    if topic == OFFSETS_TOPIC {
                        self.groups.complete_txn(m.producer_id, commit);
                    }
                }
                Err(e) => {
                    tracing::error!(transactional_id = id, %topic, partition = index, error = %e, "cannot write a transaction marker");
                    failed = true;
                }
            }
        }
        if failed {
            return Err(TxnError::CoordinatorNotAvailable);
        }
        let done = if commit {
            TransactionState::CompleteCommit
        } else {
            TransactionState::CompleteAbort
        };
        self.transition(id, m, |m| {
            m.state = done;
            m.partitions.clear();
            m.start_timestamp = -1;
        })
    }

    /// How many transactional ids are in each state (for /metrics).
    pub fn count_by_state(&self) -> BTreeMap<&'static str, i64> {
        let mut counts = BTreeMap::new();
        for m in self.lock().txns.values() {
            *counts.entry(m.state.name()).or_insert(0) += 1;
        }
        counts
    }

    /// Every transactional id, sorted (ListTransactions, DescribeTransactions).
    pub fn describe_all(&self) -> Vec<TransactionDescription> {
        let state = self.lock();
        let mut all: Vec<TransactionDescription> = state
            .txns
            .iter()
            .map(|(id, m)| TransactionDescription {
                transactional_id: id.clone(),
                state: m.state,
                producer_id: m.producer_id,
                producer_epoch: m.producer_epoch,
                timeout_ms: m.timeout_ms,
                start_timestamp: m.start_timestamp,
                partitions: m.partitions.clone(),
            })
            .collect();
        all.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        all
    }
}
