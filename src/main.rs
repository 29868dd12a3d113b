//! The runnel binary: with no subcommand, parse the command line, load the
//! config, run the broker until SIGINT or SIGTERM, then shut down cleanly;
//! with one (`topic`, `produce`, `consume`, `group`, `txn`, `user`, `perf`), run that Kafka
//! client command instead, without ever loading the broker's config.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use runnel::config::LogFormat;
use runnel::{Broker, Config};

#[derive(Parser, Debug)]
#[command(
    name = "runnel",
    version,
    about = "A Kafka-compatible single-node broker, and a Kafka command-line client",
    after_help = "Without a command, runnel runs the broker with the options above."
)]
struct Cli {
    /// A client command; without one, runnel runs the broker.
    #[command(subcommand)]
    command: Option<Command>,
    /// TOML config file (see config/runnel.toml for every key).
    #[arg(long, env = "RUNNEL_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on, HOST:PORT, or named listeners NAME://HOST:PORT,...
    #[arg(long)]
    listen: Option<String>,
    /// HOST:PORT given to clients in Metadata, or NAME://HOST:PORT,... per listener.
    #[arg(long)]
    advertised_listener: Option<String>,
    /// HTTP listener for /metrics, /health and /ready, HOST:PORT or off.
    #[arg(long)]
    http_listen: Option<String>,
    /// Where partitions are stored.
    #[arg(long)]
    data_dir: Option<String>,
    /// trace, debug, info, warn, error, or a tracing filter.
    #[arg(long)]
    log_level: Option<String>,
    /// text or json.
    #[arg(long)]
    log_format: Option<String>,
    /// Any config key, as KEY=VALUE with the key's TOML path (e.g. log.flush=always).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

// Parsed once per run: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(clap::Subcommand, Debug)]
enum Command {
    #[command(flatten)]
    Client(runnel::cli::Command),
    /// Check that the broker answers /health (the container's HEALTHCHECK).
    ///
    /// Exits 0 when the broker the config describes answers /health with 200,
    /// or, with HTTP off, when its first listener accepts a connection.
    Health,
}

impl Cli {
    fn overrides(&self) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        for (key, value) in [
            ("listen", &self.listen),
            ("advertised_listener", &self.advertised_listener),
            ("http_listen", &self.http_listen),
            ("data_dir", &self.data_dir),
            ("log_level", &self.log_level),
            ("log_format", &self.log_format),
        ] {
            if let Some(v) = value {
                out.push((key.to_string(), v.clone()));
            }
        }
        for pair in &self.set {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("--set {pair}: expected KEY=VALUE"))?;
            out.push((k.trim().to_string(), v.to_string()));
        }
        Ok(out)
    }
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    if let Some(Command::Client(command)) = cli.command.take_if(|c| matches!(c, Command::Client(_)))
    {
        // Broker flags before a client command would be silently ignored.
        // (--config is not checked: RUNNEL_CONFIG may set it from the environment.)
        if !cli.overrides().is_ok_and(|o| o.is_empty()) {
            eprintln!("runnel: broker flags cannot be combined with a client command");
            return ExitCode::from(2);
        }
        return runnel::cli::run(command);
    }
    let config = match cli.overrides().map_err(|e| e.to_string()).and_then(|o| {
        Config::load(cli.config.as_deref(), std::env::vars(), &o).map_err(|e| e.to_string())
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("runnel: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Health) = cli.command {
        return match runnel::health_probe::probe(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("runnel health: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match config.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    raise_open_files_limit();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("runnel: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(config))
}

/// Every connection is a file descriptor: raise the soft limit on open files
/// to the hard one, as Kafka's start scripts expect of the system.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write `limit`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "cannot read the open files limit");
        return;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            ..limit
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        } else {
            tracing::warn!(error = %std::io::Error::last_os_error(), "cannot raise the open files limit");
        }
    }
    tracing::info!(
        open_files = limit.rlim_cur,
        "open files limit (each connection takes one)"
    );
}

async fn run(config: Config) -> ExitCode {
    let broker = match Broker::start(config).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    wait_for_signal().await;
    tracing::info!("shutting down");
    match broker.shutdown().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("shutdown: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn wait_for_signal() {
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
