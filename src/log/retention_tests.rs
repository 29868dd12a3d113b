use super::*;
use crate::log::batch::validate_batches;
use crate::log::testutil::{batch_n, small_config};

/// A log of `n` one-batch appends (3 records of 80 bytes each, timestamp `i * 1000`),
/// rolling every ~2 batches.
fn log_of(dir: &std::path::Path, n: i64) -> Log {
    let mut log = Log::open(dir, small_config(700), true).unwrap();
    for i in 0..n {
        let b = batch_n(3, i * 1000, 80);
        let infos = validate_batches(&b).unwrap();
        log.append(&b, &infos, 0).unwrap();
    }
    log
}

const KEEP_SIZE: i64 = -1;

#[test]
fn time_retention_deletes_a_prefix_of_old_sealed_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = log_of(dir.path(), 10);
    let segments: Vec<(i64, i64)> = log
        .segments()
        .map(|s| (s.base_offset(), s.largest_timestamp()))
        .collect();
    assert!(segments.len() >= 4, "{segments:?}");
    let policy = RetentionPolicy {
        retention_ms: 1000,
        retention_bytes: KEEP_SIZE,
    };
    // At 4500 ms everything with largest timestamp < 3500 is expired.
    let taken = log.take_expired_segments(4500, &policy);
    let expected: Vec<i64> = segments
        .iter()
        .take_while(|(_, ts)| 4500 - ts > 1000)
        .map(|(b, _)| *b)
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(
        taken
            .iter()
            .map(LogSegment::base_offset)
            .collect::<Vec<_>>(),
        expected
    );
    let first_left = log.segments().next().unwrap().base_offset();
    assert_eq!(log.log_start_offset(), first_left);
    let paths: Vec<_> = taken
        .iter()
        .map(|s| s.log_file().path().to_path_buf())
        .collect();
    delete_segments(taken);
    assert!(paths.iter().all(|p| !p.exists()), "files are gone");
    assert!(log.read(first_left - 1, 1000, true).is_err());
    assert!(log.read(first_left, 1000, true).unwrap().is_some());

    // Far in the future everything sealed goes, never the active segment.
    let taken = log.take_expired_segments(i64::MAX / 2, &policy);
    delete_segments(taken);
    assert_eq!(log.segments().count(), 1);
    assert_eq!(log.log_start_offset(), log.active.base_offset());
}

#[test]
fn size_retention_keeps_the_newest_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = log_of(dir.path(), 10);
    let total = log.size_bytes() as i64;
    let limit = total / 2;
    let policy = RetentionPolicy {
        retention_ms: -1,
        retention_bytes: limit,
    };
    let taken = log.take_expired_segments(0, &policy);
    assert!(!taken.is_empty());
    // As Kafka: a segment goes only while the rest still holds retention.bytes, so
    // what is left is at least the limit and less than the limit plus one segment.
    let left = log.size_bytes() as i64;
    let first_left = log.segments().next().unwrap().size() as i64;
    assert!(left >= limit, "{left} < {limit}");
    assert!(
        left - first_left < limit,
        "{left} - {first_left} >= {limit}"
    );
    assert!(
        log.take_expired_segments(0, &policy).is_empty(),
        "idempotent"
    );
    assert!(
        log.take_expired_segments(i64::MAX / 2, &RetentionPolicy::KEEP_ALL)
            .is_empty()
    );
}

#[test]
fn delete_records_moves_the_start_and_drops_whole_segments_below_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = log_of(dir.path(), 10);
    let second = log.segments().nth(1).unwrap().base_offset();
    let target = second + 1;
    let (start, taken) = log.delete_records_before(target).unwrap();
    assert_eq!(start, target);
    assert_eq!(taken.len(), 1, "only the first segment is wholly below");
    assert_eq!(log.log_start_offset(), target);
    assert!(matches!(
        log.read(target - 1, 100, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert!(log.read(target, 100, true).unwrap().is_some());
    // Never backwards.
    assert_eq!(log.delete_records_before(0).unwrap().0, target);
    // Past the end is out of range; the end itself empties the log.
    let end = log.log_end_offset();
    assert!(log.delete_records_before(end + 1).is_err());
    let (start, taken) = log.delete_records_before(end).unwrap();
    assert_eq!(start, end);
    assert_eq!(log.segments().count(), 1);
    assert!(!taken.is_empty());
    assert_eq!(log.read(end, 100, true).unwrap(), None);
}

#[test]
fn a_restored_log_start_drops_segments_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = log_of(dir.path(), 10);
    let third = log.segments().nth(2).unwrap().base_offset();
    log.close().unwrap();
    drop(log);
    let mut log = Log::open(dir.path(), small_config(700), true).unwrap();
    let taken = log.restore_log_start_offset(third + 1);
    assert_eq!(taken.len(), 2);
    assert_eq!(log.log_start_offset(), third + 1);
    // A checkpoint past the end (a recreated topic) is clamped.
    let end = log.log_end_offset();
    log.restore_log_start_offset(end + 100);
    assert_eq!(log.log_start_offset(), end);
}
