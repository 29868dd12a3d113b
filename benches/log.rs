//! Storage-layer throughput: appending produced record batches to a partition log,
//! and reading the whole log back by offset the way Fetch does.
//!
//! `cargo bench --bench log` (add `-- append` or `-- read` to run one group).
//!
//! Both work on a real [`Log`] in a temp directory, so the figures include the page
//! cache, the mapping and segment rolls, not the network or the request codec.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use runnel::log::{BatchHeader, Log, LogConfig, validate_batches};
use tempfile::TempDir;

/// A producer's batch size (the Java client's default `batch.size` is 16 KiB).
const BATCH_BYTES: usize = 16 * 1024;
/// Segments roll at this size, so a measurement crosses several rolls.
const SEGMENT_BYTES: u64 = 128 << 20;
/// The append bench starts a fresh log once this much is written, so the disk use
/// stays bounded however many iterations criterion asks for.
const APPEND_LOG_CAP: u64 = 1 << 30;
/// Size of the log the read bench reads back.
const READ_LOG_BYTES: u64 = 256 << 20;
/// `max_bytes` of one read, as a consumer's `fetch.max.bytes`/partition limit.
const READ_MAX_BYTES: usize = 1 << 20;
/// A fixed "now": time-based rolling never triggers.
const NOW_MS: i64 = 1_700_000_000_000;

/// One v2 batch of uncompressed `value_len`-byte records (null keys, no headers),
/// as many as fit in `max_size` bytes, with a valid CRC32C; built by kafka-protocol's
/// encoder, as a client would.
fn batch_of(value_len: usize, max_size: usize) -> Bytes {
    let encode = |n: usize| {
        let value = Bytes::from(vec![b'x'; value_len]);
        let records: Vec<Record> = (0..n)
            .map(|i| Record {
                transactional: false,
                control: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // In step with the offset (base -1), so the encoder keeps one batch.
                sequence: i as i32 - 1,
                timestamp: NOW_MS + i as i64,
                key: None,
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
    };
    let mut n = max_size / value_len;
    loop {
        let batch = encode(n);
        if batch.len() <= max_size || n == 1 {
            return batch;
        }
        n -= 1;
    }
}

fn log_config() -> LogConfig {
    LogConfig {
        segment_bytes: SEGMENT_BYTES,
        ..LogConfig::default()
    }
}

fn open_log(dir: &Path) -> Log {
    Log::open(&dir.join("bench-0"), log_config(), true).unwrap()
}

/// What the produce path does with a request's records: validate (headers, CRC32C),
/// then append (offsets assigned, one copy into the active segment).
fn produce(log: &mut Log, records: &[u8]) {
    let batches = validate_batches(records).unwrap();
    log.append(records, &batches, NOW_MS).unwrap();
}

/// A log that is thrown away and started afresh (outside the timed part) when full.
struct AppendLog {
    _dir: TempDir,
    log: Log,
}

impl AppendLog {
    fn new() -> AppendLog {
        let dir = tempfile::tempdir().unwrap();
        let log = open_log(dir.path());
        AppendLog { _dir: dir, log }
    }

    /// Batches of `batch_len` bytes that still fit under the cap; starts a fresh log
    /// when none does.
    fn room(&mut self, batch_len: u64) -> u64 {
        let left = APPEND_LOG_CAP.saturating_sub(self.log.size_bytes()) / batch_len;
        if left > 0 {
            return left;
        }
        *self = AppendLog::new();
        APPEND_LOG_CAP / batch_len
    }
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("log_append");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(6));
    for value_len in [100usize, 1024] {
        let batch = batch_of(value_len, BATCH_BYTES);
        let len = batch.len() as u64;
        group.throughput(Throughput::Bytes(len));
        let name = format!("{value_len}B_records_16KiB_batches");
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            let mut target = AppendLog::new();
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let n = target.room(len).min(iters - done);
                    let start = Instant::now();
                    for _ in 0..n {
                        produce(&mut target.log, &batch);
                    }
                    elapsed += start.elapsed();
                    done += n;
                }
                elapsed
            });
        });
    }
    group.finish();
}

/// The offset after the last batch in `chunk` (whole batches, as `Log::read` returns).
fn next_offset(chunk: &[u8]) -> i64 {
    let mut pos = 0;
    let mut next = -1;
    while let Some(header) = chunk.get(pos..).and_then(BatchHeader::new) {
        next = header.last_offset() + 1;
        pos += header.size().unwrap();
    }
    next
}

/// Reads the whole log from offset 0 in `READ_MAX_BYTES` steps; `f` sees each chunk.
/// Returns the bytes read.
fn read_all(log: &Log, mut f: impl FnMut(&Bytes)) -> u64 {
    let mut offset = log.log_start_offset();
    let mut total = 0;
    while let Some(chunk) = log.read(offset, READ_MAX_BYTES, true).unwrap() {
        f(&chunk);
        total += chunk.len() as u64;
        offset = next_offset(&chunk);
    }
    total
}

/// A read group: each iteration reads a log of `size` bytes whole.
fn read_group<'a>(c: &'a mut Criterion, name: &str, size: u64) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(6))
        .throughput(Throughput::Bytes(size));
    group
}

fn read(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open_log(dir.path());
    let batch = batch_of(1024, BATCH_BYTES);
    while log.size_bytes() < READ_LOG_BYTES {
        produce(&mut log, &batch);
    }
    let size = read_all(&log, |_| {});
    assert_eq!(size, log.size_bytes());

    let mut group = read_group(c, "log_read", size);
    // What Log::read itself costs: index look-ups, a walk over the batch headers
    // past the last index entry that fits, and a view of the mapping (no record
    // bytes are touched).
    group.bench_function("1MiB_reads_views", |b| {
        b.iter(|| read_all(&log, |chunk| assert!(!chunk.is_empty())))
    });
    // The same plus one copy of every byte, a stand-in for the kernel's copy of the
    // view into the socket buffer on a real fetch.
    let mut out = vec![0u8; READ_MAX_BYTES + BATCH_BYTES];
    group.bench_function("1MiB_reads_copied", |b| {
        b.iter(|| read_all(&log, |chunk| out[..chunk.len()].copy_from_slice(chunk)))
    });
    group.finish();

    // A producer that sends each record alone (linger 0): a megabyte holds about
    // a thousand batch headers.
    let small_dir = tempfile::tempdir().unwrap();
    let mut small = open_log(small_dir.path());
    let one = batch_of(1024, 1200);
    while small.size_bytes() < READ_LOG_BYTES / 4 {
        produce(&mut small, &one);
    }
    let size = read_all(&small, |_| {});
    let mut group = read_group(c, "log_read_1KiB_batches", size);
    group.bench_function("1MiB_reads_views", |b| {
        b.iter(|| read_all(&small, |chunk| assert!(!chunk.is_empty())))
    });
    group.finish();
}

criterion_group!(benches, append, read);
criterion_main!(benches);
