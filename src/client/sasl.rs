//! The client side of SASL: PLAIN and SCRAM-SHA-256/512 over SaslHandshake v1
//! and SaslAuthenticate (KIP-152), as any Kafka client authenticates.

use bytes::Bytes;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;

use super::{ClientError, Connection, Result};
use crate::security::scram::{ClientExchange, ScramMechanism};

/// How to authenticate: Kafka's sasl.mechanism, sasl.username, sasl.password.
#[derive(Debug, Clone)]
pub struct SaslConfig {
    pub mechanism: String,
    pub username: String,
    pub password: String,
}

impl Connection {
    /// Authenticates this connection (again, for a KIP-368 re-authentication).
    /// Returns the session lifetime the broker gave, in ms (0: no expiry).
    pub async fn authenticate(&mut self, sasl: &SaslConfig) -> Result<i64> {
        let handshake = SaslHandshakeRequest::default()
            .with_mechanism(StrBytes::from_string(sasl.mechanism.clone()));
        let response = self.send_at(&handshake, 1).await?;
        if response.error_code != 0 {
            let enabled: Vec<&str> = response.mechanisms.iter().map(|m| m.as_str()).collect();
            return Err(ClientError::Kafka {
                code: response.error_code,
                message: Some(format!(
                    "{} is not enabled; the broker offers {}",
                    sasl.mechanism,
                    enabled.join(", ")
                )),
            });
        }
        if sasl.mechanism == "PLAIN" {
            let token = format!("\0{}\0{}", sasl.username, sasl.password);
            let (_, lifetime) = self.sasl_step(token.into_bytes()).await?;
            return Ok(lifetime);
        }
        let mechanism = ScramMechanism::from_name(&sasl.mechanism).ok_or_else(|| {
            ClientError::Protocol(format!("unknown SASL mechanism {}", sasl.mechanism))
        })?;
        let (mut exchange, first) =
            ClientExchange::start(mechanism, &sasl.username, &sasl.password)
                .map_err(|e| ClientError::Protocol(format!("no random numbers: {e}")))?;
        let (server_first, _) = self.sasl_step(first.into_bytes()).await?;
        let last = exchange
            .answer(&String::from_utf8_lossy(&server_first))
            .map_err(ClientError::Protocol)?;
        let (server_final, lifetime) = self.sasl_step(last.into_bytes()).await?;
        exchange
            .verify(&String::from_utf8_lossy(&server_final))
            .map_err(ClientError::Protocol)?;
        Ok(lifetime)
    }

    /// One SaslAuthenticate round: the broker's bytes and session lifetime.
    async fn sasl_step(&mut self, token: Vec<u8>) -> Result<(Bytes, i64)> {
        let request = SaslAuthenticateRequest::default().with_auth_bytes(token.into());
        let response = self.send(&request).await?;
        ClientError::check(
            response.error_code,
            response.error_message.as_ref().map(|m| m.as_str()),
        )?;
        Ok((response.auth_bytes, response.session_lifetime_ms))
    }
}
