//! Prometheus metrics: counters and histograms updated on the request path,
//! and gauges of partitions, groups and the process read at scrape time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, ResponseKind};

use crate::group::GroupCoordinator;
use crate::log::CleanStats;
use crate::topic::{RetentionStats, TopicManager};
use crate::txn::TransactionCoordinator;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    pub api: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub api: String,
    /// Kafka's name of the error code, e.g. NOT_LEADER_OR_FOLLOWER.
    pub error: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabels {
    pub topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    pub topic: String,
    pub partition: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabels {
    pub listener: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QuotaLabels {
    /// Produce, Fetch, Request or ControllerMutation, as Kafka's quota types.
    pub quota_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupLabels {
    pub group: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LagLabels {
    pub group: String,
    pub topic: String,
    pub partition: String,
}

/// Kafka's name of an error code (NOT_LEADER_OR_FOLLOWER), or the number.
pub fn error_name(code: i16) -> String {
    let Some(error) = ResponseError::try_from_code(code) else {
        return code.to_string();
    };
    let camel = format!("{error:?}");
    let mut name = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

fn latency_buckets() -> Histogram {
    // 50 µs .. ~1.6 s
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    /// The label of each served API, made once (Kafka's names: Produce, Fetch, ...).
    api_labels: HashMap<i16, ApiLabels>,
    pub requests: Family<ApiLabels, Counter>,
    pub request_seconds: Family<ApiLabels, Histogram, fn() -> Histogram>,
    request_errors: Family<ErrorLabels, Counter>,
    pub connections: Gauge,
    pub connections_refused: Family<ReasonLabels, Counter>,
    pub connections_idle_closed: Counter,
    /// Connections a listener delayed taking for max.connection.creation.rate.
    pub connection_accept_throttled: Family<ListenerLabels, Counter>,
    pub connection_accept_throttle_seconds:
        Family<ListenerLabels, Counter<f64, std::sync::atomic::AtomicU64>>,
    /// Time a listener held a connection at max.connections (Kafka's
    /// AcceptorBlockedPercent, as a total).
    pub connection_accept_blocked_seconds:
        Family<ListenerLabels, Counter<f64, std::sync::atomic::AtomicU64>>,
    pub throttled_requests: Family<QuotaLabels, Counter>,
    pub throttle_seconds: Family<QuotaLabels, Counter<f64, std::sync::atomic::AtomicU64>>,
    pub produced_bytes: Family<TopicLabels, Counter>,
    pub produced_records: Family<TopicLabels, Counter>,
    pub fetched_bytes: Family<TopicLabels, Counter>,
    pub flush_seconds: Histogram,
    log_start: Family<PartitionLabels, Gauge>,
    log_end: Family<PartitionLabels, Gauge>,
    log_size: Family<PartitionLabels, Gauge>,
    segment_rolls: Family<PartitionLabels, Counter>,
    retention_segments: Counter,
    retention_bytes: Counter,
    cleaned_partitions: Counter,
    cleaner_removed_records: Counter,
    cleaner_reclaimed_bytes: Counter,
    cleaner_pass_seconds: Histogram,
    group_members: Family<GroupLabels, Gauge>,
    group_lag: Family<LagLabels, Gauge>,
    transactions: Family<StateLabels, Gauge>,
    cpu_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    resident_bytes: Gauge,
    last_cpu: Mutex<f64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("runnel"),
            api_labels: crate::api::SUPPORTED_APIS
                .iter()
                .map(|(key, _, _)| {
                    let api = format!("{key:?}");
                    (*key as i16, ApiLabels { api })
                })
                .collect(),
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(latency_buckets),
            request_errors: Family::default(),
            connections: Gauge::default(),
            connections_refused: Family::default(),
            connections_idle_closed: Counter::default(),
            connection_accept_throttled: Family::default(),
            connection_accept_throttle_seconds: Family::default(),
            connection_accept_blocked_seconds: Family::default(),
            throttled_requests: Family::default(),
            throttle_seconds: Family::default(),
            produced_bytes: Family::default(),
            produced_records: Family::default(),
            fetched_bytes: Family::default(),
            flush_seconds: latency_buckets(),
            log_start: Family::default(),
            log_end: Family::default(),
            log_size: Family::default(),
            segment_rolls: Family::default(),
            retention_segments: Counter::default(),
            retention_bytes: Counter::default(),
            cleaned_partitions: Counter::default(),
            cleaner_removed_records: Counter::default(),
            cleaner_reclaimed_bytes: Counter::default(),
            cleaner_pass_seconds: latency_buckets(),
            group_members: Family::default(),
            group_lag: Family::default(),
            transactions: Family::default(),
            cpu_seconds: Counter::default(),
            resident_bytes: Gauge::default(),
            last_cpu: Mutex::new(0.0),
        };
        let r = &mut m.registry;
        r.register("requests", "Requests handled, by API", m.requests.clone());
        r.register_with_unit(
            "request_duration",
            "Time from a request's arrival to its response being ready, by API",
            Unit::Seconds,
            m.request_seconds.clone(),
        );
        r.register(
            "request_errors",
            "Error codes in responses, by API and Kafka error name",
            m.request_errors.clone(),
        );
        r.register(
            "connections",
            "Open client connections",
            m.connections.clone(),
        );
        r.register(
            "connections_refused",
            "Connections refused on arrival, by reason (max_connections_per_ip, connection_creation_rate)",
            m.connections_refused.clone(),
        );
        r.register(
            "connections_idle_closed",
            "Connections closed after connections.max.idle.ms without a request",
            m.connections_idle_closed.clone(),
        );
        r.register(
            "connection_accept_throttled",
            "New connections a listener waited to take, over max.connection.creation.rate, by listener",
            m.connection_accept_throttled.clone(),
        );
        r.register_with_unit(
            "connection_accept_throttle_time",
            "Time listeners waited before taking a new connection, over max.connection.creation.rate, by listener",
            Unit::Seconds,
            m.connection_accept_throttle_seconds.clone(),
        );
        r.register_with_unit(
            "connection_accept_blocked_time",
            "Time listeners waited to take a connection at max.connections (the broker's or their own), by listener",
            Unit::Seconds,
            m.connection_accept_blocked_seconds.clone(),
        );
        r.register(
            "throttled_requests",
            "Responses that carried a throttle time for a client over its quota, by quota type",
            m.throttled_requests.clone(),
        );
        r.register_with_unit(
            "throttle_time",
            "Throttle time given to clients over their quota, by quota type",
            Unit::Seconds,
            m.throttle_seconds.clone(),
        );
        r.register_with_unit(
            "produced",
            "Record batch bytes appended, by topic",
            Unit::Bytes,
            m.produced_bytes.clone(),
        );
        r.register(
            "produced_records",
            "Records appended, by topic",
            m.produced_records.clone(),
        );
        r.register_with_unit(
            "fetched",
            "Record batch bytes sent to consumers, by topic",
            Unit::Bytes,
            m.fetched_bytes.clone(),
        );
        r.register_with_unit(
            "flush_duration",
            "Time of one fsync of a partition",
            Unit::Seconds,
            m.flush_seconds.clone(),
        );
        r.register(
            "log_start_offset",
            "First offset of each partition",
            m.log_start.clone(),
        );
        r.register(
            "log_end_offset",
            "Next offset of each partition",
            m.log_end.clone(),
        );
        r.register_with_unit(
            "log_size",
            "Bytes on disk of each partition",
            Unit::Bytes,
            m.log_size.clone(),
        );
        r.register(
            "log_segment_rolls",
            "Segments rolled since the broker started, per partition",
            m.segment_rolls.clone(),
        );
        r.register(
            "retention_deleted_segments",
            "Segments deleted by retention (retention.ms, retention.bytes)",
            m.retention_segments.clone(),
        );
        r.register_with_unit(
            "retention_deleted",
            "Bytes of segments deleted by retention",
            Unit::Bytes,
            m.retention_bytes.clone(),
        );
        r.register(
            "cleaner_cleaned_partitions",
            "Partitions compacted by the log cleaner",
            m.cleaned_partitions.clone(),
        );
        r.register(
            "cleaner_removed_records",
            "Records the log cleaner removed (superseded keys, expired tombstones)",
            m.cleaner_removed_records.clone(),
        );
        r.register_with_unit(
            "cleaner_reclaimed",
            "Bytes the log cleaner freed",
            Unit::Bytes,
            m.cleaner_reclaimed_bytes.clone(),
        );
        r.register_with_unit(
            "cleaner_pass_duration",
            "Time of one log cleaner pass over every compacted partition",
            Unit::Seconds,
            m.cleaner_pass_seconds.clone(),
        );
        r.register(
            "group_members",
            "Members of each consumer group",
            m.group_members.clone(),
        );
        r.register(
            "group_lag",
            "Log end offset minus the committed offset, per group and partition",
            m.group_lag.clone(),
        );
        r.register(
            "transactions",
            "Transactional ids the transaction coordinator knows, by state (Ongoing: open)",
            m.transactions.clone(),
        );
        r.register_with_unit(
            "process_cpu",
            "CPU time of the broker process",
            Unit::Seconds,
            m.cpu_seconds.clone(),
        );
        r.register_with_unit(
            "process_resident_memory",
            "Resident memory of the broker process",
            Unit::Bytes,
            m.resident_bytes.clone(),
        );
        m
    }

    pub fn observe_request(&self, api: ApiKey, elapsed: Duration) {
        let Some(labels) = self.api_labels.get(&(api as i16)) else {
            return;
        };
        self.requests.get_or_create(labels).inc();
        self.request_seconds
            .get_or_create(labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Counts the error codes of one response.
    pub fn observe_errors(&self, api: ApiKey, response: &ResponseKind) {
        crate::api::for_each_error(response, |code| {
            let labels = ErrorLabels {
                api: format!("{api:?}"),
                error: error_name(code),
            };
            self.request_errors.get_or_create(&labels).inc();
        });
    }

    pub fn produced(&self, topic: &str, bytes: u64, records: u64) {
        let labels = TopicLabels {
            topic: topic.to_string(),
        };
        self.produced_bytes.get_or_create(&labels).inc_by(bytes);
        self.produced_records.get_or_create(&labels).inc_by(records);
    }

    pub fn fetched(&self, topic: &str, bytes: u64) {
        if bytes > 0 {
            let labels = TopicLabels {
                topic: topic.to_string(),
            };
            self.fetched_bytes.get_or_create(&labels).inc_by(bytes);
        }
    }

    /// (bytes produced, bytes fetched) of `topic` since the broker started: the
    /// counters /metrics exports, read without creating them.
    pub fn topic_bytes(&self, topic: &str) -> (u64, u64) {
        let labels = TopicLabels {
            topic: topic.to_string(),
        };
        let read = |f: &Family<TopicLabels, Counter>| f.get(&labels).map_or(0, |c| c.get());
        (read(&self.produced_bytes), read(&self.fetched_bytes))
    }

    /// Requests handled since the broker started, over every API.
    pub fn requests_total(&self) -> u64 {
        self.api_labels
            .values()
            .filter_map(|l| self.requests.get(l).map(|c| c.get()))
            .sum()
    }

    pub fn retention_pass(&self, stats: &RetentionStats) {
        self.retention_segments.inc_by(stats.segments);
        self.retention_bytes.inc_by(stats.bytes);
    }

    pub fn cleaner_pass(&self, stats: &CleanStats, elapsed: Duration) {
        self.cleaned_partitions.inc_by(stats.partitions_cleaned);
        self.cleaner_removed_records.inc_by(stats.records_removed);
        self.cleaner_reclaimed_bytes
            .inc_by(stats.bytes_before.saturating_sub(stats.bytes_after));
        if stats.partitions_cleaned > 0 {
            self.cleaner_pass_seconds.observe(elapsed.as_secs_f64());
        }
    }

    /// The text exposition of every metric, with the scrape-time gauges read now.
    pub fn render(
        &self,
        topics: &TopicManager,
        groups: &GroupCoordinator,
        txn: &TransactionCoordinator,
    ) -> String {
        self.read_partitions(topics);
        self.read_groups(topics, groups);
        self.transactions.clear();
        for (state, n) in txn.count_by_state() {
            let labels = StateLabels {
                state: state.to_string(),
            };
            self.transactions.get_or_create(&labels).set(n);
        }
        self.read_process();
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }

    fn read_partitions(&self, topics: &TopicManager) {
        self.log_start.clear();
        self.log_end.clear();
        self.log_size.clear();
        self.segment_rolls.clear();
        for p in topics.partitions() {
            let labels = PartitionLabels {
                topic: p.topic.clone(),
                partition: p.index.to_string(),
            };
            let (start, end) = p.offsets();
            self.log_start.get_or_create(&labels).set(start);
            self.log_end.get_or_create(&labels).set(end);
            self.log_size
                .get_or_create(&labels)
                .set(i64::try_from(p.size_bytes()).unwrap_or(i64::MAX));
            self.segment_rolls
                .get_or_create(&labels)
                .inc_by(p.segment_rolls());
        }
    }

    fn read_groups(&self, topics: &TopicManager, groups: &GroupCoordinator) {
        self.group_members.clear();
        self.group_lag.clear();
        for g in groups.lag_report() {
            self.group_members
                .get_or_create(&GroupLabels {
                    group: g.group_id.clone(),
                })
                .set(g.members as i64);
            for ((topic, partition), committed) in g.offsets {
                let end = topics
                    .get(&topic)
                    .and_then(|t| t.partition(partition).map(|p| p.log_end_offset()));
                if let Some(end) = end {
                    let labels = LagLabels {
                        group: g.group_id.clone(),
                        topic,
                        partition: partition.to_string(),
                    };
                    self.group_lag
                        .get_or_create(&labels)
                        .set((end - committed).max(0));
                }
            }
        }
    }

    fn read_process(&self) {
        let Some((cpu, rss)) = process_usage() else {
            return;
        };
        let mut last = self.last_cpu.lock().unwrap_or_else(|p| p.into_inner());
        if cpu > *last {
            self.cpu_seconds.inc_by(cpu - *last);
            *last = cpu;
        }
        self.resident_bytes.set(rss);
    }
}

/// (CPU seconds, resident bytes) of this process, from /proc.
fn process_usage() -> Option<(f64, i64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = 100.0; // USER_HZ on Linux
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let rss_pages: i64 = fields.get(21)?.parse().ok()?;
    Some(((utime + stime) / ticks, rss_pages * 4096))
}
