//! The records of the `__consumer_offsets` log, in Apache Kafka's own formats
//! (the `OffsetCommitKey`/`OffsetCommitValue` and `GroupMetadataKey`/
//! `GroupMetadataValue` schemas), so the log reads the same to Kafka tooling.
//!
//! Keys: version 1 = offset commit (group, topic, partition); version 2 = group
//! metadata (group). A null value is a tombstone: the offset or group is gone.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// One committed offset as stored and as OffsetFetch returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

/// A group's metadata as written after each rebalance (Kafka's GroupMetadataValue v3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredGroup {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub state_timestamp: i64,
    pub members: Vec<StoredMember>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// A decoded record of the offsets log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetsRecord {
    Offset {
        group: String,
        topic: String,
        partition: i32,
        /// None: the offset was deleted or expired.
        value: Option<CommittedOffset>,
    },
    Group {
        group: String,
        /// None: the group was deleted.
        value: Option<StoredGroup>,
    },
}

const OFFSET_KEY_VERSION: i16 = 1;
const GROUP_KEY_VERSION: i16 = 2;
const OFFSET_VALUE_VERSION: i16 = 3;
const GROUP_VALUE_VERSION: i16 = 3;

impl OffsetsRecord {
    /// (key, value) bytes of this record.
    pub fn encode(&self) -> (Bytes, Option<Bytes>) {
        let mut key = BytesMut::new();
        match self {
            OffsetsRecord::Offset {
                group,
                topic,
                partition,
                value,
            } => {
                key.put_i16(OFFSET_KEY_VERSION);
                put_string(&mut key, group);
                put_string(&mut key, topic);
                key.put_i32(*partition);
                let value = value.as_ref().map(|v| {
                    let mut b = BytesMut::new();
                    b.put_i16(OFFSET_VALUE_VERSION);
                    b.put_i64(v.offset);
                    b.put_i32(v.leader_epoch);
                    put_string(&mut b, &v.metadata);
                    b.put_i64(v.commit_timestamp);
                    b.freeze()
                });
                (key.freeze(), value)
            }
            OffsetsRecord::Group { group, value } => {
                key.put_i16(GROUP_KEY_VERSION);
                put_string(&mut key, group);
                (key.freeze(), value.as_ref().map(encode_group))
            }
        }
    }

    /// Decodes a record; None for a key or value this broker does not know
    /// (other key versions are skipped, as Kafka skips them).
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Option<OffsetsRecord> {
        let mut key = key;
        let version = get_i16(&mut key)?;
        match version {
            0 | OFFSET_KEY_VERSION => {
                let group = get_string(&mut key)?;
                let topic = get_string(&mut key)?;
                let partition = get_i32(&mut key)?;
                let value = match value {
                    None => None,
                    Some(v) => Some(decode_offset(v)?),
                };
                Some(OffsetsRecord::Offset {
                    group,
                    topic,
                    partition,
                    value,
                })
            }
            GROUP_KEY_VERSION => {
                let group = get_string(&mut key)?;
                let value = match value {
                    None => None,
                    Some(v) => Some(decode_group(v)?),
                };
                Some(OffsetsRecord::Group { group, value })
            }
            _ => None,
        }
    }
}

fn decode_offset(mut v: &[u8]) -> Option<CommittedOffset> {
    let version = get_i16(&mut v)?;
    let offset = get_i64(&mut v)?;
    let leader_epoch = if version >= 3 { get_i32(&mut v)? } else { -1 };
    let metadata = get_string(&mut v)?;
    let commit_timestamp = get_i64(&mut v)?;
    Some(CommittedOffset {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp,
    })
}

fn encode_group(g: &StoredGroup) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(GROUP_VALUE_VERSION);
    put_string(&mut b, &g.protocol_type);
    b.put_i32(g.generation);
    put_nullable_string(&mut b, g.protocol.as_deref());
    put_nullable_string(&mut b, g.leader.as_deref());
    b.put_i64(g.state_timestamp);
    b.put_i32(g.members.len() as i32);
    for m in &g.members {
        put_string(&mut b, &m.member_id);
        put_nullable_string(&mut b, m.instance_id.as_deref());
        put_string(&mut b, &m.client_id);
        put_string(&mut b, &m.client_host);
        b.put_i32(m.rebalance_timeout_ms);
        b.put_i32(m.session_timeout_ms);
        put_bytes(&mut b, &m.subscription);
        put_bytes(&mut b, &m.assignment);
    }
    b.freeze()
}

fn decode_group(mut v: &[u8]) -> Option<StoredGroup> {
    let version = get_i16(&mut v)?;
    if !(2..=3).contains(&version) {
        return None;
    }
    let protocol_type = get_string(&mut v)?;
    let generation = get_i32(&mut v)?;
    let protocol = get_nullable_string(&mut v)?;
    let leader = get_nullable_string(&mut v)?;
    let state_timestamp = get_i64(&mut v)?;
    let count = get_i32(&mut v)?;
    let mut members = Vec::new();
    for _ in 0..count.max(0) {
        members.push(StoredMember {
            member_id: get_string(&mut v)?,
            instance_id: if version >= 3 {
                get_nullable_string(&mut v)?
            } else {
                None
            },
            client_id: get_string(&mut v)?,
            client_host: get_string(&mut v)?,
            rebalance_timeout_ms: get_i32(&mut v)?,
            session_timeout_ms: get_i32(&mut v)?,
            subscription: get_bytes(&mut v)?,
            assignment: get_bytes(&mut v)?,
        });
    }
    Some(StoredGroup {
        protocol_type,
        generation,
        protocol,
        leader,
        state_timestamp,
        members,
    })
}

pub(crate) fn put_string(b: &mut BytesMut, s: &str) {
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}

fn put_nullable_string(b: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_string(b, s),
        None => b.put_i16(-1),
    }
}

fn put_bytes(b: &mut BytesMut, v: &[u8]) {
    b.put_i32(v.len() as i32);
    b.put_slice(v);
}

pub(crate) fn get_i16(b: &mut &[u8]) -> Option<i16> {
    (b.remaining() >= 2).then(|| b.get_i16())
}

pub(crate) fn get_i32(b: &mut &[u8]) -> Option<i32> {
    (b.remaining() >= 4).then(|| b.get_i32())
}

pub(crate) fn get_i64(b: &mut &[u8]) -> Option<i64> {
    (b.remaining() >= 8).then(|| b.get_i64())
}

fn get_nullable_string(b: &mut &[u8]) -> Option<Option<String>> {
    let len = get_i16(b)?;
    if len < 0 {
        return Some(None);
    }
    let len = len as usize;
    if b.remaining() < len {
        return None;
    }
    let s = String::from_utf8(b[..len].to_vec()).ok()?;
    b.advance(len);
    Some(Some(s))
}

pub(crate) fn get_string(b: &mut &[u8]) -> Option<String> {
    get_nullable_string(b)?
}

fn get_bytes(b: &mut &[u8]) -> Option<Bytes> {
    let len = usize::try_from(get_i32(b)?).ok()?;
    if b.remaining() < len {
        return None;
    }
    let v = Bytes::copy_from_slice(&b[..len]);
    b.advance(len);
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(r: OffsetsRecord) {
        let (k, v) = r.encode();
        assert_eq!(OffsetsRecord::decode(&k, v.as_deref()), Some(r));
    }

    #[test]
    fn offsets_and_groups_round_trip() {
        round_trip(OffsetsRecord::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
            value: Some(CommittedOffset {
                offset: 42,
                leader_epoch: 7,
                metadata: "meta".into(),
                commit_timestamp: 1_700_000_000_000,
            }),
        });
        round_trip(OffsetsRecord::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 0,
            value: None,
        });
        round_trip(OffsetsRecord::Group {
            group: "g".into(),
            value: Some(StoredGroup {
                protocol_type: "consumer".into(),
                generation: 5,
                protocol: Some("range".into()),
                leader: Some("m-1".into()),
                state_timestamp: 9,
                members: vec![StoredMember {
                    member_id: "m-1".into(),
                    instance_id: Some("i".into()),
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    rebalance_timeout_ms: 300_000,
                    session_timeout_ms: 45_000,
                    subscription: Bytes::from_static(b"sub"),
                    assignment: Bytes::from_static(b"asg"),
                }],
            }),
        });
        round_trip(OffsetsRecord::Group {
            group: "g".into(),
            value: None,
        });
    }

    #[test]
    fn truncated_values_do_not_decode() {
        let (k, v) = OffsetsRecord::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 1,
            value: Some(CommittedOffset {
                offset: 1,
                leader_epoch: -1,
                metadata: String::new(),
                commit_timestamp: 0,
            }),
        }
        .encode();
        let v = v.unwrap_or_default();
        assert_eq!(OffsetsRecord::decode(&k, Some(&v[..v.len() - 1])), None);
        assert_eq!(OffsetsRecord::decode(&k[..3], None), None);
    }
}
