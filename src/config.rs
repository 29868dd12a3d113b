//! Broker configuration: one struct, loaded from TOML, then `RUNNEL_*` environment
//! variables, then command-line overrides, validated once at start-up.
//!
//! Keys mirror Apache Kafka's names: `log.segment.bytes` is `[log] segment_bytes`,
//! `num.partitions` is the top-level `num_partitions`. Every key's environment
//! variable is `RUNNEL_` followed by its path in upper case joined by `_`
//! (`RUNNEL_LOG_SEGMENT_BYTES`, `RUNNEL_LISTEN`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::listener::ListenerSpec;

/// The documented default config file; also the source of every default.
pub const DEFAULT_TOML: &str = include_str!("../config/runnel.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config: {0}")]
    Parse(String),
    #[error("config key `{key}`: {problem}")]
    Invalid { key: String, problem: String },
}

fn invalid(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        problem: problem.into(),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the Kafka listener binds, or named listeners `NAME://HOST:PORT,...`
    /// (Kafka's listeners).
    pub listen: String,
    /// host:port given to clients in Metadata, or `NAME://HOST:PORT,...` per named
    /// listener (Kafka's advertised.listeners); empty means derived from `listen`.
    pub advertised_listener: String,
    /// Kafka's listener.security.protocol.map: `NAME:PROTOCOL,...`; empty means
    /// each protocol name (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL) is a
    /// listener name for itself.
    pub listener_security_protocol_map: String,
    /// Address of the HTTP listener (/metrics, /health, /ready), or "off".
    pub http_listen: String,
    pub data_dir: PathBuf,
    pub log_level: String,
    /// `text` (human-readable) or `json` (one JSON object per line).
    pub log_format: LogFormat,
    /// Kafka's node.id / broker.id.
    pub node_id: i32,
    /// Kafka's auto.create.topics.enable.
    pub auto_create_topics_enable: bool,
    /// Kafka's num.partitions: partitions of an auto-created topic.
    pub num_partitions: i32,
    /// Kafka's message.max.bytes: the largest record batch accepted.
    pub message_max_bytes: i32,
    pub socket: SocketConfig,
    pub log: LogSection,
    pub group: GroupSection,
    pub offsets: OffsetsSection,
    pub transaction: TransactionSection,
    pub console: ConsoleSection,
    pub quota: QuotaSection,
    pub authorizer: AuthorizerSection,
    pub ssl: SslSection,
    pub sasl: SaslSection,
}

/// ACL checks (Kafka's authorizer).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizerSection {
    /// authorizer.class.name set (StandardAuthorizer) or not.
    pub enabled: bool,
    /// super.users: `User:a;User:b`.
    pub super_users: String,
    /// allow.everyone.if.no.acl.found
    pub allow_everyone_if_no_acl_found: bool,
}

/// TLS for SSL and SASL_SSL listeners (Kafka's ssl.* settings).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SslSection {
    /// ssl.keystore.type: PEM, the only type runnel reads.
    pub keystore_type: String,
    /// ssl.keystore.location: one PEM file with the private key and the
    /// certificate chain (the broker's certificate first).
    pub keystore_location: String,
    /// ssl.truststore.type: PEM.
    pub truststore_type: String,
    /// ssl.truststore.location: PEM CA certificates that client certificates
    /// must chain to.
    pub truststore_location: String,
    /// ssl.client.auth
    pub client_auth: ClientAuth,
    /// ssl.principal.mapping.rules
    pub principal_mapping_rules: String,
    /// How long a TLS handshake may take (runnel's own).
    pub handshake_timeout_ms: u64,
}

/// Kafka's ssl.client.auth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// No client certificate is asked for.
    None,
    /// A client certificate is asked for; a client may go without one.
    Requested,
    /// A client without a trusted certificate is refused at the handshake.
    Required,
}

/// SASL on the listeners whose protocol is SASL_PLAINTEXT or SASL_SSL.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaslSection {
    /// sasl.enabled.mechanisms: a comma list of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512.
    pub enabled_mechanisms: String,
    /// connections.max.reauth.ms: a session's lifetime (0: sessions never expire).
    pub connections_max_reauth_ms: i64,
}

impl SaslSection {
    /// The enabled mechanisms, in the order configured.
    pub fn mechanisms(&self) -> Vec<String> {
        self.enabled_mechanisms
            .split(',')
            .map(|m| m.trim().to_ascii_uppercase())
            .filter(|m| !m.is_empty())
            .collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionSection {
    /// transaction.max.timeout.ms: the longest transaction.timeout.ms a producer may ask for.
    pub max_timeout_ms: i32,
    /// transaction.abort.timed.out.transaction.cleanup.interval.ms
    pub abort_timed_out_transaction_cleanup_interval_ms: u64,
    /// transaction.state.log.segment.bytes
    pub state_log_segment_bytes: i64,
    /// transactional.id.expiration.ms
    pub id_expiration_ms: i64,
    /// transaction.remove.expired.transaction.cleanup.interval.ms
    pub remove_expired_transaction_cleanup_interval_ms: u64,
}

/// The web console on the HTTP listener (`/`, `/api/`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSection {
    /// Serve the console pages and the JSON API.
    pub enabled: bool,
    /// Every mutating API call answers 403 and the pages show no forms.
    pub read_only: bool,
    /// Who may use the console: `auto`, `basic` or `none`.
    pub authentication: HttpAuthentication,
    /// /metrics asks for the console's credentials too.
    pub metrics_authentication: bool,
    /// The HTTP listener speaks HTTPS with the `[ssl]` keystore.
    pub tls: bool,
}

/// How the HTTP listener's users prove who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpAuthentication {
    /// `basic` when a Kafka listener uses SASL, else `none`.
    Auto,
    /// HTTP Basic, checked against the SCRAM credentials.
    Basic,
    /// Everyone is User:ANONYMOUS.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSection {
    /// group.initial.rebalance.delay.ms
    pub initial_rebalance_delay_ms: u64,
    /// group.min.session.timeout.ms
    pub min_session_timeout_ms: i32,
    /// group.max.session.timeout.ms
    pub max_session_timeout_ms: i32,
    /// group.max.size
    pub max_size: usize,
    /// group.consumer.session.timeout.ms (KIP-848 groups)
    pub consumer_session_timeout_ms: u64,
    /// group.consumer.heartbeat.interval.ms (KIP-848 groups)
    pub consumer_heartbeat_interval_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffsetsSection {
    /// offsets.retention.minutes
    pub retention_minutes: i64,
    /// offsets.retention.check.interval.ms
    pub retention_check_interval_ms: u64,
    /// offsets.topic.segment.bytes
    pub topic_segment_bytes: i64,
    /// offset.metadata.max.bytes
    pub metadata_max_bytes: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocketConfig {
    /// socket.request.max.bytes: larger frames close the connection.
    pub request_max_bytes: i32,
    /// max.connections: at this many open connections the broker stops accepting.
    pub max_connections: i32,
    /// max.connections.per.ip: a new connection beyond this is closed at once.
    pub max_connections_per_ip: i32,
    /// max.connections.per.ip.overrides, as Kafka writes it (`HOST:COUNT,...`):
    /// the max.connections.per.ip of those addresses.
    pub max_connections_per_ip_overrides: String,
    /// Kafka's listener.name.<listener>.max.connections, as `NAME:COUNT,...`:
    /// at this many of its open connections a listener stops accepting.
    pub listener_max_connections: String,
    /// max.connection.creation.rate: new connections per second the broker
    /// takes across its listeners; over it, the listener stops accepting for
    /// a while (KIP-612).
    pub max_connection_creation_rate: i32,
    /// Kafka's listener.name.<listener>.max.connection.creation.rate, as
    /// `NAME:RATE,...`: a listener's own bound on new connections per second.
    pub listener_max_connection_creation_rate: String,
    /// connections.max.idle.ms: a connection silent this long is closed.
    pub connections_max_idle_ms: u64,
    /// connection.failed.authentication.delay.ms: how long a connection whose
    /// authentication failed stays open after its error response.
    pub connection_failed_authentication_delay_ms: u64,
    /// queued.max.request.bytes: request bytes in flight across the broker.
    pub queued_max_request_bytes: u64,
    /// Request bytes in flight on one connection (runnel's own; Kafka reads one
    /// request at a time per connection).
    pub queued_max_request_bytes_per_connection: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaSection {
    /// quota.window.num: samples a client's byte rate is measured over.
    pub window_num: u32,
    /// quota.window.size.seconds: the length of one sample.
    pub window_size_seconds: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlushMode {
    /// Page cache only (Kafka's default): survives a process crash, not a power loss.
    Never,
    /// A background fsync every `flush_interval_ms`.
    Interval,
    /// acks=-1 produce is answered only once its bytes are on disk.
    Always,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// log.segment.bytes
    pub segment_bytes: i64,
    /// log.roll.ms
    pub roll_ms: i64,
    /// log.index.interval.bytes
    pub index_interval_bytes: i32,
    /// log.index.size.max.bytes
    pub index_size_max_bytes: i32,
    pub flush: FlushMode,
    /// log.flush.interval.ms, used when `flush = "interval"`.
    pub flush_interval_ms: i64,
    /// log.retention.ms: the topic default of `retention.ms` (-1: keep forever).
    pub retention_ms: i64,
    /// log.retention.bytes: the topic default of `retention.bytes` (-1: no limit).
    pub retention_bytes: i64,
    /// log.retention.check.interval.ms: how often retention looks for segments to delete.
    pub retention_check_interval_ms: u64,
    /// log.cleaner.backoff.ms: how often the cleaner looks for logs to compact.
    pub cleaner_backoff_ms: u64,
    /// log.cleaner.io.max.bytes.per.second: the cleaner's reads and writes together
    /// are held to this many bytes per second (Kafka's default, Double.MaxValue, is
    /// no limit).
    pub cleaner_io_max_bytes_per_second: f64,
}

impl Default for Config {
    fn default() -> Self {
        // The embedded file is tested to parse; fall back to nothing else.
        match Config::from_toml_str(DEFAULT_TOML) {
            Ok(c) => c,
            Err(e) => panic!("embedded default config is invalid: {e}"),
        }
    }
}

impl Config {
    fn from_toml_str(s: &str) -> Result<Config, ConfigError> {
        toml::from_str(s).map_err(|e| ConfigError::Parse(e.to_string()))
    }

    /// Defaults, then the file (if any), then `RUNNEL_*` variables from `env`,
    /// then `overrides` (`key.path=value`, from the command line). Validated.
    pub fn load(
        file: Option<&std::path::Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table =
            toml::from_str(DEFAULT_TOML).map_err(|e| ConfigError::Parse(e.to_string()))?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let user: toml::Table = toml::from_str(&text)
                .map_err(|e| ConfigError::Parse(format!("{}: {e}", path.display())))?;
            merge(&mut table, user, "")?;
        }
        let mut env_pairs: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("RUNNEL_") && k != "RUNNEL_CONFIG")
            .collect();
        env_pairs.sort();
        let keys = key_paths(&table, "");
        for (name, value) in env_pairs {
            let suffix = &name["RUNNEL_".len()..];
            let key = keys
                .iter()
                .find(|k| k.replace('.', "_").eq_ignore_ascii_case(suffix))
                .ok_or_else(|| invalid(&name, "no such setting"))?;
            set_key(&mut table, key, &value)?;
        }
        for (key, value) in overrides {
            if !keys.contains(key) {
                return Err(invalid(key, "no such setting"));
            }
            set_key(&mut table, key, value)?;
        }
        let config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let listeners = self.listeners()?;
        crate::security::principal_mapper(&self.ssl)?;
        if self.ssl.handshake_timeout_ms < 1 {
            return Err(invalid("ssl.handshake_timeout_ms", "must be at least 1"));
        }
        if self.uses_tls(&listeners) {
            crate::security::SslFactory::new(&self.ssl)?;
        }
        self.http_addr()?;
        crate::security::parse_super_users(&self.authorizer.super_users)
            .map_err(|e| invalid("authorizer.super_users", e))?;
        let mechanisms = self.sasl.mechanisms();
        if let Some(m) = mechanisms
            .iter()
            .find(|m| !crate::security::sasl::MECHANISMS.contains(&m.as_str()))
        {
            return Err(invalid(
                "sasl.enabled_mechanisms",
                format!("`{m}` is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
            ));
        }
        if mechanisms.is_empty() && self.listeners()?.iter().any(|l| l.protocol.uses_sasl()) {
            return Err(invalid(
                "sasl.enabled_mechanisms",
                "a SASL listener needs at least one mechanism",
            ));
        }
        if self.sasl.connections_max_reauth_ms < 0 {
            return Err(invalid(
                "sasl.connections_max_reauth_ms",
                "must not be negative",
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "must not be empty"));
        }
        if self.num_partitions < 1 {
            return Err(invalid("num_partitions", "must be at least 1"));
        }
        if self.message_max_bytes < 0 {
            return Err(invalid("message_max_bytes", "must not be negative"));
        }
        if self.socket.request_max_bytes < 1024 {
            return Err(invalid("socket.request_max_bytes", "must be at least 1024"));
        }
        if self.socket.max_connections < 1 {
            return Err(invalid("socket.max_connections", "must be at least 1"));
        }
        let overrides = "socket.max_connections_per_ip_overrides";
        let hosts = parse_ip_overrides(&self.socket.max_connections_per_ip_overrides)
            .map_err(|problem| invalid(overrides, problem))?;
        // As Kafka: 0 lets in only the addresses of the overrides.
        let least = if hosts.is_empty() { 1 } else { 0 };
        if self.socket.max_connections_per_ip < least {
            return Err(invalid(
                "socket.max_connections_per_ip",
                format!("must be at least {least} (0 only with {overrides})"),
            ));
        }
        if self.socket.max_connection_creation_rate < 0 {
            return Err(invalid(
                "socket.max_connection_creation_rate",
                "must not be negative",
            ));
        }
        self.listener_connection_creation_rates()?;
        self.listener_max_connections()?;
        if self.socket.connections_max_idle_ms < 1 {
            return Err(invalid(
                "socket.connections_max_idle_ms",
                "must be at least 1",
            ));
        }
        if self.socket.queued_max_request_bytes < 1024
            || self.socket.queued_max_request_bytes_per_connection < 1024
        {
            return Err(invalid(
                "socket.queued_max_request_bytes",
                "queued_max_request_bytes and queued_max_request_bytes_per_connection must be at least 1024",
            ));
        }
        if self.quota.window_num < 2 || self.quota.window_size_seconds < 1 {
            return Err(invalid(
                "quota.window_num",
                "window_num must be at least 2 and window_size_seconds at least 1",
            ));
        }
        if self.log.segment_bytes < 14 || self.log.segment_bytes > i32::MAX as i64 {
            return Err(invalid("log.segment_bytes", "must be in 14..=2147483647"));
        }
        if self.log.roll_ms < 1 {
            return Err(invalid("log.roll_ms", "must be at least 1"));
        }
        if self.log.index_interval_bytes < 0 {
            return Err(invalid("log.index_interval_bytes", "must not be negative"));
        }
        if self.log.index_size_max_bytes < 4096 {
            return Err(invalid("log.index_size_max_bytes", "must be at least 4096"));
        }
        if self.log.flush_interval_ms < 1 {
            return Err(invalid("log.flush_interval_ms", "must be at least 1"));
        }
        if self.log.retention_ms < -1 {
            return Err(invalid("log.retention_ms", "must be -1 or more"));
        }
        if self.log.retention_bytes < -1 {
            return Err(invalid("log.retention_bytes", "must be -1 or more"));
        }
        if self.log.retention_check_interval_ms < 1 {
            return Err(invalid(
                "log.retention_check_interval_ms",
                "must be at least 1",
            ));
        }
        if self.log.cleaner_backoff_ms < 1 {
            return Err(invalid("log.cleaner_backoff_ms", "must be at least 1"));
        }
        // NaN is not above 0 either.
        if self.log.cleaner_io_max_bytes_per_second.partial_cmp(&0.0)
            != Some(std::cmp::Ordering::Greater)
        {
            return Err(invalid(
                "log.cleaner_io_max_bytes_per_second",
                "must be more than 0",
            ));
        }
        if self.group.min_session_timeout_ms < 1
            || self.group.max_session_timeout_ms < self.group.min_session_timeout_ms
        {
            return Err(invalid(
                "group.max_session_timeout_ms",
                "must be at least group.min_session_timeout_ms, which must be at least 1",
            ));
        }
        if self.group.max_size < 1 {
            return Err(invalid("group.max_size", "must be at least 1"));
        }
        if self.transaction.max_timeout_ms < 1 {
            return Err(invalid("transaction.max_timeout_ms", "must be at least 1"));
        }
        if self
            .transaction
            .abort_timed_out_transaction_cleanup_interval_ms
            < 1
        {
            return Err(invalid(
                "transaction.abort_timed_out_transaction_cleanup_interval_ms",
                "must be at least 1",
            ));
        }
        if self.transaction.state_log_segment_bytes < 1024
            || self.transaction.state_log_segment_bytes > i32::MAX as i64
        {
            return Err(invalid(
                "transaction.state_log_segment_bytes",
                "must be between 1024 and 2147483647",
            ));
        }
        if self.transaction.id_expiration_ms < 1 {
            return Err(invalid(
                "transaction.id_expiration_ms",
                "must be at least 1",
            ));
        }
        if self
            .transaction
            .remove_expired_transaction_cleanup_interval_ms
            < 1
        {
            return Err(invalid(
                "transaction.remove_expired_transaction_cleanup_interval_ms",
                "must be at least 1",
            ));
        }
        if self.offsets.retention_minutes < 1 {
            return Err(invalid("offsets.retention_minutes", "must be at least 1"));
        }
        if self.offsets.retention_check_interval_ms < 1 {
            return Err(invalid(
                "offsets.retention_check_interval_ms",
                "must be at least 1",
            ));
        }
        if self.offsets.topic_segment_bytes < 1024
            || self.offsets.topic_segment_bytes > i32::MAX as i64
        {
            return Err(invalid(
                "offsets.topic_segment_bytes",
                "must be in 1024..=2147483647",
            ));
        }
        Ok(())
    }

    /// The HTTP listener's address; None when it is off.
    pub fn http_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        use std::net::ToSocketAddrs;
        if self.http_listen.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        self.http_listen
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .map(Some)
            .ok_or_else(|| {
                invalid(
                    "http_listen",
                    format!("`{}` is not HOST:PORT or off", self.http_listen),
                )
            })
    }

    /// The listeners' own max.connection.creation.rate
    /// (`socket.listener_max_connection_creation_rate`): (listener name, rate).
    pub fn listener_connection_creation_rates(&self) -> Result<Vec<(String, i32)>, ConfigError> {
        self.listener_values(
            "socket.listener_max_connection_creation_rate",
            &self.socket.listener_max_connection_creation_rate,
        )
    }

    /// The listeners' own max.connections (`socket.listener_max_connections`):
    /// (listener name, count).
    pub fn listener_max_connections(&self) -> Result<Vec<(String, i32)>, ConfigError> {
        self.listener_values(
            "socket.listener_max_connections",
            &self.socket.listener_max_connections,
        )
    }

    /// A `NAME:VALUE,...` setting of per-listener values, each above 0 (as
    /// Kafka's ListenerConnectionQuota requires), by listener name.
    fn listener_values(&self, key: &str, value: &str) -> Result<Vec<(String, i32)>, ConfigError> {
        let listeners = self.listeners()?;
        let mut values = Vec::new();
        for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((name, value)) = pair.split_once(':') else {
                return Err(invalid(key, format!("`{pair}` is not NAME:VALUE")));
            };
            let Some(listener) = listeners
                .iter()
                .find(|l| l.name.eq_ignore_ascii_case(name.trim()))
            else {
                return Err(invalid(key, format!("`{name}` is not a listener name")));
            };
            match value.trim().parse::<i32>() {
                Ok(v) if v > 0 => values.push((listener.name.clone(), v)),
                _ => return Err(invalid(key, format!("`{value}` is not a number above 0"))),
            }
        }
        Ok(values)
    }

    /// Whether a Kafka listener or the HTTPS listener needs the `[ssl]` keystore.
    pub fn uses_tls(&self, listeners: &[ListenerSpec]) -> bool {
        listeners.iter().any(|l| l.protocol.uses_tls())
            || (self.console.tls && !self.http_listen.eq_ignore_ascii_case("off"))
    }

    /// The listeners `listen` and `advertised_listener` describe.
    pub fn listeners(&self) -> Result<Vec<ListenerSpec>, ConfigError> {
        crate::listener::parse(
            &self.listen,
            &self.advertised_listener,
            &self.listener_security_protocol_map,
        )
    }

    /// Whether the HTTP listener asks for HTTP Basic credentials: `basic`, or
    /// `auto` with any Kafka listener using SASL.
    pub fn http_basic_auth(&self) -> bool {
        match self.console.authentication {
            HttpAuthentication::Basic => true,
            HttpAuthentication::None => false,
            HttpAuthentication::Auto => self
                .listeners()
                .is_ok_and(|ls| ls.iter().any(|l| l.protocol.uses_sasl())),
        }
    }

    pub fn retention_check_interval(&self) -> Duration {
        Duration::from_millis(self.log.retention_check_interval_ms)
    }

    pub fn cleaner_backoff(&self) -> Duration {
        Duration::from_millis(self.log.cleaner_backoff_ms)
    }

    pub fn flush_interval(&self) -> Duration {
        Duration::from_millis(self.log.flush_interval_ms as u64)
    }
}

/// Every leaf key of `table` as a dotted path.
fn key_paths(table: &toml::Table, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in table {
        let path = format!("{prefix}{k}");
        match v {
            toml::Value::Table(t) => out.extend(key_paths(t, &format!("{path}."))),
            _ => out.push(path),
        }
    }
    out
}

/// Overlays `user` on `base`, rejecting keys the defaults do not have.
fn merge(base: &mut toml::Table, user: toml::Table, prefix: &str) -> Result<(), ConfigError> {
    for (k, v) in user {
        let path = format!("{prefix}{k}");
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(u)) => {
                merge(b, u, &format!("{path}."))?
            }
            (Some(toml::Value::Table(_)), _) => return Err(invalid(&path, "must be a table")),
            (Some(slot), v) => *slot = v,
            (None, _) => return Err(invalid(&path, "no such setting")),
        }
    }
    Ok(())
}

/// Sets a dotted key from a string, typed like the value it replaces.
fn set_key(table: &mut toml::Table, key: &str, raw: &str) -> Result<(), ConfigError> {
    let mut parts = key.split('.').peekable();
    let mut current = table;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            let slot = current
                .get_mut(part)
                .ok_or_else(|| invalid(key, "no such setting"))?;
            *slot = match slot {
                toml::Value::Integer(_) => toml::Value::Integer(
                    raw.trim()
                        .parse()
                        .map_err(|_| invalid(key, format!("`{raw}` is not an integer")))?,
                ),
                toml::Value::Float(_) => toml::Value::Float(
                    raw.trim()
                        .parse()
                        .map_err(|_| invalid(key, format!("`{raw}` is not a number")))?,
                ),
                toml::Value::Boolean(_) => toml::Value::Boolean(
                    raw.trim()
                        .parse()
                        .map_err(|_| invalid(key, format!("`{raw}` is not true or false")))?,
                ),
                _ => toml::Value::String(raw.to_string()),
            };
            return Ok(());
        }
        current = match current.get_mut(part) {
            Some(toml::Value::Table(t)) => t,
            _ => return Err(invalid(key, "no such setting")),
        };
    }
    Err(invalid(key, "empty key"))
}

/// max.connections.per.ip.overrides as Kafka reads it (KafkaConfig's getMap
/// and validateValues): `HOST:COUNT` pairs split at the last `:` (so an IPv6
/// address may be a host), the last of a repeated host winning; the error is
/// Kafka's message. Hosts are resolved to addresses only when applied.
pub fn parse_ip_overrides(value: &str) -> Result<Vec<(String, i32)>, String> {
    let key = "max.connections.per.ip.overrides";
    let mut overrides: Vec<(String, i32)> = Vec::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((host, count)) = pair.rsplit_once(':') else {
            // What Java's substring(0, lastIndexOf(":")) throws.
            return Err(format!(
                "Error parsing configuration property '{key}': begin 0, end -1, length {}",
                pair.encode_utf16().count()
            ));
        };
        let (host, count) = (host.trim(), count.trim());
        let count = count
            .parse::<i32>()
            .map_err(|_| format!("For input string: \"{count}\""))?;
        overrides.retain(|(h, _)| h != host);
        overrides.push((host.to_string(), count));
    }
    // Utils.validHostPattern
    let valid = |h: &str| {
        h.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-%._:".contains(c))
    };
    let invalid: Vec<&str> = overrides
        .iter()
        .map(|(h, _)| h.as_str())
        .filter(|h| !valid(h))
        .collect();
    match invalid.is_empty() {
        true => Ok(overrides),
        false => Err(format!(
            "{key} contains invalid addresses : {}",
            invalid.join(",")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_kafka() {
        let c = Config::load(None, env(&[]), &[]).unwrap();
        assert_eq!(c.listen, "127.0.0.1:9092");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.num_partitions, 1);
        assert!(c.auto_create_topics_enable);
        assert_eq!(c.message_max_bytes, 1048588);
        assert_eq!(c.socket.request_max_bytes, 104857600);
        assert_eq!(c.socket.max_connections, i32::MAX);
        assert_eq!(c.socket.max_connections_per_ip, i32::MAX);
        assert_eq!(c.socket.max_connection_creation_rate, i32::MAX);
        assert_eq!(c.listener_connection_creation_rates().unwrap(), vec![]);
        assert_eq!(c.listener_max_connections().unwrap(), vec![]);
        assert_eq!(c.socket.max_connections_per_ip_overrides, "");
        assert_eq!(c.socket.connections_max_idle_ms, 600000);
        assert_eq!((c.quota.window_num, c.quota.window_size_seconds), (11, 1));
        assert_eq!(c.log.segment_bytes, 1 << 30);
        assert_eq!(c.log.index_interval_bytes, 4096);
        assert_eq!(c.log.flush, FlushMode::Never);
        assert_eq!(c.log.retention_ms, 604800000);
        assert_eq!(c.log.retention_bytes, -1);
        assert_eq!(c.log.retention_check_interval_ms, 300000);
        assert_eq!(c.log.cleaner_backoff_ms, 15000);
        assert_eq!(c.log.cleaner_io_max_bytes_per_second, f64::MAX);
        assert!(c.console.enabled);
        assert!(!c.console.read_only);
        assert_eq!(c.console.authentication, HttpAuthentication::Auto);
        assert!(!c.http_basic_auth());
        assert!(!c.console.metrics_authentication);
        assert!(!c.authorizer.enabled);
        assert!(!c.authorizer.allow_everyone_if_no_acl_found);
    }

    #[test]
    fn file_then_env_then_cli() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.toml");
        std::fs::write(&path, "num_partitions = 3\n[log]\nsegment_bytes = 1000\n").unwrap();
        let e = env(&[
            ("RUNNEL_NUM_PARTITIONS", "5"),
            ("RUNNEL_LOG_FLUSH", "always"),
        ]);
        let cli = vec![("num_partitions".to_string(), "7".to_string())];
        let c = Config::load(Some(&path), e, &cli).unwrap();
        assert_eq!(c.log.segment_bytes, 1000);
        assert_eq!(c.log.flush, FlushMode::Always);
        assert_eq!(c.num_partitions, 7);
    }

    #[test]
    fn cleaner_io_rate_is_a_number_above_zero() {
        let key = |v: &str| {
            vec![(
                "log.cleaner_io_max_bytes_per_second".to_string(),
                v.to_string(),
            )]
        };
        let c = Config::load(None, env(&[]), &key("1048576")).unwrap();
        assert_eq!(c.log.cleaner_io_max_bytes_per_second, 1048576.0);
        let e = env(&[("RUNNEL_LOG_CLEANER_IO_MAX_BYTES_PER_SECOND", "2.5e7")]);
        let c = Config::load(None, e, &[]).unwrap();
        assert_eq!(c.log.cleaner_io_max_bytes_per_second, 2.5e7);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.toml");
        std::fs::write(&path, "[log]\ncleaner_io_max_bytes_per_second = 5000000\n").unwrap();
        let c = Config::load(Some(&path), env(&[]), &[]).unwrap();
        assert_eq!(c.log.cleaner_io_max_bytes_per_second, 5e6);
        for bad in ["0", "-1", "fast"] {
            let err = Config::load(None, env(&[]), &key(bad)).unwrap_err();
            assert!(
                err.to_string().contains("cleaner_io_max_bytes_per_second"),
                "{err}"
            );
        }
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = Config::load(None, env(&[("RUNNEL_NUM_PARTITIONS", "x")]), &[]).unwrap_err();
        assert!(
            err.to_string().contains("RUNNEL_NUM_PARTITIONS")
                || err.to_string().contains("num_partitions")
        );
        let err = Config::load(None, env(&[("RUNNEL_NOPE", "1")]), &[]).unwrap_err();
        assert!(err.to_string().contains("RUNNEL_NOPE"));
        let err = Config::load(None, env(&[("RUNNEL_LOG_FLUSH", "sometimes")]), &[]).unwrap_err();
        assert!(err.to_string().contains("sometimes"), "{err}");
        let err = Config::load(None, env(&[("RUNNEL_LISTEN", "nowhere")]), &[]).unwrap_err();
        assert!(err.to_string().contains("listen"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.toml");
        std::fs::write(&path, "[log]\nsegmnt_bytes = 1\n").unwrap();
        let err = Config::load(Some(&path), env(&[]), &[]).unwrap_err();
        assert!(err.to_string().contains("log.segmnt_bytes"), "{err}");
    }

    #[test]
    fn console_authentication_is_basic_by_default_behind_sasl() {
        let sasl = ("RUNNEL_LISTEN", "SASL_PLAINTEXT://127.0.0.1:9092");
        let c = Config::load(None, env(&[sasl]), &[]).unwrap();
        assert!(c.http_basic_auth());
        let none = ("RUNNEL_CONSOLE_AUTHENTICATION", "none");
        let c = Config::load(None, env(&[sasl, none]), &[]).unwrap();
        assert!(!c.http_basic_auth());
        let basic = vec![("console.authentication".to_string(), "basic".to_string())];
        let c = Config::load(None, env(&[]), &basic).unwrap();
        assert!(c.http_basic_auth());
        let err = Config::load(
            None,
            env(&[("RUNNEL_CONSOLE_AUTHENTICATION", "digest")]),
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().contains("digest"), "{err}");

        let err = Config::load(None, env(&[("RUNNEL_CONSOLE_TLS", "true")]), &[]).unwrap_err();
        assert!(err.to_string().contains("ssl.keystore"), "{err}");
        let off = ("RUNNEL_HTTP_LISTEN", "off");
        Config::load(None, env(&[("RUNNEL_CONSOLE_TLS", "true"), off]), &[]).unwrap();
    }

    #[test]
    fn listen_may_name_several_listeners() {
        let listen = (
            "RUNNEL_LISTEN",
            "INTERNAL://0.0.0.0:19092,EXTERNAL://127.0.0.1:9092",
        );
        let err = Config::load(None, env(&[listen]), &[]).unwrap_err();
        assert!(
            err.to_string().contains("listener_security_protocol_map"),
            "{err}"
        );
        let map = (
            "RUNNEL_LISTENER_SECURITY_PROTOCOL_MAP",
            "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
        );
        let c = Config::load(None, env(&[listen, map]), &[]).unwrap();
        assert_eq!(c.listeners().unwrap().len(), 2);
        let advertised = ("RUNNEL_ADVERTISED_LISTENER", "OTHER://h:1");
        let err = Config::load(None, env(&[listen, map, advertised]), &[]).unwrap_err();
        assert!(err.to_string().contains("advertised_listener"), "{err}");
        // A listener's own connection creation rate names a listener, any case.
        let key = "RUNNEL_SOCKET_LISTENER_MAX_CONNECTION_CREATION_RATE";
        let c = Config::load(None, env(&[listen, map, (key, "external:5")]), &[]).unwrap();
        assert_eq!(
            c.listener_connection_creation_rates().unwrap(),
            vec![("EXTERNAL".to_string(), 5)]
        );
        for bad in ["OTHER:5", "EXTERNAL:0", "EXTERNAL"] {
            let err = Config::load(None, env(&[listen, map, (key, bad)]), &[]).unwrap_err();
            assert!(
                err.to_string()
                    .contains("listener_max_connection_creation_rate"),
                "{err}"
            );
        }
        // So does a listener's own max.connections.
        let key = "RUNNEL_SOCKET_LISTENER_MAX_CONNECTIONS";
        let c = Config::load(None, env(&[listen, map, (key, "external:3")]), &[]).unwrap();
        assert_eq!(
            c.listener_max_connections().unwrap(),
            vec![("EXTERNAL".to_string(), 3)]
        );
        let err = Config::load(None, env(&[listen, map, (key, "EXTERNAL:0")]), &[]).unwrap_err();
        assert!(
            err.to_string().contains("listener_max_connections"),
            "{err}"
        );
    }

    #[test]
    fn max_connections_per_ip_overrides_read_as_kafka_reads_them() {
        let parsed = parse_ip_overrides(" hostName:100 , 127.0.0.1:200,::1:3,hostName:5,").unwrap();
        let expected = [("127.0.0.1", 200), ("::1", 3), ("hostName", 5)];
        let expected: Vec<(String, i32)> =
            expected.iter().map(|(h, n)| (h.to_string(), *n)).collect();
        assert_eq!(parsed, expected);
        assert_eq!(parse_ip_overrides("").unwrap(), vec![]);
        // At start-up: bad entries, and max_connections_per_ip = 0 only with
        // overrides (then only they may connect).
        let per_ip = "RUNNEL_SOCKET_MAX_CONNECTIONS_PER_IP";
        let overrides = "RUNNEL_SOCKET_MAX_CONNECTIONS_PER_IP_OVERRIDES";
        let err = Config::load(None, env(&[(overrides, "bad#:1")]), &[]).unwrap_err();
        assert!(
            err.to_string().contains("invalid addresses : bad#"),
            "{err}"
        );
        let err = Config::load(None, env(&[(per_ip, "0")]), &[]).unwrap_err();
        assert!(err.to_string().contains("max_connections_per_ip"), "{err}");
        let both = [(per_ip, "0"), (overrides, "127.0.0.1:2")];
        let c = Config::load(None, env(&both), &[]).unwrap();
        assert_eq!(c.socket.max_connections_per_ip, 0);
    }
}
