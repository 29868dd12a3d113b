//! A connection's SASL state, as Kafka's SaslServerAuthenticator keeps it
//! (KIP-152, KIP-368). On a SASL listener a connection may send ApiVersions,
//! then SaslHandshake and SaslAuthenticate until it has authenticated; any
//! other request closes it. Once authenticated it runs as `User:<name>` until
//! its session (connections.max.reauth.ms) expires, unless it re-authenticates
//! as the same user first.
//!
//! SaslHandshake v0 (before KIP-152) is served too: after it the client sends
//! bare SASL tokens, each a 4-byte length and the token with no request
//! header, and gets bare tokens back; a failure closes the connection without
//! an answer. The token exchange is the same either way; only the framing
//! differs.

use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    ApiKey, RequestKind, ResponseKind, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::broker::BrokerState;
use crate::security::KafkaPrincipal;
use crate::security::sasl::{SaslServer, Step};

/// What to do with a request.
pub enum Verdict {
    /// Run it as the connection's principal.
    Run,
    /// Run it, but outside the client quotas: ApiVersions before a SASL
    /// client has authenticated, which Kafka's SaslServerAuthenticator answers
    /// itself, never reaching KafkaApis or its request quota.
    RunUnthrottled,
    /// Answer with this response instead of running it.
    Answer(ResponseKind),
    /// Answer, then close the connection.
    AnswerAndClose(ResponseKind),
    /// Close without an answer (Kafka's IllegalSaslStateException).
    Close(String),
}

enum State {
    /// Nothing but ApiVersions and SaslHandshake yet.
    Start,
    /// A mechanism's exchange runs: SaslAuthenticate only, or with `raw`
    /// (after SaslHandshake v0) bare tokens only.
    Exchange {
        server: SaslServer,
        mechanism: String,
        raw: bool,
    },
    Authenticated,
}

pub struct Authenticator {
    /// Whether the listener asks for SASL at all.
    sasl: bool,
    state: State,
    principal: KafkaPrincipal,
    /// The mechanism `principal` authenticated with; a new exchange is then a
    /// re-authentication, which must keep both.
    authenticated: Option<String>,
    /// When the session ends (connections.max.reauth.ms after authenticating).
    expires: Option<Instant>,
}

impl Authenticator {
    /// `principal` is who the connection is before any SASL exchange (from
    /// its TLS client certificate, or User:ANONYMOUS).
    pub fn new(sasl: bool, principal: KafkaPrincipal) -> Authenticator {
        Authenticator {
            sasl,
            state: State::Start,
            principal,
            authenticated: None,
            expires: None,
        }
    }

    pub fn principal(&self) -> &KafkaPrincipal {
        &self.principal
    }

    /// Whether the next frame is a bare SASL token (after SaslHandshake v0)
    /// rather than a Kafka request.
    pub fn expects_raw_token(&self) -> bool {
        matches!(self.state, State::Exchange { raw: true, .. })
    }

    /// The largest frame the connection may send now: before a SASL listener's
    /// client has authenticated, Kafka's sasl.server.max.receive.size.
    pub fn max_receive(&self, request_max_bytes: usize) -> usize {
        if self.sasl && self.authenticated.is_none() {
            request_max_bytes.min(SASL_SERVER_MAX_RECEIVE_SIZE)
        } else {
            request_max_bytes
        }
    }

    /// Handles a bare token sent after SaslHandshake v0: the bare token to
    /// answer with, or why the connection is closed.
    pub fn raw_token(&mut self, broker: &BrokerState, token: &[u8]) -> Result<Vec<u8>, String> {
        match self.exchange(broker, token)? {
            Exchanged::Challenge(bytes) | Exchanged::Done(bytes) => Ok(bytes),
        }
    }

    /// Decides about one decoded request.
    pub fn admit(
        &mut self,
        broker: &BrokerState,
        key: ApiKey,
        request: &RequestKind,
        version: i16,
    ) -> Verdict {
        if !self.sasl {
            return match request {
                RequestKind::SaslHandshake(_) => Verdict::Answer(ResponseKind::SaslHandshake(
                    SaslHandshakeResponse::default()
                        .with_error_code(ResponseError::IllegalSaslState.code()),
                )),
                RequestKind::SaslAuthenticate(_) => Verdict::Answer(illegal_authenticate(
                    "SaslAuthenticate request received on a listener without SASL",
                )),
                _ => Verdict::Run,
            };
        }
        match (&mut self.state, request) {
            (State::Start, RequestKind::ApiVersions(_)) => Verdict::RunUnthrottled,
            (State::Authenticated, RequestKind::SaslHandshake(_)) if version == 0 => {
                // Re-authentication (KIP-368) needs SaslAuthenticate.
                Verdict::Answer(ResponseKind::SaslHandshake(
                    SaslHandshakeResponse::default()
                        .with_error_code(ResponseError::IllegalSaslState.code()),
                ))
            }
            (State::Start | State::Authenticated, RequestKind::SaslHandshake(r)) => {
                self.handshake(broker, r, version)
            }
            (State::Exchange { .. }, RequestKind::SaslAuthenticate(r)) => {
                self.authenticate(broker, r, version)
            }
            (State::Authenticated, RequestKind::SaslAuthenticate(_)) => {
                Verdict::Answer(illegal_authenticate(
                    "SaslAuthenticate request received after successful authentication",
                ))
            }
            (State::Authenticated, _) => match self.expires {
                Some(at) if Instant::now() >= at => Verdict::Close(format!(
                    "the SASL session of {} expired; {key:?} request refused",
                    self.principal
                )),
                _ => Verdict::Run,
            },
            (State::Start, _) => Verdict::Close(format!(
                "unexpected {key:?} request before SASL authentication"
            )),
            (State::Exchange { .. }, _) => Verdict::Close(format!(
                "unexpected {key:?} request during SASL authentication"
            )),
        }
    }

    fn handshake(
        &mut self,
        broker: &BrokerState,
        request: &SaslHandshakeRequest,
        version: i16,
    ) -> Verdict {
        let enabled = broker.config.sasl.mechanisms();
        let response = SaslHandshakeResponse::default().with_mechanisms(
            enabled
                .iter()
                .map(|m| StrBytes::from_string(m.clone()))
                .collect(),
        );
        let wanted = request.mechanism.as_str();
        match enabled
            .iter()
            .find(|m| *m == wanted)
            .and_then(|m| SaslServer::new(m))
        {
            Some(server) => {
                self.state = State::Exchange {
                    server,
                    mechanism: wanted.to_string(),
                    raw: version == 0,
                };
                Verdict::Answer(ResponseKind::SaslHandshake(response))
            }
            None => Verdict::AnswerAndClose(ResponseKind::SaslHandshake(
                response.with_error_code(ResponseError::UnsupportedSaslMechanism.code()),
            )),
        }
    }

    fn authenticate(
        &mut self,
        broker: &BrokerState,
        request: &SaslAuthenticateRequest,
        version: i16,
    ) -> Verdict {
        match self.exchange(broker, &request.auth_bytes) {
            Err(message) => Verdict::AnswerAndClose(ResponseKind::SaslAuthenticate(
                SaslAuthenticateResponse::default()
                    .with_error_code(ResponseError::SaslAuthenticationFailed.code())
                    .with_error_message(Some(StrBytes::from_string(message))),
            )),
            Ok(Exchanged::Challenge(challenge)) => Verdict::Answer(ResponseKind::SaslAuthenticate(
                SaslAuthenticateResponse::default().with_auth_bytes(challenge.into()),
            )),
            Ok(Exchanged::Done(response)) => {
                tracing::debug!(principal = %self.principal, version, "SASL authentication succeeded");
                Verdict::Answer(ResponseKind::SaslAuthenticate(
                    SaslAuthenticateResponse::default()
                        .with_auth_bytes(response.into())
                        .with_session_lifetime_ms(broker.config.sasl.connections_max_reauth_ms),
                ))
            }
        }
    }

    /// Feeds one client token to the running mechanism, however it was framed;
    /// on success the connection becomes the user it authenticated as. An
    /// error is the message for the client.
    fn exchange(&mut self, broker: &BrokerState, token: &[u8]) -> Result<Exchanged, String> {
        let State::Exchange {
            server, mechanism, ..
        } = &mut self.state
        else {
            return Err("SASL token without a handshake".into());
        };
        let (user, response) = match server.step(token, &broker.credentials) {
            Err(e) => return Err(e.0),
            Ok(Step::Continue(challenge)) => return Ok(Exchanged::Challenge(challenge)),
            Ok(Step::Done { user, response }) => (user, response),
        };
        let principal = KafkaPrincipal::user(user);
        if let Some(previous) = &self.authenticated {
            if principal != self.principal {
                return Err(format!(
                    "Cannot change principals during re-authentication from {}: {principal}",
                    self.principal
                ));
            }
            if previous != mechanism {
                return Err(format!(
                    "Cannot change SASL mechanisms during re-authentication from {previous} to {mechanism}"
                ));
            }
        }
        let lifetime = broker.config.sasl.connections_max_reauth_ms;
        self.expires =
            (lifetime > 0).then(|| Instant::now() + Duration::from_millis(lifetime as u64));
        self.principal = principal;
        self.authenticated = Some(mechanism.clone());
        self.state = State::Authenticated;
        Ok(Exchanged::Done(response))
    }
}

/// Kafka's sasl.server.max.receive.size default: the largest frame a client
/// may send before it has authenticated.
const SASL_SERVER_MAX_RECEIVE_SIZE: usize = 524_288;

/// What one client token led to.
enum Exchanged {
    /// Send this challenge; the exchange goes on.
    Challenge(Vec<u8>),
    /// Authenticated; send these final bytes.
    Done(Vec<u8>),
}

fn illegal_authenticate(message: &str) -> ResponseKind {
    ResponseKind::SaslAuthenticate(
        SaslAuthenticateResponse::default()
            .with_error_code(ResponseError::IllegalSaslState.code())
            .with_error_message(Some(StrBytes::from_string(message.to_string()))),
    )
}
