//! The cluster as the client sees it: a bootstrap connection, the brokers and
//! topics Metadata names, and a lazily opened connection per broker, so
//! requests for a partition go to its leader and group requests to the
//! group's coordinator (which matters on a multi-broker Kafka).

use std::collections::HashMap;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    FindCoordinatorRequest, GroupId, ListOffsetsRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::{ClientError, Connection, Result, SaslConfig, TlsClient};

/// FindCoordinator's key types.
const GROUP_KEY: i8 = 0;
const TRANSACTION_KEY: i8 = 1;

/// ListOffsets' special timestamps.
pub const LATEST: i64 = -1;
pub const EARLIEST: i64 = -2;

#[derive(Debug, Clone)]
pub struct TopicInfo {
    pub name: String,
    pub error_code: i16,
    pub internal: bool,
    pub topic_id: String,
    pub partitions: Vec<PartitionInfo>,
}

#[derive(Debug, Clone)]
pub struct PartitionInfo {
    pub partition: i32,
    pub error_code: i16,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

pub struct Cluster {
    client_id: String,
    sasl: Option<SaslConfig>,
    tls: Option<TlsClient>,
    bootstrap: Connection,
    brokers: HashMap<i32, String>,
    connections: HashMap<i32, Connection>,
    topics: HashMap<String, TopicInfo>,
    allow_auto_create: bool,
}

pub fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

impl Cluster {
    /// Connects to the first reachable server of `bootstrap` (comma-separated
    /// HOST:PORT); every connection authenticates with `sasl` when given, and
    /// speaks TLS with `tls`.
    pub async fn connect(
        bootstrap: &str,
        client_id: &str,
        sasl: Option<SaslConfig>,
        tls: Option<TlsClient>,
    ) -> Result<Cluster> {
        let mut last = ClientError::Protocol("no bootstrap server given".into());
        for addr in bootstrap
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            match Connection::connect_over(addr, client_id, sasl.as_ref(), tls.as_ref()).await {
                Ok(conn) => {
                    let mut cluster = Cluster {
                        client_id: client_id.to_string(),
                        sasl,
                        tls,
                        bootstrap: conn,
                        brokers: HashMap::new(),
                        connections: HashMap::new(),
                        topics: HashMap::new(),
                        allow_auto_create: false,
                    };
                    cluster.metadata(Some(&[]), false).await?;
                    return Ok(cluster);
                }
                // A refused authentication is final, not a reason to try the next server.
                Err(e @ ClientError::Kafka { .. }) => return Err(e),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// A broker's HOST:PORT.
    pub fn broker_addr(&self, node: i32) -> Option<String> {
        self.brokers.get(&node).cloned()
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// How this cluster's connections authenticate.
    pub fn sasl(&self) -> Option<&SaslConfig> {
        self.sasl.as_ref()
    }

    /// The TLS settings of this cluster's connections, if they use TLS.
    pub fn tls(&self) -> Option<&TlsClient> {
        self.tls.as_ref()
    }

    /// Every broker Metadata named.
    pub fn broker_ids(&self) -> Vec<i32> {
        let mut ids: Vec<i32> = self.brokers.keys().copied().collect();
        ids.sort();
        ids
    }

    /// The bootstrap connection, for requests any broker answers.
    pub fn any(&mut self) -> &mut Connection {
        &mut self.bootstrap
    }

    /// Metadata of `topics` (None: all topics); refreshes the broker list and the topic cache.
    pub async fn metadata(
        &mut self,
        topics: Option<&[String]>,
        allow_auto_create: bool,
    ) -> Result<Vec<TopicInfo>> {
        let request = MetadataRequest::default()
            .with_topics(topics.map(|names| {
                names
                    .iter()
                    .map(|n| {
                        MetadataRequestTopic::default().with_name(Some(TopicName(str_bytes(n))))
                    })
                    .collect()
            }))
            .with_allow_auto_topic_creation(allow_auto_create);
        let response = self.bootstrap.send(&request).await?;
        for b in &response.brokers {
            self.brokers
                .insert(b.node_id.0, format!("{}:{}", b.host.as_str(), b.port));
        }
        let mut out = Vec::new();
        for t in response.topics {
            let mut partitions: Vec<PartitionInfo> = t
                .partitions
                .iter()
                .map(|p| PartitionInfo {
                    partition: p.partition_index,
                    error_code: p.error_code,
                    leader: p.leader_id.0,
                    replicas: p.replica_nodes.iter().map(|n| n.0).collect(),
                    isr: p.isr_nodes.iter().map(|n| n.0).collect(),
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            let info = TopicInfo {
                name: t.name.map(|n| n.0.to_string()).unwrap_or_default(),
                error_code: t.error_code,
                internal: t.is_internal,
                topic_id: t.topic_id.to_string(),
                partitions,
            };
            if info.error_code == 0 {
                self.topics.insert(info.name.clone(), info.clone());
            }
            out.push(info);
        }
        Ok(out)
    }

    /// Whether `topic` asks the broker to create a topic it does not have
    /// (when its auto.create.topics.enable allows), as producers do.
    pub fn set_allow_auto_create(&mut self, allow: bool) {
        self.allow_auto_create = allow;
    }

    /// A topic's partitions and leaders; retries briefly while leaders are elected.
    pub async fn topic(&mut self, name: &str) -> Result<TopicInfo> {
        if let Some(t) = self.topics.get(name) {
            return Ok(t.clone());
        }
        let mut attempts = 0;
        loop {
            let info = self
                .metadata(Some(&[name.to_string()]), self.allow_auto_create)
                .await?;
            let t = info
                .into_iter()
                .next()
                .ok_or_else(|| ClientError::Protocol(format!("no metadata for topic {name}")))?;
            let electing = t.error_code == ResponseError::LeaderNotAvailable.code()
                || t.partitions.iter().any(|p| p.leader < 0);
            if electing && attempts < 20 {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            ClientError::check(t.error_code, Some(&format!("topic {name}")))?;
            return Ok(t);
        }
    }

    /// Forgets cached topic metadata (after a NOT_LEADER error, say).
    pub fn forget(&mut self, topic: &str) {
        self.topics.remove(topic);
    }

    /// The connection to broker `node`, opened on first use.
    pub async fn broker(&mut self, node: i32) -> Result<&mut Connection> {
        if !self.connections.contains_key(&node) {
            let addr = self
                .brokers
                .get(&node)
                .cloned()
                .ok_or_else(|| ClientError::Protocol(format!("unknown broker {node}")))?;
            let conn = Connection::connect_over(
                &addr,
                &self.client_id,
                self.sasl.as_ref(),
                self.tls.as_ref(),
            )
            .await?;
            self.connections.insert(node, conn);
        }
        self.connections
            .get_mut(&node)
            .ok_or_else(|| ClientError::Protocol(format!("unknown broker {node}")))
    }

    /// The leader of a partition, by node id.
    pub async fn leader_of(&mut self, topic: &str, partition: i32) -> Result<i32> {
        let t = self.topic(topic).await?;
        t.partitions
            .iter()
            .find(|p| p.partition == partition)
            .map(|p| p.leader)
            .ok_or_else(|| ClientError::Kafka {
                code: ResponseError::UnknownTopicOrPartition.code(),
                message: Some(format!("{topic} has no partition {partition}")),
            })
    }

    /// The node id of `group`'s coordinator.
    pub async fn coordinator_of(&mut self, group: &str) -> Result<i32> {
        self.find_coordinator(group, GROUP_KEY).await
    }

    /// The connection to the coordinator of transactional id `id`.
    pub async fn transaction_coordinator(&mut self, id: &str) -> Result<&mut Connection> {
        let node = self.find_coordinator(id, TRANSACTION_KEY).await?;
        self.broker(node).await
    }

    /// FindCoordinator of `key` (a group id or a transactional id, by `key_type`).
    async fn find_coordinator(&mut self, key: &str, key_type: i8) -> Result<i32> {
        let mut attempts = 0;
        loop {
            let request = FindCoordinatorRequest::default()
                .with_key(str_bytes(key))
                .with_key_type(key_type);
            let response = self.bootstrap.send(&request).await?;
            let retriable = response.error_code == ResponseError::CoordinatorNotAvailable.code()
                || response.error_code == ResponseError::CoordinatorLoadInProgress.code();
            if retriable && attempts < 30 {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            ClientError::check(
                response.error_code,
                response.error_message.as_ref().map(|m| m.as_str()),
            )?;
            let node = response.node_id.0;
            self.brokers.insert(
                node,
                format!("{}:{}", response.host.as_str(), response.port),
            );
            return Ok(node);
        }
    }

    /// The connection to `group`'s coordinator.
    pub async fn coordinator(&mut self, group: &str) -> Result<&mut Connection> {
        let node = self.coordinator_of(group).await?;
        self.broker(node).await
    }

    /// ListOffsets for `partitions` of `topic` at `timestamp` (EARLIEST, LATEST
    /// or milliseconds), asking each partition's leader. -1 where no offset
    /// is at or after the timestamp.
    pub async fn list_offsets(
        &mut self,
        topic: &str,
        partitions: &[i32],
        timestamp: i64,
    ) -> Result<HashMap<i32, i64>> {
        let mut by_leader: HashMap<i32, Vec<i32>> = HashMap::new();
        for &p in partitions {
            by_leader
                .entry(self.leader_of(topic, p).await?)
                .or_default()
                .push(p);
        }
        let mut out = HashMap::new();
        for (leader, parts) in by_leader {
            let request = ListOffsetsRequest::default()
                .with_replica_id((-1).into())
                .with_topics(vec![
                    ListOffsetsTopic::default()
                        .with_name(TopicName(str_bytes(topic)))
                        .with_partitions(
                            parts
                                .iter()
                                .map(|&p| {
                                    ListOffsetsPartition::default()
                                        .with_partition_index(p)
                                        .with_timestamp(timestamp)
                                })
                                .collect(),
                        ),
                ]);
            let response = self.broker(leader).await?.send(&request).await?;
            for t in response.topics {
                for p in t.partitions {
                    ClientError::check(
                        p.error_code,
                        Some(&format!("{topic}-{}", p.partition_index)),
                    )?;
                    out.insert(p.partition_index, p.offset);
                }
            }
        }
        Ok(out)
    }
}

pub fn group_id(group: &str) -> GroupId {
    GroupId(str_bytes(group))
}

pub fn topic_name(topic: &str) -> TopicName {
    TopicName(str_bytes(topic))
}
