//! The TLS handshake of a connection to an SSL listener, before the
//! connection is served like any other.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;

use super::connection;
use crate::broker::BrokerState;
use crate::security::SslFactory;

/// Shakes hands (bounded by ssl.handshake_timeout_ms), then serves the
/// connection as the principal its certificate names. A failed or stalled
/// handshake closes this connection only, with one log line.
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    listener: usize,
    ssl: Arc<SslFactory>,
    state: Arc<BrokerState>,
) {
    let mut stop = state.shutdown.clone();
    let handshake = tokio::time::timeout(ssl.handshake_timeout(), ssl.acceptor().accept(stream));
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
    };
    let Some(principal) = ssl.principal(tls.get_ref().1) else {
        tracing::warn!(%peer, "no ssl.principal_mapping_rules rule matches the client certificate; closing the connection");
        return;
    };
    connection::serve(tokio::io::split(tls), peer, listener, principal, state).await;
}
