use std::fs::{self, OpenOptions};
use std::path::PathBuf;

use crate::log::batch::{BatchHeader, validate_batches};
use crate::log::testutil::{batch, batch_n, small_config};
use crate::log::{Log, LogConfig, segment_file_name};

fn append(log: &mut Log, records: &[u8]) -> (i64, i64) {
    let infos = validate_batches(records).unwrap();
    let info = log.append(records, &infos, 0).unwrap();
    (info.base_offset, info.last_offset)
}

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

fn file(dir: &std::path::Path, base: i64, ext: &str) -> PathBuf {
    dir.join(segment_file_name(base, ext))
}

fn set_len(path: &PathBuf, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// A log of `n` batches left as a crash leaves it: nothing trimmed, the zero-filled
/// reservation after the data. Returns the batches' offsets and their end positions.
fn crashed_log(dir: &std::path::Path, config: &LogConfig, n: usize) -> (Vec<(i64, i64)>, Vec<u64>) {
    let mut log = Log::open(dir, config.clone(), true).unwrap();
    let mut offsets = Vec::new();
    let mut ends = Vec::new();
    for i in 0..n {
        offsets.push(append(&mut log, &batch_n(1 + i % 2, 100 + i as i64, 150)));
        ends.push(log.segments().last().unwrap().size() as u64);
    }
    drop(log); // no close: a crash
    (offsets, ends)
}

#[test]
fn torn_last_batch_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(1 << 20);
    let (offsets, ends) = crashed_log(dir.path(), &config, 8);
    let log_path = file(dir.path(), 0, "log");
    let torn_at = ends[6] + (ends[7] - ends[6]) / 2;
    set_len(&log_path, torn_at);

    let mut log = Log::open(dir.path(), config, false).unwrap();
    assert_eq!(consume(&log), offsets[..7]);
    assert_eq!(log.log_end_offset(), offsets[6].1 + 1);
    assert_eq!(fs::metadata(&log_path).unwrap().len(), ends[6]);
    for seg in log.segments() {
        for (o, p) in seg.offset_index().iter() {
            assert!(o < log.log_end_offset() && (p as u64) < ends[6]);
        }
    }
    let next = append(&mut log, &batch_n(1, 1, 10));
    assert_eq!(next.0, offsets[6].1 + 1);
}

#[test]
fn zero_filled_reservation_is_trimmed_even_when_called_clean() {
    for clean in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let config = small_config(1 << 20);
        let (offsets, ends) = crashed_log(dir.path(), &config, 5);
        let log_path = file(dir.path(), 0, "log");
        assert!(fs::metadata(&log_path).unwrap().len() > ends[4]);
        // `clean` lies here: the files were never trimmed, and the open notices.
        let log = Log::open(dir.path(), config, clean).unwrap();
        assert_eq!(consume(&log), offsets);
        assert_eq!(fs::metadata(&log_path).unwrap().len(), ends[4]);
        assert_eq!(log.max_timestamp(), Some((104, offsets[4].0)));
    }
}

#[test]
fn bad_crc_in_the_last_batch_drops_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(1 << 20);
    let (offsets, ends) = crashed_log(dir.path(), &config, 4);
    let log_path = file(dir.path(), 0, "log");
    let mut bytes = fs::read(&log_path).unwrap();
    bytes[ends[3] as usize - 5] ^= 0xff;
    fs::write(&log_path, &bytes).unwrap();
    let log = Log::open(dir.path(), config, false).unwrap();
    assert_eq!(consume(&log), offsets[..3]);
    assert_eq!(fs::metadata(&log_path).unwrap().len(), ends[2]);
}

#[test]
fn short_index_is_completed_and_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(1 << 20);
    let mut log = Log::open(dir.path(), config.clone(), true).unwrap();
    for i in 0..20 {
        append(&mut log, &batch_n(1, i, 150));
    }
    let entries: Vec<_> = log
        .segments()
        .next()
        .unwrap()
        .offset_index()
        .iter()
        .collect();
    assert!(entries.len() > 5);
    log.close().unwrap();
    drop(log);
    let index_path = file(dir.path(), 0, "index");
    set_len(&index_path, 16); // lost all but two entries

    let log = Log::open(dir.path(), config, true).unwrap();
    let seg = log.segments().next().unwrap();
    assert_eq!(seg.offset_index().iter().collect::<Vec<_>>(), entries);
    assert_eq!(
        fs::metadata(&index_path).unwrap().len(),
        8 * entries.len() as u64
    );
}

#[test]
fn missing_indexes_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(1 << 20);
    let mut log = Log::open(dir.path(), config.clone(), true).unwrap();
    let mut offsets = Vec::new();
    for i in 0..30 {
        offsets.push(append(
            &mut log,
            &batch(&[(i * 3, b"abcdefgh"), (i * 3 + 1, b"x")]),
        ));
    }
    let entries: Vec<_> = log
        .segments()
        .next()
        .unwrap()
        .offset_index()
        .iter()
        .collect();
    let max = log.max_timestamp();
    assert!(entries.len() > 5);
    log.close().unwrap();
    drop(log);
    fs::remove_file(file(dir.path(), 0, "index")).unwrap();
    fs::remove_file(file(dir.path(), 0, "timeindex")).unwrap();

    let log = Log::open(dir.path(), config, true).unwrap();
    let seg = log.segments().next().unwrap();
    assert_eq!(seg.offset_index().iter().collect::<Vec<_>>(), entries);
    assert_eq!(consume(&log), offsets);
    assert_eq!(log.max_timestamp(), max);
    assert_eq!(log.offset_for_timestamp(31).unwrap(), Some((21, 31)));
}

#[test]
fn index_entries_past_the_surviving_log_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(1 << 20);
    let (offsets, ends) = crashed_log(dir.path(), &config, 12);
    // Lose the last five batches, as a power cut may: the index still points there.
    set_len(&file(dir.path(), 0, "log"), ends[6]);
    let mut log = Log::open(dir.path(), config, false).unwrap();
    assert_eq!(consume(&log), offsets[..7]);
    let seg = log.segments().next().unwrap();
    assert!(seg.offset_index().iter().all(|(o, _)| o <= offsets[6].0));
    assert!(seg.time_index().iter().all(|(_, o)| o <= offsets[6].0));
    assert_eq!(append(&mut log, &batch_n(1, 1, 1)).0, offsets[6].1 + 1);
}

#[test]
fn an_index_entry_pointing_at_the_wrong_batch_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(1 << 20);
    let (offsets, _) = crashed_log(dir.path(), &config, 10);
    let index_path = file(dir.path(), 0, "index");
    let mut raw = fs::read(&index_path).unwrap();
    let n = raw.iter().rposition(|&b| b != 0).unwrap() / 8; // last entry
    let pos = u32::from_be_bytes(raw[n * 8 + 4..n * 8 + 8].try_into().unwrap());
    raw[n * 8 + 4..n * 8 + 8].copy_from_slice(&(pos + 1).to_be_bytes());
    fs::write(&index_path, &raw).unwrap();
    let log = Log::open(dir.path(), config, false).unwrap();
    assert_eq!(consume(&log), offsets);
    let seg = log.segments().next().unwrap();
    for (o, p) in seg.offset_index().iter() {
        let bytes = log.read(o, 1, true).unwrap().unwrap();
        assert_eq!(BatchHeader::new(&bytes).unwrap().base_offset(), o);
        assert!(seg.read(o, 1, true).unwrap().is_some());
        assert!((p as usize) < seg.size());
    }
}

#[test]
fn empty_newest_segment_after_a_crash_mid_roll() {
    // The previous segment lost its tail: the empty newest one would leave a hole.
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(1 << 20);
    let (offsets, ends) = crashed_log(dir.path(), &config, 4);
    set_len(&file(dir.path(), 0, "log"), ends[2] + 10);
    let end = offsets[3].1 + 1;
    fs::write(file(dir.path(), end, "log"), b"").unwrap();
    let mut log = Log::open(dir.path(), config.clone(), false).unwrap();
    assert_eq!(log.segments().count(), 1);
    assert!(!file(dir.path(), end, "log").exists());
    assert_eq!(consume(&log), offsets[..3]);
    assert_eq!(append(&mut log, &batch_n(1, 1, 1)).0, offsets[2].1 + 1);

    // The previous segment is whole (but untrimmed): both stay, the previous trimmed.
    let dir = tempfile::tempdir().unwrap();
    let (offsets, ends) = crashed_log(dir.path(), &config, 4);
    let end = offsets[3].1 + 1;
    fs::write(file(dir.path(), end, "log"), b"").unwrap();
    let mut log = Log::open(dir.path(), config, false).unwrap();
    assert_eq!(log.segments().count(), 2);
    assert_eq!(
        fs::metadata(file(dir.path(), 0, "log")).unwrap().len(),
        ends[3]
    );
    assert_eq!(consume(&log), offsets);
    assert_eq!(append(&mut log, &batch_n(1, 1, 1)).0, end);
}

#[test]
fn a_time_index_entry_ahead_of_the_log_is_not_trusted() {
    // Found by the log_recovery fuzz target: after a clean shutdown, a time index whose
    // last entry names a later offset than the batches that carry larger timestamps
    // was kept, and sealing the segment at the next close failed.
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(1 << 20);
    let mut log = Log::open(dir.path(), config.clone(), true).unwrap();
    let mut offsets = Vec::new();
    for i in 0..10 {
        offsets.push(append(&mut log, &batch_n(1, 100 + i, 150)));
    }
    log.close().unwrap();
    drop(log);
    set_len(&file(dir.path(), 0, "index"), 0);
    let mut entry = 1i64.to_be_bytes().to_vec();
    entry.extend_from_slice(&8u32.to_be_bytes());
    fs::write(file(dir.path(), 0, "timeindex"), &entry).unwrap();

    let mut log = Log::open(dir.path(), config.clone(), true).unwrap();
    assert_eq!(consume(&log), offsets);
    assert_eq!(log.max_timestamp(), Some((109, 9)));
    assert_eq!(log.offset_for_timestamp(105).unwrap(), Some((5, 105)));
    log.close().unwrap();
    drop(log);
    let log = Log::open(dir.path(), config, true).unwrap();
    assert_eq!(consume(&log), offsets);
}
