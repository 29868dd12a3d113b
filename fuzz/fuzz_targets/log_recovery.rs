//! Log recovery from arbitrary files: a partition directory filled with segment
//! files (`.log`, `.index`, `.timeindex`, `.txnindex`, and the `.swap` / `.cleaned`
//! files of an interrupted cleaning) and the data dir's
//! `log-start-offset-checkpoint`, opened as the broker opens its topics at start
//! (after a clean or an unclean shutdown), read from the log start to its end
//! (read_uncommitted and read_committed), closed, and (when the close succeeds)
//! opened again as after a clean shutdown, which must find the same offsets.
//!
//! Input: a flags byte (bit 0: clean shutdown, bit 1: compacted topic), four
//! segment base offsets (i64, big-endian), then entries `kind (u8) | length (u32,
//! big-endian) | bytes`: kind % 9 picks the file (see FILES; 8 is the
//! checkpoint), kind / 9 % 4 the segment.

#![no_main]

use std::fs;
use std::path::Path;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use runnel::Config;
use runnel::log::BatchHeader;
use runnel::topic::{Isolation, TopicDefaults, TopicManager};

const FILES: [&str; 8] = [
    "log",
    "index",
    "timeindex",
    "txnindex",
    "log.swap",
    "index.swap",
    "timeindex.swap",
    "log.cleaned",
];
const TOPIC: &str = "t";
const TOPIC_ID: &str = "0a6b6d4e-54a2-4d2b-9a4e-1b0e8e8c6a11";
/// Bytes asked for per read.
const READ_BYTES: usize = 64 << 10;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Some((bases, mut entries)) = rest.split_first_chunk::<32>() else {
        return;
    };
    let bases: Vec<i64> = bases
        .chunks_exact(8)
        .map(|b| i64::from_be_bytes(b.try_into().expect("8 bytes")))
        .collect();
    let tmp = tempfile::tempdir().expect("temp dir");
    let data_dir = tmp.path();
    let partition_dir = data_dir.join(format!("{TOPIC}-0"));
    fs::create_dir_all(data_dir.join("topics")).expect("topics dir");
    fs::create_dir_all(&partition_dir).expect("partition dir");
    let configs = if flags & 2 != 0 {
        "[configs]\n\"cleanup.policy\" = \"compact\"\n"
    } else {
        ""
    };
    fs::write(
        data_dir.join("topics").join(format!("{TOPIC}.toml")),
        format!("id = \"{TOPIC_ID}\"\npartitions = 1\n{configs}"),
    )
    .expect("topic file");
    while let Some((&kind, rest)) = entries.split_first() {
        let Some((len, rest)) = rest.split_first_chunk::<4>() else {
            break;
        };
        let len = (u32::from_be_bytes(*len) as usize).min(rest.len());
        let (contents, rest) = rest.split_at(len);
        entries = rest;
        let path = match FILES.get(usize::from(kind % 9)) {
            Some(ext) => {
                let base = bases[usize::from(kind / 9 % 4)];
                partition_dir.join(format!("{base:020}.{ext}"))
            }
            None => data_dir.join("log-start-offset-checkpoint"),
        };
        fs::write(path, contents).expect("write a file");
    }

    let mut config = Config {
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    // Small segments and indexes: the default 1 GiB reservation and 10 MiB indexes
    // cost more per input than the recovery under test.
    config.log.segment_bytes = 1 << 20;
    config.log.index_size_max_bytes = 64 << 10;
    let config = Arc::new(config);
    let Ok(topics) = TopicManager::open(config.clone(), TopicDefaults::default(), flags & 1 != 0)
    else {
        return;
    };
    let offsets = read_all(&topics);
    // A close may fail on files that a trusted open took as they were (a time
    // index entry behind the log, say): the broker then reports the error and
    // recovers on its next start, as after a crash.
    if topics.close().is_err() {
        return;
    }
    drop(topics);
    let topics = TopicManager::open(config, TopicDefaults::default(), true)
        .expect("a cleanly closed log opens");
    assert_eq!(read_all(&topics), offsets, "offsets after a clean reopen");
    topics.close().expect("close");
    check_files_left(&partition_dir);
});

/// Reads the partition from its log start to its end both ways; its (log start,
/// log end) offsets.
fn read_all(topics: &TopicManager) -> (i64, i64) {
    let topic = topics.get(TOPIC).expect("the topic");
    let partition = topic.partition(0).expect("partition 0");
    let (start, end) = partition.offsets();
    for isolation in [Isolation::ReadUncommitted, Isolation::ReadCommitted] {
        let mut offset = start;
        while offset < end {
            let Ok(read) = partition.fetch(offset, READ_BYTES, true, isolation) else {
                break;
            };
            let Some(records) = read.records else {
                break;
            };
            let next = next_offset(&records);
            assert!(
                next > offset,
                "a read at {offset} returns records up to {next}"
            );
            offset = next;
        }
    }
    let _ = partition.max_timestamp();
    let _ = partition.offset_for_timestamp(0);
    (start, end)
}

/// The offset after the last whole batch of `records`.
fn next_offset(records: &[u8]) -> i64 {
    let mut pos = 0;
    let mut next = i64::MIN;
    while let Some(header) = records.get(pos..).and_then(BatchHeader::new) {
        let Some(size) = header.size().filter(|s| pos + s <= records.len()) else {
            break;
        };
        next = header.last_offset().saturating_add(1);
        pos += size;
    }
    next
}

/// No file of an interrupted cleaning survives an open.
fn check_files_left(dir: &Path) {
    for entry in fs::read_dir(dir).expect("partition dir") {
        let name = entry.expect("entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            !name.ends_with(".swap") && !name.ends_with(".cleaned"),
            "{name} left after open"
        );
    }
}
