//! The server side of the SASL mechanisms runnel offers: PLAIN (RFC 4616) and
//! SCRAM-SHA-256 / SCRAM-SHA-512, both checked against the SCRAM credential
//! store. One [`SaslServer`] runs one authentication, token by token.

use super::credentials::CredentialStore;
use super::scram::{ClientFinal, ClientFirst, ScramMechanism, ServerExchange, nonce};

pub const PLAIN: &str = "PLAIN";

/// Every mechanism runnel can enable, by Kafka's names.
pub const MECHANISMS: [&str; 3] = [PLAIN, "SCRAM-SHA-256", "SCRAM-SHA-512"];

/// What a token leads to.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// Send this challenge; the client answers with another token.
    Continue(Vec<u8>),
    /// Authenticated as this user; send these final bytes.
    Done { user: String, response: Vec<u8> },
}

/// An authentication failure, with the message Kafka gives the client.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct AuthenticationFailed(pub String);

enum State {
    Plain,
    ScramFirst(ScramMechanism),
    ScramFinal {
        user: String,
        exchange: Box<ServerExchange>,
    },
    Finished,
}

pub struct SaslServer {
    state: State,
}

impl SaslServer {
    /// A server for `mechanism`, which must be one of [`MECHANISMS`].
    pub fn new(mechanism: &str) -> Option<SaslServer> {
        let state = if mechanism == PLAIN {
            State::Plain
        } else {
            State::ScramFirst(ScramMechanism::from_name(mechanism)?)
        };
        Some(SaslServer { state })
    }

    /// Handles the client's next token.
    pub fn step(
        &mut self,
        token: &[u8],
        store: &CredentialStore,
    ) -> Result<Step, AuthenticationFailed> {
        match std::mem::replace(&mut self.state, State::Finished) {
            State::Plain => plain(token, store),
            State::ScramFirst(mechanism) => {
                let (user, exchange, server_first) = scram_first(mechanism, token, store)?;
                self.state = State::ScramFinal {
                    user,
                    exchange: Box::new(exchange),
                };
                Ok(Step::Continue(server_first.into_bytes()))
            }
            State::ScramFinal { user, exchange } => {
                let last = std::str::from_utf8(token)
                    .ok()
                    .and_then(ClientFinal::parse)
                    .ok_or_else(|| failed("Invalid SCRAM client final message"))?;
                let response = exchange.finish(&last).ok_or_else(|| {
                    failed(&format!(
                        "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
                        exchange.mechanism().name()
                    ))
                })?;
                Ok(Step::Done {
                    user,
                    response: response.into_bytes(),
                })
            }
            State::Finished => Err(failed("Authentication already finished")),
        }
    }
}

fn failed(message: &str) -> AuthenticationFailed {
    AuthenticationFailed(message.to_string())
}

/// `[authzid] NUL authcid NUL password`, checked against the user's SCRAM credential.
fn plain(token: &[u8], store: &CredentialStore) -> Result<Step, AuthenticationFailed> {
    let invalid = || failed("Authentication failed: Invalid username or password");
    let text = std::str::from_utf8(token).map_err(|_| invalid())?;
    let mut parts = text.split('\0');
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(failed(
            "Invalid SASL/PLAIN response: expected 3 tokens, got a different number",
        ));
    };
    if user.is_empty() {
        return Err(failed("Authentication failed: username not specified"));
    }
    if password.is_empty() {
        return Err(failed("Authentication failed: password not specified"));
    }
    if !authzid.is_empty() && authzid != user {
        return Err(failed(
            "Authentication failed: Client requested an authorization id that is different from username",
        ));
    }
    if !store.verify_password(user, password) {
        return Err(invalid());
    }
    Ok(Step::Done {
        user: user.to_string(),
        response: Vec::new(),
    })
}

fn scram_first(
    mechanism: ScramMechanism,
    token: &[u8],
    store: &CredentialStore,
) -> Result<(String, ServerExchange, String), AuthenticationFailed> {
    let first = std::str::from_utf8(token)
        .ok()
        .and_then(ClientFirst::parse)
        .ok_or_else(|| failed("Invalid SCRAM client first message"))?;
    if first
        .extensions
        .iter()
        .any(|(k, v)| k == "tokenauth" && v.eq_ignore_ascii_case("true"))
    {
        return Err(failed(
            "Authentication failed: delegation tokens are not supported",
        ));
    }
    if first.authzid.as_ref().is_some_and(|a| *a != first.user) {
        return Err(failed(
            "Authentication failed: Client requested an authorization id that is different from username",
        ));
    }
    let credential = store
        .get(&first.user, mechanism)
        .ok_or_else(|| failed("Authentication failed: Invalid user credentials"))?;
    let server_nonce = nonce().map_err(|e| failed(&format!("Authentication failed: {e}")))?;
    let (exchange, server_first) =
        ServerExchange::start(mechanism, credential, &first, &server_nonce);
    Ok((first.user, exchange, server_first))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::credentials::Alteration;
    use crate::security::scram::ClientExchange;

    fn store_with(user: &str, password: &str) -> (tempfile::TempDir, CredentialStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = CredentialStore::open(dir.path()).unwrap();
        for m in ScramMechanism::ALL {
            let out = store.alter(vec![
                Alteration::upsert_password(user, m, password, 4096).unwrap(),
            ]);
            assert!(out[0].1.is_ok());
        }
        (dir, store)
    }

    #[test]
    fn plain_checks_the_password_against_the_scram_credential() {
        let (_dir, store) = store_with("alice", "s3cret");
        let mut ok = SaslServer::new(PLAIN).unwrap();
        assert_eq!(
            ok.step(b"\0alice\0s3cret", &store),
            Ok(Step::Done {
                user: "alice".into(),
                response: vec![]
            })
        );
        for bad in [
            &b"\0alice\0wrong"[..],
            b"\0bob\0s3cret",
            b"bob\0alice\0s3cret",
            b"alice\0s3cret",
            b"\0alice\0",
        ] {
            let mut s = SaslServer::new(PLAIN).unwrap();
            assert!(s.step(bad, &store).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn scram_succeeds_with_the_password_and_fails_without_it() {
        let (_dir, store) = store_with("alice", "s3cret");
        for m in ScramMechanism::ALL {
            for (user, password, ok) in [
                ("alice", "s3cret", true),
                ("alice", "nope", false),
                ("nobody", "s3cret", false),
            ] {
                let mut server = SaslServer::new(m.name()).unwrap();
                let (mut client, first) = ClientExchange::start(m, user, password).unwrap();
                let server_first = match server.step(first.as_bytes(), &store) {
                    Ok(Step::Continue(c)) => String::from_utf8(c).unwrap(),
                    other => {
                        assert!(!ok && other.is_err(), "{other:?}");
                        continue;
                    }
                };
                let last = client.answer(&server_first).unwrap();
                match server.step(last.as_bytes(), &store) {
                    Ok(Step::Done { user: u, response }) => {
                        assert!(ok);
                        assert_eq!(u, user);
                        client
                            .verify(std::str::from_utf8(&response).unwrap())
                            .unwrap();
                    }
                    other => assert!(!ok && other.is_err(), "{other:?}"),
                }
            }
        }
        let mut token = SaslServer::new("SCRAM-SHA-512").unwrap();
        assert!(
            token
                .step(b"n,,n=alice,r=abc,tokenauth=true", &store)
                .is_err()
        );
    }
}
