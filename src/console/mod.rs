//! The web console on the HTTP listener: server-rendered pages at `/` and a
//! JSON API under `/api/` that the pages' forms use. It reads through the same
//! partition readers as Fetch and changes things through the same code as the
//! Kafka APIs; it adds nothing to the produce and fetch paths.

mod api;
mod codec;
mod error;
mod groups;
mod html;
mod messages;
mod overview;
mod pages;
mod records;
mod topics;
mod transactions;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use crate::broker::BrokerState;
use crate::http::HttpState;
pub use error::ApiError;

/// The console's routes, or none when `[console] enabled = false`.
pub fn routes(enabled: bool, state: Arc<HttpState>) -> Router<Arc<HttpState>> {
    if !enabled {
        return Router::new();
    }
    api::routes()
        .merge(pages::routes())
        .route_layer(middleware::from_fn_with_state(state, read_only_guard))
}

/// The broker, once it serves; 503 while it starts or stops.
pub struct Broker(pub Arc<BrokerState>);

impl FromRequestParts<Arc<HttpState>> for Broker {
    type Rejection = Response;

    async fn from_request_parts(
        _parts: &mut Parts,
        state: &Arc<HttpState>,
    ) -> Result<Self, Self::Rejection> {
        state.broker().cloned().map(Broker).ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "BROKER_NOT_AVAILABLE",
                "The broker is starting or stopping.",
            )
            .into_response()
        })
    }
}

/// In read-only mode everything but GET and HEAD answers 403.
async fn read_only_guard(
    State(state): State<Arc<HttpState>>,
    request: Request,
    next: Next,
) -> Response {
    let read_only = state.broker().is_some_and(|b| b.config.console.read_only);
    if read_only && !matches!(*request.method(), Method::GET | Method::HEAD) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "READ_ONLY",
            "The console is read-only ([console] read_only = true).",
        )
        .into_response();
    }
    next.run(request).await
}
