//! The TCP front end: the accept loop, one task per connection.

mod connection;
mod frame;
mod outbox;
mod response_buf;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::broker::BrokerState;

pub use connection::{Decoded, Malformed, decode_request};
pub use frame::{FrameError, FrameReader};
/// For the fuzz targets, which encode responses as a connection does.
#[doc(hidden)]
pub use outbox::Outbox;

/// Accepts connections on listener number `index` until shutdown, then waits
/// for them to finish.
pub async fn accept_loop(listener: TcpListener, index: usize, state: Arc<BrokerState>) {
    let mut connections = JoinSet::new();
    let mut stop = state.shutdown.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection::serve(stream, peer, index, state.clone()));
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
