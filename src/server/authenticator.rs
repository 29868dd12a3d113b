//! A connection's SASL state, as Kafka's SaslServerAuthenticator keeps it
//! (KIP-152, KIP-368). On a SASL listener a connection may send ApiVersions,
//! then SaslHandshake and SaslAuthenticate until it has authenticated; any
//! other request closes it. Once authenticated it runs as `User:<name>` until
//! its session (connections.max.reauth.ms) expires, unless it re-authenticates
//! as the same user first.

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
    /// A mechanism's exchange runs: SaslAuthenticate only.
    Exchange {
        server: SaslServer,
        mechanism: String,
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
            (State::Start, RequestKind::ApiVersions(_)) => Verdict::Run,
            (State::Start | State::Authenticated, RequestKind::SaslHandshake(r)) => {
                self.handshake(broker, r)
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

    fn handshake(&mut self, broker: &BrokerState, request: &SaslHandshakeRequest) -> Verdict {
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
        let State::Exchange { server, mechanism } = &mut self.state else {
            return Verdict::Close("SaslAuthenticate without a handshake".into());
        };
        let failed = |message: String| {
            Verdict::AnswerAndClose(ResponseKind::SaslAuthenticate(
                SaslAuthenticateResponse::default()
                    .with_error_code(ResponseError::SaslAuthenticationFailed.code())
                    .with_error_message(Some(StrBytes::from_string(message))),
            ))
        };
        match server.step(&request.auth_bytes, &broker.credentials) {
            Err(e) => failed(e.0),
            Ok(Step::Continue(challenge)) => Verdict::Answer(ResponseKind::SaslAuthenticate(
                SaslAuthenticateResponse::default().with_auth_bytes(challenge.into()),
            )),
            Ok(Step::Done { user, response }) => {
                let principal = KafkaPrincipal::user(user);
                if let Some(previous) = &self.authenticated {
                    if principal != self.principal {
                        return failed(format!(
                            "Cannot change principals during re-authentication from {}: {principal}",
                            self.principal
                        ));
                    }
                    if previous != mechanism {
                        return failed(format!(
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
                tracing::debug!(principal = %self.principal, version, "SASL authentication succeeded");
                Verdict::Answer(ResponseKind::SaslAuthenticate(
                    SaslAuthenticateResponse::default()
                        .with_auth_bytes(response.into())
                        .with_session_lifetime_ms(lifetime),
                ))
            }
        }
    }
}

fn illegal_authenticate(message: &str) -> ResponseKind {
    ResponseKind::SaslAuthenticate(
        SaslAuthenticateResponse::default()
            .with_error_code(ResponseError::IllegalSaslState.code())
            .with_error_message(Some(StrBytes::from_string(message.to_string()))),
    )
}
