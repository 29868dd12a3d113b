//! SASL on a SASL_PLAINTEXT listener (KIP-152, KIP-368), driven by runnel's own
//! client and by raw frames: PLAIN and SCRAM logins, refusals that close the
//! connection, re-authentication and session expiry, and the credential store
//! behind them (KIP-554).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Client, TestBroker};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialUpsertion;
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use runnel::client::{ClientError, Connection, SaslConfig};
use runnel::security::scram::{ScramMechanism, random_bytes};

const PASSWORD: &str = "alice-secret-17";

fn sasl(mechanism: &str, user: &str, password: &str) -> SaslConfig {
    SaslConfig {
        mechanism: mechanism.into(),
        username: user.into(),
        password: password.into(),
    }
}

fn upsertion(
    user: &str,
    m: ScramMechanism,
    password: &str,
    iterations: i32,
) -> ScramCredentialUpsertion {
    let salt = random_bytes(16).unwrap();
    ScramCredentialUpsertion::default()
        .with_name(StrBytes::from_string(user.into()))
        .with_mechanism(m.kafka_type())
        .with_iterations(iterations)
        .with_salted_password(
            m.salted_password(password.as_bytes(), &salt, iterations.max(1) as u32)
                .into(),
        )
        .with_salt(salt.into())
}

/// A broker with a SASL_PLAINTEXT listener (its first) and a PLAINTEXT one,
/// and user alice created through AlterUserScramCredentials on the latter.
async fn start(reauth_ms: i64) -> (TestBroker, SocketAddr) {
    let broker = TestBroker::start_with(|c| {
        c.listen = "SASL_PLAINTEXT://127.0.0.1:0,PLAINTEXT://127.0.0.1:0".into();
        c.sasl.connections_max_reauth_ms = reauth_ms;
    })
    .await;
    let plain = broker
        .broker
        .as_ref()
        .unwrap()
        .listener_addr("PLAINTEXT")
        .unwrap();
    let mut admin = Client::connect(plain).await;
    for m in ScramMechanism::ALL {
        let request = AlterUserScramCredentialsRequest::default()
            .with_upsertions(vec![upsertion("alice", m, PASSWORD, 4096)]);
        let r = admin.send(&request, 0).await;
        assert_eq!(
            r.results[0].error_code, 0,
            "{:?}",
            r.results[0].error_message
        );
    }
    (broker, plain)
}

async fn login(addr: SocketAddr, config: &SaslConfig) -> Result<Connection, ClientError> {
    Connection::connect(&addr.to_string(), "sasl-test", Some(config)).await
}

#[tokio::test]
async fn plain_and_scram_logins_are_served() {
    let (broker, _) = start(0).await;
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let mut conn = login(broker.addr, &sasl(mechanism, "alice", PASSWORD))
            .await
            .unwrap_or_else(|e| panic!("{mechanism}: {e}"));
        let m = conn.send(&MetadataRequest::default()).await.unwrap();
        assert_eq!(m.brokers.len(), 1, "{mechanism}");
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_refused_and_closed() {
    let (broker, _) = start(0).await;
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        for (user, password) in [("alice", "wrong"), ("mallory", PASSWORD)] {
            let err = login(broker.addr, &sasl(mechanism, user, password))
                .await
                .err()
                .unwrap_or_else(|| panic!("{mechanism} {user}/{password} logged in"));
            assert_eq!(
                err.code(),
                Some(ResponseError::SaslAuthenticationFailed.code()),
                "{mechanism}: {err}"
            );
            assert!(err.to_string().contains("Authentication failed"), "{err}");
        }
    }
    // On the wire: the failure is answered, then the connection is closed.
    let mut raw = Client::connect(broker.addr).await;
    let h = handshake(&mut raw, "PLAIN", 1).await;
    assert_eq!(h.error_code, 0);
    let a = raw
        .send(
            &SaslAuthenticateRequest::default().with_auth_bytes(b"\0alice\0wrong".to_vec().into()),
            2,
        )
        .await;
    assert_eq!(a.error_code, ResponseError::SaslAuthenticationFailed.code());
    assert!(a.error_message.is_some());
    // The close comes connection.failed.authentication.delay.ms (100) after
    // the answer, as in Kafka, so a client reads the error before the close.
    let answered = std::time::Instant::now();
    assert!(raw.is_closed_by_broker().await);
    assert!(answered.elapsed() >= std::time::Duration::from_millis(80));
}

#[tokio::test]
async fn requests_before_authentication_close_the_connection() {
    let (broker, _) = start(0).await;
    let mut raw = Client::connect(broker.addr).await;
    let v = raw.send(&ApiVersionsRequest::default(), 3).await;
    assert!(
        v.api_keys
            .iter()
            .any(|k| k.api_key == ApiKey::SaslAuthenticate as i16)
    );
    let frame = raw.encode(&MetadataRequest::default(), 12);
    tokio::io::AsyncWriteExt::write_all(&mut raw.stream, &frame)
        .await
        .unwrap();
    assert!(raw.read_frame().await.is_none(), "Metadata was answered");

    // SaslAuthenticate without a handshake, too.
    let mut raw = Client::connect(broker.addr).await;
    let frame = raw.encode(&SaslAuthenticateRequest::default(), 2);
    tokio::io::AsyncWriteExt::write_all(&mut raw.stream, &frame)
        .await
        .unwrap();
    assert!(raw.read_frame().await.is_none());
}

#[tokio::test]
async fn an_unsupported_mechanism_gets_the_enabled_list() {
    let (broker, plain) = start(0).await;
    let mut raw = Client::connect(broker.addr).await;
    let h = handshake(&mut raw, "GSSAPI", 1).await;
    assert_eq!(h.error_code, ResponseError::UnsupportedSaslMechanism.code());
    let offered: Vec<&str> = h.mechanisms.iter().map(|m| m.as_str()).collect();
    assert_eq!(offered, ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"]);
    assert!(raw.is_closed_by_broker().await);

    // A listener without SASL answers the handshake with ILLEGAL_SASL_STATE.
    let mut raw = Client::connect(plain).await;
    let h = handshake(&mut raw, "PLAIN", 1).await;
    assert_eq!(h.error_code, ResponseError::IllegalSaslState.code());
}

#[tokio::test]
async fn sessions_expire_unless_the_client_reauthenticates() {
    let (broker, _) = start(1500).await;
    let alice = sasl("SCRAM-SHA-512", "alice", PASSWORD);
    let mut conn = login(broker.addr, &alice).await.unwrap();

    // Re-authenticating (KIP-368) before the session ends keeps the connection.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(conn.authenticate(&alice).await.unwrap(), 1500);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    conn.send(&MetadataRequest::default()).await.unwrap();

    // Without it, the next request after the session ends closes the connection.
    let mut idle = login(broker.addr, &sasl("PLAIN", "alice", PASSWORD))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let err = idle.send(&MetadataRequest::default()).await.unwrap_err();
    assert!(matches!(err, ClientError::Io { .. }), "{err}");
}

#[tokio::test]
async fn reauthentication_must_keep_the_principal() {
    let (broker, plain) = start(60_000).await;
    let mut admin = Client::connect(plain).await;
    let r = admin
        .send(
            &AlterUserScramCredentialsRequest::default().with_upsertions(vec![upsertion(
                "bob",
                ScramMechanism::Sha256,
                "bob-pw",
                8192,
            )]),
            0,
        )
        .await;
    assert_eq!(r.results[0].error_code, 0);
    let mut conn = login(broker.addr, &sasl("SCRAM-SHA-256", "alice", PASSWORD))
        .await
        .unwrap();
    let err = conn
        .authenticate(&sasl("SCRAM-SHA-256", "bob", "bob-pw"))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(ResponseError::SaslAuthenticationFailed.code())
    );
    assert!(
        err.to_string().contains("Cannot change principals"),
        "{err}"
    );
    assert!(conn.send(&MetadataRequest::default()).await.is_err());
    // Nor may it change mechanisms.
    let alice = sasl("SCRAM-SHA-256", "alice", PASSWORD);
    let mut conn = login(broker.addr, &alice).await.unwrap();
    let err = conn
        .authenticate(&sasl("SCRAM-SHA-512", "alice", PASSWORD))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("Cannot change SASL mechanisms"),
        "{err}"
    );
    // Bob can log in on a connection of his own.
    login(broker.addr, &sasl("PLAIN", "bob", "bob-pw"))
        .await
        .unwrap();
}

#[tokio::test]
async fn credentials_survive_a_restart_and_hold_no_password() {
    let (mut broker, _) = start(0).await;
    broker
        .restart(|c| c.listen = "SASL_PLAINTEXT://127.0.0.1:0".into())
        .await;
    login(broker.addr, &sasl("SCRAM-SHA-512", "alice", PASSWORD))
        .await
        .unwrap();
    let stored = std::fs::read(broker.dir.join("scram-credentials.toml")).unwrap();
    let text = String::from_utf8_lossy(&stored);
    assert!(
        text.contains("alice") && text.contains("stored_key"),
        "{text}"
    );
    assert!(!text.contains(PASSWORD));
    assert!(
        !stored
            .windows(PASSWORD.len())
            .any(|w| w == PASSWORD.as_bytes())
    );
}

#[tokio::test]
async fn credential_admin_apis_validate_as_kafka_does() {
    let (_broker, plain) = start(0).await;
    let mut admin = Client::connect(plain).await;
    let r = admin
        .send(
            &AlterUserScramCredentialsRequest::default().with_upsertions(vec![
                upsertion("few", ScramMechanism::Sha256, "x", 4095),
                upsertion("many", ScramMechanism::Sha256, "x", 16385),
                upsertion("twice", ScramMechanism::Sha256, "x", 4096),
                upsertion("twice", ScramMechanism::Sha512, "x", 4096),
                upsertion("odd", ScramMechanism::Sha256, "x", 4096).with_mechanism(9),
            ]),
            0,
        )
        .await;
    let code = |user: &str| {
        r.results
            .iter()
            .find(|x| x.user.as_str() == user)
            .map(|x| x.error_code)
            .unwrap()
    };
    assert_eq!(code("few"), ResponseError::UnacceptableCredential.code());
    assert_eq!(code("many"), ResponseError::UnacceptableCredential.code());
    assert_eq!(code("twice"), ResponseError::DuplicateResource.code());
    assert_eq!(code("odd"), ResponseError::UnsupportedSaslMechanism.code());

    let d = admin
        .send(
            &DescribeUserScramCredentialsRequest::default().with_users(Some(vec![
                UserName::default().with_name(StrBytes::from_static_str("alice")),
                UserName::default().with_name(StrBytes::from_static_str("nobody")),
            ])),
            0,
        )
        .await;
    assert_eq!(d.results[0].error_code, 0);
    assert_eq!(d.results[0].credential_infos.len(), 2);
    assert_eq!(d.results[0].credential_infos[0].iterations, 4096);
    assert_eq!(
        d.results[1].error_code,
        ResponseError::ResourceNotFound.code()
    );
    let all = admin
        .send(&DescribeUserScramCredentialsRequest::default(), 0)
        .await;
    let users: Vec<&str> = all.results.iter().map(|r| r.user.as_str()).collect();
    assert_eq!(users, ["alice"]);
}

/// A SaslHandshake for `mechanism` at `version` on `raw`.
async fn handshake(
    raw: &mut Client,
    mechanism: &'static str,
    version: i16,
) -> SaslHandshakeResponse {
    raw.send(
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism)),
        version,
    )
    .await
}

/// SaslHandshake v0 on `raw`, then nothing but bare tokens (KIP-152's predecessor).
async fn handshake_v0(raw: &mut Client, mechanism: &'static str) {
    let h = handshake(raw, mechanism, 0).await;
    assert_eq!(h.error_code, 0, "{mechanism}");
}

/// Sends a bare token (length, bytes) and reads the bare answer, `None` when
/// the broker closed the connection instead.
async fn raw_token(raw: &mut Client, token: &[u8]) -> Option<Vec<u8>> {
    use tokio::io::AsyncWriteExt;
    let mut frame = (token.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(token);
    raw.stream.write_all(&frame).await.ok()?;
    raw.read_frame().await.map(|b| b.to_vec())
}

#[tokio::test]
async fn handshake_v0_exchanges_bare_tokens() {
    let (broker, _) = start(0).await;
    let mut raw = Client::connect(broker.addr).await;
    let v = raw.send(&ApiVersionsRequest::default(), 3).await;
    let versions = v
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::SaslHandshake as i16)
        .unwrap();
    assert_eq!((versions.min_version, versions.max_version), (0, 1));

    // PLAIN: one token, an empty token back, then Kafka requests as alice.
    handshake_v0(&mut raw, "PLAIN").await;
    let answer = raw_token(&mut raw, format!("\0alice\0{PASSWORD}").as_bytes()).await;
    assert_eq!(answer.as_deref(), Some(&b""[..]));
    let m = raw.send(&MetadataRequest::default(), 12).await;
    assert_eq!(m.brokers.len(), 1);

    // SCRAM-SHA-256: client-first, server-first, client-final, server-final.
    let mut raw = Client::connect(broker.addr).await;
    handshake_v0(&mut raw, "SCRAM-SHA-256").await;
    let (mut client, first) =
        runnel::security::scram::ClientExchange::start(ScramMechanism::Sha256, "alice", PASSWORD)
            .unwrap();
    let server_first = raw_token(&mut raw, first.as_bytes()).await.unwrap();
    let last = client
        .answer(std::str::from_utf8(&server_first).unwrap())
        .unwrap();
    let server_final = raw_token(&mut raw, last.as_bytes()).await.unwrap();
    client
        .verify(std::str::from_utf8(&server_final).unwrap())
        .unwrap();
    let m = raw.send(&MetadataRequest::default(), 12).await;
    assert_eq!(m.brokers.len(), 1);
    // Re-authentication needs SaslAuthenticate: a v0 handshake now is refused.
    let h = handshake(&mut raw, "PLAIN", 0).await;
    assert_eq!(h.error_code, ResponseError::IllegalSaslState.code());
}

#[tokio::test]
async fn handshake_v0_failures_close_the_connection() {
    let (broker, _) = start(0).await;
    // A wrong password: no answer, the connection closes.
    for (mechanism, token) in [
        ("PLAIN", b"\0alice\0wrong".to_vec()),
        ("SCRAM-SHA-256", b"n,,n=mallory,r=abcdefgh".to_vec()),
    ] {
        let mut raw = Client::connect(broker.addr).await;
        handshake_v0(&mut raw, mechanism).await;
        assert_eq!(raw_token(&mut raw, &token).await, None, "{mechanism}");
    }
    let mut raw = Client::connect(broker.addr).await;
    handshake_v0(&mut raw, "SCRAM-SHA-256").await;
    let (mut client, first) =
        runnel::security::scram::ClientExchange::start(ScramMechanism::Sha256, "alice", "wrong")
            .unwrap();
    let server_first = raw_token(&mut raw, first.as_bytes()).await.unwrap();
    let last = client
        .answer(std::str::from_utf8(&server_first).unwrap())
        .unwrap();
    assert_eq!(raw_token(&mut raw, last.as_bytes()).await, None);

    // A Kafka request where a bare token belongs is taken as a token, and fails.
    let mut raw = Client::connect(broker.addr).await;
    handshake_v0(&mut raw, "PLAIN").await;
    let frame = raw.encode(
        &SaslAuthenticateRequest::default()
            .with_auth_bytes(format!("\0alice\0{PASSWORD}").into_bytes().into()),
        2,
    );
    tokio::io::AsyncWriteExt::write_all(&mut raw.stream, &frame)
        .await
        .unwrap();
    assert!(
        raw.read_frame().await.is_none(),
        "a framed request was served"
    );

    // A token's length prefix beyond sasl.server.max.receive.size closes the
    // connection before anything is read or allocated.
    let mut raw = Client::connect(broker.addr).await;
    handshake_v0(&mut raw, "PLAIN").await;
    tokio::io::AsyncWriteExt::write_all(&mut raw.stream, &(1u32 << 20).to_be_bytes())
        .await
        .unwrap();
    assert!(raw.is_closed_by_broker().await);
}

#[tokio::test]
async fn api_versions_before_authentication_is_outside_the_request_quota() {
    let (broker, plain) = start(0).await;
    let mut admin = Client::connect(plain).await;
    // A ten-thousandth of a percent of a thread for the test's client id: any
    // few requests exceed it.
    admin
        .set_quota(
            "client-id",
            Some("runnel-test"),
            "request_percentage",
            0.001,
        )
        .await;
    // Before authentication Kafka's SaslServerAuthenticator answers ApiVersions
    // itself, outside KafkaApis and its request quota.
    let mut raw = Client::connect(broker.addr).await;
    for _ in 0..30 {
        let r = raw.send(&ApiVersionsRequest::default(), 3).await;
        assert_eq!((r.error_code, r.throttle_time_ms), (0, 0));
    }
    assert_eq!(handshake(&mut raw, "PLAIN", 1).await.error_code, 0);
    // The same requests through KafkaApis count, and are soon throttled.
    let mut counted = Client::connect(plain).await;
    let mut throttle = 0;
    for _ in 0..200 {
        throttle = counted
            .send(&ApiVersionsRequest::default(), 3)
            .await
            .throttle_time_ms;
        if throttle > 0 {
            break;
        }
    }
    assert!(throttle > 0, "the quota was never exceeded");
}
