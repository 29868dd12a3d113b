//! The topics in a consumer's subscription (the `consumer` protocol type's
//! ConsumerProtocolSubscription: version, topics, user data, ...). The
//! coordinator treats member metadata as opaque except here, where OffsetDelete
//! must know whether a group still reads a topic.

use bytes::Buf;

/// The subscribed topics; empty when the metadata does not parse.
pub fn topics(metadata: &[u8]) -> Vec<String> {
    parse(metadata).unwrap_or_default()
}

fn parse(mut b: &[u8]) -> Option<Vec<String>> {
    if b.remaining() < 6 {
        return None;
    }
    let _version = b.get_i16();
    let count = b.get_i32();
    let mut topics = Vec::new();
    for _ in 0..count.max(0) {
        if b.remaining() < 2 {
            return None;
        }
        let len = usize::try_from(b.get_i16()).ok()?;
        if b.remaining() < len {
            return None;
        }
        topics.push(String::from_utf8(b[..len].to_vec()).ok()?);
        b.advance(len);
    }
    Some(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_topics_and_rejects_garbage() {
        let mut m = vec![0, 1, 0, 0, 0, 2, 0, 1, b'a', 0, 2, b'b', b'c'];
        m.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(topics(&m), vec!["a".to_string(), "bc".to_string()]);
        assert!(topics(&[0, 1, 0, 0, 0, 9, 0, 5, b'a']).is_empty());
        assert!(topics(&[]).is_empty());
    }
}
