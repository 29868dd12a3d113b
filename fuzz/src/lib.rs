//! What the fuzz targets share: a reader that hands out bytes in small reads,
//! the CRC fix-up that lets mutated record batches past their checksum, the
//! mapping of fuzz input onto a supported (api key, version), and a real broker
//! on a temp data dir for the request target.

use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::RequestKind;
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions};
use runnel::api::{self, RequestContext, SUPPORTED_APIS};
use runnel::broker::BrokerState;
use runnel::security::KafkaPrincipal;
use runnel::server::{Decoded, Outbox, decode_request};
use runnel::topic::NewTopic;
use runnel::{Broker, Config};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::runtime::Runtime;

/// An in-memory stream that returns at most `chunk + 1` bytes per read, so frames
/// arrive split the way a socket may split them.
pub struct ChunkedReader<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl<'a> ChunkedReader<'a> {
    pub fn new(data: &'a [u8], chunk: u8) -> Self {
        ChunkedReader {
            data,
            chunk: usize::from(chunk) + 1,
        }
    }
}

impl AsyncRead for ChunkedReader<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.chunk.min(buf.remaining()).min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        buf.put_slice(head);
        self.data = rest;
        Poll::Ready(Ok(()))
    }
}

/// Offsets in a v2 record batch header.
const LENGTH: usize = 8;
const CRC: usize = 17;
const ATTRIBUTES: usize = 21;
const HEADER_LEN: usize = 61;

/// Rewrites the CRC32C of every batch in `records` (as far as the batch lengths
/// lead) so that mutated batches are judged on everything but their checksum.
pub fn fix_crcs(records: &mut [u8]) {
    let mut pos = 0;
    while records.len() - pos >= HEADER_LEN {
        let batch = &mut records[pos..];
        let length = i32::from_be_bytes([
            batch[LENGTH],
            batch[LENGTH + 1],
            batch[LENGTH + 2],
            batch[LENGTH + 3],
        ]);
        let Ok(length) = usize::try_from(length) else {
            return;
        };
        let end = (LENGTH + 4).saturating_add(length).min(batch.len());
        if end < HEADER_LEN {
            return;
        }
        let crc = crc32c::crc32c(&batch[ATTRIBUTES..end]);
        batch[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
        pos += end;
    }
}

/// A request frame (without length prefix) whose api key and version are folded
/// onto an entry of SUPPORTED_APIS: kept as they are when already supported (a
/// captured request keeps its meaning), else mapped onto one, so that every input
/// reaches a request decoder rather than the unknown-API check.
pub fn request_frame(data: &[u8]) -> Option<Bytes> {
    let head = data.first_chunk::<4>()?;
    let key = i16::from_be_bytes([head[0], head[1]]);
    let version = i16::from_be_bytes([head[2], head[3]]);
    let &(api_key, min, max) = SUPPORTED_APIS
        .iter()
        .find(|(k, _, _)| *k as i16 == key)
        .unwrap_or(&SUPPORTED_APIS[usize::from(key as u16) % SUPPORTED_APIS.len()]);
    let version = if (min..=max).contains(&version) {
        version
    } else {
        min + (version as u16 % (max - min + 1) as u16) as i16
    };
    let mut frame = data.to_vec();
    frame[0..2].copy_from_slice(&(api_key as i16).to_be_bytes());
    frame[2..4].copy_from_slice(&version.to_be_bytes());
    Some(Bytes::from(frame))
}

/// Topics every request finds, as the broker had them at start; a request may
/// change or delete them, and [`FuzzBroker::reset`] puts them back.
pub const TOPICS: &[(&str, i32, &[(&str, &str)])] = &[
    ("t-plain", 3, &[]),
    ("t-compact", 2, &[("cleanup.policy", "compact")]),
    (
        "t-append-time",
        1,
        &[("message.timestamp.type", "LogAppendTime")],
    ),
    ("t-zstd", 1, &[("compression.type", "zstd")]),
    ("t-lz4", 1, &[("compression.type", "lz4")]),
    ("t-uncompressed", 1, &[("compression.type", "uncompressed")]),
    (
        "t-compact-gzip",
        1,
        &[("cleanup.policy", "compact"), ("compression.type", "gzip")],
    ),
    (
        "t-bounded",
        1,
        &[
            ("message.timestamp.before.max.ms", "3600000"),
            ("message.timestamp.after.max.ms", "3600000"),
        ],
    ),
];

/// Longest long poll of a fuzzed Fetch.
const MAX_WAIT_MS: i32 = 10;
/// Longest wait for a reply (a JoinGroup waiting for other members, say).
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// A baseline topic is put back once it holds more than this.
const MAX_TOPIC_BYTES: u64 = 4 << 20;

/// A real broker (listening on 127.0.0.1, port 0) on a temp data dir, run by a
/// current-thread runtime. Waits are bounded by the harness: Fetch's
/// `max_wait_ms` is clamped to MAX_WAIT_MS, the first rebalance is not delayed,
/// and a reply still pending after REPLY_TIMEOUT is dropped.
pub struct FuzzBroker {
    runtime: Runtime,
    broker: Broker,
    ctx: RequestContext,
    _dir: tempfile::TempDir,
}

impl FuzzBroker {
    pub fn start() -> FuzzBroker {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config {
            listen: "127.0.0.1:0".into(),
            http_listen: "off".into(),
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        // Small files: partitions created by requests reserve little disk, and
        // logs roll often.
        config.log.segment_bytes = 64 << 10;
        config.log.index_size_max_bytes = 4096;
        config.offsets.topic_segment_bytes = 1 << 20;
        config.transaction.state_log_segment_bytes = 1 << 20;
        config.group.initial_rebalance_delay_ms = 0;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let broker = runtime
            .block_on(Broker::start(config))
            .expect("broker starts");
        let fuzz = FuzzBroker {
            runtime,
            broker,
            ctx: RequestContext {
                client_id: "fuzz".into(),
                client_host: "/127.0.0.1".into(),
                listener: 0,
                principal: KafkaPrincipal::anonymous(),
                mutation_throttle_ms: Default::default(),
            },
            _dir: dir,
        };
        for &(name, _, _) in TOPICS {
            fuzz.create_baseline(name);
        }
        fuzz
    }

    pub fn state(&self) -> &Arc<BrokerState> {
        self.broker.state()
    }

    /// Decodes `frame` as a connection does, runs it through the handlers and
    /// encodes the response, as a connection would write it.
    pub fn run(&self, frame: Bytes) {
        let Ok(Decoded::Request {
            api_key,
            version,
            request,
            ..
        }) = decode_request(frame)
        else {
            return;
        };
        let request = bounded(request);
        let state = self.state().clone();
        self.runtime.block_on(async {
            let response = match api::handle(&state, &self.ctx, request, version).await {
                api::Reply::None => return,
                api::Reply::Now(r) => *r,
                api::Reply::Later(f) => match tokio::time::timeout(REPLY_TIMEOUT, f).await {
                    Ok(r) => r,
                    Err(_) => return,
                },
            };
            let _ = Outbox::default().push(1, api_key, version, &response);
        });
    }

    /// Puts the broker back as [`FuzzBroker::start`] left it, as far as inputs
    /// can tell apart: topics a request created are deleted, baseline topics
    /// that were changed or grew large are created anew, groups are deleted.
    pub fn reset(&self) {
        let state = self.state();
        for topic in state.topics.all() {
            let name = topic.name.as_str();
            if runnel::topic::is_internal_topic(name) {
                continue;
            }
            let Some(&(_, partitions, configs)) = TOPICS.iter().find(|(n, _, _)| *n == name) else {
                let _ = state.topics.delete(name);
                continue;
            };
            let changed = topic.partitions.len() as i32 != partitions
                || topic.config.overrides != config_map(configs)
                || topic.partitions.iter().map(|p| p.size_bytes()).sum::<u64>() > MAX_TOPIC_BYTES
                || topic.partitions.iter().any(|p| p.log_start_offset() != 0);
            if changed {
                let _ = state.topics.delete(name);
            }
        }
        for &(name, _, _) in TOPICS {
            if state.topics.get(name).is_none() {
                self.create_baseline(name);
            }
        }
        for group in state.groups.list() {
            let _ = state.groups.delete_group(&group.group_id);
        }
    }

    fn create_baseline(&self, name: &str) {
        let &(_, partitions, configs) = TOPICS
            .iter()
            .find(|(n, _, _)| *n == name)
            .expect("a baseline topic");
        let state = self.state();
        let topic = state
            .topics
            .create(NewTopic {
                name: name.to_string(),
                partitions,
                replication_factor: 1,
                configs: configs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            })
            .expect("baseline topic");
        for index in 0..partitions {
            api::append_records(state, &topic, index, sample_batch()).expect("baseline records");
        }
    }
}

fn config_map(configs: &[(&str, &str)]) -> BTreeMap<String, String> {
    configs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A small keyed batch, so fetches and timestamp look-ups find records.
fn sample_batch() -> Bytes {
    let records: Vec<Record> = (0..3)
        .map(|i| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: kafka_protocol::records::TimestampType::Creation,
            offset: i,
            sequence: -1,
            timestamp: runnel::broker::now_ms(),
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("v{i}"))),
            headers: Default::default(),
            delete_horizon: false,
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encodes");
    buf.freeze()
}

/// The request with its waits bounded (see [`FuzzBroker`]) and the CRCs of its
/// produced batches made valid (see [`fix_crcs`]).
fn bounded(request: RequestKind) -> RequestKind {
    let mut produce = match request {
        RequestKind::Fetch(mut fetch) => {
            fetch.max_wait_ms = fetch.max_wait_ms.min(MAX_WAIT_MS);
            return RequestKind::Fetch(fetch);
        }
        RequestKind::Produce(produce) => produce,
        other => return other,
    };
    for topic in &mut produce.topic_data {
        for partition in &mut topic.partition_data {
            if let Some(records) = &mut partition.records {
                let mut owned = records.to_vec();
                fix_crcs(&mut owned);
                *records = Bytes::from(owned);
            }
        }
    }
    RequestKind::Produce(produce)
}
