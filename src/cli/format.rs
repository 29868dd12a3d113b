//! How `runnel consume` prints a record: the value alone, one JSON object per
//! line, or a kcat-style format string (%t %p %o %k %s %T %h %S %K, \n \t).

use std::io::Write;

use crate::client::batch::InRecord;

#[derive(Debug, Clone)]
pub enum Format {
    Text,
    Json,
    Pattern(Vec<Piece>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Literal(Vec<u8>),
    Topic,
    Partition,
    Offset,
    Key,
    Value,
    Timestamp,
    Headers,
    ValueSize,
    KeySize,
}

pub fn parse_format(s: &str) -> Result<Format, String> {
    match s {
        "text" => Ok(Format::Text),
        "json" => Ok(Format::Json),
        _ => parse_pattern(s).map(Format::Pattern),
    }
}

fn parse_pattern(s: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut literal = Vec::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        let piece = match c {
            '%' => match chars.next() {
                Some('t') => Piece::Topic,
                Some('p') => Piece::Partition,
                Some('o') => Piece::Offset,
                Some('k') => Piece::Key,
                Some('s') => Piece::Value,
                Some('T') => Piece::Timestamp,
                Some('h') => Piece::Headers,
                Some('S') => Piece::ValueSize,
                Some('K') => Piece::KeySize,
                Some('%') => {
                    literal.push(b'%');
                    continue;
                }
                other => return Err(format!("unknown format %{}", other.unwrap_or(' '))),
            },
            '\\' => {
                match chars.next() {
                    Some('n') => literal.push(b'\n'),
                    Some('t') => literal.push(b'\t'),
                    Some('r') => literal.push(b'\r'),
                    Some('\\') | None => literal.push(b'\\'),
                    Some(other) => {
                        literal.push(b'\\');
                        let mut b = [0; 4];
                        literal.extend_from_slice(other.encode_utf8(&mut b).as_bytes());
                    }
                }
                continue;
            }
            other => {
                let mut b = [0; 4];
                literal.extend_from_slice(other.encode_utf8(&mut b).as_bytes());
                continue;
            }
        };
        if !literal.is_empty() {
            pieces.push(Piece::Literal(std::mem::take(&mut literal)));
        }
        pieces.push(piece);
    }
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

impl Format {
    pub fn write(
        &self,
        out: &mut impl Write,
        topic: &str,
        partition: i32,
        r: &InRecord,
    ) -> std::io::Result<()> {
        match self {
            Format::Text => {
                out.write_all(r.value.as_deref().unwrap_or_default())?;
                out.write_all(b"\n")
            }
            Format::Json => {
                write!(
                    out,
                    "{{\"topic\":{},\"partition\":{partition},\"offset\":{},\"timestamp\":{},\"key\":{},\"value\":{},\"headers\":{{",
                    json_string(Some(topic.as_bytes())),
                    r.offset,
                    r.timestamp,
                    json_string(r.key.as_deref()),
                    json_string(r.value.as_deref()),
                )?;
                for (i, (k, v)) in r.headers.iter().enumerate() {
                    let comma = if i > 0 { "," } else { "" };
                    let key = json_string(Some(k.as_bytes()));
                    write!(out, "{comma}{key}:{}", json_string(v.as_deref()))?;
                }
                out.write_all(b"}}\n")
            }
            Format::Pattern(pieces) => {
                for p in pieces {
                    match p {
                        Piece::Literal(l) => out.write_all(l)?,
                        Piece::Topic => out.write_all(topic.as_bytes())?,
                        Piece::Partition => write!(out, "{partition}")?,
                        Piece::Offset => write!(out, "{}", r.offset)?,
                        Piece::Key => out.write_all(r.key.as_deref().unwrap_or_default())?,
                        Piece::Value => out.write_all(r.value.as_deref().unwrap_or_default())?,
                        Piece::Timestamp => write!(out, "{}", r.timestamp)?,
                        Piece::Headers => {
                            for (i, (k, v)) in r.headers.iter().enumerate() {
                                if i > 0 {
                                    out.write_all(b",")?;
                                }
                                out.write_all(k.as_bytes())?;
                                out.write_all(b"=")?;
                                out.write_all(v.as_deref().unwrap_or_default())?;
                            }
                        }
                        Piece::ValueSize => write!(out, "{}", size(&r.value))?,
                        Piece::KeySize => write!(out, "{}", size(&r.key))?,
                    }
                }
                Ok(())
            }
        }
    }
}

/// A JSON string of `bytes` (invalid UTF-8 replaced), or null.
fn json_string(bytes: Option<&[u8]>) -> String {
    let Some(bytes) = bytes else {
        return "null".to_string();
    };
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for c in String::from_utf8_lossy(bytes).chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// kcat prints -1 for a null key or value.
fn size(b: &Option<bytes::Bytes>) -> i64 {
    b.as_ref().map_or(-1, |b| b.len() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn pattern_prints_like_kcat() {
        let r = InRecord {
            offset: 7,
            timestamp: 1000,
            key: Some(Bytes::from_static(b"k1")),
            value: Some(Bytes::from_static(b"hello")),
            headers: vec![("a".into(), Some(Bytes::from_static(b"b")))],
        };
        let f = parse_format(r"%t/%p@%o %k=%s %T [%h] %S %K 100%%\n").unwrap();
        let mut out = Vec::new();
        f.write(&mut out, "t", 2, &r).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "t/2@7 k1=hello 1000 [a=b] 5 2 100%\n"
        );
        assert!(parse_format("%x").is_err());
        let mut out = Vec::new();
        let r = InRecord {
            key: None,
            value: Some(Bytes::from_static(b"say \"hi\"\n\\\x01")),
            ..r
        };
        Format::Json.write(&mut out, "t", 2, &r).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"topic":"t","partition":2,"offset":7,"timestamp":1000,"key":null,"value":"say \"hi\"\n\\\u0001","headers":{"a":"b"}}"#
                .to_string()
                + "\n"
        );
    }
}
