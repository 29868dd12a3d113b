//! Log compaction at scale (issue: "compaction of a 1 GiB log with 1 million
//! distinct keys finishes within a few times the time it takes to read 1 GiB
//! from disk, with produce throughput on other partitions not falling by more
//! than 20% while it runs").
//!
//! Not a criterion bench: one compaction rewrites the log, so it is run once.
//! `cargo bench --bench compaction` (as root it drops the page cache before the
//! read that serves as the yardstick):
//!
//! 1. fills a compacted topic with 4 Mi records of 256 B values over 1 Mi
//!    distinct keys (1 GiB of batches, 128 MiB segments) by direct appends;
//! 2. reads its segment files from disk (cold, then warm): the yardstick;
//! 3. starts `runnel perf produce` (1 KiB records, acks=1) to another topic
//!    over TCP, lets it run alone for 10 s, then runs one cleaning pass (what
//!    the log-cleaner thread does every log.cleaner.backoff.ms, at the same
//!    lowered priority) while it goes on, and compares its per-second
//!    throughput before and during. Both windows are in the same steady state
//!    of the page cache: nothing syncs between them.
//! 4. the control: deletes that topic, syncs, and runs the same producer
//!    timeline again on a new topic, without the cleaning, for as long as the
//!    cleaning took. A producer saturating the disk slows down over time by
//!    itself (the page cache fills, its writeback catches up): the honest
//!    figure is its rate while cleaning against the control's rate in the same
//!    window, which the bench prints last. It also prints the per-second rates
//!    and the page cache's dirty bytes, free memory and reclaim in each window.
//!
//! Variables (none RUNNEL_*): COMPACTION_BENCH_NO_CLEAN=1 runs timeline 3
//! without the cleaning, waiting COMPACTION_BENCH_WINDOW_S (4) seconds
//! instead, and stops there; COMPACTION_BENCH_IO_RATE sets
//! log.cleaner_io_max_bytes_per_second; BENCH_COLD=1 drops the page cache
//! before cleaning; BENCH_DIR is where the data dir goes (default: here).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use runnel::log::validate_batches;
use runnel::topic::NewTopic;
use runnel::{Broker, Config};

const KEYS: usize = 1 << 20;
const RECORDS: usize = 4 << 20;
const VALUE_BYTES: usize = 256;
const PER_BATCH: usize = 64;
const SEGMENT_BYTES: &str = "134217728";
const BASELINE: Duration = Duration::from_secs(10);

fn batch(first: usize, now: i64) -> Bytes {
    let value = Bytes::from(vec![b'v'; VALUE_BYTES]);
    let records: Vec<Record> = (0..PER_BATCH)
        .map(|i| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp: now,
            key: Some(Bytes::from(format!("key-{:08}", (first + i) % KEYS))),
            value: Some(value.clone()),
            headers: Default::default(),
            delete_horizon: false,
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
    buf.freeze()
}

fn drop_page_cache() -> bool {
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

/// Reads every .log file under `dir`; returns (bytes, seconds).
fn read_segments(dir: &Path) -> (u64, f64) {
    let started = Instant::now();
    let mut total = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    for f in files {
        let mut file = std::fs::File::open(f).unwrap();
        loop {
            let n = file.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            total += n as u64;
        }
    }
    (total, started.elapsed().as_secs_f64())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir =
        tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| ".".into())).unwrap();
    let mut config = Config {
        listen: "127.0.0.1:0".into(),
        http_listen: "off".into(),
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    // This bench runs the one cleaning pass itself.
    config.log.cleaner_backoff_ms = 3_600_000;
    if let Some(rate) = std::env::var("COMPACTION_BENCH_IO_RATE")
        .ok()
        .and_then(|r| r.parse().ok())
    {
        config.log.cleaner_io_max_bytes_per_second = rate;
    }
    let broker = rt.block_on(Broker::start(config)).unwrap();
    let state = broker.state().clone();
    let new = |name: &str, configs: &[(&str, &str)]| NewTopic {
        name: name.into(),
        partitions: 1,
        replication_factor: 1,
        configs: configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let compacted = state
        .topics
        .create(new(
            "compacted",
            &[
                ("cleanup.policy", "compact"),
                ("segment.bytes", SEGMENT_BYTES),
            ],
        ))
        .unwrap();
    state.topics.create(new("other", &[])).unwrap();

    let now = runnel::broker::now_ms();
    let partition = compacted.partition(0).unwrap().clone();
    let started = Instant::now();
    for first in (0..RECORDS).step_by(PER_BATCH) {
        let b = batch(first, now);
        let infos = validate_batches(&b).unwrap();
        partition.append(&b, &infos, now).unwrap();
    }
    partition.flush().unwrap();
    let log_dir = dir.path().join("compacted-0");
    let (size, _) = read_segments(&log_dir);
    println!(
        "filled: {} records, {} distinct keys, {:.0} MiB in {:.1} s",
        RECORDS,
        KEYS,
        size as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64()
    );

    let cold = drop_page_cache();
    let (bytes, secs) = read_segments(&log_dir);
    let read_cold = secs;
    println!(
        "read {:.0} MiB from disk ({}): {:.2} s, {:.0} MiB/s",
        bytes as f64 / (1 << 20) as f64,
        if cold {
            "page cache dropped"
        } else {
            "page cache NOT dropped: not root"
        },
        secs,
        bytes as f64 / (1 << 20) as f64 / secs
    );
    let (_, read_warm) = read_segments(&log_dir);
    println!("read again (warm): {read_warm:.2} s");

    let no_clean = std::env::var_os("COMPACTION_BENCH_NO_CLEAN").is_some();
    let addr = broker.local_addr().to_string();
    let memory = MemSampler::start();

    // Timeline 1: the producer alone for BASELINE, then the cleaning pass (or,
    // with COMPACTION_BENCH_NO_CLEAN=1, a plain wait of COMPACTION_BENCH_WINDOW_S).
    let producer = Producer::start(&addr, "other");
    std::thread::sleep(BASELINE);
    // The log is cleaned from the page cache, as a recently written one is.
    // BENCH_COLD=1 drops the cache first, but its sync also flushes what the
    // producer has dirtied, so the producer then runs faster than before for
    // reasons that have nothing to do with the cleaner.
    if std::env::var_os("BENCH_COLD").is_some() && !no_clean {
        drop_page_cache();
    }
    let t0 = Instant::now();
    let window = if no_clean {
        let secs = std::env::var("COMPACTION_BENCH_WINDOW_S")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(4.0);
        std::thread::sleep(Duration::from_secs_f64(secs));
        t0.elapsed()
    } else {
        // As the broker's log-cleaner thread does it: at a lower CPU priority.
        let topics = state.topics.clone();
        let stats = std::thread::spawn(move || {
            runnel::topic::lower_thread_priority();
            topics.clean_logs(runnel::broker::now_ms())
        })
        .join()
        .unwrap();
        let clean_secs = t0.elapsed().as_secs_f64();
        let (size_after, _) = read_segments(&log_dir);
        println!(
            "cleaned: {} segments rewritten, {} records removed, {:.0} -> {:.0} MiB on disk, in {:.2} s ({:.1}x the cold read, {:.1}x the warm read)",
            stats.segments_rewritten,
            stats.records_removed,
            stats.bytes_before as f64 / (1 << 20) as f64,
            size_after as f64 / (1 << 20) as f64,
            clean_secs,
            clean_secs / read_cold,
            clean_secs / read_warm,
        );
        t0.elapsed()
    };
    std::thread::sleep(Duration::from_secs(1));
    let first = producer.stop();
    let label = if no_clean {
        "without cleaning (control)"
    } else {
        "while cleaning"
    };
    let (before, during) = first.windows(t0, window);
    let (m1b, m1d) = memory.windows(t0, window);
    println!(
        "produce to another topic: {:.0} MB/s before (median of {} s), {:.0} MB/s {label} (median of {} s): {:.0} % of before",
        median(before.clone()),
        before.len(),
        median(during.clone()),
        during.len(),
        percent(median(during.clone()), median(before.clone())),
    );
    println!(
        "  per second from t0-{}s: {}",
        BASELINE.as_secs(),
        first.timeline(t0)
    );
    println!("  page cache before: {m1b}\n  page cache {label}: {m1d}");
    if no_clean {
        drop(memory);
        rt.block_on(broker.shutdown()).unwrap();
        return;
    }

    // Timeline 2, the control: the same producer from the same start (its first
    // topic deleted, the page cache synced, as before timeline 1) for the same
    // time, without the cleaning. What the producer loses here is the page
    // cache's writeback of its own data, not the cleaner.
    state.topics.delete("other").unwrap();
    state.topics.create(new("control", &[])).unwrap();
    unsafe { libc::sync() };
    std::thread::sleep(Duration::from_secs(2));
    let producer = Producer::start(&addr, "control");
    std::thread::sleep(BASELINE);
    let t0 = Instant::now();
    std::thread::sleep(window);
    std::thread::sleep(Duration::from_secs(1));
    let second = producer.stop();
    let (cbefore, cduring) = second.windows(t0, window);
    let (m2b, m2d) = memory.windows(t0, window);
    println!(
        "control, same timeline without cleaning: {:.0} MB/s before (median of {} s), {:.0} MB/s in the cleaning's window (median of {} s)",
        median(cbefore.clone()),
        cbefore.len(),
        median(cduring.clone()),
        cduring.len(),
    );
    println!(
        "  per second from t0-{}s: {}",
        BASELINE.as_secs(),
        second.timeline(t0)
    );
    println!("  page cache before: {m2b}\n  page cache in the window: {m2d}");
    println!(
        "produce while cleaning against the control's same window: {:.0} %",
        percent(median(during), median(cduring)),
    );
    drop(memory);
    rt.block_on(broker.shutdown()).unwrap();
}

fn percent(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        part / whole * 100.0
    } else {
        0.0
    }
}

/// `runnel perf produce` (1 KiB records, acks=1) to `topic`, its per-second
/// lines timestamped as they arrive.
struct Producer {
    child: std::process::Child,
    samples: Arc<Mutex<Vec<(Instant, f64)>>>,
    reader: std::thread::JoinHandle<()>,
}

/// A producer's per-second samples: a sample arriving at t covers (t - 1 s, t].
struct Samples(Vec<(Instant, f64)>);

impl Producer {
    fn start(addr: &str, topic: &str) -> Producer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_runnel"))
            .args([
                "perf",
                "produce",
                topic,
                "--record-size",
                "1024",
                "--acks",
                "1",
            ])
            .args([
                "--num-records",
                "1000000000",
                "--duration",
                "600",
                "-b",
                addr,
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let samples: Arc<Mutex<Vec<(Instant, f64)>>> = Arc::default();
        let reader = {
            let samples = samples.clone();
            let stdout = child.stdout.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let mbs = line
                        .split_once('(')
                        .and_then(|(_, r)| r.split_once(" MB/sec"))
                        .and_then(|(v, _)| v.parse::<f64>().ok());
                    if let Some(mbs) = mbs {
                        samples.lock().unwrap().push((Instant::now(), mbs));
                    }
                }
            })
        };
        Producer {
            child,
            samples,
            reader,
        }
    }

    fn stop(mut self) -> Samples {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = self.reader.join();
        let samples = self.samples.lock().unwrap().clone();
        Samples(samples)
    }
}

impl Samples {
    /// The samples of the baseline before `t0` (its first 2 s left out: the
    /// producer starting) and of the window (t0 + 1 s, t0 + window].
    fn windows(&self, t0: Instant, window: Duration) -> (Vec<f64>, Vec<f64>) {
        let before = self
            .0
            .iter()
            .filter(|(t, _)| *t <= t0 && *t > t0 - BASELINE + Duration::from_secs(2))
            .map(|s| s.1)
            .collect();
        let during = self
            .0
            .iter()
            .filter(|(t, _)| *t > t0 + Duration::from_secs(1) && *t <= t0 + window)
            .map(|s| s.1)
            .collect();
        (before, during)
    }

    fn timeline(&self, t0: Instant) -> String {
        let start = t0 - BASELINE;
        self.0
            .iter()
            .filter(|(t, _)| *t > start)
            .map(|(_, mbs)| format!("{mbs:.0}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The page cache every 250 ms: /proc/meminfo's Dirty + Writeback and MemFree
/// (MiB), /proc/vmstat's pages scanned for reclaim by allocating tasks
/// (pgscan_direct) and by kswapd.
type MemSample = (Instant, [f64; 4]);

struct MemSampler {
    samples: Arc<Mutex<Vec<MemSample>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

/// Medians of Dirty and MemFree, and pages scanned, in a window.
struct MemWindow {
    dirty: f64,
    dirty_max: f64,
    free: f64,
    scan_direct: f64,
    scan_kswapd: f64,
}

impl std::fmt::Display for MemWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Dirty+Writeback {:.0} MiB (max {:.0}), MemFree {:.0} MiB, pages scanned for reclaim: {:.0} direct, {:.0} kswapd",
            self.dirty, self.dirty_max, self.free, self.scan_direct, self.scan_kswapd
        )
    }
}

fn proc_fields(path: &str, names: &[&str]) -> Vec<f64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    names
        .iter()
        .map(|name| {
            text.lines()
                .filter(|l| l.split([' ', ':']).next() == Some(*name))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
                .sum()
        })
        .collect()
}

impl MemSampler {
    fn start() -> MemSampler {
        let samples: Arc<Mutex<Vec<MemSample>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s, st) = (samples.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(std::sync::atomic::Ordering::Relaxed) {
                let m = proc_fields("/proc/meminfo", &["Dirty", "Writeback", "MemFree"]);
                let v = proc_fields("/proc/vmstat", &["pgscan_direct", "pgscan_kswapd"]);
                let sample = [(m[0] + m[1]) / 1024.0, m[2] / 1024.0, v[0], v[1]];
                s.lock().unwrap().push((Instant::now(), sample));
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        MemSampler { samples, stop }
    }

    /// Before `t0` (as for the producer) and in the window.
    fn windows(&self, t0: Instant, window: Duration) -> (MemWindow, MemWindow) {
        let samples = self.samples.lock().unwrap();
        let pick = |from: Instant, to: Instant| -> MemWindow {
            let w: Vec<[f64; 4]> = samples
                .iter()
                .filter(|(t, _)| *t > from && *t <= to)
                .map(|s| s.1)
                .collect();
            let delta = |i: usize| match (w.first(), w.last()) {
                (Some(a), Some(b)) => b[i] - a[i],
                _ => 0.0,
            };
            MemWindow {
                dirty: median(w.iter().map(|x| x[0]).collect()),
                dirty_max: w.iter().map(|x| x[0]).fold(0.0, f64::max),
                free: median(w.iter().map(|x| x[1]).collect()),
                scan_direct: delta(2),
                scan_kswapd: delta(3),
            }
        };
        (
            pick(t0 - BASELINE + Duration::from_secs(2), t0),
            pick(t0 + Duration::from_secs(1), t0 + window),
        )
    }
}

impl Drop for MemSampler {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
