//! Encoding a response without copying its record batches.
//!
//! kafka-protocol encodes a `records` field with `put_slice`. [`ResponseBuf`]
//! is told the record views a response carries (Bytes over the mapped log
//! segments); when `put_slice` is handed one of them it keeps a reference
//! instead of copying, so a fetch response goes to the socket as a few owned
//! header pieces interleaved with views of the log.

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::FetchResponse;
use kafka_protocol::protocol::buf::ByteBufMut;

/// Smaller record views are cheaper to copy than to send as their own piece.
const MIN_SHARED: usize = 16 * 1024;

pub struct ResponseBuf {
    done: Vec<Bytes>,
    /// Length of everything in `done`.
    done_len: usize,
    current: BytesMut,
    shareable: Vec<Bytes>,
}

impl ResponseBuf {
    /// A buffer for `response` that shares its large record views.
    pub fn for_fetch(response: &FetchResponse) -> ResponseBuf {
        let shareable = response
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .filter_map(|p| p.records.clone())
            .filter(|r| r.len() >= MIN_SHARED)
            .collect();
        ResponseBuf {
            done: Vec::new(),
            done_len: 0,
            current: BytesMut::with_capacity(1024),
            shareable,
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.done_len + self.current.len()
    }

    /// The encoded pieces in order.
    pub fn into_pieces(mut self) -> Vec<Bytes> {
        if !self.current.is_empty() {
            self.done.push(self.current.freeze());
        }
        self.done
    }

    /// Overwrites 4 bytes at `pos` (the frame length), which must not lie in a
    /// shared record view: callers write it first, before any records.
    pub fn patch_i32(&mut self, pos: usize, value: i32) -> bool {
        // Only the first owned piece can hold `pos` and it is still `current`
        // unless records were shared; then it is the first of `done`.
        match self.done.first_mut() {
            None => {
                let Some(slot) = self.current.get_mut(pos..pos + 4) else {
                    return false;
                };
                slot.copy_from_slice(&value.to_be_bytes());
                true
            }
            Some(first) => {
                if first.len() < pos + 4 {
                    return false;
                }
                let mut owned = BytesMut::from(&first[..]);
                owned[pos..pos + 4].copy_from_slice(&value.to_be_bytes());
                *first = owned.freeze();
                true
            }
        }
    }

    fn shared(&self, src: &[u8]) -> Option<Bytes> {
        if src.len() < MIN_SHARED {
            return None;
        }
        self.shareable
            .iter()
            .find(|b| b.as_ptr() == src.as_ptr() && b.len() == src.len())
            .cloned()
    }
}

// SAFETY: every method delegates to the inner BytesMut, which upholds BufMut's
// contract; `put_slice` only changes where whole slices go.
unsafe impl BufMut for ResponseBuf {
    fn remaining_mut(&self) -> usize {
        self.current.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: forwarded under the caller's guarantee that `cnt` bytes of
        // `chunk_mut` were initialised.
        unsafe { self.current.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.current.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        match self.shared(src) {
            Some(view) => {
                if !self.current.is_empty() {
                    let owned = self.current.split().freeze();
                    self.done_len += owned.len();
                    self.done.push(owned);
                }
                self.done_len += view.len();
                self.done.push(view);
            }
            None => self.current.extend_from_slice(src),
        }
    }
}

/// Gaps (used only by record-batch encoding, never by responses) are limited
/// to the piece being written.
impl ByteBufMut for ResponseBuf {
    fn offset(&self) -> usize {
        self.len()
    }

    fn seek(&mut self, offset: usize) {
        let local = offset.saturating_sub(self.done_len);
        self.current.truncate(local);
    }

    fn range(&mut self, r: std::ops::Range<usize>) -> &mut [u8] {
        let start = r.start.saturating_sub(self.done_len);
        let end = r.end.saturating_sub(self.done_len).min(self.current.len());
        &mut self.current[start.min(end)..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn fetch_records_are_shared_not_copied_and_bytes_match() {
        let big = Bytes::from(vec![7u8; 100_000]);
        let small = Bytes::from(vec![9u8; 100]);
        let response = FetchResponse::default().with_responses(vec![
            FetchableTopicResponse::default().with_partitions(vec![
                PartitionData::default().with_records(Some(big.clone())),
                PartitionData::default().with_records(Some(small)),
            ]),
        ]);
        let mut expected = BytesMut::new();
        response.encode(&mut expected, 12).unwrap();

        let mut buf = ResponseBuf::for_fetch(&response);
        buf.put_i32(0);
        response.encode(&mut buf, 12).unwrap();
        let total = buf.len();
        assert!(buf.patch_i32(0, (total - 4) as i32));
        let pieces = buf.into_pieces();
        assert!(
            pieces.iter().any(|p| p.as_ptr() == big.as_ptr()),
            "shared, not copied"
        );
        let joined: Vec<u8> = pieces.iter().flat_map(|p| p.iter().copied()).collect();
        assert_eq!(&joined[4..], &expected[..]);
        assert_eq!(&joined[..4], &((total - 4) as i32).to_be_bytes());
    }
}
