//! Certificates made for a test: a CA, the certificates it signs, and TLS
//! client settings that trust it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
    date_time_ymd,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its private key.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Ca { issuer }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// The broker's certificate: for localhost and 127.0.0.1.
    pub fn server(&self) -> Issued {
        self.issue(
            &[(DnType::CommonName, "localhost")],
            &["localhost", "127.0.0.1"],
            false,
        )
    }

    /// A client certificate with `subject` (in DER order: the last is
    /// printed first in the DN); `expired` makes one that ended in 2021.
    pub fn client(&self, subject: &[(DnType, &str)], expired: bool) -> Issued {
        self.issue(subject, &[], expired)
    }

    fn issue(&self, subject: &[(DnType, &str)], names: &[&str], expired: bool) -> Issued {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        let mut dn = DistinguishedName::new();
        for (t, v) in subject {
            dn.push(t.clone(), *v);
        }
        params.distinguished_name = dn;
        if expired {
            params.not_before = date_time_ymd(2020, 1, 1);
            params.not_after = date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }
}

impl Issued {
    /// Writes Kafka's PEM keystore: the key, then the certificate chain.
    pub fn write_keystore(&self, ca: &Ca, path: &Path) -> PathBuf {
        std::fs::write(
            path,
            format!("{}{}{}", self.key_pem, self.cert_pem, ca.pem()),
        )
        .unwrap();
        path.to_path_buf()
    }
}

/// Client settings that trust `ca` and, with `cert`, show that certificate.
pub fn connector(ca: &Ca, cert: Option<&Issued>) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(ca.issuer.der().clone()).unwrap();
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
    let config = match cert {
        None => builder.with_no_client_auth(),
        Some(c) => builder
            .with_client_auth_cert(
                vec![c.der.clone()],
                PrivateKeyDer::try_from(c.key_der.clone()).unwrap(),
            )
            .unwrap(),
    };
    TlsConnector::from(Arc::new(config))
}

/// A TLS connection to `addr` as `localhost`.
pub async fn connect(
    connector: &TlsConnector,
    addr: std::net::SocketAddr,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}
