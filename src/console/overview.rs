//! GET /api/overview: what the broker is, where it listens and stores, and the
//! totals of the /metrics counters the overview's charts turn into rates. The
//! counts are of the topics and groups the caller may see; the effective
//! configuration needs DESCRIBE_CONFIGS on the cluster (as DescribeConfigs of
//! the broker does).

use serde::Serialize;

use crate::api::RequestContext;
use crate::broker::{BrokerState, now_ms};
use crate::security::acl::AclOperation;

#[derive(Serialize)]
pub struct Overview {
    pub version: &'static str,
    pub cluster_id: String,
    pub node_id: i32,
    pub started_ms: i64,
    pub uptime_ms: i64,
    pub now_ms: i64,
    pub listeners: Vec<ListenerInfo>,
    pub http_listen: String,
    pub data_dir: String,
    pub disk: Disk,
    pub topics: usize,
    pub partitions: usize,
    pub groups: usize,
    pub counters: Counters,
    pub read_only: bool,
    /// The effective configuration, as TOML keys; null without
    /// DESCRIBE_CONFIGS on the cluster.
    pub config: serde_json::Value,
}

#[derive(Serialize)]
pub struct ListenerInfo {
    pub name: String,
    pub bound: String,
    pub advertised: String,
}

#[derive(Serialize)]
pub struct Disk {
    /// Bytes of every partition log.
    pub logs_bytes: u64,
    /// The file system holding the data dir (0 when it cannot be read).
    pub total_bytes: u64,
    pub usable_bytes: u64,
}

/// Totals since the broker started; the charts derive rates from two samples.
#[derive(Serialize)]
pub struct Counters {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub requests: u64,
}

pub fn overview(broker: &BrokerState, caller: &RequestContext) -> Overview {
    let now = now_ms();
    let topics = broker.topics.all();
    let (mut bytes_in, mut bytes_out) = (0, 0);
    for t in &topics {
        let (i, o) = broker.metrics.topic_bytes(&t.name);
        bytes_in += i;
        bytes_out += o;
    }
    let logs_bytes = broker
        .topics
        .partitions()
        .iter()
        .map(|p| p.size_bytes())
        .sum();
    let visible: Vec<_> = topics
        .iter()
        .filter(|t| broker.authorize_topic(caller, AclOperation::Describe, &t.name))
        .collect();
    let (total_bytes, usable_bytes) =
        crate::data_dir::disk_space(&broker.config.data_dir).unwrap_or((0, 0));
    Overview {
        version: env!("CARGO_PKG_VERSION"),
        cluster_id: broker.cluster_id.clone(),
        node_id: broker.config.node_id,
        started_ms: broker.started_ms,
        uptime_ms: (now - broker.started_ms).max(0),
        now_ms: now,
        listeners: broker
            .listeners
            .iter()
            .map(|l| ListenerInfo {
                name: l.name.clone(),
                bound: l.bound.to_string(),
                advertised: format!("{}:{}", l.advertised.0, l.advertised.1),
            })
            .collect(),
        http_listen: broker.config.http_listen.clone(),
        data_dir: broker.config.data_dir.display().to_string(),
        disk: Disk {
            logs_bytes,
            total_bytes,
            usable_bytes,
        },
        topics: visible.len(),
        partitions: visible.iter().map(|t| t.partitions.len()).sum(),
        groups: super::groups::list(broker, caller).len(),
        counters: Counters {
            bytes_in,
            bytes_out,
            requests: broker.metrics.requests_total(),
        },
        read_only: broker.config.console.read_only,
        config: if broker.authorize_cluster(caller, AclOperation::DescribeConfigs) {
            serde_json::to_value(broker.config.as_ref()).unwrap_or_default()
        } else {
            serde_json::Value::Null
        },
    }
}
