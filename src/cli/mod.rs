//! The client commands of the `runnel` binary (`runnel topic|produce|consume|
//! group|perf|txn|acl`). They speak the Kafka protocol through `crate::client`, so they
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

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::client::Cluster;

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
}

impl ClientArgs {
    pub async fn connect(&self) -> anyhow::Result<Cluster> {
        Ok(Cluster::connect(&self.bootstrap_server, &self.client_id).await?)
    }
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
