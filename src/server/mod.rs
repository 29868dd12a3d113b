//! The TCP front end: the accept loop, one task per connection.

mod connection;
mod frame;
mod outbox;
mod response_buf;
mod ssl;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::broker::BrokerState;
use crate::security::{KafkaPrincipal, SslFactory};

pub use frame::{FrameError, FrameReader};

/// Accepts connections on listener number `index` until shutdown, then waits
/// for them to finish. With `ssl`, each connection is TLS.
pub async fn accept_loop(
    listener: TcpListener,
    index: usize,
    ssl: Option<Arc<SslFactory>>,
    state: Arc<BrokerState>,
) {
    let mut connections = JoinSet::new();
    let mut stop = state.shutdown.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let state = state.clone();
                    match &ssl {
                        Some(ssl) => connections.spawn(ssl::serve(stream, peer, index, ssl.clone(), state)),
                        None => connections.spawn(connection::serve(
                            stream.into_split(),
                            peer,
                            index,
                            KafkaPrincipal::anonymous(),
                            state,
                        )),
                    };
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
