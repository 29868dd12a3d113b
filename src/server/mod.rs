//! The TCP front end: the accept loop, one task per connection.

mod authenticator;
mod connection;
mod connection_quotas;
mod frame;
mod net_read_buffer;
mod outbox;
mod request_memory;
mod response_buf;
mod ssl;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::broker::BrokerState;
use crate::metrics::{ListenerLabels, ReasonLabels};
use crate::security::{KafkaPrincipal, SslFactory};

pub use connection::{Decoded, Malformed, decode_request};
use connection_quotas::Slot;
pub use connection_quotas::{
    ConnectionLimits, ConnectionQuotas, ListenerLimits, resolve_overrides,
};
pub use frame::{FrameError, FrameReader};
/// For the fuzz targets, which encode responses as a connection does.
#[doc(hidden)]
pub use outbox::Outbox;
pub use request_memory::MemoryPool;

/// Waits until `resume` (a wait for max.connection.creation.rate), then
/// accepts. Cancel-safe: the accept loop makes it anew each time round.
async fn accept(
    listener: &TcpListener,
    resume: Option<Instant>,
) -> std::io::Result<(TcpStream, SocketAddr)> {
    if let Some(at) = resume {
        tokio::time::sleep_until(at).await;
    }
    listener.accept().await
}

/// A slot for a connection just accepted on listener number `index`: at
/// max.connections or the listener's own, the listener holds the connection
/// and takes no other until one closes (or the limit rises), as Kafka's
/// acceptor blocks. None: the broker is shutting down.
async fn connection_slot(
    state: &BrokerState,
    index: usize,
    name: &str,
    stop: &mut watch::Receiver<bool>,
) -> Option<Slot> {
    let quotas = &state.connection_quotas;
    if let Some(slot) = quotas.try_slot(index) {
        return Some(slot);
    }
    tracing::debug!(
        listener = name,
        "not accepting: at max.connections until a connection closes"
    );
    let blocked = Instant::now();
    let slot = tokio::select! {
        slot = quotas.wait_for_slot(index) => slot,
        _ = stop.changed() => return None,
    };
    state
        .metrics
        .connection_accept_blocked_seconds
        .get_or_create(&ListenerLabels {
            listener: name.to_string(),
        })
        .inc_by(blocked.elapsed().as_secs_f64());
    Some(slot)
}

/// Counts a connection just accepted on listener number `index` against the
/// broker's and the listener's max.connection.creation.rate (KIP-612): how long
/// the listener waits before taking it, and before accepting any other.
fn accept_delay(state: &BrokerState, index: usize, name: &str) -> Duration {
    let (broker, own) = state.connection_quotas.creation_rates(index);
    let ms = state.client_quotas.record_accept(name, broker, own);
    if ms > 0 {
        let labels = ListenerLabels {
            listener: name.to_string(),
        };
        let metrics = &state.metrics;
        metrics
            .connection_accept_throttled
            .get_or_create(&labels)
            .inc();
        metrics
            .connection_accept_throttle_seconds
            .get_or_create(&labels)
            .inc_by(ms as f64 / 1000.0);
        tracing::debug!(
            listener = name,
            ms,
            "delaying new connections: max.connection.creation.rate"
        );
    }
    Duration::from_millis(ms)
}

/// The throttle time of a new connection from `peer` if its IP is over its
/// connection_creation_rate quota.
fn connection_throttle(state: &BrokerState, peer: SocketAddr) -> Option<u64> {
    let rate = state.quotas.ip_connection_rate(peer.ip())?;
    let ms = state.client_quotas.record_connection(peer.ip(), rate);
    (ms > 0).then_some(ms)
}

fn refused(state: &BrokerState, reason: &str) {
    state
        .metrics
        .connections_refused
        .get_or_create(&ReasonLabels {
            reason: reason.into(),
        })
        .inc();
}

/// Accepts connections on listener number `index` until shutdown, then waits
/// for them to finish. With `ssl`, each connection is TLS.
pub async fn accept_loop(
    listener: TcpListener,
    index: usize,
    ssl: Option<Arc<SslFactory>>,
    state: Arc<BrokerState>,
) {
    let name = state
        .listeners
        .get(index)
        .map(|l| l.name.clone())
        .unwrap_or_default();
    let mut connections = JoinSet::new();
    let mut stop = state.shutdown.clone();
    // Over max.connection.creation.rate the listener takes no connection until
    // then: they wait in the listen backlog, as behind Kafka's blocked acceptor.
    let mut resume = None;
    loop {
        tokio::select! {
            accepted = accept(&listener, resume) => match accepted {
                Ok((stream, peer)) => {
                    let Some(slot) = connection_slot(&state, index, &name, &mut stop).await else {
                        break;
                    };
                    let delay = accept_delay(&state, index, &name);
                    resume = (!delay.is_zero()).then(|| Instant::now() + delay);
                    if let Some(ms) = connection_throttle(&state, peer) {
                        state.client_quotas.unrecord_accept(&name);
                        // KIP-612: over its IP's connection_creation_rate, a
                        // connection is not served and is closed once the
                        // throttle time has passed (Kafka's delayed close).
                        drop(slot);
                        tracing::debug!(%peer, ms, "throttling a connection: connection_creation_rate");
                        refused(&state, "connection_creation_rate");
                        connections.spawn(async move {
                            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                            drop(stream);
                        });
                        continue;
                    }
                    let Some(counted) = slot.inc(peer.ip()) else {
                        tracing::info!(%peer, "closing a connection: its address is at its max.connections.per.ip");
                        refused(&state, "max_connections_per_ip");
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let state = state.clone();
                    let ssl = ssl.clone();
                    let connection = counted.connection();
                    connections.spawn(async move {
                        // Taken over the creation rate: served once the wait is over.
                        if !delay.is_zero() {
                            let mut stop = state.shutdown.clone();
                            tokio::select! {
                                _ = tokio::time::sleep(delay) => {}
                                _ = stop.changed() => return,
                                _ = connection.closed() => return,
                            }
                        }
                        match ssl {
                            Some(ssl) => {
                                ssl::serve(stream, peer, index, ssl, state, connection).await
                            }
                            None => {
                                connection::serve(
                                    stream.into_split(),
                                    peer,
                                    index,
                                    KafkaPrincipal::anonymous(),
                                    state,
                                    connection,
                                )
                                .await
                            }
                        }
                        drop(counted);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}
