//! One TCP connection to one broker: frames requests with the right header
//! version, decodes responses in order, and picks each API's version as the
//! highest that both the broker (ApiVersions) and this client support.

use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{ClientError, Result, SaslConfig, TlsClient};

/// The halves of a TCP stream, or of a TLS stream over one.
type Reader = Box<dyn AsyncRead + Unpin + Send>;
type Writer = Box<dyn AsyncWrite + Unpin + Send>;

/// The versions this client can build and read, per API. Capped where newer
/// versions change shape (Fetch and Produce v13 name topics by id, OffsetFetch
/// v8 batches groups, FindCoordinator v4 batches keys).
const CLIENT_VERSIONS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 12),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 8),
    (ApiKey::Metadata, 1, 12),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 7),
    (ApiKey::FindCoordinator, 0, 3),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 5),
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 1),
    (ApiKey::SaslHandshake, 1, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
];

/// ApiVersions v3 is the first flexible version; every broker since Kafka 2.4 has it.
const API_VERSIONS_VERSION: i16 = 3;
/// Larger response frames are refused rather than allocated.
const MAX_RESPONSE_BYTES: usize = 512 * 1024 * 1024;

pub struct Connection {
    addr: String,
    reader: BufReader<Reader>,
    writer: Writer,
    client_id: StrBytes,
    correlation_id: i32,
    broker_versions: HashMap<i16, (i16, i16)>,
}

impl Connection {
    /// Connects to `addr` (HOST:PORT), asks the broker for its API versions
    /// and, with `sasl`, authenticates.
    pub async fn connect(
        addr: &str,
        client_id: &str,
        sasl: Option<&SaslConfig>,
    ) -> Result<Connection> {
        Self::connect_over(addr, client_id, sasl, None).await
    }

    /// As [`Connection::connect`], over TLS with `tls`.
    pub async fn connect_over(
        addr: &str,
        client_id: &str,
        sasl: Option<&SaslConfig>,
        tls: Option<&TlsClient>,
    ) -> Result<Connection> {
        let io = |source| ClientError::Io {
            addr: addr.to_string(),
            source,
        };
        let stream = TcpStream::connect(addr).await.map_err(io)?;
        stream.set_nodelay(true).map_err(io)?;
        let (read, writer): (Reader, Writer) = match tls {
            None => {
                let (read, write) = stream.into_split();
                (Box::new(read), Box::new(write))
            }
            Some(tls) => {
                let stream = tls.connect(addr, stream).await.map_err(io)?;
                let (read, write) = tokio::io::split(stream);
                (Box::new(read), Box::new(write))
            }
        };
        let mut conn = Connection {
            addr: addr.to_string(),
            reader: BufReader::with_capacity(256 * 1024, read),
            writer,
            client_id: StrBytes::from_string(client_id.to_string()),
            correlation_id: 0,
            broker_versions: HashMap::new(),
        };
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("runnel-cli"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let response: ApiVersionsResponse = conn.send_at(&request, API_VERSIONS_VERSION).await?;
        ClientError::check(response.error_code, None)?;
        conn.broker_versions = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        if let Some(sasl) = sasl {
            conn.authenticate(sasl).await?;
        }
        Ok(conn)
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The version to send `R` at: the highest both sides support.
    pub fn version<R: Request>(&self) -> Result<i16> {
        let broker = self.broker_versions.get(&R::KEY).copied();
        negotiate(R::KEY, R::VERSIONS.max, broker)
            .map_err(|e| ClientError::Protocol(format!("{}: {e}", self.addr)))
    }

    /// Sends `request` at the negotiated version and waits for its response.
    pub async fn send<R: Request>(&mut self, request: &R) -> Result<R::Response> {
        let version = self.version::<R>()?;
        self.send_at(request, version).await
    }

    pub async fn send_at<R: Request>(&mut self, request: &R, version: i16) -> Result<R::Response> {
        let correlation_id = self.write_request(request, version).await?;
        self.read_response::<R>(version, correlation_id).await
    }

    /// Writes one request without waiting (several may be in flight); returns
    /// its correlation id for `read_response`.
    pub async fn write_request<R: Request>(&mut self, request: &R, version: i16) -> Result<i32> {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        let encoded = header
            .encode(&mut buf, R::header_version(version))
            .and_then(|()| request.encode(&mut buf, version));
        encoded.map_err(|e| ClientError::Protocol(format!("cannot encode request: {e}")))?;
        let len = (buf.len() - 4) as i32;
        buf[0..4].copy_from_slice(&len.to_be_bytes());
        let written = match self.writer.write_all(&buf).await {
            // TLS holds written records until flushed.
            Ok(()) => self.writer.flush().await,
            Err(e) => Err(e),
        };
        written.map_err(|source| self.io(source))?;
        Ok(self.correlation_id)
    }

    /// Reads the next response, which must answer `correlation_id`.
    pub async fn read_response<R: Request>(
        &mut self,
        version: i16,
        correlation_id: i32,
    ) -> Result<R::Response> {
        let mut body = self.read_frame().await?;
        let header = ResponseHeader::decode(&mut body, R::Response::header_version(version))
            .map_err(|e| ClientError::Protocol(format!("bad response header: {e}")))?;
        if header.correlation_id != correlation_id {
            return Err(ClientError::Protocol(format!(
                "{}: response to request {} while waiting for {correlation_id}",
                self.addr, header.correlation_id
            )));
        }
        R::Response::decode(&mut body, version)
            .map_err(|e| ClientError::Protocol(format!("{}: bad response: {e}", self.addr)))
    }

    async fn read_frame(&mut self) -> Result<Bytes> {
        let mut len = [0u8; 4];
        self.reader
            .read_exact(&mut len)
            .await
            .map_err(|source| self.io(source))?;
        let len = i32::from_be_bytes(len);
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= MAX_RESPONSE_BYTES)
            .ok_or_else(|| ClientError::Protocol(format!("{}: frame of {len} bytes", self.addr)))?;
        let mut body = vec![0u8; len];
        self.reader
            .read_exact(&mut body)
            .await
            .map_err(|source| self.io(source))?;
        Ok(Bytes::from(body))
    }

    fn io(&self, source: std::io::Error) -> ClientError {
        ClientError::Io {
            addr: self.addr.clone(),
            source,
        }
    }
}

/// The highest version of API `key` within this client's range (capped at
/// `crate_max`, what kafka-protocol can encode) and the broker's.
fn negotiate(
    key: i16,
    crate_max: i16,
    broker: Option<(i16, i16)>,
) -> std::result::Result<i16, String> {
    let name = ApiKey::try_from(key)
        .map(|k| format!("{k:?}"))
        .unwrap_or_else(|_| key.to_string());
    let (client_min, client_max) = CLIENT_VERSIONS
        .iter()
        .find(|(k, _, _)| *k as i16 == key)
        .map(|&(_, min, max)| (min, max.min(crate_max)))
        .ok_or_else(|| format!("{name} is not used by this client"))?;
    let (broker_min, broker_max) =
        broker.ok_or_else(|| format!("the broker does not support {name}"))?;
    let version = client_max.min(broker_max);
    if version < client_min.max(broker_min) {
        return Err(format!(
            "no common version of {name} (broker {broker_min}..{broker_max}, client {client_min}..{client_max})"
        ));
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_highest_common_version() {
        let fetch = ApiKey::Fetch as i16;
        assert_eq!(
            negotiate(fetch, 18, Some((4, 18))),
            Ok(12),
            "capped by the client"
        );
        assert_eq!(
            negotiate(fetch, 18, Some((0, 11))),
            Ok(11),
            "capped by the broker"
        );
        assert_eq!(
            negotiate(fetch, 10, Some((4, 18))),
            Ok(10),
            "capped by the crate"
        );
        assert!(
            negotiate(fetch, 18, Some((0, 3))).is_err(),
            "too old a broker"
        );
        assert!(
            negotiate(fetch, 18, Some((13, 18))).is_err(),
            "too new a broker"
        );
        assert!(negotiate(fetch, 18, None).is_err());
        assert!(negotiate(ApiKey::ElectLeaders as i16, 2, Some((0, 2))).is_err());
    }
}
