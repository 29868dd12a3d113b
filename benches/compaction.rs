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
//!    over TCP, lets it run alone for a while, then runs one cleaning pass
//!    (what the log-cleaner thread does every log.cleaner.backoff.ms, at the
//!    same lowered priority) while it goes on, and compares its per-second
//!    throughput before and during. Both windows are in the same steady state
//!    of the page cache: nothing syncs between them.

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

    // The producer on the other topic, its per-second lines timestamped.
    let addr = broker.local_addr().to_string();
    let mut perf = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args([
            "perf",
            "produce",
            "other",
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
            &addr,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let samples: Arc<Mutex<Vec<(Instant, f64)>>> = Arc::default();
    let reader = {
        let samples = samples.clone();
        let stdout = perf.stdout.take().unwrap();
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
    std::thread::sleep(BASELINE);
    // The log is cleaned from the page cache, as a recently written one is.
    // BENCH_COLD=1 drops the cache first, but its sync also flushes what the
    // producer has dirtied, so the producer then runs faster than before for
    // reasons that have nothing to do with the cleaner.
    if std::env::var_os("BENCH_COLD").is_some() {
        drop_page_cache();
    }
    // As the broker's log-cleaner thread does it: at a lower CPU priority.
    let clean_start = Instant::now();
    let topics = state.topics.clone();
    let stats = std::thread::spawn(move || {
        runnel::topic::lower_thread_priority();
        topics.clean_logs(runnel::broker::now_ms())
    })
    .join()
    .unwrap();
    let clean_end = Instant::now();
    let clean_secs = (clean_end - clean_start).as_secs_f64();
    std::thread::sleep(Duration::from_secs(1));
    let _ = perf.kill();
    let _ = perf.wait();
    let _ = reader.join();

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
    let samples = samples.lock().unwrap();
    // A one-second sample ending at t covers (t - 1 s, t].
    let before: Vec<f64> = samples
        .iter()
        .filter(|(t, _)| *t <= clean_start && *t > clean_start - BASELINE + Duration::from_secs(2))
        .map(|s| s.1)
        .collect();
    let during: Vec<f64> = samples
        .iter()
        .filter(|(t, _)| *t > clean_start + Duration::from_secs(1) && *t <= clean_end)
        .map(|s| s.1)
        .collect();
    let (b, d) = (median(before.clone()), median(during.clone()));
    println!(
        "produce to another topic: {b:.0} MB/s before (median of {} s), {d:.0} MB/s while cleaning (median of {} s): {:.0} %",
        before.len(),
        during.len(),
        if b > 0.0 { d / b * 100.0 } else { 0.0 }
    );
    drop(samples);
    rt.block_on(broker.shutdown()).unwrap();
}
