//! The TLS handshake of a connection to an SSL listener, before the
//! connection is served like any other.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;

use super::connection;
use super::connection_quotas::OpenConnection;
use super::net_read_buffer::NetReadBuffer;
use crate::broker::BrokerState;
use crate::security::SslFactory;

/// Encrypted bytes a connection may hold before a write waits for the
/// socket. Small, so that a large fetch response goes out in parts as they
/// are encrypted and the client decrypts one part while the broker encrypts
/// the next: on a VM with slow AES, 64 KiB fetched 1 MiB in 13 % less time
/// than 512 KiB, for the bench and for librdkafka (README: Benchmarks).
const TLS_SEND_BUFFER: usize = 64 * 1024;

/// Shakes hands (bounded by ssl.handshake_timeout_ms), then serves the
/// connection as the principal its certificate names. A failed or stalled
/// handshake closes this connection only, with one log line.
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    listener: usize,
    ssl: Arc<SslFactory>,
    state: Arc<BrokerState>,
    connection: Arc<OpenConnection>,
) {
    let mut stop = state.shutdown.clone();
    let accept = ssl
        .acceptor()
        .accept_with(NetReadBuffer::new(stream), |tls| {
            tls.set_buffer_limit(Some(TLS_SEND_BUFFER))
        });
    let handshake = tokio::time::timeout(ssl.handshake_timeout(), accept);
    let tls = tokio::select! {
        done = handshake => match done {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::warn!(%peer, error = %e, "TLS handshake failed; closing the connection");
                return;
            }
            Err(_) => {
                tracing::warn!(%peer, "TLS handshake timed out; closing the connection");
                return;
            }
        },
        _ = stop.changed() => return,
        _ = connection.closed() => return,
    };
    let Some(principal) = ssl.principal(tls.get_ref().1) else {
        tracing::warn!(%peer, "no ssl.principal_mapping_rules rule matches the client certificate; closing the connection");
        return;
    };
    connection::serve(
        tokio::io::split(tls),
        peer,
        listener,
        principal,
        state,
        connection,
    )
    .await;
}
