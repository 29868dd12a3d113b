//! HTTPS for the HTTP listener (`[console] tls = true`): a listener that
//! yields connections once their TLS handshake is done, with the `[ssl]`
//! keystore of the SSL listeners (reloaded with them). Each handshake runs in
//! its own task, bounded by ssl.handshake_timeout_ms, so a client that stalls
//! holds up no one else; one that fails is closed with one log line.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;

use crate::security::SslFactory;

/// Handshaken connections waiting for the HTTP server to take them.
const BACKLOG: usize = 64;

pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    acceptor: JoinHandle<()>,
}

impl TlsListener {
    pub fn new(listener: TcpListener, ssl: Arc<SslFactory>) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(BACKLOG);
        let acceptor = tokio::spawn(accept_loop(listener, ssl, tx));
        Ok(TlsListener {
            ready,
            local,
            acceptor,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    ssl: Arc<SslFactory>,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off, as axum does.
                tracing::warn!(error = %e, "HTTPS accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let ssl = ssl.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let handshake = ssl.acceptor().accept(stream);
            match tokio::time::timeout(ssl.handshake_timeout(), handshake).await {
                Ok(Ok(tls)) => {
                    let _ = ready.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::warn!(%peer, error = %e, "HTTPS handshake failed"),
                Err(_) => tracing::warn!(%peer, "HTTPS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept loop never ends on its own; if it is gone, wait for shutdown.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
