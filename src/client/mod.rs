//! A Kafka client on the kafka-protocol crate, for the `runnel` CLI: one
//! connection per broker with negotiated versions, metadata routing to
//! partition leaders, record batches, and a classic consumer group member.
//! It speaks the protocol only, so it works against runnel and any Kafka broker.

pub mod batch;
pub mod cluster;
pub mod connection;
pub mod group_member;
pub mod partitioner;
pub mod sasl;
pub mod tls;

pub use cluster::Cluster;
pub use connection::Connection;
pub use sasl::SaslConfig;
pub use tls::TlsClient;

use kafka_protocol::ResponseError;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{addr}: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Protocol(String),
    #[error("{}", kafka_message(*.code, .message.as_deref()))]
    Kafka { code: i16, message: Option<String> },
}

pub type Result<T> = std::result::Result<T, ClientError>;

impl ClientError {
    /// The Kafka error of `code`, or Ok for 0.
    pub fn check(code: i16, message: Option<&str>) -> Result<()> {
        if code == 0 {
            return Ok(());
        }
        Err(ClientError::Kafka {
            code,
            message: message.filter(|m| !m.is_empty()).map(str::to_string),
        })
    }

    pub fn code(&self) -> Option<i16> {
        match self {
            ClientError::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Kafka's name of an error code: `UNKNOWN_TOPIC_OR_PARTITION`.
pub fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None => "NONE".to_string(),
        Some(ResponseError::Unknown(c)) => format!("UNKNOWN_ERROR_CODE_{c}"),
        Some(e) => {
            let camel = format!("{e:?}");
            let mut out = String::new();
            for (i, ch) in camel.chars().enumerate() {
                if ch.is_ascii_uppercase() && i > 0 {
                    out.push('_');
                }
                out.push(ch.to_ascii_uppercase());
            }
            out
        }
    }
}

fn kafka_message(code: i16, message: Option<&str>) -> String {
    match message {
        Some(m) => format!("{}: {m}", error_name(code)),
        None => error_name(code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_kafkas() {
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(36), "TOPIC_ALREADY_EXISTS");
        assert_eq!(error_name(0), "NONE");
    }
}
