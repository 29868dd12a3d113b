//! The message browser: reads a few records of one partition through the
//! partition read path Fetch uses, decoding only the batches it shows, and
//! produces test records through the Produce path. Reading asks Fetch's READ
//! on the topic, producing Produce's WRITE.

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::records::Compression;
use serde::{Deserialize, Serialize};

use super::access::require_topic;
use super::codec::{base64, from_base64};
use super::error::{ApiError, ApiResult};
use super::topics::find;
use crate::api::RequestContext;
use crate::api::error::log_error;
use crate::broker::{BrokerState, now_ms};
use crate::client::batch::{InRecord, OutRecord, decode_batch, encode, split_batch};
use crate::security::acl::AclOperation::{Read, Write};
use crate::topic::Partition;

/// Most records one page may ask for.
pub const MAX_LIMIT: usize = 500;
pub const DEFAULT_LIMIT: usize = 20;
/// Values (and keys, headers) longer than this are cut unless asked otherwise.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 4096;
const MAX_VALUE_BYTES: usize = 1 << 20;
/// Bytes asked of the log per read; the first batch comes whole even when larger.
const READ_CHUNK: usize = 64 * 1024;

#[derive(Deserialize, Default, Clone)]
pub struct RecordsQuery {
    pub partition: Option<i32>,
    /// First offset to show; without it (and without `timestamp`) the newest records.
    pub offset: Option<i64>,
    /// Start at the first record with a timestamp at or after this (ms).
    pub timestamp: Option<i64>,
    pub limit: Option<usize>,
    pub max_value_bytes: Option<usize>,
}

/// Bytes as JSON: text when UTF-8, else base64; cut at the size limit.
#[derive(Serialize, Debug, Clone)]
pub struct Data {
    /// "text" or "base64".
    pub encoding: &'static str,
    pub data: String,
    /// Size of the whole value in bytes.
    pub size: usize,
    pub truncated: bool,
}

#[derive(Serialize, Debug, Clone)]
pub struct Header {
    pub key: String,
    pub value: Option<Data>,
}

#[derive(Serialize, Debug, Clone)]
pub struct RecordView {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Data>,
    pub value: Option<Data>,
    pub headers: Vec<Header>,
    /// Bytes of key, value and headers.
    pub size: usize,
}

#[derive(Serialize)]
pub struct RecordsPage {
    pub topic: String,
    pub partition: i32,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    /// The offset the page started reading at.
    pub from_offset: i64,
    /// Where the next page starts (the log end when there is nothing after).
    pub next_offset: i64,
    pub records: Vec<RecordView>,
}

pub fn data(bytes: &[u8], max: usize) -> Data {
    let truncated = bytes.len() > max;
    let shown = &bytes[..bytes.len().min(max)];
    match std::str::from_utf8(shown) {
        Ok(text) => text_data(text, bytes.len(), truncated),
        // A cut may split a UTF-8 character: keep the valid prefix as text.
        Err(e) if truncated && e.error_len().is_none() && std::str::from_utf8(bytes).is_ok() => {
            let text = std::str::from_utf8(&shown[..e.valid_up_to()]).unwrap_or_default();
            text_data(text, bytes.len(), true)
        }
        Err(_) => Data {
            encoding: "base64",
            data: base64(shown),
            size: bytes.len(),
            truncated,
        },
    }
}

fn text_data(text: &str, size: usize, truncated: bool) -> Data {
    Data {
        encoding: "text",
        data: text.to_string(),
        size,
        truncated,
    }
}

fn view(partition: i32, r: InRecord, max: usize) -> RecordView {
    let len = |b: &Option<Bytes>| b.as_ref().map_or(0, |b| b.len());
    let size = len(&r.key)
        + len(&r.value)
        + r.headers
            .iter()
            .map(|(k, v)| k.len() + len(v))
            .sum::<usize>();
    RecordView {
        partition,
        offset: r.offset,
        timestamp: r.timestamp,
        key: r.key.as_deref().map(|k| data(k, max)),
        value: r.value.as_deref().map(|v| data(v, max)),
        headers: r
            .headers
            .into_iter()
            .map(|(key, v)| Header {
                key,
                value: v.as_deref().map(|v| data(v, max)),
            })
            .collect(),
        size,
    }
}

fn partition_of(
    broker: &BrokerState,
    topic: &str,
    index: i32,
) -> ApiResult<std::sync::Arc<Partition>> {
    let t = find(broker, topic)?;
    t.partition(index).cloned().ok_or_else(|| {
        ApiError::kafka(
            ResponseError::UnknownTopicOrPartition,
            format!("Topic '{topic}' has no partition {index}."),
        )
    })
}

/// Reads up to `limit` records from `from`, a chunk of the log at a time.
fn read_records(
    p: &Partition,
    from: i64,
    end: i64,
    limit: usize,
) -> ApiResult<(Vec<InRecord>, i64)> {
    let mut out = Vec::new();
    let mut position = from;
    while out.len() < limit && position < end {
        let read = p
            .read(position, READ_CHUNK, true)
            .map_err(|e| ApiError::kafka(log_error(&e), e.to_string()))?;
        let Some(mut bytes) = read.records.filter(|b| !b.is_empty()) else {
            break;
        };
        let before = position;
        while let Some(batch) = split_batch(&mut bytes) {
            position = decode_batch(batch, from, &mut out)
                .map_err(|e| ApiError::kafka(ResponseError::CorruptMessage, e.to_string()))?;
            if out.len() >= limit {
                break;
            }
        }
        if position <= before {
            break; // no whole batch came back: nothing more to read
        }
    }
    out.truncate(limit);
    let next = out.last().map_or(position, |r| r.offset + 1);
    Ok((out, next.min(end.max(from))))
}

pub fn browse(
    broker: &BrokerState,
    caller: &RequestContext,
    topic: &str,
    q: &RecordsQuery,
) -> ApiResult<RecordsPage> {
    require_topic(broker, caller, Read, topic)?;
    let index = q.partition.unwrap_or(0);
    let p = partition_of(broker, topic, index)?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let max = q
        .max_value_bytes
        .unwrap_or(DEFAULT_MAX_VALUE_BYTES)
        .min(MAX_VALUE_BYTES);
    let (start, end) = p.offsets();
    let from = match (q.offset, q.timestamp) {
        (Some(offset), _) => offset,
        (None, Some(ts)) => p
            .offset_for_timestamp(ts)
            .map_err(|e| ApiError::kafka(log_error(&e), e.to_string()))?
            .map_or(end, |(offset, _)| offset),
        (None, None) => (end - limit as i64).max(start),
    };
    if from < start || from > end {
        return Err(ApiError::kafka(
            ResponseError::OffsetOutOfRange,
            format!("Offset {from} is outside the log of {topic}-{index}: [{start}, {end}]."),
        ));
    }
    let (records, next_offset) = read_records(&p, from, end, limit)?;
    Ok(RecordsPage {
        topic: topic.to_string(),
        partition: index,
        log_start_offset: start,
        log_end_offset: end,
        from_offset: from,
        next_offset,
        records: records.into_iter().map(|r| view(index, r, max)).collect(),
    })
}

#[derive(Serialize)]
pub struct NewestPage {
    pub topic: String,
    /// Oldest first, by timestamp; each names its partition.
    pub records: Vec<RecordView>,
}

/// The newest `limit` records of the whole topic: the newest `limit` of each
/// partition, merged by timestamp. Reads at most `limit` records a partition.
pub fn newest(
    broker: &BrokerState,
    caller: &RequestContext,
    topic: &str,
    q: &RecordsQuery,
) -> ApiResult<NewestPage> {
    require_topic(broker, caller, Read, topic)?;
    let t = find(broker, topic)?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let max = q
        .max_value_bytes
        .unwrap_or(DEFAULT_MAX_VALUE_BYTES)
        .min(MAX_VALUE_BYTES);
    let mut all = Vec::new();
    for p in &t.partitions {
        let (start, end) = p.offsets();
        let from = (end - limit as i64).max(start);
        let (records, _) = read_records(p, from, end, limit)?;
        all.extend(records.into_iter().map(|r| (p.index, r)));
    }
    // Newest first to pick, then oldest first to show.
    all.sort_by_key(|(partition, r)| std::cmp::Reverse((r.timestamp, r.offset, -partition)));
    all.truncate(limit);
    all.reverse();
    Ok(NewestPage {
        topic: topic.to_string(),
        records: all
            .into_iter()
            .map(|(partition, r)| view(partition, r, max))
            .collect(),
    })
}

/// One record's whole value, or 404 when no record has that offset.
pub fn full_value(
    broker: &BrokerState,
    caller: &RequestContext,
    topic: &str,
    index: i32,
    offset: i64,
) -> ApiResult<Option<Bytes>> {
    require_topic(broker, caller, Read, topic)?;
    let p = partition_of(broker, topic, index)?;
    let (start, end) = p.offsets();
    let missing = || {
        ApiError::kafka(
            ResponseError::OffsetOutOfRange,
            format!("No record at offset {offset} of {topic}-{index}."),
        )
    };
    if offset < start || offset >= end {
        return Err(missing());
    }
    let (records, _) = read_records(&p, offset, end, 1)?;
    records
        .into_iter()
        .find(|r| r.offset == offset)
        .map(|r| r.value)
        .ok_or_else(missing)
}

/// A test record to produce. Text by default; `encoding: "base64"` for bytes.
#[derive(Deserialize, Default)]
pub struct NewRecord {
    #[serde(default)]
    pub partition: i32,
    pub key: Option<String>,
    pub value: Option<String>,
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub encoding: Option<String>,
}

#[derive(Serialize)]
pub struct Produced {
    pub partition: i32,
    pub offset: i64,
}

fn decode_field(text: Option<String>, base64: bool) -> ApiResult<Option<Bytes>> {
    match text {
        None => Ok(None),
        Some(t) if base64 => from_base64(&t)
            .map(|b| Some(Bytes::from(b)))
            .ok_or_else(|| ApiError::bad_request("key or value is not valid base64")),
        Some(t) => Ok(Some(Bytes::from(t))),
    }
}

pub fn produce(
    broker: &BrokerState,
    caller: &RequestContext,
    topic: &str,
    new: NewRecord,
) -> ApiResult<Produced> {
    require_topic(broker, caller, Write, topic)?;
    let t = find(broker, topic)?;
    let b64 = match new.encoding.as_deref() {
        None | Some("text") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "encoding `{other}`: expected text or base64"
            )));
        }
    };
    let record = OutRecord {
        key: decode_field(new.key, b64)?,
        value: decode_field(new.value, b64)?,
        headers: new
            .headers
            .into_iter()
            .map(|(k, v)| (k, Some(Bytes::from(v))))
            .collect(),
        timestamp: now_ms(),
    };
    let batch =
        encode(&[record], Compression::None).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let offset =
        crate::api::append_records(broker, &t, new.partition, batch).map_err(|(e, m)| {
            let message = m.unwrap_or_else(|| format!("{topic}-{}: {e:?}", new.partition));
            ApiError::kafka(e, message)
        })?;
    Ok(Produced {
        partition: new.partition,
        offset,
    })
}
