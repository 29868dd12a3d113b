//! The log cleaner's map from each key to the offset of its latest record
//! (Kafka's SkimpyOffsetMap): a key is kept as its 128-bit hash, not copied,
//! so a million keys take about 32 MB and no allocation of their own. Two keys
//! sharing a 128-bit hash are as unlikely here as with Kafka's MD5.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The map's keys are already uniform hashes: use their low bits as they are.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u128(&mut self, hash: u128) {
        self.0 = hash as u64;
    }
}

#[derive(Default)]
pub struct OffsetMap {
    latest: HashMap<u128, i64, BuildHasherDefault<Prehashed>>,
}

impl OffsetMap {
    /// Records that `key` has a record at `offset` (the highest offset wins).
    pub fn put(&mut self, key: &[u8], offset: i64) {
        let latest = self.latest.entry(hash(key)).or_insert(offset);
        *latest = (*latest).max(offset);
    }

    /// The offset of the latest record of `key`, if it has one.
    pub fn get(&self, key: &[u8]) -> Option<i64> {
        self.latest.get(&hash(key)).copied()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.latest.len()
    }
}

fn hash(key: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_offset_of_each_key_wins() {
        let mut map = OffsetMap::default();
        for (key, offset) in [("a", 1), ("b", 2), ("a", 5), ("a", 3), ("", 7)] {
            map.put(key.as_bytes(), offset);
        }
        assert_eq!(map.len(), 3);
        assert_eq!(map.get(b"a"), Some(5));
        assert_eq!(map.get(b"b"), Some(2));
        assert_eq!(map.get(b""), Some(7));
        assert_eq!(map.get(b"c"), None);
    }

    #[test]
    fn a_million_distinct_keys_stay_distinct() {
        let mut map = OffsetMap::default();
        for i in 0..1_000_000i64 {
            map.put(format!("key-{i}").as_bytes(), i);
        }
        assert_eq!(map.len(), 1_000_000);
        assert_eq!(map.get(b"key-999999"), Some(999_999));
    }
}
