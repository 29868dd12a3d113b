//! A member of a classic consumer group (protocol type `consumer`, the `range`
//! assignor): JoinGroup, SyncGroup (assigning partitions when it is the
//! leader), Heartbeat, OffsetCommit and LeaveGroup, all sent to the group's
//! coordinator; plus OffsetFetch, which group tooling needs without joining.

use std::collections::{BTreeMap, HashMap};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, HeartbeatRequest, JoinGroupRequest,
    LeaveGroupRequest, OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::cluster::{group_id, str_bytes, topic_name};
use super::{ClientError, Cluster, Connection, Result};

const SESSION_TIMEOUT_MS: i32 = 10_000;
const REBALANCE_TIMEOUT_MS: i32 = 30_000;

/// Partitions per topic.
pub type Assignment = BTreeMap<String, Vec<i32>>;

pub struct GroupMember {
    pub group: String,
    topics: Vec<String>,
    member_id: String,
    generation: i32,
    coordinator: i32,
    pub assignment: Assignment,
}

/// What a heartbeat found.
#[derive(Debug, PartialEq, Eq)]
pub enum Heartbeat {
    Ok,
    /// The group is rebalancing (or forgot us): commit and rejoin.
    Rejoin,
}

impl GroupMember {
    /// Joins `group` subscribed to `topics` and waits for an assignment.
    pub async fn join(
        cluster: &mut Cluster,
        group: &str,
        topics: &[String],
    ) -> Result<GroupMember> {
        let coordinator = cluster.coordinator_of(group).await?;
        let mut member = GroupMember {
            group: group.to_string(),
            topics: topics.to_vec(),
            member_id: String::new(),
            generation: -1,
            coordinator,
            assignment: Assignment::new(),
        };
        member.rejoin(cluster).await?;
        Ok(member)
    }

    pub fn generation(&self) -> i32 {
        self.generation
    }

    /// One full rebalance round: JoinGroup then SyncGroup, retried until it holds.
    pub async fn rejoin(&mut self, cluster: &mut Cluster) -> Result<()> {
        for _ in 0..20 {
            let join = self.join_request();
            let conn = cluster.broker(self.coordinator).await?;
            let response = conn.send(&join).await?;
            let code = response.error_code;
            if code == ResponseError::MemberIdRequired.code() {
                self.member_id = response.member_id.to_string();
                continue;
            }
            if code == ResponseError::UnknownMemberId.code() {
                self.member_id.clear();
                continue;
            }
            if code == ResponseError::RebalanceInProgress.code() {
                continue;
            }
            ClientError::check(code, Some(&format!("JoinGroup {}", self.group)))?;
            self.member_id = response.member_id.to_string();
            self.generation = response.generation_id;
            let assignments = if response.leader == response.member_id {
                let subscriptions: Vec<(String, Vec<String>)> = response
                    .members
                    .iter()
                    .map(|m| (m.member_id.to_string(), subscribed_topics(&m.metadata)))
                    .collect();
                let mut partitions = HashMap::new();
                for (_, topics) in &subscriptions {
                    for t in topics {
                        if !partitions.contains_key(t) {
                            cluster.forget(t);
                            let count = cluster.topic(t).await.map(|i| i.partitions.len());
                            partitions.insert(t.clone(), count.unwrap_or(0) as i32);
                        }
                    }
                }
                range_assign(&subscriptions, &partitions)
            } else {
                BTreeMap::new()
            };
            let protocol = response.protocol_name.clone();
            let conn = cluster.broker(self.coordinator).await?;
            match self.sync(conn, protocol, assignments).await {
                Ok(assignment) => {
                    self.assignment = assignment;
                    return Ok(());
                }
                Err(e) if e.code() == Some(ResponseError::RebalanceInProgress.code()) => continue,
                Err(e) if e.code() == Some(ResponseError::UnknownMemberId.code()) => {
                    self.member_id.clear();
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        Err(ClientError::Protocol(format!(
            "group {}: the rebalance did not settle",
            self.group
        )))
    }

    fn join_request(&self) -> JoinGroupRequest {
        let subscription = ConsumerProtocolSubscription::default()
            .with_topics(self.topics.iter().map(|t| str_bytes(t)).collect());
        JoinGroupRequest::default()
            .with_group_id(group_id(&self.group))
            .with_session_timeout_ms(SESSION_TIMEOUT_MS)
            .with_rebalance_timeout_ms(REBALANCE_TIMEOUT_MS)
            .with_member_id(str_bytes(&self.member_id))
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default()
                    .with_name(StrBytes::from_static_str("range"))
                    .with_metadata(versioned(&subscription, 0)),
            ])
    }

    async fn sync(
        &self,
        conn: &mut Connection,
        protocol: Option<StrBytes>,
        assignments: BTreeMap<String, Assignment>,
    ) -> Result<Assignment> {
        let version = conn.version::<SyncGroupRequest>()?;
        let mut request = SyncGroupRequest::default()
            .with_group_id(group_id(&self.group))
            .with_generation_id(self.generation)
            .with_member_id(str_bytes(&self.member_id))
            .with_assignments(
                assignments
                    .into_iter()
                    .map(|(member, a)| {
                        SyncGroupRequestAssignment::default()
                            .with_member_id(str_bytes(&member))
                            .with_assignment(encode_assignment(&a))
                    })
                    .collect(),
            );
        if version >= 5 {
            request = request
                .with_protocol_type(Some(StrBytes::from_static_str("consumer")))
                .with_protocol_name(protocol);
        }
        let response = conn.send_at(&request, version).await?;
        ClientError::check(
            response.error_code,
            Some(&format!("SyncGroup {}", self.group)),
        )?;
        Ok(decode_assignment(response.assignment))
    }

    pub async fn heartbeat(&mut self, cluster: &mut Cluster) -> Result<Heartbeat> {
        let request = HeartbeatRequest::default()
            .with_group_id(group_id(&self.group))
            .with_generation_id(self.generation)
            .with_member_id(str_bytes(&self.member_id));
        let response = cluster
            .broker(self.coordinator)
            .await?
            .send(&request)
            .await?;
        let code = response.error_code;
        if code == ResponseError::RebalanceInProgress.code()
            || code == ResponseError::IllegalGeneration.code()
        {
            return Ok(Heartbeat::Rejoin);
        }
        if code == ResponseError::UnknownMemberId.code() {
            self.member_id.clear();
            return Ok(Heartbeat::Rejoin);
        }
        ClientError::check(code, Some(&format!("Heartbeat {}", self.group)))?;
        Ok(Heartbeat::Ok)
    }

    /// Commits `offsets` (topic, partition, next offset to read) as this member.
    pub async fn commit(
        &mut self,
        cluster: &mut Cluster,
        offsets: &[(String, i32, i64)],
    ) -> Result<()> {
        let conn = cluster.broker(self.coordinator).await?;
        commit_offsets(conn, &self.group, self.generation, &self.member_id, offsets).await
    }

    pub async fn leave(&mut self, cluster: &mut Cluster) -> Result<()> {
        let conn = cluster.broker(self.coordinator).await?;
        let version = conn.version::<LeaveGroupRequest>()?;
        let mut request = LeaveGroupRequest::default().with_group_id(group_id(&self.group));
        if version >= 3 {
            request = request.with_members(vec![
                MemberIdentity::default().with_member_id(str_bytes(&self.member_id)),
            ]);
        } else {
            request = request.with_member_id(str_bytes(&self.member_id));
        }
        let response = conn.send_at(&request, version).await?;
        ClientError::check(
            response.error_code,
            Some(&format!("LeaveGroup {}", self.group)),
        )
    }
}

/// OffsetCommit of `offsets`; generation -1 and an empty member id commit
/// for a group without members (what reset-offsets does).
pub async fn commit_offsets(
    conn: &mut Connection,
    group: &str,
    generation: i32,
    member_id: &str,
    offsets: &[(String, i32, i64)],
) -> Result<()> {
    let mut by_topic: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (topic, partition, offset) in offsets {
        by_topic.entry(topic).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(*partition)
                .with_committed_offset(*offset),
        );
    }
    let request = OffsetCommitRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(str_bytes(member_id))
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, p)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partitions(p)
                })
                .collect(),
        );
    let response = conn.send(&request).await?;
    for t in response.topics {
        for p in t.partitions {
            ClientError::check(
                p.error_code,
                Some(&format!(
                    "commit {}-{}",
                    t.name.0.as_str(),
                    p.partition_index
                )),
            )?;
        }
    }
    Ok(())
}

/// The committed offsets of `group` (None: for every topic), by topic and
/// partition; partitions without a committed offset are left out.
pub async fn fetch_offsets(
    conn: &mut Connection,
    group: &str,
    topics: Option<&[(String, Vec<i32>)]>,
) -> Result<BTreeMap<(String, i32), i64>> {
    let request = OffsetFetchRequest::default()
        .with_group_id(group_id(group))
        .with_topics(topics.map(|ts| {
            ts.iter()
                .map(|(t, ps)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partition_indexes(ps.clone())
                })
                .collect()
        }));
    let response = conn.send(&request).await?;
    ClientError::check(response.error_code, Some(&format!("OffsetFetch {group}")))?;
    let mut out = BTreeMap::new();
    for t in response.topics {
        for p in t.partitions {
            ClientError::check(p.error_code, Some(&format!("OffsetFetch {group}")))?;
            if p.committed_offset >= 0 {
                out.insert(
                    (t.name.0.to_string(), p.partition_index),
                    p.committed_offset,
                );
            }
        }
    }
    Ok(out)
}

/// Kafka's RangeAssignor: per topic, the subscribed members in member id
/// order each get a consecutive range; the first `partitions % members` get one more.
pub fn range_assign(
    subscriptions: &[(String, Vec<String>)],
    partitions: &HashMap<String, i32>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = subscriptions
        .iter()
        .map(|(m, _)| (m.clone(), Assignment::new()))
        .collect();
    for (topic, &count) in partitions {
        let mut members: Vec<&String> = subscriptions
            .iter()
            .filter(|(_, ts)| ts.contains(topic))
            .map(|(m, _)| m)
            .collect();
        members.sort();
        if members.is_empty() {
            continue;
        }
        let per = count / members.len() as i32;
        let extra = count % members.len() as i32;
        let mut next = 0;
        for (i, m) in members.into_iter().enumerate() {
            let n = per + i32::from((i as i32) < extra);
            if n > 0 {
                let parts = (next..next + n).collect();
                out.entry(m.clone())
                    .or_default()
                    .insert(topic.clone(), parts);
            }
            next += n;
        }
    }
    out
}

/// A consumer protocol message with its leading version.
fn versioned<M: Encodable>(message: &M, version: i16) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    // These embedded messages have no fields that can fail at version 0.
    if message.encode(&mut buf, version).is_err() {
        buf.truncate(2);
    }
    buf.freeze()
}

fn subscribed_topics(metadata: &Bytes) -> Vec<String> {
    let mut buf = metadata.clone();
    if buf.remaining() < 2 {
        return Vec::new();
    }
    let version = buf.get_i16().clamp(0, 3);
    ConsumerProtocolSubscription::decode(&mut buf, version)
        .map(|s| s.topics.iter().map(|t| t.to_string()).collect())
        .unwrap_or_default()
}

fn encode_assignment(assignment: &Assignment) -> Bytes {
    let message = ConsumerProtocolAssignment::default().with_assigned_partitions(
        assignment
            .iter()
            .map(|(t, ps)| {
                TopicPartition::default()
                    .with_topic(topic_name(t))
                    .with_partitions(ps.clone())
            })
            .collect(),
    );
    versioned(&message, 0)
}

pub fn decode_assignment(bytes: Bytes) -> Assignment {
    let mut buf = bytes;
    if buf.remaining() < 2 {
        return Assignment::new();
    }
    let version = buf.get_i16().clamp(0, 3);
    ConsumerProtocolAssignment::decode(&mut buf, version)
        .map(|a| {
            a.assigned_partitions
                .into_iter()
                .map(|tp| (tp.topic.0.to_string(), tp.partitions))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_gives_the_first_members_the_extra_partitions() {
        let subs = vec![
            ("b".to_string(), vec!["t".to_string()]),
            ("a".to_string(), vec!["t".to_string()]),
        ];
        let parts = HashMap::from([("t".to_string(), 5)]);
        let out = range_assign(&subs, &parts);
        assert_eq!(out["a"]["t"], vec![0, 1, 2]);
        assert_eq!(out["b"]["t"], vec![3, 4]);
        let a = encode_assignment(&out["a"]);
        assert_eq!(decode_assignment(a), out["a"]);
    }
}
