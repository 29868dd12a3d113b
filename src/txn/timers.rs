//! The transaction coordinator's background work: aborting transactions open
//! longer than their timeout (retrying completions that failed), and
//! forgetting transactional ids unused for `transactional.id.expiration.ms`.

use std::sync::Arc;

use tokio::sync::watch;

use super::coordinator::TransactionCoordinator;
use super::metadata::TransactionState;
use crate::broker::now_ms;

impl TransactionCoordinator {
    /// transaction.timeout.ms: aborts transactions open longer than their
    /// timeout, fencing their producer; retries completions that failed.
    pub fn abort_timed_out(&self, now_ms: i64) {
        let mut state = self.lock();
        for (id, m) in state.txns.iter_mut() {
            if m.is_completing() {
                let _ = self.complete(id, m);
                continue;
            }
            let expired = m.state == TransactionState::Ongoing
                && m.start_timestamp.saturating_add(i64::from(m.timeout_ms)) < now_ms;
            if expired {
                tracing::info!(transactional_id = %id, producer_id = m.producer_id, "aborting a transaction that timed out");
                if let Err(e) = self.fence_and_abort(id, m) {
                    tracing::warn!(transactional_id = %id, error = %e, "aborting a timed-out transaction");
                }
            }
        }
    }

    /// transactional.id.expiration.ms: a transactional id without an open
    /// transaction and unused this long is forgotten (a tombstone is written).
    pub fn expire_transactional_ids(&self, now_ms: i64) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let expired: Vec<String> = state
            .txns
            .iter()
            .filter(|(_, m)| {
                matches!(
                    m.state,
                    TransactionState::Empty
                        | TransactionState::CompleteCommit
                        | TransactionState::CompleteAbort
                ) && m
                    .last_update_timestamp
                    .saturating_add(self.id_expiration_ms)
                    <= now_ms
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            if let Err(e) = self.log.append_tombstone(&id, now_ms) {
                tracing::warn!(transactional_id = %id, error = %e, "cannot expire a transactional id");
                continue;
            }
            if let Some(m) = state.txns.remove(&id) {
                state.by_producer.remove(&m.producer_id);
            }
            tracing::info!(transactional_id = %id, "expired transactional id");
        }
    }

    /// The timer task: runs until shutdown.
    pub async fn run_timers(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut next_expiry = tokio::time::Instant::now() + self.id_expiration_check;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.cleanup_interval) => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
            let expire_ids = tokio::time::Instant::now() >= next_expiry;
            if expire_ids {
                next_expiry = tokio::time::Instant::now() + self.id_expiration_check;
            }
            let this = self.clone();
            // Markers are file writes: off the runtime.
            let _ = tokio::task::spawn_blocking(move || {
                this.abort_timed_out(now_ms());
                if expire_ids {
                    this.expire_transactional_ids(now_ms());
                }
            })
            .await;
        }
    }
}
