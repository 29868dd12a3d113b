//! The client commands of the `runnel` binary (`runnel topic|produce|consume|
//! group|perf|txn|acl|user`). They speak the Kafka protocol through `crate::client`, so they
//! work against runnel and any Kafka broker, and never load the broker's config.

mod acl;
mod consume;
mod format;
mod group;
mod histogram;
mod perf;
mod produce;
mod topic;
mod txn;
mod user;

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::client::{Cluster, SaslConfig, TlsClient};
use crate::security::SecurityProtocol;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create, list, describe, alter or delete topics.
    #[command(subcommand)]
    Topic(topic::TopicCommand),
    /// Produce lines from stdin, one record per line.
    Produce(produce::ProduceArgs),
    /// Consume records and print them.
    Consume(consume::ConsumeArgs),
    /// List or describe consumer groups, or reset their offsets.
    #[command(subcommand)]
    Group(group::GroupCommand),
    /// Measure produce or consume throughput and latency.
    #[command(subcommand)]
    Perf(perf::PerfCommand),
    /// List or describe transactions, or the producers of a partition.
    #[command(subcommand)]
    Txn(txn::TxnCommand),
    /// Add, list or remove ACLs (like kafka-acls.sh).
    #[command(subcommand)]
    Acl(Box<acl::AclCommand>),
    /// Add, delete or list SASL users (their SCRAM credentials).
    #[command(subcommand)]
    User(user::UserCommand),
}

/// Where to connect; every client command takes these.
#[derive(Args, Debug, Clone)]
pub struct ClientArgs {
    /// Bootstrap server(s), HOST:PORT[,HOST:PORT...].
    #[arg(short = 'b', long, default_value = "127.0.0.1:9092")]
    pub bootstrap_server: String,
    /// The client id sent with every request.
    #[arg(long, default_value = "runnel-cli")]
    pub client_id: String,
    /// SASL mechanism for a SASL_PLAINTEXT listener: PLAIN, SCRAM-SHA-256 or
    /// SCRAM-SHA-512 (the default once a user name is given).
    #[arg(long, env = "KAFKA_SASL_MECHANISM")]
    pub sasl_mechanism: Option<String>,
    /// SASL user name.
    #[arg(long, env = "KAFKA_SASL_USERNAME")]
    pub sasl_username: Option<String>,
    /// SASL password (prefer --sasl-password-file or the environment variable:
    /// a flag shows in the process list).
    #[arg(long, env = "KAFKA_SASL_PASSWORD", hide_env_values = true)]
    pub sasl_password: Option<String>,
    /// A file whose first line is the SASL password.
    #[arg(long, conflicts_with = "sasl_password")]
    pub sasl_password_file: Option<std::path::PathBuf>,
    /// Kafka's security.protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
    /// Without it, TLS is used when --ssl-ca is given and SASL when a SASL
    /// user name or mechanism is.
    #[arg(long, value_parser = parse_security_protocol)]
    pub security_protocol: Option<SecurityProtocol>,
    /// PEM file of the CA certificate(s) the broker's certificate must chain
    /// to (Kafka's ssl.truststore.location); needed for TLS.
    #[arg(long)]
    pub ssl_ca: Option<std::path::PathBuf>,
    /// PEM file of this client's certificate chain, shown to a listener with
    /// ssl.client.auth (with --ssl-key).
    #[arg(long, requires = "ssl_key")]
    pub ssl_cert: Option<std::path::PathBuf>,
    /// PEM file of the private key of --ssl-cert.
    #[arg(long, requires = "ssl_cert")]
    pub ssl_key: Option<std::path::PathBuf>,
}

fn parse_security_protocol(s: &str) -> Result<SecurityProtocol, String> {
    SecurityProtocol::parse(s)
        .ok_or_else(|| format!("`{s}`: expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"))
}

impl ClientArgs {
    pub async fn connect(&self) -> anyhow::Result<Cluster> {
        let protocol = self.security_protocol.unwrap_or_else(|| {
            let tls = self.ssl_ca.is_some();
            let sasl = self.sasl_mechanism.is_some() || self.sasl_username.is_some();
            match (tls, sasl) {
                (false, false) => SecurityProtocol::Plaintext,
                (true, false) => SecurityProtocol::Ssl,
                (false, true) => SecurityProtocol::SaslPlaintext,
                (true, true) => SecurityProtocol::SaslSsl,
            }
        });
        let sasl = if protocol.uses_sasl() {
            Some(self.sasl()?)
        } else {
            None
        };
        let tls = if protocol.uses_tls() {
            Some(self.tls()?)
        } else {
            None
        };
        Ok(Cluster::connect(&self.bootstrap_server, &self.client_id, sasl, tls).await?)
    }

    /// The TLS settings the --ssl-* options give.
    fn tls(&self) -> anyhow::Result<TlsClient> {
        let ca = self.ssl_ca.as_deref().ok_or_else(|| {
            anyhow::anyhow!("TLS needs --ssl-ca FILE: the CA that signed the broker's certificate")
        })?;
        let identity = self.ssl_cert.as_deref().zip(self.ssl_key.as_deref());
        TlsClient::new(ca, identity).map_err(|e| anyhow::anyhow!(e))
    }

    /// How to authenticate, from the SASL options.
    fn sasl(&self) -> anyhow::Result<SaslConfig> {
        let username = self
            .sasl_username
            .clone()
            .ok_or_else(|| anyhow::anyhow!("SASL needs --sasl-username"))?;
        let password = read_password(
            self.sasl_password.as_deref(),
            self.sasl_password_file.as_deref(),
        )?
        .ok_or_else(|| anyhow::anyhow!("SASL needs --sasl-password-file or KAFKA_SASL_PASSWORD"))?;
        Ok(SaslConfig {
            mechanism: self
                .sasl_mechanism
                .clone()
                .unwrap_or_else(|| "SCRAM-SHA-512".into())
                .to_ascii_uppercase(),
            username,
            password,
        })
    }
}

/// A password given directly, or the first line of a file.
pub fn read_password(
    given: Option<&str>,
    file: Option<&std::path::Path>,
) -> anyhow::Result<Option<String>> {
    if let Some(p) = given {
        return Ok(Some(p.to_string()));
    }
    let Some(path) = file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    Ok(Some(text.lines().next().unwrap_or_default().to_string()))
}

/// Runs a client command; exit code 1 on any error (clap exits 2 on usage errors).
pub fn run(command: Command) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("runnel: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Topic(c) => topic::run(c).await,
            Command::Produce(a) => produce::run(a).await,
            Command::Consume(a) => consume::run(a).await,
            Command::Group(c) => group::run(c).await,
            Command::Perf(c) => perf::run(c).await,
            Command::Txn(c) => txn::run(c).await,
            Command::Acl(c) => acl::run(*c).await,
            Command::User(c) => user::run(c).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("runnel: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Parses `KEY=VALUE`.
pub fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}`: expected KEY=VALUE"))
}
