//! TLS for SSL and SASL_SSL listeners, as Kafka's SslFactory: a rustls
//! ServerConfig built from the PEM files of `[ssl]`, rebuilt on SIGHUP or when
//! one of those files changes. New connections take the current config; open
//! ones keep the one they started with; a file that does not load keeps the
//! old config.

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::ServerConnection;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::{CipherSuite, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::KafkaPrincipal;
use super::ssl_principal::SslPrincipalMapper;
use crate::config::{ClientAuth, ConfigError, SslSection};

/// How often the key, certificate and truststore files are checked for changes.
const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(5);

fn invalid(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        problem: problem.into(),
    }
}

/// When a file was last changed, as far as polling can tell.
type Stamp = Option<(SystemTime, u64)>;

pub struct SslFactory {
    settings: SslSection,
    mapper: SslPrincipalMapper,
    current: RwLock<Arc<ServerConfig>>,
    stamps: Mutex<Vec<Stamp>>,
}

impl SslFactory {
    pub fn new(settings: &SslSection) -> Result<SslFactory, ConfigError> {
        let mapper = principal_mapper(settings)?;
        let stamps = stamps(settings);
        let config = server_config(settings)?;
        Ok(SslFactory {
            settings: settings.clone(),
            mapper,
            current: RwLock::new(config),
            stamps: Mutex::new(stamps),
        })
    }

    /// An acceptor with the current config.
    pub fn acceptor(&self) -> TlsAcceptor {
        let config = match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        TlsAcceptor::from(config)
    }

    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.settings.handshake_timeout_ms)
    }

    /// Who the client of a finished handshake is: its certificate's subject
    /// through `ssl.principal.mapping.rules`, or User:ANONYMOUS without one.
    /// None when no mapping rule applies (the client is refused).
    pub fn principal(&self, connection: &ServerConnection) -> Option<KafkaPrincipal> {
        match connection.peer_certificates().and_then(|c| c.first()) {
            None => Some(KafkaPrincipal::anonymous()),
            Some(cert) => self.mapper.principal(cert),
        }
    }

    /// Builds a new config from the files; on failure the old one stays.
    pub fn reload(&self) -> Result<(), ConfigError> {
        let config = server_config(&self.settings)?;
        match self.current.write() {
            Ok(mut c) => *c = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
        Ok(())
    }

    /// Reloads on SIGHUP and whenever a file's modification time or size
    /// changes, until shutdown.
    pub async fn watch(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "no SIGHUP handler: certificates reload only when their files change");
                None
            }
        };
        let mut tick = tokio::time::interval(RELOAD_CHECK_INTERVAL);
        loop {
            let why = tokio::select! {
                Some(_) = async { hangup.as_mut()?.recv().await } => "SIGHUP",
                _ = tick.tick() => {
                    if !self.files_changed() {
                        continue;
                    }
                    "a changed file"
                }
                _ = shutdown.changed() => return,
            };
            match self.reload() {
                Ok(()) => tracing::info!(trigger = why, "TLS certificates reloaded"),
                Err(e) => {
                    tracing::error!(trigger = why, error = %e, "TLS certificates not reloaded; keeping the old ones")
                }
            }
        }
    }

    /// True when a file changed since the last call (or since start).
    fn files_changed(&self) -> bool {
        let now = stamps(&self.settings);
        let mut seen = match self.stamps.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if *seen == now {
            return false;
        }
        *seen = now;
        true
    }
}

fn stamps(settings: &SslSection) -> Vec<Stamp> {
    [&settings.keystore_location, &settings.truststore_location]
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|p| {
            let meta = std::fs::metadata(p).ok()?;
            Some((meta.modified().ok()?, meta.len()))
        })
        .collect()
}

pub fn principal_mapper(settings: &SslSection) -> Result<SslPrincipalMapper, ConfigError> {
    SslPrincipalMapper::parse(&settings.principal_mapping_rules)
        .map_err(|e| invalid("ssl.principal_mapping_rules", e))
}

fn certificates(key: &str, path: &str) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    if path.is_empty() {
        return Err(invalid(key, "must name a PEM file"));
    }
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid(key, format!("{path}: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(key, format!("{path} holds no CERTIFICATE")));
    }
    Ok(certs)
}

/// A rustls server config from the PEM files `settings` names.
fn server_config(settings: &SslSection) -> Result<Arc<ServerConfig>, ConfigError> {
    const KEYSTORE: &str = "ssl.keystore_location";
    const TRUSTSTORE: &str = "ssl.truststore_location";
    for (key, kind) in [
        ("ssl.keystore_type", &settings.keystore_type),
        ("ssl.truststore_type", &settings.truststore_type),
    ] {
        if !kind.eq_ignore_ascii_case("PEM") {
            return Err(invalid(key, format!("`{kind}`: runnel reads PEM only")));
        }
    }
    let provider = Arc::new(provider());
    let path = &settings.keystore_location;
    let chain = certificates(KEYSTORE, path)?;
    let key = PrivateKeyDer::from_pem_file(Path::new(path))
        .map_err(|e| invalid(KEYSTORE, format!("{path}: private key: {e}")))?;
    let verifier: Arc<dyn ClientCertVerifier> = match settings.client_auth {
        ClientAuth::None => WebPkiClientVerifier::no_client_auth(),
        auth => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(TRUSTSTORE, &settings.truststore_location)? {
                roots.add(cert).map_err(|e| {
                    invalid(TRUSTSTORE, format!("{}: {e}", settings.truststore_location))
                })?;
            }
            let builder =
                WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone());
            let builder = if auth == ClientAuth::Requested {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            builder
                .build()
                .map_err(|e| invalid(TRUSTSTORE, e.to_string()))?
        }
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(KEYSTORE, e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| invalid(KEYSTORE, format!("{path}: {e}")))?;
    config.ignore_client_order = true;
    Ok(Arc::new(config))
}

/// ring's cipher suites with AES-128-GCM first, chosen over the client's
/// order: as safe for TLS, and cheaper per byte than AES-256-GCM (10 AES
/// rounds instead of 14), which most clients list first. The others follow in
/// ring's order (AES-256-GCM, then ChaCha20-Poly1305).
fn provider() -> CryptoProvider {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites.sort_by_key(|s| {
        !matches!(
            s.suite(),
            CipherSuite::TLS13_AES_128_GCM_SHA256
                | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
                | CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        )
    });
    provider
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa,
        KeyPair,
    };
    use rustls::ClientConfig;
    use rustls_pki_types::ServerName;

    fn params(subject: &[(DnType, &str)], names: &[&str]) -> CertificateParams {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        let mut dn = DistinguishedName::new();
        for (t, v) in subject {
            dn.push(t.clone(), *v);
        }
        params.distinguished_name = dn;
        params
    }

    /// The principal the broker gives a client that shows a certificate with
    /// `subject` (or none), after a real handshake.
    async fn principal_after_handshake(
        subject: Option<&[(DnType, &str)]>,
        rules: &str,
    ) -> Option<KafkaPrincipal> {
        let (factory, server) = handshake(subject, rules).await;
        factory.principal(&server)
    }

    /// A real handshake of a rustls client with its default settings: the
    /// broker's factory and its side of the connection.
    async fn handshake(
        subject: Option<&[(DnType, &str)]>,
        rules: &str,
    ) -> (SslFactory, ServerConnection) {
        let dir = tempfile::tempdir().unwrap();
        let mut ca = params(&[(DnType::CommonName, "CA")], &[]);
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let server = params(&[(DnType::CommonName, "localhost")], &["localhost"])
            .signed_by(&key, &ca)
            .unwrap();
        let keystore = dir.path().join("keystore.pem");
        std::fs::write(
            &keystore,
            format!("{}{}", key.serialize_pem(), server.pem()),
        )
        .unwrap();
        let truststore = dir.path().join("truststore.pem");
        std::fs::write(&truststore, ca.pem()).unwrap();
        let mut settings = crate::config::Config::default().ssl;
        settings.keystore_location = keystore.display().to_string();
        settings.truststore_location = truststore.display().to_string();
        settings.client_auth = ClientAuth::Requested;
        settings.principal_mapping_rules = rules.to_string();
        let factory = SslFactory::new(&settings).unwrap();

        let mut roots = RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let client =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots);
        let client = match subject {
            None => client.with_no_client_auth(),
            Some(subject) => {
                let key = KeyPair::generate().unwrap();
                let cert = params(subject, &[]).signed_by(&key, &ca).unwrap();
                let key = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
                client
                    .with_client_auth_cert(vec![cert.der().clone()], key)
                    .unwrap()
            }
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let (client_io, server_io) = tokio::io::duplex(1 << 16);
        let name = ServerName::try_from("localhost").unwrap();
        let (server, client) = tokio::join!(
            factory.acceptor().accept(server_io),
            connector.connect(name, client_io)
        );
        client.unwrap();
        (factory, server.unwrap().into_inner().1)
    }

    #[tokio::test]
    async fn aes_128_gcm_is_chosen_over_the_clients_first_choice() {
        let (_, server) = handshake(None, "DEFAULT").await;
        assert_eq!(
            server.negotiated_cipher_suite().map(|s| s.suite()),
            Some(CipherSuite::TLS13_AES_128_GCM_SHA256)
        );
    }

    #[tokio::test]
    async fn the_principal_is_the_certificate_subject() {
        let alice = [
            (DnType::CountryName, "US"),
            (DnType::OrganizationName, "Acme"),
            (DnType::OrganizationalUnitName, "eng"),
            (DnType::CommonName, "alice"),
        ];
        let p = principal_after_handshake(Some(&alice), "DEFAULT").await;
        assert_eq!(p.unwrap().to_string(), "User:CN=alice,OU=eng,O=Acme,C=US");
        let p = principal_after_handshake(None, "DEFAULT").await;
        assert_eq!(p.unwrap(), KafkaPrincipal::anonymous());
        let p = principal_after_handshake(Some(&alice), "RULE:^CN=(.*?),.*$/$1/U").await;
        assert_eq!(p.unwrap().to_string(), "User:ALICE");
        // No rule matches: the client is refused.
        let p = principal_after_handshake(Some(&alice), "RULE:^O=(.*)$/$1/").await;
        assert!(p.is_none());
    }
}
