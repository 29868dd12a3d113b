//! One partition's producer state: for each idempotent producer, its epoch and
//! its last few batches, checked the way Kafka's ProducerStateManager checks
//! them (KIP-98): an older epoch is refused, a batch seen before is answered
//! with its original offsets, a gap in the sequence is refused. It also knows each
//! producer's open transaction in the partition (its first offset), which bounds
//! the last stable offset, and ends it when a COMMIT or ABORT marker is written.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::log::record::ControlMarker;
use crate::log::{AbortedTxn, BatchHeader, BatchInfo};

/// Kafka keeps the metadata of the last five batches of each producer, which is
/// also the most a producer may have in flight.
pub(super) const CACHED_BATCHES: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CachedBatch {
    pub(super) first_seq: i32,
    pub(super) last_seq: i32,
    pub(super) first_offset: i64,
}

#[derive(Debug, Clone, Default)]
pub(super) struct ProducerEntry {
    pub(super) epoch: i16,
    pub(super) batches: VecDeque<CachedBatch>,
    /// The first offset of the producer's open transaction in this partition.
    pub(super) current_txn_first_offset: Option<i64>,
    /// The largest timestamp of its batches (DescribeProducers' last timestamp).
    pub(super) last_timestamp: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Write the batches.
    Append,
    /// A retry of a batch already written at `first_offset`: write nothing.
    Duplicate { first_offset: i64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProducerError {
    #[error("producer epoch {got} is older than the current epoch {current}")]
    InvalidProducerEpoch { got: i16, current: i16 },
    #[error("out of order sequence number: expected {expected}, got {got}")]
    OutOfOrderSequence { expected: i32, got: i32 },
}

/// One producer's state in a partition, as DescribeProducers shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerSummary {
    pub producer_id: i64,
    pub epoch: i16,
    pub last_sequence: i32,
    /// -1: unknown.
    pub last_timestamp: i64,
    pub current_txn_start_offset: Option<i64>,
}

#[derive(Debug, Default)]
pub struct ProducerStateTable {
    pub(super) producers: HashMap<i64, ProducerEntry>,
    /// Open transactions: first offset -> producer id (the smallest bounds the LSO).
    pub(super) ongoing: BTreeMap<i64, i64>,
}

/// The sequence number of the last record of a batch (sequences wrap at i32::MAX).
fn last_seq(base_sequence: i32, last_offset_delta: i32) -> i32 {
    ((base_sequence as i64 + last_offset_delta as i64) % (i32::MAX as i64 + 1)) as i32
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX { 0 } else { seq + 1 }
}

impl ProducerStateTable {
    /// Checks a produce request's batches against the producers' state without
    /// changing it.
    pub fn check(&self, batches: &[BatchInfo]) -> Result<SequenceCheck, ProducerError> {
        // What the batches before this one in the same request would leave behind.
        let mut pending: HashMap<i64, (i16, i32)> = HashMap::new();
        for b in batches.iter().filter(|b| b.producer_id >= 0) {
            let entry = self.producers.get(&b.producer_id);
            if b.base_sequence < 0 {
                // Written by a coordinator (transactional offset commits): no
                // sequence to check, only the epoch.
                if let Some(e) = entry.filter(|e| b.producer_epoch < e.epoch) {
                    return Err(ProducerError::InvalidProducerEpoch {
                        got: b.producer_epoch,
                        current: e.epoch,
                    });
                }
                continue;
            }
            let last = last_seq(b.base_sequence, b.last_offset_delta);
            if let Some(e) = entry.filter(|e| e.epoch == b.producer_epoch)
                && let Some(dup) = e
                    .batches
                    .iter()
                    .find(|c| c.first_seq == b.base_sequence && c.last_seq == last)
            {
                return Ok(SequenceCheck::Duplicate {
                    first_offset: dup.first_offset,
                });
            }
            let current = pending
                .get(&b.producer_id)
                .copied()
                .or_else(|| entry.map(|e| (e.epoch, e.batches.back().map_or(-1, |c| c.last_seq))));
            if let Some((epoch, current_last)) = current {
                if b.producer_epoch < epoch {
                    return Err(ProducerError::InvalidProducerEpoch {
                        got: b.producer_epoch,
                        current: epoch,
                    });
                }
                let ok = if b.producer_epoch > epoch {
                    b.base_sequence == 0 // a new epoch starts its sequence again
                } else {
                    current_last < 0 || b.base_sequence == next_seq(current_last)
                };
                if !ok {
                    let expected = if b.producer_epoch > epoch {
                        0
                    } else {
                        next_seq(current_last)
                    };
                    return Err(ProducerError::OutOfOrderSequence {
                        expected,
                        got: b.base_sequence,
                    });
                }
            }
            // A producer with no state (new, or its batches are older than what
            // was rebuilt) may start at any sequence, as in Kafka.
            pending.insert(b.producer_id, (b.producer_epoch, last));
        }
        Ok(SequenceCheck::Append)
    }

    /// Records batches appended from `base_offset` on, in order.
    pub fn record(&mut self, batches: &[BatchInfo], base_offset: i64) {
        let mut offset = base_offset;
        for b in batches {
            if b.producer_id >= 0 {
                self.remember(
                    b.producer_id,
                    b.producer_epoch,
                    b.base_sequence,
                    b.last_offset_delta,
                    offset,
                );
                if b.attributes.is_transactional() {
                    self.begin_txn(b.producer_id, offset);
                }
                self.touch(b.producer_id, b.max_timestamp);
            }
            offset += b.offset_count();
        }
    }

    /// Rebuilds state from a batch already in the log. `marker` is the type of a
    /// control batch; an ABORT marker that ends a transaction returns its entry
    /// for the aborted-transactions index.
    pub fn replay(
        &mut self,
        batch: &BatchHeader<'_>,
        marker: Option<ControlMarker>,
    ) -> Option<AbortedTxn> {
        let pid = batch.producer_id();
        if pid < 0 {
            return None;
        }
        if batch.attributes().is_control() {
            let commit = marker? == ControlMarker::Commit;
            return self.complete_txn(pid, batch.producer_epoch(), batch.base_offset(), commit);
        }
        self.remember(
            pid,
            batch.producer_epoch(),
            batch.base_sequence(),
            batch.last_offset_delta(),
            batch.base_offset(),
        );
        if batch.attributes().is_transactional() {
            self.begin_txn(pid, batch.base_offset());
        }
        self.touch(pid, batch.max_timestamp());
        None
    }

    fn touch(&mut self, producer_id: i64, timestamp: i64) {
        if let Some(e) = self.producers.get_mut(&producer_id) {
            e.last_timestamp = e.last_timestamp.max(timestamp);
        }
    }

    fn begin_txn(&mut self, producer_id: i64, offset: i64) {
        let entry = self.producers.entry(producer_id).or_default();
        if entry.current_txn_first_offset.is_none() {
            entry.current_txn_first_offset = Some(offset);
            self.ongoing.insert(offset, producer_id);
        }
    }

    /// A COMMIT or ABORT marker of `producer_id` written at `marker_offset`: its
    /// open transaction (if any) ends. Returns the entry of an aborted one.
    pub fn complete_txn(
        &mut self,
        producer_id: i64,
        epoch: i16,
        marker_offset: i64,
        commit: bool,
    ) -> Option<AbortedTxn> {
        let entry = self.producers.entry(producer_id).or_default();
        if epoch > entry.epoch {
            // The coordinator bumped the epoch (fencing): sequences start again.
            entry.epoch = epoch;
            entry.batches.clear();
        }
        let first = entry.current_txn_first_offset.take()?;
        self.ongoing.remove(&first);
        if commit {
            return None;
        }
        let last_stable_offset = self.first_unstable_offset().unwrap_or(marker_offset + 1);
        Some(AbortedTxn {
            producer_id,
            first_offset: first,
            last_offset: marker_offset,
            last_stable_offset,
        })
    }

    /// The first offset of the oldest open transaction: the last stable offset
    /// when it is below the high watermark.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.keys().next().copied()
    }

    /// The first offset of `producer_id`'s open transaction here, if any.
    pub fn ongoing_txn(&self, producer_id: i64) -> Option<i64> {
        self.producers
            .get(&producer_id)
            .and_then(|e| e.current_txn_first_offset)
    }

    /// Every producer with its state, sorted by id (DescribeProducers).
    pub fn producers(&self) -> Vec<ProducerSummary> {
        let mut all: Vec<_> = self
            .producers
            .iter()
            .map(|(&producer_id, e)| ProducerSummary {
                producer_id,
                epoch: e.epoch,
                last_sequence: e.batches.back().map_or(-1, |c| c.last_seq),
                last_timestamp: if e.last_timestamp > 0 {
                    e.last_timestamp
                } else {
                    -1
                },
                current_txn_start_offset: e.current_txn_first_offset,
            })
            .collect();
        all.sort_unstable_by_key(|p| p.producer_id);
        all
    }

    fn remember(
        &mut self,
        producer_id: i64,
        epoch: i16,
        base_sequence: i32,
        last_offset_delta: i32,
        first_offset: i64,
    ) {
        let entry = self.producers.entry(producer_id).or_default();
        if epoch != entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        if base_sequence < 0 {
            return;
        }
        if entry.batches.len() == CACHED_BATCHES {
            entry.batches.pop_front();
        }
        entry.batches.push_back(CachedBatch {
            first_seq: base_sequence,
            last_seq: last_seq(base_sequence, last_offset_delta),
            first_offset,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Attributes;

    fn b(pid: i64, epoch: i16, seq: i32, count: i32) -> BatchInfo {
        BatchInfo {
            position: 0,
            size: 100,
            record_count: count,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            attributes: Attributes(0),
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
        }
    }

    #[test]
    fn duplicates_gaps_and_epochs() {
        let mut t = ProducerStateTable::default();
        assert_eq!(t.check(&[b(7, 0, 0, 3)]), Ok(SequenceCheck::Append));
        t.record(&[b(7, 0, 0, 3)], 100);
        assert_eq!(t.check(&[b(7, 0, 3, 2)]), Ok(SequenceCheck::Append));
        t.record(&[b(7, 0, 3, 2)], 103);
        // A retry of either batch gets its first offset back.
        assert_eq!(
            t.check(&[b(7, 0, 0, 3)]),
            Ok(SequenceCheck::Duplicate { first_offset: 100 })
        );
        assert_eq!(
            t.check(&[b(7, 0, 3, 2)]),
            Ok(SequenceCheck::Duplicate { first_offset: 103 })
        );
        // A gap.
        assert_eq!(
            t.check(&[b(7, 0, 9, 1)]),
            Err(ProducerError::OutOfOrderSequence {
                expected: 5,
                got: 9
            })
        );
        // Two batches of one request must follow each other.
        assert_eq!(
            t.check(&[b(7, 0, 5, 1), b(7, 0, 6, 1)]),
            Ok(SequenceCheck::Append)
        );
        assert!(t.check(&[b(7, 0, 5, 1), b(7, 0, 7, 1)]).is_err());
        // A new epoch restarts at 0; an old epoch is refused.
        assert!(t.check(&[b(7, 1, 4, 1)]).is_err());
        assert_eq!(t.check(&[b(7, 1, 0, 1)]), Ok(SequenceCheck::Append));
        t.record(&[b(7, 1, 0, 1)], 105);
        assert_eq!(
            t.check(&[b(7, 0, 5, 1)]),
            Err(ProducerError::InvalidProducerEpoch { got: 0, current: 1 })
        );
        // Non-idempotent batches and unknown producers pass.
        assert_eq!(t.check(&[b(-1, -1, -1, 4)]), Ok(SequenceCheck::Append));
        assert_eq!(t.check(&[b(8, 0, 42, 1)]), Ok(SequenceCheck::Append));
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut t = ProducerStateTable::default();
        for i in 0..6 {
            t.record(&[b(1, 0, i, 1)], i as i64);
        }
        assert!(
            t.check(&[b(1, 0, 0, 1)]).is_err(),
            "the oldest fell out of the cache"
        );
        assert_eq!(
            t.check(&[b(1, 0, 1, 1)]),
            Ok(SequenceCheck::Duplicate { first_offset: 1 })
        );
    }

    #[test]
    fn transactions_bound_the_last_stable_offset() {
        let mut t = ProducerStateTable::default();
        let mut txn = b(1, 0, 0, 2);
        txn.attributes = Attributes(0x10);
        t.record(&[txn], 10);
        let mut other = b(2, 0, 0, 1);
        other.attributes = Attributes(0x10);
        t.record(&[other], 12);
        assert_eq!(t.first_unstable_offset(), Some(10));
        assert_eq!(t.ongoing_txn(1), Some(10));
        let aborted = t.complete_txn(1, 0, 13, false).unwrap();
        assert_eq!(
            aborted,
            AbortedTxn {
                producer_id: 1,
                first_offset: 10,
                last_offset: 13,
                last_stable_offset: 12
            }
        );
        assert_eq!(t.first_unstable_offset(), Some(12));
        assert_eq!(t.complete_txn(2, 0, 14, true), None);
        assert_eq!(t.first_unstable_offset(), None);
        // A second marker for a finished transaction changes nothing.
        assert_eq!(t.complete_txn(1, 0, 15, false), None);
        // A marker with a bumped epoch fences the old one.
        t.complete_txn(2, 1, 16, false);
        assert!(t.check(&[b(2, 0, 1, 1)]).is_err());
    }

    #[test]
    fn sequences_wrap() {
        assert_eq!(last_seq(i32::MAX, 0), i32::MAX);
        assert_eq!(last_seq(i32::MAX, 1), 0);
        assert_eq!(next_seq(i32::MAX), 0);
    }
}
