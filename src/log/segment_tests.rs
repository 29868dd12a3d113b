use super::*;
use crate::log::batch::validate_batches;
use crate::log::testutil::{batch, batch_n, small_config};

fn segment(base: i64) -> (tempfile::TempDir, LogSegment) {
    let dir = tempfile::tempdir().unwrap();
    let seg = LogSegment::create(dir.path(), base, &small_config(1 << 20), 1 << 20).unwrap();
    (dir, seg)
}

fn append(seg: &mut LogSegment, records: &[u8]) {
    let infos = validate_batches(records).unwrap();
    let first = seg.next_offset();
    seg.append(records, &infos, first, 0).unwrap();
}

fn base_offsets(mut bytes: &[u8]) -> Vec<i64> {
    let mut out = Vec::new();
    while let Some(h) = BatchHeader::new(bytes) {
        out.push(h.base_offset());
        bytes = &bytes[h.size().unwrap()..];
    }
    out
}

#[test]
fn append_assigns_offsets_and_reads_whole_batches() {
    let (dir, mut seg) = segment(100);
    let a = batch_n(3, 10, 5);
    let b = batch_n(2, 20, 5);
    append(&mut seg, &[a.clone(), b.clone()].concat());
    assert_eq!(seg.next_offset(), 105);
    let all = seg.read(100, 1 << 20, false).unwrap().unwrap();
    assert_eq!(all.len(), a.len() + b.len());
    assert_eq!(base_offsets(&all), vec![100, 103]);
    // Only the base offset changed, and the CRC still holds.
    assert_eq!(&all[8..a.len()], &a[8..]);
    assert!(validate_batches(&all).is_ok());
    // A start offset inside a batch returns that whole batch.
    assert_eq!(
        base_offsets(&seg.read(101, 1 << 20, false).unwrap().unwrap()),
        vec![100, 103]
    );
    assert_eq!(
        base_offsets(&seg.read(104, 1 << 20, false).unwrap().unwrap()),
        vec![103]
    );
    assert!(seg.read(105, 1 << 20, false).unwrap().is_none());
    assert!(dir.path().join("00000000000000000100.log").exists());
    assert!(dir.path().join("00000000000000000100.index").exists());
    assert!(dir.path().join("00000000000000000100.timeindex").exists());
}

#[test]
fn at_least_one_batch_rule() {
    let (_dir, mut seg) = segment(0);
    let a = batch_n(1, 1, 100);
    let b = batch_n(1, 2, 100);
    append(&mut seg, &a);
    append(&mut seg, &b);
    assert!(seg.read(0, 10, false).unwrap().is_none());
    assert_eq!(seg.read(0, 10, true).unwrap().unwrap().len(), a.len());
    assert_eq!(
        seg.read(0, a.len() + b.len() - 1, true)
            .unwrap()
            .unwrap()
            .len(),
        a.len()
    );
    assert_eq!(
        seg.read(0, a.len() + b.len(), false)
            .unwrap()
            .unwrap()
            .len(),
        a.len() + b.len()
    );
    assert_eq!(seg.read(1, 0, true).unwrap().unwrap().len(), b.len());
}

#[test]
fn sparse_index_points_at_batch_starts() {
    let (_dir, mut seg) = segment(1000);
    for _ in 0..20 {
        append(&mut seg, &batch_n(2, 5, 60)); // ~150 bytes, interval 100
    }
    let entries: Vec<_> = seg.offset_index().iter().collect();
    assert!(entries.len() >= 9, "{entries:?}");
    for (offset, pos) in &entries {
        let (h, _) = seg.batch_at(*pos as usize).unwrap();
        assert_eq!(h.base_offset(), *offset);
    }
    for target in [1000, 1001, 1017, 1039] {
        let (o, p) = seg.offset_index().lookup(target);
        assert!(o <= target);
        let got = seg.read(target, 1, true).unwrap().unwrap();
        let h = BatchHeader::new(&got).unwrap();
        assert!(h.base_offset() <= target && target <= h.last_offset());
        assert!(p as usize <= seg.size());
    }
}

#[test]
fn reads_end_at_the_last_whole_batch_that_fits_with_the_index_skipping_ahead() {
    let (_dir, mut seg) = segment(0);
    for _ in 0..40 {
        append(&mut seg, &batch_n(2, 5, 60)); // ~150 bytes, interval 100
    }
    let sizes: Vec<usize> = {
        let all = seg.read(0, usize::MAX, false).unwrap().unwrap();
        validate_batches(&all)
            .unwrap()
            .iter()
            .map(|b| b.size)
            .collect()
    };
    // What a walk over every header gives: from batch `first`, whole batches
    // while the total stays within `max`.
    let walked = |first: usize, max: usize| {
        let mut total = sizes[first];
        for s in &sizes[first + 1..] {
            if total + s > max {
                break;
            }
            total += s;
        }
        total
    };
    for first in [0, 1, 7, 20, 39] {
        for max in [1, 150, 700, 1000, 2999, 3000, 100_000] {
            let got = seg.read(first as i64 * 2, max, true).unwrap().unwrap();
            assert_eq!(got.len(), walked(first, max), "batch {first}, max {max}");
        }
    }
}

#[test]
fn timestamp_lookups() {
    let (_dir, mut seg) = segment(0);
    append(&mut seg, &batch(&[(100, b"a"), (150, b"b")])); // 0, 1
    append(&mut seg, &batch(&[(120, b"c"), (400, b"d"), (300, b"e")])); // 2..4
    for _ in 0..5 {
        append(&mut seg, &batch_n(1, 200, 100)); // 5..9
    }
    append(&mut seg, &batch(&[(500, b"f"), (500, b"g")])); // 10, 11
    let find = |ts| seg.find_offset_by_timestamp(ts).unwrap();
    assert_eq!(find(0), Some((0, 100)));
    assert_eq!(find(150), Some((1, 150)));
    assert_eq!(find(151), Some((3, 400)));
    assert_eq!(find(401), Some((10, 500)));
    assert_eq!(find(501), None);
    assert_eq!(seg.max_timestamp(), Some((500, 10)));
    assert_eq!(seg.max_timestamp_record().unwrap(), Some((500, 10)));
    assert!(seg.time_index().entries() >= 1);
}

#[test]
fn seal_trims_files_and_records_the_max_timestamp() {
    let (dir, mut seg) = segment(0);
    append(&mut seg, &batch(&[(7, b"x")]));
    let log_path = dir.path().join("00000000000000000000.log");
    assert!(fs::metadata(&log_path).unwrap().len() > seg.size() as u64);
    seg.seal().unwrap();
    assert_eq!(fs::metadata(&log_path).unwrap().len(), seg.size() as u64);
    assert_eq!(seg.time_index().last_entry(), Some((7, 0)));
    let idx = dir.path().join("00000000000000000000.index");
    assert_eq!(fs::metadata(idx).unwrap().len(), 0);
    seg.delete().unwrap();
    assert!(!log_path.exists());
}
