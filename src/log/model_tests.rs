//! Property test: the log and its indexes against a simple model (a BTreeMap of base
//! offset -> batch), across random appends, reads, timestamp look-ups, rolls (tiny
//! segments and indexes), clean reopens, crashes and torn tails.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::Path;

use proptest::prelude::*;

use super::batch::{BatchHeader, validate_batches};
use super::testutil::batch;
use super::{Log, LogConfig, LogError};

#[derive(Debug, Clone)]
enum Op {
    /// Batches, each a list of record timestamps, appended in one call.
    Append(Vec<(Vec<i64>, usize)>),
    Read {
        pick: usize,
        max_bytes: MaxBytes,
        min_one: bool,
    },
    Timestamp(i64),
    /// Close and reopen clean, or drop (a crash) and reopen unclean.
    Reopen {
        clean: bool,
    },
    /// Crash in the middle of writing the last batch: its tail never reached the file.
    TearLastBatch(usize),
}

/// A fetch size: fixed, or the size of the next `k` batches give or take a byte (to hit
/// the boundaries).
#[derive(Debug, Clone, Copy)]
enum MaxBytes {
    Fixed(usize),
    Batches(usize, i8),
}

fn max_bytes() -> impl Strategy<Value = MaxBytes> {
    prop_oneof![
        (0usize..600).prop_map(MaxBytes::Fixed),
        (1usize..4, -1i8..=1).prop_map(|(k, d)| MaxBytes::Batches(k, d)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let batch = (prop::collection::vec(0i64..1000, 1..4), 0usize..120);
    prop_oneof![
        6 => prop::collection::vec(batch, 1..4).prop_map(Op::Append),
        4 => (any::<usize>(), max_bytes(), any::<bool>())
            .prop_map(|(pick, max_bytes, min_one)| Op::Read { pick, max_bytes, min_one }),
        1 => (0i64..1100).prop_map(Op::Timestamp),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
        1 => (1usize..1000).prop_map(Op::TearLastBatch),
    ]
}

fn config() -> impl Strategy<Value = LogConfig> {
    (
        150u64..1500,
        prop_oneof![Just(0u32), Just(64), Just(4096)],
        prop_oneof![Just(24u32), Just(48), Just(4096)],
    )
        .prop_map(
            |(segment_bytes, index_interval_bytes, segment_index_bytes)| LogConfig {
                segment_bytes,
                segment_ms: u64::MAX,
                index_interval_bytes,
                segment_index_bytes,
            },
        )
}

/// One stored batch: its bytes as the log holds them and its record timestamps.
struct Stored {
    bytes: Vec<u8>,
    timestamps: Vec<i64>,
}

#[derive(Default)]
struct Model {
    batches: BTreeMap<i64, Stored>,
    end: i64,
}

impl Model {
    fn batch_holding(&self, offset: i64) -> Option<i64> {
        self.batches.range(..=offset).next_back().map(|(&b, _)| b)
    }

    fn offset_for_timestamp(&self, ts: i64) -> Option<(i64, i64)> {
        self.batches.iter().find_map(|(&base, s)| {
            let (i, &t) = s.timestamps.iter().enumerate().find(|&(_, &t)| t >= ts)?;
            Some((base + i as i64, t))
        })
    }

    fn max_timestamp(&self) -> Option<(i64, i64)> {
        let mut best: Option<(i64, i64)> = None;
        for (&base, s) in &self.batches {
            for (i, &t) in s.timestamps.iter().enumerate() {
                if best.is_none_or(|(b, _)| t > b) {
                    best = Some((t, base + i as i64));
                }
            }
        }
        best
    }
}

fn check_read(log: &Log, model: &Model, offset: i64, max_bytes: usize, min_one: bool) {
    let got = log.read(offset, max_bytes, min_one);
    if offset > model.end || offset < 0 {
        assert!(matches!(got, Err(LogError::OffsetOutOfRange { .. })));
        return;
    }
    let got = got.unwrap();
    if offset == model.end {
        assert!(got.is_none());
        return;
    }
    let first = model.batch_holding(offset).unwrap();
    let first_len = model.batches[&first].bytes.len();
    if first_len > max_bytes && !min_one {
        assert!(got.is_none());
        return;
    }
    let got = got.expect("data below the log end");
    // Whole batches, in order, from the one holding `offset`.
    let mut expected = Vec::new();
    let mut count = 0;
    for (_, s) in model.batches.range(first..) {
        if expected.len() >= got.len() {
            break;
        }
        expected.extend_from_slice(&s.bytes);
        count += 1;
    }
    assert_eq!(&got[..], &expected[..], "read at {offset}");
    assert!(got.len() <= max_bytes || count == 1);
    // As much as fits: the read stops at max_bytes or at the end of the segment.
    let segment_end = log
        .segments()
        .find(|s| s.base_offset() <= first && first < s.next_offset())
        .unwrap()
        .next_offset();
    if let Some((&next, s)) = model.batches.range(first..).nth(count)
        && next < segment_end
    {
        assert!(
            got.len() + s.bytes.len() > max_bytes,
            "read at {offset} stopped early"
        );
    }
}

fn tear_last_batch(dir: &Path, log: Log, model: &mut Model, cut: usize) -> Log {
    let Some((&base, last)) = model.batches.iter().next_back() else {
        return log;
    };
    // The newest segment may be empty (a torn first batch); the last batch is in the
    // newest non-empty one.
    let segment = log.segments().filter(|s| !s.is_empty()).last().unwrap();
    let (path, valid) = (segment.log_file().path().to_path_buf(), segment.size());
    let config = log.config().clone();
    drop(log);
    let cut = 1 + cut % (last.bytes.len() - 1);
    let file = OpenOptions::new().write(true).open(path).unwrap();
    file.set_len((valid - cut) as u64).unwrap();
    model.batches.remove(&base);
    model.end = base;
    Log::open(dir, config, false).unwrap()
}

fn run(config: LogConfig, ops: Vec<Op>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("topic-0");
    let mut log = Log::open(&dir, config.clone(), true).unwrap();
    let mut model = Model::default();
    for op in ops {
        match op {
            Op::Append(specs) => {
                let parts: Vec<Vec<u8>> = specs
                    .iter()
                    .map(|(ts, len)| {
                        let value = vec![b'x'; *len];
                        let recs: Vec<(i64, &[u8])> = ts.iter().map(|&t| (t, &value[..])).collect();
                        batch(&recs)
                    })
                    .collect();
                let records = parts.concat();
                let infos = validate_batches(&records).unwrap();
                let info = log.append(&records, &infos, 0).unwrap();
                assert_eq!(info.base_offset, model.end);
                let mut offset = model.end;
                for (mut bytes, (timestamps, _)) in parts.into_iter().zip(specs) {
                    bytes[..8].copy_from_slice(&offset.to_be_bytes());
                    let n = timestamps.len() as i64;
                    model.batches.insert(offset, Stored { bytes, timestamps });
                    offset += n;
                }
                model.end = offset;
                assert_eq!(info.last_offset, offset - 1);
            }
            Op::Read {
                pick,
                max_bytes,
                min_one,
            } => {
                let offset = (pick % (model.end as usize + 3)) as i64 - 1;
                let max_bytes = match max_bytes {
                    MaxBytes::Fixed(n) => n,
                    MaxBytes::Batches(k, d) => {
                        let first = model.batch_holding(offset.max(0)).unwrap_or(0);
                        let sum: usize = model
                            .batches
                            .range(first..)
                            .take(k)
                            .map(|(_, s)| s.bytes.len())
                            .sum();
                        sum.saturating_add_signed(isize::from(d))
                    }
                };
                check_read(&log, &model, offset, max_bytes, min_one);
            }
            Op::Timestamp(ts) => {
                assert_eq!(
                    log.offset_for_timestamp(ts).unwrap(),
                    model.offset_for_timestamp(ts)
                );
            }
            Op::Reopen { clean } => {
                if clean {
                    log.close().unwrap();
                }
                drop(log);
                log = Log::open(&dir, config.clone(), clean).unwrap();
            }
            Op::TearLastBatch(cut) => log = tear_last_batch(&dir, log, &mut model, cut),
        }
        assert_eq!(log.log_end_offset(), model.end);
        assert_eq!(log.max_timestamp(), model.max_timestamp());
        check_indexes(&log);
    }
    check_read(&log, &model, 0, usize::MAX, true);
}

/// Every index entry of every segment names a batch that starts at its position.
fn check_indexes(log: &Log) {
    for seg in log.segments() {
        assert!(seg.base_offset() <= seg.next_offset());
        for (offset, pos) in seg.offset_index().iter() {
            let bytes = seg
                .log_file()
                .as_slice(pos as usize, 61)
                .expect("entry inside the log");
            assert_eq!(BatchHeader::new(bytes).unwrap().base_offset(), offset);
        }
        for (_, offset) in seg.time_index().iter() {
            assert!(
                offset >= seg.base_offset()
                    && offset < seg.next_offset().max(seg.base_offset() + 1)
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn log_matches_model(config in config(), ops in prop::collection::vec(op(), 1..40)) {
        run(config, ops);
    }
}
