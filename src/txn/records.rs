//! The records of the `__transaction_state` log in Kafka's formats:
//! TransactionLogKey (version 0: transactional id) and TransactionLogValue
//! (version 0: producer id, producer epoch, timeout, status, partitions,
//! last update and start timestamps). A null value is a tombstone.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{BufMut, Bytes, BytesMut};

use super::metadata::{TransactionMetadata, TransactionState};
use crate::group::records::{get_i16, get_i32, get_i64, get_string, put_string};

const KEY_VERSION: i16 = 0;
const VALUE_VERSION: i16 = 0;

pub fn encode(
    transactional_id: &str,
    value: Option<&TransactionMetadata>,
) -> (Bytes, Option<Bytes>) {
    let mut key = BytesMut::new();
    key.put_i16(KEY_VERSION);
    put_string(&mut key, transactional_id);
    let value = value.map(|m| {
        let mut b = BytesMut::new();
        b.put_i16(VALUE_VERSION);
        b.put_i64(m.producer_id);
        b.put_i16(m.producer_epoch);
        b.put_i32(m.timeout_ms);
        b.put_i8(m.state.id());
        // Partitions grouped by topic; Kafka writes them only for open transactions.
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (topic, p) in &m.partitions {
            by_topic.entry(topic).or_default().push(*p);
        }
        b.put_i32(by_topic.len() as i32);
        for (topic, ids) in by_topic {
            put_string(&mut b, topic);
            b.put_i32(ids.len() as i32);
            for id in ids {
                b.put_i32(id);
            }
        }
        b.put_i64(m.last_update_timestamp);
        b.put_i64(m.start_timestamp);
        b.freeze()
    });
    (key.freeze(), value)
}

/// (transactional id, metadata or None for a tombstone); None when the record
/// is of another version or does not parse.
pub fn decode(key: &[u8], value: Option<&[u8]>) -> Option<(String, Option<TransactionMetadata>)> {
    let mut key = key;
    if get_i16(&mut key)? != KEY_VERSION {
        return None;
    }
    let id = get_string(&mut key)?;
    let Some(mut v) = value else {
        return Some((id, None));
    };
    if get_i16(&mut v)? != VALUE_VERSION {
        return None;
    }
    let producer_id = get_i64(&mut v)?;
    let producer_epoch = get_i16(&mut v)?;
    let timeout_ms = get_i32(&mut v)?;
    let state = TransactionState::from_id(*v.first()? as i8)?;
    v = &v[1..];
    let mut partitions = BTreeSet::new();
    let topics = get_i32(&mut v)?;
    for _ in 0..topics.max(0) {
        let topic = get_string(&mut v)?;
        let count = get_i32(&mut v)?;
        for _ in 0..count.max(0) {
            partitions.insert((topic.clone(), get_i32(&mut v)?));
        }
    }
    let last_update_timestamp = get_i64(&mut v)?;
    let start_timestamp = get_i64(&mut v)?;
    Some((
        id,
        Some(TransactionMetadata {
            producer_id,
            producer_epoch,
            last_producer_epoch: -1,
            timeout_ms,
            state,
            partitions,
            start_timestamp,
            last_update_timestamp,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let m = TransactionMetadata {
            producer_id: 9,
            producer_epoch: 3,
            last_producer_epoch: -1,
            timeout_ms: 60_000,
            state: TransactionState::PrepareCommit,
            partitions: [
                ("a".to_string(), 0),
                ("a".to_string(), 2),
                ("b".to_string(), 1),
            ]
            .into_iter()
            .collect(),
            start_timestamp: 100,
            last_update_timestamp: 200,
        };
        let (k, v) = encode("tx", Some(&m));
        assert_eq!(decode(&k, v.as_deref()), Some(("tx".to_string(), Some(m))));
        let (k, v) = encode("tx", None);
        assert_eq!(decode(&k, v.as_deref()), Some(("tx".to_string(), None)));
        // Truncated values are refused, not guessed.
        let (k, v) = encode(
            "tx",
            Some(&TransactionMetadata {
                producer_id: 1,
                producer_epoch: 0,
                last_producer_epoch: -1,
                timeout_ms: 1,
                state: TransactionState::Empty,
                partitions: BTreeSet::new(),
                start_timestamp: -1,
                last_update_timestamp: 0,
            }),
        );
        let v = v.unwrap();
        assert_eq!(decode(&k, Some(&v[..v.len() - 1])), None);
    }
}
