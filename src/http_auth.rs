//! Who an HTTP request comes from: the console and (when asked) /metrics
//! authenticate each request as `[console] authentication` says, and hand the
//! handlers a `RequestContext` like a Kafka connection's, so they check ACLs
//! through the same `BrokerState::authorize*` helpers as the Kafka APIs.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::RequestContext;
use crate::console::ApiError;
use crate::http::HttpState;
use crate::security::{BasicCredentials, KafkaPrincipal};

/// The client id ACL-checked HTTP requests carry (quotas and logs show it).
pub const CLIENT_ID: &str = "runnel-http";

/// The authenticated caller of one request, put in its extensions.
#[derive(Clone)]
pub struct Caller(pub Arc<RequestContext>);

/// Middleware: 401 unless the request proves who it is (when authentication
/// is basic); 503 while the broker starts or stops.
pub async fn authenticate(
    State(state): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(broker) = state.broker().cloned() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "BROKER_NOT_AVAILABLE",
            "The broker is starting or stopping.",
        )
        .into_response();
    };
    let principal = if state.basic_auth {
        let credentials = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(BasicCredentials::parse);
        let Some(credentials) = credentials else {
            return unauthorized("Authentication required.");
        };
        let verified = if state
            .authenticator
            .recently_verified(&broker.credentials, &credentials)
        {
            Some(credentials)
        } else {
            // A miss derives the password (PBKDF2): off the runtime, and only
            // a few at a time, so a flood of wrong passwords cannot take
            // every blocking thread.
            let Ok(_permit) = state.derivations.acquire().await else {
                return unauthorized("Authentication failed: Invalid username or password");
            };
            let state = state.clone();
            tokio::task::spawn_blocking(move || {
                state
                    .authenticator
                    .verify(&broker.credentials, &credentials)
                    .then_some(credentials)
            })
            .await
            .ok()
            .flatten()
        };
        match verified {
            Some(c) => KafkaPrincipal::user(c.user),
            None => return unauthorized("Authentication failed: Invalid username or password"),
        }
    } else {
        KafkaPrincipal::anonymous()
    };
    request
        .extensions_mut()
        .insert(Caller(Arc::new(RequestContext {
            client_id: CLIENT_ID.to_string(),
            client_host: format!("/{}", peer.ip()),
            listener: 0,
            principal,
            mutation_throttle_ms: Default::default(),
        })));
    next.run(request).await
}

/// 401 with the challenge that makes a browser ask for a user and password.
fn unauthorized(message: &str) -> Response {
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "SASL_AUTHENTICATION_FAILED",
        message,
    )
    .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"runnel\""),
    );
    response
}
