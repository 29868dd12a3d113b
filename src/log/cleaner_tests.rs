use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::*;
use crate::log::batch::validate_batches;
use crate::log::delete_segments;
use crate::log::testutil::small_config;

const TS: i64 = 1_000_000;

/// One batch of `(key, value)` records (None: a tombstone) at timestamp `ts`.
fn keyed(records: &[(&str, Option<&str>)], compression: Compression, ts: i64) -> Vec<u8> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32 - 1,
            timestamp: ts + i as i64,
            key: Some(Bytes::copy_from_slice(k.as_bytes())),
            value: v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
            headers: Default::default(),
            delete_horizon: false,
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
    buf.to_vec()
}

fn append(log: &mut Log, b: &[u8]) -> i64 {
    let infos = validate_batches(b).unwrap();
    log.append(b, &infos, 0).unwrap().base_offset
}

/// Every record from the log start as (offset, key, value), read like a consumer.
fn consume(log: &Log) -> Vec<(i64, String, Option<String>)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while let Some(bytes) = log.read(offset, 1 << 20, true).unwrap() {
        let mut buf = bytes.clone();
        while !buf.is_empty() {
            let header = BatchHeader::new(&buf).unwrap();
            offset = header.last_offset() + 1;
            let set = RecordBatchDecoder::decode(&mut buf).unwrap();
            for r in set.records {
                let s = |b: Bytes| String::from_utf8(b.to_vec()).unwrap();
                out.push((r.offset, s(r.key.unwrap()), r.value.map(s)));
            }
        }
    }
    out
}

fn config(delete_retention_ms: i64) -> CleanerConfig {
    CleanerConfig {
        delete_retention_ms,
        min_cleanable_ratio: 0.5,
        min_compaction_lag_ms: 0,
        max_compaction_lag_ms: i64::MAX,
    }
}

fn unlimited() -> Throttler {
    Throttler::new(crate::log::CLEANER_IO_UNLIMITED)
}

fn clean(log: &mut Log, now: i64, cfg: &CleanerConfig) -> Option<CleanStats> {
    let job = log.clean_job(now, cfg)?;
    let (cleaned, stats) = job.run(now, cfg, &unlimited()).unwrap();
    log.install_cleaned(&job, cleaned).unwrap();
    Some(stats)
}

/// 40 versions of 4 keys in one-record batches, a compressed batch with two more
/// versions, then one batch in the active segment: (log, every record appended).
fn versioned_log(dir: &Path) -> Log {
    let mut log = Log::open(dir, small_config(400), true).unwrap();
    for i in 0..40 {
        let (k, v) = (format!("k{}", i % 4), format!("v{i}"));
        append(
            &mut log,
            &keyed(&[(&k, Some(&v))], Compression::None, TS + i),
        );
    }
    append(
        &mut log,
        &keyed(
            &[
                ("k0", Some("gz0")),
                ("k9", Some("gz9")),
                ("k0", Some("gz0b")),
            ],
            Compression::Gzip,
            TS + 50,
        ),
    );
    // Pushes everything above into sealed segments.
    append(
        &mut log,
        &keyed(&[("k1", Some("active"))], Compression::None, TS + 60),
    );
    append(
        &mut log,
        &keyed(&[("k1", Some("x"))], Compression::None, TS + 61),
    );
    log
}

#[test]
fn keeps_the_latest_record_per_key_at_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = versioned_log(dir.path());
    let before = consume(&log);
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    let active_base = log.active.base_offset();
    let stats = clean(&mut log, TS + 100, &config(i64::MAX)).unwrap();
    assert!(
        stats.segments_rewritten > 0 && stats.records_removed > 30,
        "{stats:?}"
    );
    assert!(stats.bytes_after < stats.bytes_before);

    let after = consume(&log);
    // Expected: in the sealed part, the last record of each key (among sealed ones);
    // the active segment untouched.
    let mut latest: HashMap<&str, i64> = HashMap::new();
    for (o, k, _) in before.iter().filter(|r| r.0 < active_base) {
        latest.insert(k, *o);
    }
    let expected: Vec<_> = before
        .iter()
        .filter(|(o, k, _)| *o >= active_base || latest[k.as_str()] == *o)
        .cloned()
        .collect();
    assert_eq!(after, expected);
    assert!(after.iter().any(|r| r.2.as_deref() == Some("gz0b")));
    assert!(
        after.windows(2).all(|w| w[0].0 < w[1].0),
        "offsets increase"
    );
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (start, end));

    // The indexes point at the right batches: every kept offset reads its record.
    for (o, _, _) in &after {
        let bytes = log.read(*o, 1, true).unwrap().unwrap();
        let h = BatchHeader::new(&bytes).unwrap();
        assert!(h.base_offset() <= *o && *o <= h.last_offset());
    }
    // Reopened cleanly and after a crash, the log reads the same.
    log.close().unwrap();
    drop(log);
    let log = Log::open(dir.path(), small_config(400), true).unwrap();
    assert_eq!(consume(&log), after);
    assert_eq!(log.log_end_offset(), end);
    drop(log);
    for f in fs::read_dir(dir.path()).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e != "log") {
            fs::remove_file(p).unwrap(); // indexes rebuilt from the cleaned logs
        }
    }
    let log = Log::open(dir.path(), small_config(400), false).unwrap();
    assert_eq!(consume(&log), after);
    assert_eq!(log.log_end_offset(), end);
}

#[test]
fn dirty_ratio_and_lags_decide_when_to_clean() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = versioned_log(dir.path());
    let lagging = CleanerConfig {
        min_compaction_lag_ms: 1000,
        ..config(i64::MAX)
    };
    assert!(log.clean_job(TS + 100, &lagging).is_none(), "too young");
    assert!(log.clean_job(TS + 2000, &lagging).is_some());
    clean(&mut log, TS + 100, &config(i64::MAX)).unwrap();
    assert!(
        log.clean_job(TS + 100, &config(i64::MAX)).is_none(),
        "nothing dirty"
    );
    // A little new data is below the ratio, unless max.compaction.lag.ms forces it.
    for i in 0..3 {
        append(
            &mut log,
            &keyed(&[("k2", Some("new"))], Compression::None, TS + 70 + i),
        );
    }
    assert!(log.clean_job(TS + 100, &config(i64::MAX)).is_none());
    let forced = CleanerConfig {
        max_compaction_lag_ms: 1,
        ..config(i64::MAX)
    };
    assert!(log.clean_job(TS + 100, &forced).is_some());
}

#[test]
fn tombstones_go_after_delete_retention_ms() {
    let dir = tempfile::tempdir().unwrap();
    // One batch per segment.
    let mut log = Log::open(dir.path(), small_config(100), true).unwrap();
    append(
        &mut log,
        &keyed(&[("a", Some("1")), ("b", Some("1"))], Compression::None, TS),
    );
    append(&mut log, &keyed(&[("a", None)], Compression::None, TS + 1));
    append(
        &mut log,
        &keyed(&[("c", Some("1"))], Compression::None, TS + 2),
    );
    append(
        &mut log,
        &keyed(&[("d", Some("active"))], Compression::None, TS + 3),
    );
    let end = log.log_end_offset();
    clean(&mut log, TS + 10, &config(1000)).unwrap();
    let keys = |log: &Log| -> Vec<(String, Option<String>)> {
        consume(log).into_iter().map(|(_, k, v)| (k, v)).collect()
    };
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        keys(&log),
        [
            ("b".into(), s("1")),
            ("a".into(), None),
            ("c".into(), s("1")),
            ("d".into(), s("active"))
        ]
    );
    // New dirty data, and later than delete.retention.ms: the tombstone goes.
    append(
        &mut log,
        &keyed(&[("c", Some("2"))], Compression::None, TS + 4),
    );
    append(
        &mut log,
        &keyed(&[("c", Some("3"))], Compression::None, TS + 5),
    );
    let eager = CleanerConfig {
        min_cleanable_ratio: 0.01,
        ..config(1000)
    };
    clean(&mut log, TS + 5000, &eager).unwrap();
    assert!(
        !keys(&log).iter().any(|(k, _)| k == "a"),
        "{:?}",
        keys(&log)
    );
    assert_eq!(log.log_end_offset(), end + 2);
}

#[test]
fn an_interrupted_swap_leaves_the_old_or_the_new_segment() {
    for commit in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let log = versioned_log(dir.path());
        let before = consume(&log);
        let cfg = config(i64::MAX);
        let job = log.clean_job(TS + 100, &cfg).unwrap();
        let (cleaned, _) = job.run(TS + 100, &cfg, &unlimited()).unwrap();
        let bases: Vec<i64> = cleaned.iter().map(|c| c.base).collect();
        assert!(!bases.is_empty());
        let d = dir.path();
        if commit {
            // The first segment got as far as its committed .log.swap (one index
            // renamed into place, one still .swap); the others are still .cleaned.
            let b = bases[0];
            fs::rename(
                cleaned_path(d, b, "index"),
                d.join(segment_file_name(b, "index")),
            )
            .unwrap();
            fs::rename(
                cleaned_path(d, b, "timeindex"),
                swap_path(d, b, "timeindex"),
            )
            .unwrap();
            fs::rename(cleaned_path(d, b, "log"), swap_path(d, b, "log")).unwrap();
        } else {
            fs::rename(
                cleaned_path(d, bases[0], "index"),
                swap_path(d, bases[0], "index"),
            )
            .unwrap();
        }
        // A crash: no close, no install.
        drop(cleaned);
        drop(log);
        let log = Log::open(d, small_config(400), false).unwrap();
        let leftovers: Vec<_> = fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        let after = consume(&log);
        let first_next = log.sealed.values().nth(1).unwrap().base_offset();
        let in_first = |r: &&(i64, String, Option<String>)| r.0 < first_next;
        let old: Vec<_> = before.iter().filter(in_first).collect();
        let now: Vec<_> = after.iter().filter(in_first).collect();
        if commit {
            assert!(now.len() < old.len(), "the cleaned first segment is in");
        } else {
            assert_eq!(now, old, "the old first segment stays");
        }
        assert_eq!(
            after.iter().filter(|r| !in_first(r)).collect::<Vec<_>>(),
            before.iter().filter(|r| !in_first(r)).collect::<Vec<_>>(),
            "the other segments are the old ones"
        );
        for (o, _, _) in &after {
            assert!(log.read(*o, 1, true).unwrap().is_some());
        }
    }
}

#[test]
fn a_segment_changed_meanwhile_is_not_swapped() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = versioned_log(dir.path());
    let cfg = config(i64::MAX);
    let job = log.clean_job(TS + 100, &cfg).unwrap();
    let (cleaned, _) = job.run(TS + 100, &cfg, &unlimited()).unwrap();
    // Retention removed the first segment while the cleaner ran.
    let first = log.sealed.keys().next().copied().unwrap();
    let next = log.sealed.keys().nth(1).copied().unwrap();
    delete_segments(log.delete_records_before(next).unwrap().1);
    let n = cleaned.len();
    assert_eq!(log.install_cleaned(&job, cleaned).unwrap(), n - 1);
    assert!(!dir.path().join(segment_file_name(first, "log")).exists());
    assert!(!cleaned_path(dir.path(), first, "log").exists());
}

/// A clock that moves 1 ms at every reading, and by what is slept.
#[derive(Clone)]
struct TickingClock(std::sync::Arc<std::sync::Mutex<(std::time::Instant, std::time::Duration)>>);

impl crate::log::Clock for TickingClock {
    fn now(&self) -> std::time::Instant {
        let mut s = self.0.lock().unwrap();
        s.0 += std::time::Duration::from_millis(1);
        s.0
    }

    fn sleep(&self, d: std::time::Duration) {
        let mut s = self.0.lock().unwrap();
        s.0 += d;
        s.1 += d;
    }
}

#[test]
fn the_cleaner_holds_its_reads_and_writes_to_the_throttle() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let mut log = versioned_log(dir.path());
    let expected = {
        let copy = tempfile::tempdir().unwrap();
        let mut other = versioned_log(copy.path());
        clean(&mut other, TS + 100, &config(i64::MAX)).unwrap();
        consume(&other)
    };
    let cfg = config(i64::MAX);
    let job = log.clean_job(TS + 100, &cfg).unwrap();
    let start = Instant::now();
    let clock = TickingClock(std::sync::Arc::new(std::sync::Mutex::new((
        start,
        Duration::ZERO,
    ))));
    let rate = 1000.0;
    let throttler = Throttler::with_clock(rate, Duration::from_millis(5), Box::new(clock.clone()));
    let (cleaned, stats) = job.run(TS + 100, &cfg, &throttler).unwrap();
    let (now, slept) = *clock.0.lock().unwrap();
    // Every segment read twice (key map, rewrite) and the survivors written: all
    // but the bytes of the last check interval held to 1000 B/s.
    let bytes = (2 * stats.bytes_before + stats.bytes_after) as f64;
    let secs = (now - start).as_secs_f64();
    assert!(slept > Duration::ZERO);
    assert!(secs * rate > 0.8 * bytes, "{secs} s for {bytes} B");
    assert!(secs * rate < 1.2 * bytes, "{secs} s for {bytes} B");
    log.install_cleaned(&job, cleaned).unwrap();
    assert_eq!(consume(&log), expected);
}

#[test]
fn a_stopped_throttle_aborts_the_cleaning_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = versioned_log(dir.path());
    let before = consume(&log);
    let cfg = config(i64::MAX);
    let job = log.clean_job(TS + 100, &cfg).unwrap();
    let throttler = unlimited();
    throttler.stop();
    assert!(matches!(
        job.run(TS + 100, &cfg, &throttler),
        Err(LogError::CleaningAborted)
    ));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cleaned"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(consume(&log), before);
    // The log is still dirty: the next cleaning (with a running throttle) does it.
    assert!(clean(&mut log, TS + 100, &cfg).is_some());
}
