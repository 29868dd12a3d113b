//! SSL listeners: produce and fetch over TLS, client certificates
//! (ssl.client.auth), handshakes that fail or stall, certificate reload, and
//! the config errors a bad [ssl] section gives.

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use common::{Client, TestBroker, batch, decode_records};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use pki::{Ca, Issued, connect, connector};
use rcgen::DnType;
use runnel::Config;
use runnel::config::ClientAuth;
use tokio_rustls::TlsConnector;

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// A broker with one SSL listener, whose keystore `ca` signed, in `dir`.
async fn ssl_broker(
    ca: &Ca,
    dir: &Path,
    tweak: impl FnOnce(&mut Config),
) -> (TestBroker, std::net::SocketAddr) {
    let keystore = ca.server().write_keystore(ca, &dir.join("broker.pem"));
    let broker = TestBroker::start_with(|c| {
        c.listen = "SSL://127.0.0.1:0".into();
        c.ssl.keystore_location = keystore.display().to_string();
        tweak(c);
    })
    .await;
    let addr = broker.addr;
    (broker, addr)
}

fn trust(ca: &Ca, dir: &Path) -> String {
    let path = dir.join("truststore.pem");
    std::fs::write(&path, ca.pem()).unwrap();
    path.display().to_string()
}

async fn api_versions_answered(client: &mut Client) -> bool {
    let frame = client.encode(&ApiVersionsRequest::default(), 3);
    use tokio::io::AsyncWriteExt;
    if client.stream.write_all(&frame).await.is_err() {
        return false;
    }
    tokio::time::timeout(Duration::from_secs(5), client.read_frame())
        .await
        .expect("an answer or a close within 5 s")
        .is_some()
}

/// Whether a TLS client with these settings gets a request answered: a
/// refusal may come at the handshake, or (TLS 1.3, where the client's
/// certificate is checked after the client's side of the handshake is done)
/// as a closed connection at the first read.
async fn served(connector: &TlsConnector, addr: std::net::SocketAddr) -> bool {
    match connect(connector, addr).await {
        Err(_) => false,
        Ok(tls) => api_versions_answered(&mut Client::over(tls)).await,
    }
}

async fn produce(c: &mut Client, topic: &str, records: Bytes) -> i16 {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records)),
                ]),
        ]);
    c.send(&req, 9).await.responses[0].partition_responses[0].error_code
}

async fn fetch(c: &mut Client, topic: &str) -> Bytes {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(name(topic))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let r = c.send(&req, 12).await;
    assert_eq!(r.responses[0].partitions[0].error_code, 0);
    r.responses[0].partitions[0]
        .records
        .clone()
        .unwrap_or_default()
}

#[tokio::test]
async fn produce_and_fetch_over_ssl() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let (broker, addr) = ssl_broker(&ca, dir.path(), |_| {}).await;
    let mut c = Client::over(connect(&connector(&ca, None), addr).await.unwrap());
    c.create_topic("secure", 1, &[]).await;
    let big = vec![7u8; 300_000];
    let values: [&[u8]; 3] = [b"one", b"two", &big];
    assert_eq!(
        produce(&mut c, "secure", batch(&values, Compression::None)).await,
        0
    );
    let records = decode_records(&fetch(&mut c, "secure").await);
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].1, Bytes::from_static(b"one"));
    assert_eq!(records[2].1.len(), big.len());
    // Metadata advertises the SSL listener's own address.
    let m = c.send(&MetadataRequest::default(), 12).await;
    assert_eq!(m.brokers[0].port, addr.port() as i32);
    // A plaintext client on the SSL port gets no answer: the broker closes it.
    let mut plain = Client::connect(addr).await;
    assert!(!api_versions_answered(&mut plain).await);
    // ... and the TLS connection is not disturbed.
    assert_eq!(
        produce(&mut c, "secure", batch(&values, Compression::None)).await,
        0
    );
    drop(broker);
}

#[tokio::test]
async fn a_client_refuses_a_broker_certificate_it_does_not_trust() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let (_broker, addr) = ssl_broker(&ca, dir.path(), |_| {}).await;
    let stranger = Ca::new("another CA");
    let err = connect(&connector(&stranger, None), addr)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    assert!(served(&connector(&ca, None), addr).await);
}

#[tokio::test]
async fn required_client_auth_refuses_a_missing_untrusted_or_expired_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let truststore = trust(&ca, dir.path());
    let (_broker, addr) = ssl_broker(&ca, dir.path(), |c| {
        c.ssl.truststore_location = truststore;
        c.ssl.client_auth = ClientAuth::Required;
    })
    .await;
    let alice = ca.client(&[(DnType::CommonName, "alice")], false);
    let mut good = Client::over(connect(&connector(&ca, Some(&alice)), addr).await.unwrap());
    assert!(api_versions_answered(&mut good).await);

    let stranger = Ca::new("another CA");
    let untrusted: Issued = stranger.client(&[(DnType::CommonName, "mallory")], false);
    let expired = ca.client(&[(DnType::CommonName, "old")], true);
    assert!(!served(&connector(&ca, None), addr).await, "no certificate");
    assert!(
        !served(&connector(&ca, Some(&untrusted)), addr).await,
        "untrusted certificate"
    );
    assert!(
        !served(&connector(&ca, Some(&expired)), addr).await,
        "expired certificate"
    );
    // The refusals closed only their own connections.
    assert!(api_versions_answered(&mut good).await);
    assert!(served(&connector(&ca, Some(&alice)), addr).await);
}

#[tokio::test]
async fn requested_client_auth_lets_a_client_go_without_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let truststore = trust(&ca, dir.path());
    let (_broker, addr) = ssl_broker(&ca, dir.path(), |c| {
        c.ssl.truststore_location = truststore;
        c.ssl.client_auth = ClientAuth::Requested;
    })
    .await;
    let alice = ca.client(&[(DnType::CommonName, "alice")], false);
    assert!(served(&connector(&ca, None), addr).await);
    assert!(served(&connector(&ca, Some(&alice)), addr).await);
    // A certificate that is shown must still be trusted.
    let untrusted = Ca::new("another CA").client(&[(DnType::CommonName, "m")], false);
    assert!(!served(&connector(&ca, Some(&untrusted)), addr).await);
}

#[tokio::test]
async fn a_stalled_handshake_is_closed_and_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let (_broker, addr) = ssl_broker(&ca, dir.path(), |c| {
        c.ssl.handshake_timeout_ms = 500;
    })
    .await;
    // Connects and says nothing.
    let mut silent = Client::connect(addr).await;
    assert!(served(&connector(&ca, None), addr).await);
    assert!(silent.is_closed_by_broker().await);
}

async fn wait_until_served(connector: &TlsConnector, addr: std::net::SocketAddr) {
    for _ in 0..150 {
        if served(connector, addr).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the new certificate was never served");
}

#[tokio::test]
async fn certificates_reload_on_sighup_and_when_their_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let first = Ca::new("first CA");
    let (_broker, addr) = ssl_broker(&first, dir.path(), |_| {}).await;
    let keystore = dir.path().join("broker.pem");
    let mut open = Client::over(connect(&connector(&first, None), addr).await.unwrap());

    // SIGHUP: new connections get the new certificate, open ones keep theirs.
    let second = Ca::new("second CA");
    second.server().write_keystore(&second, &keystore);
    // SAFETY: kill(2) on our own pid; the broker handles SIGHUP.
    assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGHUP) }, 0);
    wait_until_served(&connector(&second, None), addr).await;
    assert!(!served(&connector(&first, None), addr).await);
    assert!(api_versions_answered(&mut open).await);

    // A file that does not load keeps the old certificate.
    std::fs::write(&keystore, "not PEM").unwrap();
    assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGHUP) }, 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(served(&connector(&second, None), addr).await);

    // No signal: the changed file is seen when polled.
    let third = Ca::new("third CA");
    third.server().write_keystore(&third, &keystore);
    wait_until_served(&connector(&third, None), addr).await;
}

fn load(pairs: &[(&str, &str)]) -> Result<Config, String> {
    let overrides: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::load(None, Vec::new(), &overrides).map_err(|e| e.to_string())
}

#[test]
fn a_bad_ssl_section_is_a_config_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let keystore = ca.server().write_keystore(&ca, &dir.path().join("k.pem"));
    let keystore = keystore.to_str().unwrap();
    let cert_only = dir.path().join("cert.pem");
    std::fs::write(&cert_only, ca.server().cert_pem).unwrap();
    let other_key = dir.path().join("mismatch.pem");
    let (a, b) = (ca.server(), ca.server());
    std::fs::write(&other_key, format!("{}{}", a.key_pem, b.cert_pem)).unwrap();
    let ssl = ("listen", "SSL://127.0.0.1:0");
    let missing = dir.path().join("nope.pem");
    for (pairs, key) in [
        (vec![ssl], "ssl.keystore_location"),
        (
            vec![ssl, ("ssl.keystore_location", missing.to_str().unwrap())],
            "ssl.keystore_location",
        ),
        (
            vec![ssl, ("ssl.keystore_location", cert_only.to_str().unwrap())],
            "ssl.keystore_location",
        ),
        (
            vec![ssl, ("ssl.keystore_location", other_key.to_str().unwrap())],
            "ssl.keystore_location",
        ),
        (
            vec![
                ssl,
                ("ssl.keystore_location", keystore),
                ("ssl.client_auth", "required"),
            ],
            "ssl.truststore_location",
        ),
        (
            vec![
                ssl,
                ("ssl.keystore_location", keystore),
                ("ssl.keystore_type", "JKS"),
            ],
            "ssl.keystore_type",
        ),
        (vec![("ssl.client_auth", "maybe")], "maybe"),
        (
            vec![("ssl.principal_mapping_rules", "RULE:x")],
            "ssl.principal_mapping_rules",
        ),
        (
            vec![("listen", "SASL_SSL://127.0.0.1:0")],
            "ssl.keystore_location",
        ),
    ] {
        let err = load(&pairs).unwrap_err();
        assert!(err.contains(key), "{pairs:?}: {err}");
    }
    load(&[ssl, ("ssl.keystore_location", keystore)]).unwrap();
}

#[test]
fn the_broker_exits_2_on_a_bad_keystore() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(["--listen", "SSL://127.0.0.1:0", "--http-listen", "off"])
        .args(["--set", "ssl.keystore_location=/nonexistent/broker.pem"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ssl.keystore_location"), "{stderr}");
}

/// Runs the `runnel` binary with `args` (within 20 s): exit code, stdout, stderr.
async fn runnel_cli(args: &[&str]) -> (i32, String, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_runnel"))
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("runnel {args:?} did not finish"))
    .expect("runnel runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_cli_speaks_tls_with_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let truststore = trust(&ca, dir.path());
    let (_broker, addr) = ssl_broker(&ca, dir.path(), |c| {
        c.ssl.truststore_location = truststore.clone();
        c.ssl.client_auth = ClientAuth::Required;
    })
    .await;
    let alice = ca.client(&[(DnType::CommonName, "alice")], false);
    let (cert, key) = (dir.path().join("alice.crt"), dir.path().join("alice.key"));
    std::fs::write(&cert, &alice.cert_pem).unwrap();
    std::fs::write(&key, &alice.key_pem).unwrap();
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let bootstrap = addr.to_string();
    let tls = [
        "-b",
        &bootstrap,
        "--ssl-ca",
        &truststore,
        "--ssl-cert",
        &cert,
        "--ssl-key",
        &key,
    ];
    let run = |args: &[&str]| {
        let all: Vec<String> = args.iter().chain(&tls).map(|a| a.to_string()).collect();
        async move {
            let refs: Vec<&str> = all.iter().map(String::as_str).collect();
            runnel_cli(&refs).await
        }
    };
    let (code, _, err) = run(&["topic", "create", "over-tls", "--partitions", "2"]).await;
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(&["topic", "list"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().any(|l| l.trim() == "over-tls"), "{out}");
    let (code, out, err) = runnel_cli(&[
        "topic",
        "describe",
        "over-tls",
        "-b",
        &bootstrap,
        "--security-protocol",
        "ssl",
        "--ssl-ca",
        &truststore,
        "--ssl-cert",
        &cert,
        "--ssl-key",
        &key,
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("over-tls"), "{out}");

    // SSL without a CA to trust, a CA that did not sign the broker, or no
    // client certificate where one is required: exit 1 with the reason.
    let (code, _, err) = runnel_cli(&[
        "topic",
        "list",
        "-b",
        &bootstrap,
        "--security-protocol",
        "SSL",
    ])
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("--ssl-ca"), "{err}");
    let stranger = dir.path().join("stranger.pem");
    std::fs::write(&stranger, Ca::new("another CA").pem()).unwrap();
    let stranger = stranger.display().to_string();
    let (code, _, err) =
        runnel_cli(&["topic", "list", "-b", &bootstrap, "--ssl-ca", &stranger]).await;
    assert_eq!(code, 1);
    assert!(err.contains("UnknownIssuer"), "{err}");
    let (code, _, _) =
        runnel_cli(&["topic", "list", "-b", &bootstrap, "--ssl-ca", &truststore]).await;
    assert_eq!(code, 1, "served without a client certificate");
    // A plaintext CLI on the SSL port is refused too.
    let (code, _, _) = runnel_cli(&["topic", "list", "-b", &bootstrap]).await;
    assert_eq!(code, 1);
}

#[tokio::test]
async fn the_cli_authenticates_over_sasl_ssl() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let truststore = trust(&ca, dir.path());
    let (broker, addr) = ssl_broker(&ca, dir.path(), |c| {
        c.listen = "SASL_SSL://127.0.0.1:0,PLAINTEXT://127.0.0.1:0".into();
    })
    .await;
    let plain = broker
        .broker
        .as_ref()
        .unwrap()
        .listener_addr("PLAINTEXT")
        .unwrap()
        .to_string();
    let (code, _, err) = runnel_cli(&[
        "user",
        "add",
        "alice",
        "--password",
        "alice-secret",
        "-b",
        &plain,
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    let bootstrap = addr.to_string();
    let sasl_ssl = |password: &'static str| {
        let args: Vec<String> = [
            "topic",
            "list",
            "-b",
            &bootstrap,
            "--security-protocol",
            "SASL_SSL",
            "--ssl-ca",
            &truststore,
            "--sasl-username",
            "alice",
            "--sasl-password",
            password,
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            runnel_cli(&refs).await
        }
    };
    let (code, _, err) = sasl_ssl("alice-secret").await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = sasl_ssl("wrong").await;
    assert_eq!(code, 1);
    assert!(err.contains("SASL_AUTHENTICATION_FAILED"), "{err}");
}
