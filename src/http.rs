//! The HTTP listener: `/metrics` (Prometheus text format), `/health`, `/ready`
//! and the web console (`crate::console`). It starts before the topics are
//! loaded, so both probes answer 503 while the broker starts and again once it
//! begins to shut down. The probes never ask for credentials; the console
//! always goes through `crate::http_auth`, /metrics when configured to.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::broker::BrokerState;
use crate::config::Config;
use crate::http_tls::TlsListener;
use crate::security::{BasicAuthenticator, SslFactory};

/// What the handlers see: the broker once it is serving.
pub struct HttpState {
    broker: OnceLock<Arc<BrokerState>>,
    stopping: AtomicBool,
    /// Requests must carry HTTP Basic credentials (`Config::http_basic_auth`).
    pub basic_auth: bool,
    pub authenticator: BasicAuthenticator,
    /// Password derivations (PBKDF2) allowed at once.
    pub derivations: Semaphore,
}

/// Password derivations at once: about the cores a small broker has.
const MAX_DERIVATIONS: usize = 4;

impl HttpState {
    pub fn new(config: &Config) -> HttpState {
        HttpState {
            broker: OnceLock::new(),
            stopping: AtomicBool::new(false),
            basic_auth: config.http_basic_auth(),
            authenticator: BasicAuthenticator::default(),
            derivations: Semaphore::new(MAX_DERIVATIONS),
        }
    }

    pub fn serving(&self, broker: Arc<BrokerState>) {
        let _ = self.broker.set(broker);
    }

    pub fn stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// The broker once it serves (also while it stops).
    pub fn broker(&self) -> Option<&Arc<BrokerState>> {
        self.broker.get()
    }

    fn ready(&self) -> Option<&Arc<BrokerState>> {
        if self.stopping.load(Ordering::SeqCst) {
            return None;
        }
        self.broker.get()
    }
}

pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// The listener's routes: the probes, /metrics, and the console unless
/// `[console] enabled = false`.
pub fn router(state: Arc<HttpState>, config: &Config) -> Router {
    let mut metrics_route = Router::new().route("/metrics", get(metrics));
    if config.console.metrics_authentication {
        metrics_route = metrics_route.route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::http_auth::authenticate,
        ));
    }
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(health))
        .merge(metrics_route)
        .merge(crate::console::routes(
            config.console.enabled,
            state.clone(),
        ))
        .with_state(state)
}

/// Serves `app` until `stop` turns true; over TLS with `https`.
pub async fn serve(
    listener: TcpListener,
    https: Option<Arc<SslFactory>>,
    app: Router,
    mut stop: watch::Receiver<bool>,
) {
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let served = match https {
        None => {
            axum::serve(listener, service)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Some(ssl) => match TlsListener::new(listener, ssl) {
            // tap_io: its ConnectInfo<SocketAddr> is the listener's peer address.
            Ok(tls) => {
                axum::serve(tls.tap_io(|_| {}), service)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
            Err(e) => Err(e),
        },
    };
    if let Err(e) = served {
        tracing::error!(error = %e, "HTTP listener failed");
    }
}

async fn health(State(state): State<Arc<HttpState>>) -> impl IntoResponse {
    match state.ready() {
        Some(_) => (StatusCode::OK, "ok\n"),
        None => (StatusCode::SERVICE_UNAVAILABLE, "unavailable\n"),
    }
}

async fn metrics(State(state): State<Arc<HttpState>>) -> impl IntoResponse {
    let Some(broker) = state.broker.get().cloned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain")],
            String::new(),
        );
    };
    // Reading every partition's offsets takes their locks briefly: off the runtime.
    let text = tokio::task::spawn_blocking(move || {
        broker
            .metrics
            .render(&broker.topics, &broker.groups, &broker.txn)
    })
    .await
    .unwrap_or_default();
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
}
