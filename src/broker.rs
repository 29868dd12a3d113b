//! The broker: owns the data directory, the topic manager and the listener;
//! starts them and shuts them down cleanly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{Config, ConfigError, FlushMode, parse_ip_overrides};
use crate::data_dir::DataDir;
use crate::dynamic_broker_config::{DynamicBrokerConfig, DynamicConfigs, listener_config_name};
use crate::group::GroupCoordinator;
use crate::http::HttpState;
use crate::listener::Listener;
use crate::metrics::Metrics;
use crate::producer::ProducerIdManager;
use crate::quota::QuotaStore;
use crate::quota_manager::ClientQuotaManager;
use crate::security::Authorizer;
use crate::security::CredentialStore;
use crate::security::SslFactory;
use crate::server::{self, ConnectionLimits, ConnectionQuotas, ListenerLimits, MemoryPool};
use crate::topic::{
    Flusher, TopicError, TopicManager, clean_periodically, enforce_retention_periodically,
    flush_periodically,
};
use crate::txn::TransactionCoordinator;

/// State every request handler sees.
pub struct BrokerState {
    pub config: Arc<Config>,
    pub cluster_id: String,
    pub topics: Arc<TopicManager>,
    pub groups: Arc<GroupCoordinator>,
    pub flusher: Flusher,
    pub metrics: Arc<Metrics>,
    pub producer_ids: Arc<ProducerIdManager>,
    pub txn: Arc<TransactionCoordinator>,
    /// Dynamic broker configs (AlterConfigs on the BROKER resource).
    pub dynamic_config: DynamicBrokerConfig,
    /// Client quotas as stored (DescribeClientQuotas, AlterClientQuotas) ...
    pub quotas: QuotaStore,
    /// ... and as enforced: each client's byte rates.
    pub client_quotas: ClientQuotaManager,
    /// max.connections and max.connections.per.ip.
    pub connection_quotas: Arc<ConnectionQuotas>,
    /// queued.max.request.bytes: memory for requests in flight.
    pub request_memory: Arc<MemoryPool>,
    /// ACL checks; None when `[authorizer] enabled` is false.
    pub authorizer: Option<Authorizer>,
    /// Users' SCRAM credentials, which every SASL mechanism checks.
    pub credentials: CredentialStore,
    /// The bound listeners; a connection knows the index of the one it came through.
    pub listeners: Vec<Listener>,
    /// Flips to true when shutdown starts: long polls answer, connections stop reading.
    pub shutdown: watch::Receiver<bool>,
    /// When the broker started serving (ms since the epoch).
    pub started_ms: i64,
}

impl BrokerState {
    /// Applies the dynamic broker configs runnel has an equivalent for (Kafka's
    /// reconfigurables): the topic defaults, the connection limits and the log
    /// cleaner's log.cleaner.io.max.bytes.per.second. A dynamic value wins over
    /// the static one.
    pub fn reconfigure(&self, dynamic: &DynamicConfigs) {
        self.topics.set_defaults(dynamic.topic_defaults());
        self.connection_quotas
            .set_limits(self.connection_limits(dynamic));
        let cleaner_io = dynamic
            .parsed("log.cleaner.io.max.bytes.per.second")
            .unwrap_or(self.config.log.cleaner_io_max_bytes_per_second);
        self.topics.cleaner_throttler().set_rate(cleaner_io);
    }

    /// max.connections.per.ip and max.connections.per.ip.overrides in force.
    fn per_ip_limits<'a>(&'a self, dynamic: &'a DynamicConfigs) -> (i32, &'a str) {
        let socket = &self.config.socket;
        (
            dynamic
                .parsed("max.connections.per.ip")
                .unwrap_or(socket.max_connections_per_ip),
            dynamic
                .get("max.connections.per.ip.overrides")
                .unwrap_or(&socket.max_connections_per_ip_overrides),
        )
    }

    /// Kafka's check of the connection limits together (KafkaConfig's
    /// validateValues), for a dynamic change: Kafka's message if they do not fit.
    pub fn check_connection_limits(&self, dynamic: &DynamicConfigs) -> Result<(), String> {
        let (per_ip, overrides) = self.per_ip_limits(dynamic);
        if per_ip == 0 && parse_ip_overrides(overrides)?.is_empty() {
            return Err(
                "requirement failed: max.connections.per.ip can be set to zero only if \
                 max.connections.per.ip.overrides property is set."
                    .into(),
            );
        }
        Ok(())
    }

    /// The connection limits in force, each listener's own from
    /// `listener.name.<listener>.*`.
    fn connection_limits(&self, dynamic: &DynamicConfigs) -> ConnectionLimits {
        let socket = &self.config.socket;
        // Validated at start-up; a listener without its own value has none.
        let statics = |values: Result<Vec<(String, i32)>, _>| values.unwrap_or_default();
        let max_connections = statics(self.config.listener_max_connections());
        let rates = statics(self.config.listener_connection_creation_rates());
        let own = |listener: &Listener, config: &str, statics: &[(String, i32)]| {
            dynamic
                .parsed(&listener_config_name(&listener.name, config))
                .or_else(|| {
                    statics
                        .iter()
                        .find(|(name, _)| *name == listener.name)
                        .map(|(_, v)| *v)
                })
        };
        let listeners = self
            .listeners
            .iter()
            .map(|l| ListenerLimits {
                max_connections: own(l, "max.connections", &max_connections),
                creation_rate: own(l, "max.connection.creation.rate", &rates),
            })
            .collect();
        let (max_per_ip, overrides) = self.per_ip_limits(dynamic);
        let per_ip_overrides = self
            .connection_quotas
            .per_ip_overrides()
            .for_config(overrides);
        ConnectionLimits {
            max_connections: dynamic
                .parsed("max.connections")
                .unwrap_or(socket.max_connections),
            max_per_ip,
            per_ip_overrides,
            creation_rate: dynamic
                .parsed("max.connection.creation.rate")
                .unwrap_or(socket.max_connection_creation_rate),
            listeners,
        }
    }

    /// The host and port a client that connected through `listener` is told.
    pub fn advertised(&self, listener: usize) -> (String, i32) {
        self.listeners
            .get(listener)
            .or(self.listeners.first())
            .map(|l| l.advertised.clone())
            .unwrap_or_default()
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("data dir: {0}")]
    DataDir(std::io::Error),
    #[error("loading topics: {0}")]
    Topics(#[from] TopicError),
    #[error("cannot listen for HTTP on {addr}: {source}")]
    HttpListen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// The HTTP listener of a running broker.
struct HttpListener {
    state: Arc<HttpState>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    addr: SocketAddr,
}

/// A running broker. Dropping it without `shutdown` leaves the data dir as after
/// a crash (recovered on the next start).
pub struct Broker {
    state: Arc<BrokerState>,
    data_dir: DataDir,
    stop: watch::Sender<bool>,
    accept: Vec<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
    http: Option<HttpListener>,
}

impl Broker {
    /// Opens the data dir, loads topics (recovering after an unclean stop) and
    /// starts listening.
    pub async fn start(config: Config) -> Result<Broker, StartError> {
        config.validate()?;
        // As Kafka, a static override's host must resolve.
        let overrides =
            parse_ip_overrides(&config.socket.max_connections_per_ip_overrides).unwrap_or_default();
        let (_, unresolved) = server::resolve_overrides(&overrides);
        if !unresolved.is_empty() {
            return Err(StartError::Config(ConfigError::Invalid {
                key: "socket.max_connections_per_ip_overrides".into(),
                problem: format!("cannot resolve {}", unresolved.join(", ")),
            }));
        }
        let ssl = match config.uses_tls(&config.listeners()?) {
            true => Some(Arc::new(SslFactory::new(&config.ssl)?)),
            false => None,
        };
        let config = Arc::new(config);
        let data_dir = DataDir::open(&config.data_dir).map_err(StartError::DataDir)?;
        // HTTP first: /health answers 503 while the topics load.
        let http = match config.http_addr()? {
            None => None,
            Some(addr) => {
                let listener = crate::http::bind(addr)
                    .await
                    .map_err(|source| StartError::HttpListen { addr, source })?;
                let bound = listener
                    .local_addr()
                    .map_err(|source| StartError::HttpListen { addr, source })?;
                let state = Arc::new(HttpState::new(&config));
                let app = crate::http::router(state.clone(), &config);
                let (stop, stopped) = watch::channel(false);
                let https = ssl.clone().filter(|_| config.console.tls);
                let task = tokio::spawn(crate::http::serve(listener, https, app, stopped));
                Some(HttpListener {
                    state,
                    stop,
                    task,
                    addr: bound,
                })
            }
        };
        let clean = data_dir.was_clean_shutdown();
        let dynamic_config =
            DynamicBrokerConfig::open(&config.data_dir).map_err(StartError::DataDir)?;
        let topics = {
            let config = config.clone();
            let defaults = dynamic_config.snapshot().topic_defaults();
            tokio::task::spawn_blocking(move || TopicManager::open(config, defaults, clean))
                .await
                .map_err(|e| StartError::DataDir(std::io::Error::other(e)))??
        };
        let topics = Arc::new(topics);
        let groups = {
            let (topics, config) = (topics.clone(), config.clone());
            tokio::task::spawn_blocking(move || GroupCoordinator::open(&topics, &config))
                .await
                .map_err(|e| StartError::DataDir(std::io::Error::other(e)))??
        };
        let groups = Arc::new(groups);
        let producer_ids =
            Arc::new(ProducerIdManager::open(&config.data_dir).map_err(StartError::DataDir)?);
        let txn = {
            let (topics, groups, ids, config) = (
                topics.clone(),
                groups.clone(),
                producer_ids.clone(),
                config.clone(),
            );
            tokio::task::spawn_blocking(move || {
                let txn = TransactionCoordinator::open(topics, groups, ids, &config)?;
                txn.recover();
                Ok::<_, TopicError>(txn)
            })
            .await
            .map_err(|e| StartError::DataDir(std::io::Error::other(e)))??
        };
        let txn = Arc::new(txn);
        let mut sockets = Vec::new();
        let mut listeners = Vec::new();
        for spec in config.listeners()? {
            let addr = spec.bind;
            let socket = TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Listen { addr, source })?;
            let bound = socket
                .local_addr()
                .map_err(|source| StartError::Listen { addr, source })?;
            listeners.push(spec.bound(bound));
            sockets.push(socket);
        }
        let (stop, shutdown) = watch::channel(false);
        let metrics = Arc::new(Metrics::new());
        let state = Arc::new(BrokerState {
            cluster_id: data_dir.cluster_id().to_string(),
            config: config.clone(),
            topics: topics.clone(),
            groups: groups.clone(),
            flusher: Flusher::start(metrics.flush_seconds.clone()),
            metrics: metrics.clone(),
            producer_ids,
            txn: txn.clone(),
            dynamic_config,
            quotas: QuotaStore::open(&config.data_dir).map_err(StartError::DataDir)?,
            client_quotas: ClientQuotaManager::new(&config.quota),
            connection_quotas: Arc::new(ConnectionQuotas::default()),
            request_memory: Arc::new(MemoryPool::new(config.socket.queued_max_request_bytes)),
            authorizer: match &config.authorizer {
                a if a.enabled => Some(
                    Authorizer::open(
                        &config.data_dir,
                        &a.super_users,
                        a.allow_everyone_if_no_acl_found,
                    )
                    .map_err(StartError::DataDir)?,
                ),
                _ => None,
            },
            credentials: CredentialStore::open(&config.data_dir).map_err(StartError::DataDir)?,
            listeners,
            shutdown: shutdown.clone(),
            started_ms: now_ms(),
        });
        state.reconfigure(&state.dynamic_config.snapshot());
        let mut background = vec![
            tokio::spawn(groups.run_timers(shutdown.clone())),
            tokio::spawn(txn.run_timers(shutdown.clone())),
            tokio::spawn(enforce_retention_periodically(
                topics.clone(),
                metrics.clone(),
                config.retention_check_interval(),
                shutdown.clone(),
            )),
            tokio::spawn(clean_periodically(
                topics.clone(),
                metrics.clone(),
                config.cleaner_backoff(),
                shutdown.clone(),
            )),
        ];
        if config.log.flush == FlushMode::Interval {
            background.push(tokio::spawn(flush_periodically(
                topics,
                config.flush_interval(),
                metrics.flush_seconds.clone(),
                shutdown,
            )));
        }
        if let Some(ssl) = &ssl {
            background.push(tokio::spawn(ssl.clone().watch(stop.subscribe())));
        }
        let accept = sockets
            .into_iter()
            .enumerate()
            .map(|(index, socket)| {
                let tls = state.listeners[index].protocol.uses_tls();
                let ssl = ssl.clone().filter(|_| tls);
                tokio::spawn(server::accept_loop(socket, index, ssl, state.clone()))
            })
            .collect();
        if let Some(http) = &http {
            http.state.serving(state.clone());
            tracing::info!(
                addr = %http.addr,
                console = config.console.enabled,
                tls = config.console.tls,
                basic_auth = http.state.basic_auth,
                "HTTP listening (/metrics, /health, /ready)"
            );
        }
        for l in &state.listeners {
            tracing::info!(listener = %l.name, bound = %l.bound, advertised = %format!("{}:{}", l.advertised.0, l.advertised.1), "listening");
        }
        tracing::info!(data_dir = %config.data_dir.display(), clean, "runnel serving");
        Ok(Broker {
            state,
            data_dir,
            stop,
            accept,
            background,
            http,
        })
    }

    /// The address the first listener got.
    pub fn local_addr(&self) -> SocketAddr {
        self.state.listeners[0].bound
    }

    /// The address the listener named `name` got.
    pub fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        self.state
            .listeners
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(name))
            .map(|l| l.bound)
    }

    /// The HTTP listener's address, when it is on.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|h| h.addr)
    }

    pub fn state(&self) -> &Arc<BrokerState> {
        &self.state
    }

    /// Stops accepting, lets connections finish the requests they have read,
    /// closes every log and marks the data dir cleanly shut down.
    pub async fn shutdown(self) -> Result<(), TopicError> {
        if let Some(http) = &self.http {
            http.state.stopping();
        }
        let _ = self.stop.send(true);
        // The accept loops wait for their connections; give them a bounded time.
        let accept = futures::future::join_all(self.accept);
        if tokio::time::timeout(Duration::from_secs(10), accept)
            .await
            .is_err()
        {
            tracing::warn!("connections did not finish within 10 s; closing anyway");
        }
        for task in self.background {
            let _ = task.await;
        }
        let topics = self.state.topics.clone();
        tokio::task::spawn_blocking(move || topics.close())
            .await
            .map_err(|e| TopicError::Io(std::io::Error::other(e)))??;
        self.data_dir.mark_clean_shutdown()?;
        if let Some(http) = self.http {
            let _ = http.stop.send(true);
            let _ = http.task.await;
        }
        tracing::info!("runnel stopped cleanly");
        Ok(())
    }
}
