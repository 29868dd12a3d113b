//! The coordinator's side of the consumer group protocol (KIP-848):
//! ConsumerGroupHeartbeat and ConsumerGroupDescribe.

use std::collections::BTreeMap;

use std::time::Duration;

use tokio::time::Instant;

use super::GroupError;
use super::assignor::Assignment;
use super::classic_group::GroupState;
use super::consumer_group::{ConsumerGroup, ConsumerSettings, HeartbeatParams, HeartbeatResult};
use super::coordinator::GroupCoordinator;
use crate::broker::now_ms;

/// One member as ConsumerGroupDescribe shows it.
pub struct ConsumerMemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub member_epoch: i32,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topics: Vec<String>,
    pub subscribed_regex: Option<String>,
    pub assignment: Assignment,
    pub target: Assignment,
}

pub struct ConsumerGroupDescription {
    pub state: &'static str,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: String,
    pub members: Vec<ConsumerMemberDescription>,
}

impl GroupCoordinator {
    /// The group's consumer.heartbeat.interval.ms, else the broker's.
    pub fn heartbeat_interval_ms(&self, group_id: &str) -> i32 {
        i32::try_from(self.configs.heartbeat_interval_ms(group_id)).unwrap_or(i32::MAX)
    }

    /// ConsumerGroupHeartbeat. `topics`: every topic with its partition count.
    pub fn consumer_heartbeat(
        &self,
        group_id: &str,
        params: HeartbeatParams,
        topics: &BTreeMap<String, i32>,
    ) -> Result<HeartbeatResult, GroupError> {
        if group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        let mut groups = self.lock_group(group_id);
        if !groups.consumer.contains_key(group_id) {
            if params.member_epoch != 0 {
                return Err(GroupError::UnknownMemberId);
            }
            let mut group = ConsumerGroup::new(group_id.to_string(), now_ms());
            // An empty classic group (offsets only) becomes a consumer group.
            if let Some(classic) = groups.get(group_id) {
                if classic.state != GroupState::Empty || !classic.members.is_empty() {
                    return Err(GroupError::GroupIdNotFound);
                }
                if let Some(classic) = groups.remove(group_id) {
                    group.offsets = classic.offsets;
                }
            }
            groups.consumer.insert(group_id.to_string(), group);
        }
        let group = groups
            .consumer
            .get_mut(group_id)
            .ok_or(GroupError::CoordinatorNotAvailable)?;
        let settings = ConsumerSettings {
            session_timeout: Duration::from_millis(
                u64::try_from(self.configs.session_timeout_ms(group_id)).unwrap_or(0),
            ),
            ..self.consumer_settings.clone()
        };
        let result = group.heartbeat(params, topics, &settings, Instant::now(), now_ms());
        drop(groups);
        self.wake.notify_one();
        result
    }

    pub fn consumer_describe(
        &self,
        group_id: &str,
    ) -> Result<ConsumerGroupDescription, GroupError> {
        let groups = self.lock_group(group_id);
        let group = groups
            .consumer
            .get(group_id)
            .ok_or(GroupError::GroupIdNotFound)?;
        Ok(ConsumerGroupDescription {
            state: group.state_name(),
            group_epoch: group.epoch,
            assignment_epoch: group.assignment_epoch,
            assignor: group.assignor.clone(),
            members: group
                .members
                .values()
                .map(|m| ConsumerMemberDescription {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    member_epoch: m.epoch,
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed_topics: m.topics.iter().cloned().collect(),
                    subscribed_regex: m.regex.clone(),
                    assignment: m.assigned.clone(),
                    target: group.target.get(&m.id).cloned().unwrap_or_default(),
                })
                .collect(),
        })
    }
}
