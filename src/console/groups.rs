//! Consumer groups for the console: state, members, committed offsets and lag,
//! and resetting the offsets of a group that has no members. The ACL checks
//! are ListGroups', DescribeGroups' and OffsetFetch's (DESCRIBE) and
//! OffsetCommit's (READ on the group and on each topic).

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use serde::{Deserialize, Serialize};

use super::access::{require_group, require_topic};
use super::error::{ApiError, ApiResult};
use crate::api::RequestContext;
use crate::broker::{BrokerState, now_ms};
use crate::client::group_member::decode_assignment;
use crate::group::CommittedOffset;
use crate::security::acl::AclOperation;

#[derive(Serialize)]
pub struct GroupSummary {
    pub group_id: String,
    pub state: &'static str,
    pub protocol_type: String,
    /// "classic" or "consumer" (KIP-848).
    pub group_type: &'static str,
    pub members: usize,
    pub total_lag: i64,
}

#[derive(Serialize)]
pub struct Member {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Topic → partitions, decoded from a consumer-protocol assignment.
    pub assignment: BTreeMap<String, Vec<i32>>,
}

#[derive(Serialize)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    pub committed_offset: i64,
    /// None when the topic or partition is gone.
    pub log_end_offset: Option<i64>,
    pub lag: Option<i64>,
    pub metadata: String,
    pub commit_timestamp: i64,
}

#[derive(Serialize)]
pub struct GroupDetail {
    pub group_id: String,
    pub state: &'static str,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<Member>,
    pub offsets: Vec<PartitionLag>,
    pub total_lag: i64,
}

/// Where to move a group's offsets: Kafka's kafka-consumer-groups --reset-offsets.
#[derive(Deserialize)]
pub struct ResetOffsets {
    /// "earliest", "latest" or "offset".
    pub to: String,
    pub offset: Option<i64>,
    /// Only this topic (every partition of it); otherwise every partition the
    /// group has committed offsets for.
    pub topic: Option<String>,
}

fn end_offset(broker: &BrokerState, topic: &str, partition: i32) -> Option<i64> {
    broker
        .topics
        .get(topic)
        .and_then(|t| t.partition(partition).map(|p| p.log_end_offset()))
}

fn lags(broker: &BrokerState, group_id: &str) -> Vec<PartitionLag> {
    broker
        .groups
        .fetch_offsets(group_id, None)
        .into_iter()
        .filter_map(|((topic, partition), committed)| {
            let committed = committed?;
            let end = end_offset(broker, &topic, partition);
            Some(PartitionLag {
                lag: end.map(|e| (e - committed.offset).max(0)),
                log_end_offset: end,
                committed_offset: committed.offset,
                metadata: committed.metadata,
                commit_timestamp: committed.commit_timestamp,
                topic,
                partition,
            })
        })
        .collect()
}

/// The groups the caller may see: all with DESCRIBE on the cluster, else
/// those it may DESCRIBE, as ListGroups answers.
pub fn list(broker: &BrokerState, caller: &RequestContext) -> Vec<GroupSummary> {
    let all = broker.authorize_cluster(caller, AclOperation::Describe);
    let reports: BTreeMap<String, (usize, i64)> = broker
        .groups
        .lag_report()
        .into_iter()
        .map(|r| {
            let lag = r
                .offsets
                .iter()
                .filter_map(|((t, p), c)| end_offset(broker, t, *p).map(|e| (e - c).max(0)))
                .sum();
            (r.group_id, (r.members, lag))
        })
        .collect();
    broker
        .groups
        .list()
        .into_iter()
        .filter(|g| all || broker.authorize_group(caller, AclOperation::Describe, &g.group_id))
        .map(|g| {
            let (members, total_lag) = reports.get(&g.group_id).copied().unwrap_or((0, 0));
            GroupSummary {
                group_id: g.group_id,
                state: g.state,
                protocol_type: g.protocol_type,
                group_type: g.group_type,
                members,
                total_lag,
            }
        })
        .collect()
}

fn not_found(group_id: &str) -> ApiError {
    ApiError::kafka(
        ResponseError::GroupIdNotFound,
        format!("Group '{group_id}' does not exist."),
    )
}

/// DESCRIBE on the group; the offsets of the topics the caller may DESCRIBE.
pub fn detail(
    broker: &BrokerState,
    caller: &RequestContext,
    group_id: &str,
) -> ApiResult<GroupDetail> {
    require_group(broker, caller, AclOperation::Describe, group_id)?;
    let mut g = describe(broker, group_id)?;
    g.offsets
        .retain(|o| broker.authorize_topic(caller, AclOperation::Describe, &o.topic));
    g.total_lag = g.offsets.iter().filter_map(|o| o.lag).sum();
    Ok(g)
}

fn describe(broker: &BrokerState, group_id: &str) -> ApiResult<GroupDetail> {
    if group_id.is_empty() {
        return Err(ApiError::kafka(
            ResponseError::InvalidGroupId,
            "The group id must not be empty.",
        ));
    }
    let g = broker
        .groups
        .describe(group_id)
        .filter(|g| g.state != "Dead")
        .ok_or_else(|| not_found(group_id))?;
    let consumer = g.protocol_type == "consumer";
    let members = g
        .members
        .into_iter()
        .map(|m| Member {
            assignment: if consumer && !m.assignment.is_empty() {
                decode_assignment(m.assignment)
            } else {
                BTreeMap::new()
            },
            member_id: m.member_id,
            instance_id: m.instance_id,
            client_id: m.client_id,
            client_host: m.client_host,
        })
        .collect();
    let offsets = lags(broker, group_id);
    Ok(GroupDetail {
        group_id: group_id.to_string(),
        state: g.state,
        protocol_type: g.protocol_type,
        protocol: g.protocol,
        members,
        total_lag: offsets.iter().filter_map(|o| o.lag).sum(),
        offsets,
    })
}

/// Moves the group's offsets, as OffsetCommit with generation -1 does for a
/// group without members; a group with members is refused (NON_EMPTY_GROUP).
/// READ on the group and on every topic whose offsets move.
pub fn reset_offsets(
    broker: &BrokerState,
    caller: &RequestContext,
    group_id: &str,
    reset: ResetOffsets,
) -> ApiResult<GroupDetail> {
    require_group(broker, caller, AclOperation::Read, group_id)?;
    let group = describe(broker, group_id)?;
    if !group.members.is_empty() {
        return Err(ApiError::kafka(
            ResponseError::NonEmptyGroup,
            format!(
                "Assignments can only be reset if the group '{group_id}' is inactive, but the current state is {}.",
                group.state
            ),
        ));
    }
    let targets: Vec<(String, i32)> = match &reset.topic {
        Some(name) => {
            require_topic(broker, caller, AclOperation::Read, name)?;
            let topic = super::topics::find(broker, name)?;
            (0..topic.partitions.len() as i32)
                .map(|p| (name.clone(), p))
                .collect()
        }
        None => group
            .offsets
            .iter()
            .map(|o| (o.topic.clone(), o.partition))
            .collect(),
    };
    for (topic, _) in &targets {
        require_topic(broker, caller, AclOperation::Read, topic)?;
    }
    let mut offsets = Vec::with_capacity(targets.len());
    for (topic, partition) in targets {
        let Some(p) = broker
            .topics
            .get(&topic)
            .and_then(|t| t.partition(partition).cloned())
        else {
            continue; // the topic is gone: nothing to reset to
        };
        let (start, end) = p.offsets();
        let offset = match (reset.to.as_str(), reset.offset) {
            ("earliest", _) => start,
            ("latest", _) => end,
            // As kafka-consumer-groups: an offset outside the log moves to its nearest end.
            ("offset", Some(o)) => o.clamp(start, end),
            ("offset", None) => return Err(ApiError::bad_request("`offset` is required")),
            (other, _) => {
                return Err(ApiError::bad_request(format!(
                    "`to` is `{other}`: expected earliest, latest or offset"
                )));
            }
        };
        let value = CommittedOffset {
            offset,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: now_ms(),
        };
        offsets.push(((topic, partition), value));
    }
    let results = broker
        .groups
        .commit_offsets(group_id, "", None, -1, offsets)
        .map_err(|e| ApiError::group(group_id, e))?;
    if let Some(Err(e)) = results.into_iter().find(|r| r.is_err()) {
        return Err(ApiError::group(group_id, e));
    }
    detail(broker, caller, group_id)
}
