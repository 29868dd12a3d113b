//! The web console on the HTTP listener: server-rendered pages at `/` and a
//! JSON API under `/api/` that the pages' forms use. It reads through the same
//! partition readers as Fetch and changes things through the same code as the
//! Kafka APIs; it adds nothing to the produce and fetch paths. Every request
//! is authenticated (`crate::http_auth`) and every action checks the ACLs the
//! matching Kafka API checks, for the caller's principal and IP address.

mod access;
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

use crate::api::RequestContext;
use crate::broker::BrokerState;
use crate::http::HttpState;
use crate::http_auth::Caller;
pub use error::ApiError;

/// The console's routes, or none when `[console] enabled = false`.
pub fn routes(enabled: bool, state: Arc<HttpState>) -> Router<Arc<HttpState>> {
    if !enabled {
        return Router::new();
    }
    api::routes()
        .merge(pages::routes())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            read_only_guard,
        ))
        .route_layer(middleware::from_fn_with_state(
            state,
            crate::http_auth::authenticate,
        ))
}

/// The broker, once it serves (503 while it starts or stops), and who asks:
/// the context the ACL checks take.
pub struct Broker(pub Arc<BrokerState>, pub Arc<RequestContext>);

impl FromRequestParts<Arc<HttpState>> for Broker {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<HttpState>,
    ) -> Result<Self, Self::Rejection> {
        let Some(broker) = state.broker().cloned() else {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "BROKER_NOT_AVAILABLE",
                "The broker is starting or stopping.",
            )
            .into_response());
        };
        // Set by the authentication layer every console route sits behind.
        let Some(Caller(caller)) = parts.extensions.get::<Caller>().cloned() else {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNKNOWN_SERVER_ERROR",
                "The request was not authenticated.",
            )
            .into_response());
        };
        Ok(Broker(broker, caller))
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
