use super::*;
use crate::log::batch::{BatchHeader, validate_batches};
use crate::log::testutil::{batch, batch_n, small_config};

fn append_at(log: &mut Log, records: &[u8], now_ms: i64) -> AppendInfo {
    let infos = validate_batches(records).unwrap();
    log.append(records, &infos, now_ms).unwrap()
}

fn append(log: &mut Log, records: &[u8]) -> AppendInfo {
    append_at(log, records, 0)
}

/// Reads the whole log like a consumer: (base offset, last offset) of every batch.
fn consume(log: &Log) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while let Some(bytes) = log.read(offset, 1 << 20, true).unwrap() {
        let mut rest = &bytes[..];
        while let Some(h) = BatchHeader::new(rest) {
            out.push((h.base_offset(), h.last_offset()));
            offset = h.last_offset() + 1;
            rest = &rest[h.size().unwrap()..];
        }
    }
    out
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}

#[test]
fn append_read_and_roll_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t-0");
    let mut log = Log::open(&path, small_config(1000), true).unwrap();
    let mut expected = Vec::new();
    for i in 0..20 {
        let info = append(&mut log, &batch_n(1 + i % 3, i as i64, 80));
        expected.push((info.base_offset, info.last_offset));
    }
    assert_eq!(expected[0], (0, 0));
    assert_eq!(log.log_end_offset(), expected.last().unwrap().1 + 1);
    assert!(log.segments().count() > 3, "rolled");
    for seg in log.segments() {
        assert!(seg.size() <= 1000);
        let name = format!("{:020}.log", seg.base_offset());
        assert!(path.join(name).exists());
    }
    // Sealed segments were trimmed to their content.
    let first = log.segments().next().unwrap();
    assert_eq!(file_len(first.log_file().path()), first.size() as u64);
    assert_eq!(consume(&log), expected);
    // Every offset reads the batch that holds it.
    for &(base, last) in &expected {
        for o in base..=last {
            let bytes = log.read(o, 1, true).unwrap().unwrap();
            let h = BatchHeader::new(&bytes).unwrap();
            assert_eq!((h.base_offset(), h.last_offset()), (base, last));
        }
    }
    assert_eq!(
        log.size_bytes(),
        log.segments().map(|s| s.size() as u64).sum::<u64>()
    );
}

#[test]
fn read_at_log_end_and_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(1 << 20), true).unwrap();
    assert!(log.read(0, 100, true).unwrap().is_none());
    assert!(matches!(
        log.read(1, 100, true),
        Err(LogError::OffsetOutOfRange {
            offset: 1,
            log_start: 0,
            log_end: 0
        })
    ));
    append(&mut log, &batch_n(3, 1, 10));
    assert!(log.read(3, 100, true).unwrap().is_none());
    assert!(log.read(4, 100, true).is_err());
    assert!(log.read(-1, 100, true).is_err());
    // Too small for the first batch without min_one_batch: nothing, not an error.
    assert!(log.read(0, 10, false).unwrap().is_none());
    assert!(log.read(0, 10, true).unwrap().is_some());
}

#[test]
fn oversized_batch_gets_a_segment_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(200), true).unwrap();
    let big = batch_n(2, 1, 500);
    append(&mut log, &big); // first append into the empty segment grows it
    append(&mut log, &big);
    append(&mut log, &batch_n(1, 1, 10));
    let sizes: Vec<_> = log.segments().map(|s| s.size()).collect();
    assert_eq!(sizes[..2], [big.len(), big.len()]);
    assert_eq!(consume(&log), vec![(0, 1), (2, 3), (4, 4)]);
}

#[test]
fn rolls_on_segment_age_and_full_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(1 << 20);
    config.segment_ms = 100;
    let mut log = Log::open(&dir.path().join("a"), config, true).unwrap();
    append_at(&mut log, &batch_n(1, 1, 10), 1_000);
    append_at(&mut log, &batch_n(1, 1, 10), 1_100);
    assert_eq!(log.segments().count(), 1);
    append_at(&mut log, &batch_n(1, 1, 10), 1_101);
    assert_eq!(log.segments().count(), 2);

    let mut config = small_config(1 << 20);
    config.index_interval_bytes = 0;
    config.segment_index_bytes = 36; // 4 offset entries, 3 time entries
    let mut log = Log::open(&dir.path().join("b"), config, true).unwrap();
    for i in 0..12 {
        append(&mut log, &batch_n(1, i, 10));
    }
    assert!(log.segments().count() >= 3);
    for seg in log.segments() {
        assert!(seg.offset_index().entries() <= 4);
    }
    assert_eq!(consume(&log).len(), 12);
}

#[test]
fn timestamps_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(300), true).unwrap();
    assert_eq!(log.max_timestamp(), None);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
    append(&mut log, &batch(&[(100, b"a"), (200, b"b")])); // 0, 1
    append(&mut log, &batch_n(1, 150, 200)); // 2
    append(&mut log, &batch(&[(300, b"c"), (900, b"d"), (500, b"e")])); // 3..5
    append(&mut log, &batch_n(1, 400, 200)); // 6
    assert!(log.segments().count() >= 2);
    assert_eq!(log.offset_for_timestamp(50).unwrap(), Some((0, 100)));
    assert_eq!(log.offset_for_timestamp(201).unwrap(), Some((3, 300)));
    assert_eq!(log.offset_for_timestamp(400).unwrap(), Some((4, 900)));
    assert_eq!(log.offset_for_timestamp(901).unwrap(), None);
    assert_eq!(log.max_timestamp(), Some((900, 4)));
}

#[test]
fn flush_target_covers_unflushed_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(300), true).unwrap();
    assert!(log.flush_target().is_empty());
    for _ in 0..4 {
        append(&mut log, &batch_n(1, 1, 200));
    }
    let target = log.flush_target();
    assert_eq!(target.end_offset(), 4);
    assert_eq!(target.files.len(), 4);
    target.sync().unwrap();
    log.mark_flushed(target.end_offset());
    assert!(log.flush_target().is_empty());
    append(&mut log, &batch_n(1, 1, 10));
    assert_eq!(log.flush_target().files.len(), 1);
}

#[test]
fn reopen_after_clean_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t-1");
    let mut log = Log::open(&path, small_config(700), true).unwrap();
    for i in 0..10 {
        append(
            &mut log,
            &batch(&[(i * 10, b"hello"), (i * 10 + 5, b"world")]),
        );
    }
    let before = consume(&log);
    let max = log.max_timestamp();
    log.close().unwrap();
    for seg in log.segments() {
        assert_eq!(file_len(seg.log_file().path()), seg.size() as u64);
    }
    drop(log);

    let mut log = Log::open(&path, small_config(700), true).unwrap();
    assert_eq!(consume(&log), before);
    assert_eq!(log.log_end_offset(), 20);
    assert_eq!(log.max_timestamp(), max);
    assert_eq!(log.offset_for_timestamp(41).unwrap(), Some((9, 45)));
    assert_eq!(log.recovery_point(), 20);
    let info = append(&mut log, &batch_n(2, 7, 5));
    assert_eq!((info.base_offset, info.last_offset), (20, 21));
}

#[test]
fn delete_removes_the_directory_and_refuses_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gone-0");
    let mut log = Log::open(&path, small_config(1 << 20), true).unwrap();
    append(&mut log, &batch_n(1, 1, 10));
    let view = log.read(0, 100, true).unwrap().unwrap();
    log.delete().unwrap();
    assert!(!path.exists());
    assert_eq!(
        BatchHeader::new(&view).unwrap().base_offset(),
        0,
        "views outlive the files"
    );
    let b = batch_n(1, 1, 10);
    let infos = validate_batches(&b).unwrap();
    assert!(matches!(log.append(&b, &infos, 0), Err(LogError::Deleted)));
}

#[test]
fn append_refuses_batches_that_do_not_tile_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small_config(1 << 20), true).unwrap();
    let a = batch_n(1, 1, 10);
    let infos = validate_batches(&a).unwrap();
    let doubled = [a.clone(), a.clone()].concat();
    assert!(matches!(
        log.append(&doubled, &infos, 0),
        Err(LogError::InvalidAppend(_))
    ));
    assert!(matches!(
        log.append(&a, &[], 0),
        Err(LogError::InvalidAppend(_))
    ));
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size_bytes(), 0);
}

#[test]
fn orphan_index_files_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("00000000000000000042.index"), [0u8; 8]).unwrap();
    fs::write(dir.path().join("leader-epoch-checkpoint"), b"0\n").unwrap();
    let log = Log::open(dir.path(), small_config(1 << 20), true).unwrap();
    assert!(!dir.path().join("00000000000000000042.index").exists());
    assert!(dir.path().join("leader-epoch-checkpoint").exists());
    assert_eq!(log.log_end_offset(), 0);
}

#[test]
fn shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Log>();
    send_sync::<FlushTarget>();
    send_sync::<crate::log::MappedFile>();
    send_sync::<Bytes>();
}
