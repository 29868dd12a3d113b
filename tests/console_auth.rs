//! The HTTP listener's authentication and the console's ACL checks: HTTP Basic
//! against the SCRAM users the SASL listeners use, and each console action
//! checked as its Kafka API checks it. Users and ACLs are written to the data
//! dir's stores before the broker starts, as `runnel user add --data-dir` and
//! an earlier CreateAcls leave them.

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::net::SocketAddr;

use common::TestBroker;
use kafka_protocol::messages::AlterUserScramCredentialsRequest;
use kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialUpsertion;
use kafka_protocol::protocol::StrBytes;
use runnel::Config;
use runnel::client::{Connection, SaslConfig};
use runnel::config::HttpAuthentication;
use runnel::security::acl::{
    AccessControlEntry, AclBinding, AclOperation, AclPermissionType, PatternType, ResourcePattern,
    ResourceType,
};
use runnel::security::credentials::Alteration;
use runnel::security::scram::{ScramMechanism, b64, random_bytes};
use runnel::security::{Authorizer, CredentialStore};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const SUPER_USERS: &str = "User:admin";

/// One HTTP/1.1 exchange: status, head (lower-cased) and body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    body: Option<Value>,
) -> Answer {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let authorization = auth
        .map(|(u, p)| {
            format!(
                "Authorization: Basic {}\r\n",
                b64(format!("{u}:{p}").as_bytes())
            )
        })
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: runnel\r\nConnection: close\r\n{authorization}\
Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    exchange(addr, &req).await
}

async fn exchange(addr: SocketAddr, req: &str) -> Answer {
    exchange_over(TcpStream::connect(addr).await.expect("connect"), req).await
}

/// An exchange over an open stream; a connection closed without an answer
/// is status 0.
async fn exchange_over(mut stream: impl AsyncRead + AsyncWrite + Unpin, req: &str) -> Answer {
    let _ = stream.write_all(req.as_bytes()).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Answer {
        status: head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        head: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

async fn get(addr: SocketAddr, path: &str, auth: Option<(&str, &str)>) -> Answer {
    request(addr, "GET", path, auth, None).await
}

/// A GET whose Authorization header is `authorization` as given.
async fn get_with(addr: SocketAddr, path: &str, authorization: &str) -> Answer {
    exchange(
        addr,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: runnel\r\nConnection: close\r\n\
Authorization: {authorization}\r\n\r\n"
        ),
    )
    .await
}

fn http(broker: &TestBroker) -> SocketAddr {
    broker
        .broker
        .as_ref()
        .and_then(|b| b.http_addr())
        .expect("HTTP is on")
}

/// Stores a user's credential for `mechanism` in `config`'s data dir.
fn add_user(config: &Config, user: &str, mechanism: ScramMechanism, password: &str) {
    let store = CredentialStore::open(&config.data_dir).unwrap();
    let out = store.alter(vec![
        Alteration::upsert_password(user, mechanism, password, 4096).unwrap(),
    ]);
    assert!(out.iter().all(|(_, r)| r.is_ok()), "{out:?}");
}

fn allow(resource_type: ResourceType, name: &str, user: &str, op: AclOperation) -> AclBinding {
    AclBinding {
        pattern: ResourcePattern {
            resource_type,
            name: name.into(),
            pattern_type: PatternType::Literal,
        },
        entry: AccessControlEntry {
            principal: format!("User:{user}"),
            host: "*".into(),
            operation: op,
            permission: AclPermissionType::Allow,
        },
    }
}

/// A broker whose only Kafka listener is SASL_PLAINTEXT, so the console asks
/// for credentials by default.
async fn sasl_broker(tweak: impl FnOnce(&mut Config)) -> TestBroker {
    TestBroker::start_with(|c| {
        c.listen = "SASL_PLAINTEXT://127.0.0.1:0".into();
        add_user(c, "alice", ScramMechanism::Sha256, "alice-pw");
        add_user(c, "bob", ScramMechanism::Sha512, "bob-pw");
        tweak(c);
    })
    .await
}

fn assert_challenged(a: &Answer) {
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(
        a.head
            .contains("\r\nwww-authenticate: basic realm=\"runnel\""),
        "{}",
        a.head
    );
    assert_eq!(
        a.json()["error"],
        "SASL_AUTHENTICATION_FAILED",
        "{}",
        a.body
    );
}

#[tokio::test]
async fn basic_auth_guards_the_console_with_the_scram_users() {
    let broker = sasl_broker(|_| {}).await;
    let addr = http(&broker);
    for probe in ["/health", "/ready", "/metrics"] {
        assert_eq!(get(addr, probe, None).await.status, 200, "{probe}");
    }
    for path in ["/api/topics", "/", "/topics", "/assets/console.js"] {
        assert_challenged(&get(addr, path, None).await);
    }
    assert_challenged(&get(addr, "/api/topics", Some(("alice", "bob-pw"))).await);
    assert_challenged(&get(addr, "/api/topics", Some(("alice", ""))).await);
    assert_challenged(&get(addr, "/api/topics", Some(("mallory", "alice-pw"))).await);
    assert_challenged(&get_with(addr, "/api/topics", "Bearer YWxpY2U6YWxpY2UtcHc=").await);
    assert_challenged(&get_with(addr, "/api/topics", "Basic not-base64!").await);
    let created = request(
        addr,
        "POST",
        "/api/topics",
        None,
        Some(json!({"name": "sneaky"})),
    )
    .await;
    assert_challenged(&created);

    // SCRAM-SHA-256 and SCRAM-SHA-512 users alike; twice (the second from the cache).
    for _ in 0..2 {
        let a = get(addr, "/api/topics", Some(("alice", "alice-pw"))).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(a.json().is_array());
        let b = get(addr, "/", Some(("bob", "bob-pw"))).await;
        assert_eq!(b.status, 200);
        assert!(b.body.contains("<html"), "{}", b.body);
    }

    // A new password through the Kafka API: the old one stops working at once.
    let bob = SaslConfig {
        mechanism: "SCRAM-SHA-512".into(),
        username: "bob".into(),
        password: "bob-pw".into(),
    };
    let mut admin = Connection::connect(&broker.addr.to_string(), "test", Some(&bob))
        .await
        .expect("SASL login");
    let m = ScramMechanism::Sha256;
    let salt = random_bytes(16).unwrap();
    let request_new = AlterUserScramCredentialsRequest::default().with_upsertions(vec![
        ScramCredentialUpsertion::default()
            .with_name(StrBytes::from_static_str("alice"))
            .with_mechanism(m.kafka_type())
            .with_iterations(4096)
            .with_salted_password(m.salted_password(b"new-pw", &salt, 4096).into())
            .with_salt(salt.into()),
    ]);
    let r = admin.send(&request_new).await.unwrap();
    assert_eq!(r.results[0].error_code, 0);
    assert_challenged(&get(addr, "/api/topics", Some(("alice", "alice-pw"))).await);
    let a = get(addr, "/api/topics", Some(("alice", "new-pw"))).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test]
async fn metrics_may_ask_for_credentials_and_none_lets_everyone_in() {
    let broker = sasl_broker(|c| c.console.metrics_authentication = true).await;
    let addr = http(&broker);
    assert_challenged(&get(addr, "/metrics", None).await);
    let m = get(addr, "/metrics", Some(("alice", "alice-pw"))).await;
    assert_eq!(m.status, 200);
    assert!(m.body.contains("runnel_connections"), "{}", m.body);
    assert_eq!(get(addr, "/health", None).await.status, 200);

    let open = sasl_broker(|c| c.console.authentication = HttpAuthentication::None).await;
    let a = get(http(&open), "/api/topics", None).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test]
async fn the_console_checks_the_acls_of_each_kafka_api() {
    let broker = sasl_broker(|c| {
        add_user(c, "admin", ScramMechanism::Sha512, "admin-pw");
        c.authorizer.enabled = true;
        c.authorizer.super_users = SUPER_USERS.into();
        let acls = Authorizer::open(&c.data_dir, SUPER_USERS, false).unwrap();
        let out = acls.create(vec![
            allow(ResourceType::Topic, "orders", "alice", AclOperation::Read),
            allow(
                ResourceType::Group,
                "billing",
                "alice",
                AclOperation::Describe,
            ),
        ]);
        assert!(out.iter().all(Result::is_ok));
    })
    .await;
    let addr = http(&broker);
    let admin = Some(("admin", "admin-pw"));
    let alice = Some(("alice", "alice-pw"));

    // The super user does everything.
    for topic in ["orders", "secret"] {
        let body = json!({"name": topic, "partitions": 1});
        let c = request(addr, "POST", "/api/topics", admin, Some(body)).await;
        assert_eq!(c.status, 201, "{}", c.body);
        let body = json!({"value": format!("{topic}-1")});
        let path = format!("/api/topics/{topic}/records");
        let p = request(addr, "POST", &path, admin, Some(body)).await;
        assert_eq!(p.status, 201, "{}", p.body);
    }
    let names = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .filter(|n| !n.starts_with("__"))
            .collect()
    };
    assert_eq!(
        names(get(addr, "/api/topics", admin).await.json()),
        ["orders", "secret"]
    );
    let o = get(addr, "/api/overview", admin).await.json();
    assert!(o["config"].is_object(), "{o}");
    assert_eq!(
        get(addr, "/api/topics/nope", admin).await.json()["error"],
        "UNKNOWN_TOPIC_OR_PARTITION"
    );

    // alice may READ orders (and so DESCRIBE it), nothing else.
    assert_eq!(
        names(get(addr, "/api/topics", alice).await.json()),
        ["orders"]
    );
    let page = get(addr, "/topics", alice).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("orders") && !page.body.contains("secret"));
    let read = get(addr, "/api/topics/orders/records?offset=0", alice).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.json()["records"][0]["value"]["data"], "orders-1");
    let detail = get(addr, "/api/topics/orders", alice).await;
    assert_eq!(detail.status, 200, "{}", detail.body);
    assert!(detail.json()["configs"].is_null(), "no DESCRIBE_CONFIGS");
    let o = get(addr, "/api/overview", alice).await.json();
    assert!(o["config"].is_null(), "no DESCRIBE_CONFIGS on the cluster");
    assert_eq!(o["topics"], 1);

    let denied = |a: Answer, error: &str| {
        assert_eq!(a.status, 403, "{}", a.body);
        assert_eq!(a.json()["error"], error, "{}", a.body);
    };
    let body = json!({"value": "forged"});
    let produce = request(
        addr,
        "POST",
        "/api/topics/orders/records",
        alice,
        Some(body),
    )
    .await;
    denied(produce, "TOPIC_AUTHORIZATION_FAILED");
    denied(
        get(addr, "/api/topics/secret/records", alice).await,
        "TOPIC_AUTHORIZATION_FAILED",
    );
    denied(
        get(addr, "/api/topics/secret", alice).await,
        "TOPIC_AUTHORIZATION_FAILED",
    );
    // A topic that does not exist looks the same as one alice may not see.
    denied(
        get(addr, "/api/topics/nope", alice).await,
        "TOPIC_AUTHORIZATION_FAILED",
    );
    let page = get(addr, "/topics/secret", alice).await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("TOPIC_AUTHORIZATION_FAILED"));
    let create = json!({"name": "mine"});
    denied(
        request(addr, "POST", "/api/topics", alice, Some(create)).await,
        "TOPIC_AUTHORIZATION_FAILED",
    );
    denied(
        request(addr, "DELETE", "/api/topics/orders", alice, None).await,
        "TOPIC_AUTHORIZATION_FAILED",
    );
    let alter = json!({"set": {"retention.ms": "1000"}});
    denied(
        request(
            addr,
            "PATCH",
            "/api/topics/orders/configs",
            alice,
            Some(alter),
        )
        .await,
        "TOPIC_AUTHORIZATION_FAILED",
    );
    denied(
        get(addr, "/api/groups/other", alice).await,
        "GROUP_AUTHORIZATION_FAILED",
    );
    // DESCRIBE on billing (which has no offsets yet) is not READ.
    assert_eq!(
        get(addr, "/api/groups/billing", alice).await.json()["error"],
        "GROUP_ID_NOT_FOUND"
    );
    let reset = json!({"to": "earliest", "topic": "orders"});
    denied(
        request(
            addr,
            "POST",
            "/api/groups/billing/reset-offsets",
            alice,
            Some(reset),
        )
        .await,
        "GROUP_AUTHORIZATION_FAILED",
    );
    // bob has no ACL at all: an empty console, not an error.
    let bob = Some(("bob", "bob-pw"));
    assert_eq!(get(addr, "/api/topics", bob).await.json(), json!([]));
    assert_eq!(get(addr, "/", bob).await.status, 200);
    assert_eq!(get(addr, "/api/transactions", bob).await.status, 200);
}

#[tokio::test]
async fn https_with_the_keystore_of_the_ssl_listeners() {
    let ca = pki::Ca::new("console-ca");
    let dir = tempfile::tempdir().unwrap();
    let keystore = ca
        .server()
        .write_keystore(&ca, &dir.path().join("broker.pem"));
    let broker = sasl_broker(|c| {
        c.console.tls = true;
        c.ssl.keystore_location = keystore.display().to_string();
    })
    .await;
    let addr = http(&broker);
    let plain = get(addr, "/health", None).await;
    assert_eq!(plain.status, 0, "plain HTTP is not served: {}", plain.head);

    let connector = pki::connector(&ca, None);
    let req = |path: &str, auth: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}\r\n")
    };
    let alice = format!("Authorization: Basic {}\r\n", b64(b"alice:alice-pw"));
    let over_tls = |r: String| {
        let connector = connector.clone();
        async move {
            let tls = pki::connect(&connector, addr).await.expect("TLS handshake");
            exchange_over(tls, &r).await
        }
    };
    assert_eq!(over_tls(req("/health", "")).await.status, 200);
    assert_challenged(&over_tls(req("/api/topics", "")).await);
    let a = over_tls(req("/api/topics", &alice)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.json().is_array());
}
