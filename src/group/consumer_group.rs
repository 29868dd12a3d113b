//! A group of the consumer group protocol (KIP-848): members send only
//! heartbeats; the broker computes the target assignment with a server-side
//! assignor and hands each member its part in steps, so that a partition is
//! never owned by two members at once: first a member gives up what it must
//! revoke, then it gets what others have released.
//!
//! The group epoch moves whenever membership, subscriptions or the subscribed
//! topics' partition counts change; the target assignment is recomputed at
//! once (its epoch follows the group epoch); a member's epoch reaches the
//! assignment epoch once it owns nothing it must give up.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

use super::GroupError;
use super::assignor::{self, Assignment, AssignorMember};
use super::records::CommittedOffset;

/// A ConsumerGroupHeartbeat in the coordinator's terms (topics by name).
#[derive(Debug, Clone, Default)]
pub struct HeartbeatParams {
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    /// None: unchanged since the last heartbeat.
    pub subscribed_topics: Option<Vec<String>>,
    pub subscribed_regex: Option<String>,
    pub server_assignor: Option<String>,
    /// What the member owns now; None: unchanged.
    pub owned: Option<Assignment>,
    pub client_id: String,
    pub client_host: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatResult {
    pub member_id: String,
    pub member_epoch: i32,
    /// Only when it changed since the member was last told.
    pub assignment: Option<Assignment>,
}

/// Member epochs with a meaning of their own.
pub const JOIN_EPOCH: i32 = 0;
pub const LEAVE_EPOCH: i32 = -1;
pub const STATIC_LEAVE_EPOCH: i32 = -2;

pub struct ConsumerMember {
    pub id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub topics: BTreeSet<String>,
    pub regex: Option<String>,
    pub rebalance_timeout: Duration,
    pub epoch: i32,
    previous_epoch: i32,
    /// What the member is told it owns.
    pub assigned: Assignment,
    /// Partitions it was told to give up and has not yet confirmed.
    pub revoking: Assignment,
    revoke_deadline: Option<Instant>,
    session_deadline: Instant,
    /// The assignment last sent, to send it again only when it changes.
    sent: Option<Assignment>,
}

pub struct ConsumerGroup {
    pub id: String,
    pub epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: String,
    pub members: BTreeMap<String, ConsumerMember>,
    static_members: HashMap<String, String>,
    pub target: BTreeMap<String, Assignment>,
    /// Partition counts of the subscribed topics when the target was computed.
    subscribed_partitions: BTreeMap<String, i32>,
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
    pub state_timestamp: i64,
}

/// Broker settings the protocol uses.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    pub session_timeout: Duration,
    pub max_size: usize,
}

fn is_subset(a: &Assignment, b: &Assignment) -> bool {
    a.iter()
        .all(|(t, ps)| b.get(t).is_some_and(|owned| ps.is_subset(owned)))
}

fn minus(a: &Assignment, b: &Assignment) -> Assignment {
    a.iter()
        .filter_map(|(t, ps)| {
            let rest: BTreeSet<i32> = match b.get(t) {
                Some(other) => ps.difference(other).copied().collect(),
                None => ps.clone(),
            };
            (!rest.is_empty()).then(|| (t.clone(), rest))
        })
        .collect()
}

fn intersect(a: &Assignment, b: &Assignment) -> Assignment {
    a.iter()
        .filter_map(|(t, ps)| {
            let both: BTreeSet<i32> = ps.intersection(b.get(t)?).copied().collect();
            (!both.is_empty()).then(|| (t.clone(), both))
        })
        .collect()
}

fn union_into(a: &mut Assignment, b: &Assignment) {
    for (t, ps) in b {
        a.entry(t.clone()).or_default().extend(ps);
    }
}

fn matches_regex(regex: &str, topic: &str) -> bool {
    // Kafka matches the whole topic name.
    regex::Regex::new(&format!("^(?:{regex})$")).is_ok_and(|r| r.is_match(topic))
}

impl ConsumerGroup {
    pub fn new(id: String, now_ms: i64) -> ConsumerGroup {
        ConsumerGroup {
            id,
            epoch: 0,
            assignment_epoch: 0,
            assignor: assignor::UNIFORM.to_string(),
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            target: BTreeMap::new(),
            subscribed_partitions: BTreeMap::new(),
            offsets: BTreeMap::new(),
            state_timestamp: now_ms,
        }
    }

    /// The state as ConsumerGroupDescribe and ListGroups name it.
    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.epoch != self.assignment_epoch {
            "Assigning"
        } else if self
            .members
            .values()
            .any(|m| m.epoch != self.assignment_epoch || !m.revoking.is_empty())
        {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// One heartbeat. `topics` is every topic of the broker with its partition count.
    pub fn heartbeat(
        &mut self,
        p: HeartbeatParams,
        topics: &BTreeMap<String, i32>,
        settings: &ConsumerSettings,
        now: Instant,
        now_ms: i64,
    ) -> Result<HeartbeatResult, GroupError> {
        if let Some(name) = &p.server_assignor
            && !assignor::is_known(name)
        {
            return Err(GroupError::UnsupportedAssignor);
        }
        if p.member_epoch == LEAVE_EPOCH || p.member_epoch == STATIC_LEAVE_EPOCH {
            let member_id = match (&p.instance_id, p.member_id.is_empty()) {
                (Some(instance), true) => self
                    .static_members
                    .get(instance)
                    .cloned()
                    .unwrap_or_default(),
                _ => p.member_id.clone(),
            };
            if !self.members.contains_key(&member_id) {
                return Err(GroupError::UnknownMemberId);
            }
            self.remove_member(&member_id, now_ms);
            return Ok(HeartbeatResult {
                member_id,
                member_epoch: p.member_epoch,
                assignment: None,
            });
        }
        let member_id = if p.member_epoch == JOIN_EPOCH {
            self.join(&p, settings, now)?
        } else {
            self.check_epoch(&p)?;
            p.member_id.clone()
        };
        let mut changed = false;
        let Some(member) = self.members.get_mut(&member_id) else {
            return Err(GroupError::UnknownMemberId);
        };
        member.session_deadline = now + settings.session_timeout;
        if p.rebalance_timeout_ms > 0 {
            member.rebalance_timeout = super::member::millis(p.rebalance_timeout_ms);
        }
        member.client_id = p.client_id.clone();
        member.client_host = p.client_host.clone();
        if p.rack_id.is_some() {
            member.rack_id = p.rack_id.clone();
        }
        if let Some(subscribed) = &p.subscribed_topics {
            let subscribed: BTreeSet<String> = subscribed.iter().cloned().collect();
            if subscribed != member.topics {
                member.topics = subscribed;
                changed = true;
            }
        }
        if p.subscribed_regex.is_some() && p.subscribed_regex != member.regex {
            member.regex = p.subscribed_regex.clone().filter(|r| !r.is_empty());
            changed = true;
        }
        if let Some(owned) = &p.owned {
            // The member confirmed giving up what it no longer lists.
            if !member.revoking.is_empty() && intersect(&member.revoking, owned).is_empty() {
                member.revoking.clear();
                member.revoke_deadline = None;
            }
            // A member that lost track of its assignment gets it again.
            if member.sent.as_ref() != Some(owned) {
                member.sent = None;
            }
        }
        if let Some(name) = &p.server_assignor
            && *name != self.assignor
        {
            self.assignor = name.clone();
            changed = true;
        }
        if changed {
            self.epoch += 1;
        }
        self.refresh_target(topics);
        self.reconcile(&member_id, now);
        let Some(member) = self.members.get_mut(&member_id) else {
            return Err(GroupError::UnknownMemberId);
        };
        let assignment = (member.sent.as_ref() != Some(&member.assigned)).then(|| {
            member.sent = Some(member.assigned.clone());
            member.assigned.clone()
        });
        Ok(HeartbeatResult {
            member_id,
            member_epoch: member.epoch,
            assignment,
        })
    }

    fn join(
        &mut self,
        p: &HeartbeatParams,
        settings: &ConsumerSettings,
        now: Instant,
    ) -> Result<String, GroupError> {
        if p.subscribed_topics.is_none() && p.subscribed_regex.is_none() {
            return Err(GroupError::InvalidRequest);
        }
        let member_id = if p.member_id.is_empty() {
            Uuid::new_v4().to_string()
        } else {
            p.member_id.clone()
        };
        // A static member coming back replaces its previous incarnation.
        let mut inherited = None;
        if let Some(instance) = &p.instance_id {
            if let Some(old) = self.static_members.get(instance).cloned()
                && old != member_id
            {
                inherited = self.members.remove(&old);
            }
            self.static_members
                .insert(instance.clone(), member_id.clone());
        }
        if !self.members.contains_key(&member_id) && self.members.len() >= settings.max_size {
            return Err(GroupError::GroupMaxSizeReached);
        }
        let member = ConsumerMember {
            id: member_id.clone(),
            instance_id: p.instance_id.clone(),
            rack_id: p.rack_id.clone(),
            client_id: p.client_id.clone(),
            client_host: p.client_host.clone(),
            topics: BTreeSet::new(),
            regex: None,
            rebalance_timeout: super::member::millis(p.rebalance_timeout_ms),
            epoch: 0,
            previous_epoch: -1,
            assigned: Assignment::new(),
            revoking: Assignment::new(),
            revoke_deadline: None,
            session_deadline: now + settings.session_timeout,
            sent: None,
        };
        if let Some(old) = inherited
            && let Some(target) = self.target.remove(&old.id)
        {
            self.target.insert(member_id.clone(), target);
        }
        // Joining again (epoch 0) resets what the member owns.
        self.members.insert(member_id.clone(), member);
        self.epoch += 1;
        Ok(member_id)
    }

    fn check_epoch(&self, p: &HeartbeatParams) -> Result<(), GroupError> {
        let member = self
            .members
            .get(&p.member_id)
            .ok_or(GroupError::UnknownMemberId)?;
        if p.member_epoch == member.epoch {
            return Ok(());
        }
        // A response may have been lost: the previous epoch is still fine if the
        // member owns no more than it was given.
        let owned_ok = p
            .owned
            .as_ref()
            .is_some_and(|owned| is_subset(owned, &member.assigned));
        if p.member_epoch == member.previous_epoch && owned_ok {
            return Ok(());
        }
        Err(GroupError::FencedMemberEpoch)
    }

    /// Recomputes the target assignment when the group epoch or the subscribed
    /// topics' partitions moved.
    fn refresh_target(&mut self, topics: &BTreeMap<String, i32>) {
        let subscribed: BTreeMap<String, i32> = topics
            .iter()
            .filter(|(name, _)| {
                self.members.values().any(|m| {
                    m.topics.contains(*name)
                        || m.regex.as_deref().is_some_and(|r| matches_regex(r, name))
                })
            })
            .map(|(n, c)| (n.clone(), *c))
            .collect();
        if subscribed != self.subscribed_partitions {
            self.subscribed_partitions = subscribed;
            if self.epoch == self.assignment_epoch {
                self.epoch += 1;
            }
        }
        if self.epoch == self.assignment_epoch {
            return;
        }
        let member_topics: Vec<(String, BTreeSet<String>)> = self
            .members
            .values()
            .map(|m| {
                let mut t: BTreeSet<String> = m
                    .topics
                    .iter()
                    .filter(|n| self.subscribed_partitions.contains_key(*n))
                    .cloned()
                    .collect();
                if let Some(r) = &m.regex {
                    t.extend(
                        self.subscribed_partitions
                            .keys()
                            .filter(|n| matches_regex(r, n))
                            .cloned(),
                    );
                }
                (m.id.clone(), t)
            })
            .collect();
        let members: Vec<AssignorMember<'_>> = member_topics
            .iter()
            .map(|(id, topics)| AssignorMember {
                id,
                topics,
                previous: self.target.get(id),
            })
            .collect();
        self.target = assignor::assign(&self.assignor, &members, &self.subscribed_partitions);
        self.assignment_epoch = self.epoch;
    }

    /// Moves one member towards its target: revoke first, then take what is free.
    fn reconcile(&mut self, member_id: &str, now: Instant) {
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let owned_by_others: Assignment = {
            let mut all = Assignment::new();
            for m in self.members.values().filter(|m| m.id != member_id) {
                union_into(&mut all, &m.assigned);
                union_into(&mut all, &m.revoking);
            }
            all
        };
        let assignment_epoch = self.assignment_epoch;
        let Some(member) = self.members.get_mut(member_id) else {
            return;
        };
        if !member.revoking.is_empty() {
            return;
        }
        let to_revoke = minus(&member.assigned, &target);
        if !to_revoke.is_empty() {
            member.assigned = intersect(&member.assigned, &target);
            member.revoking = to_revoke;
            member.revoke_deadline = Some(now + member.rebalance_timeout);
            return;
        }
        let free = minus(&minus(&target, &member.assigned), &owned_by_others);
        union_into(&mut member.assigned, &free);
        if member.epoch != assignment_epoch {
            member.previous_epoch = member.epoch;
            member.epoch = assignment_epoch;
        }
    }

    fn remove_member(&mut self, member_id: &str, now_ms: i64) {
        if let Some(m) = self.members.remove(member_id)
            && let Some(instance) = &m.instance_id
            && self
                .static_members
                .get(instance)
                .is_some_and(|id| id == member_id)
        {
            self.static_members.remove(instance);
        }
        self.target.remove(member_id);
        self.epoch += 1;
        if self.members.is_empty() {
            self.state_timestamp = now_ms;
        }
    }

    /// Validates an OffsetCommit (or OffsetFetch) by a member of this group.
    pub fn check_commit(&self, member_id: &str, epoch: i32) -> Result<(), GroupError> {
        if epoch < 0 && member_id.is_empty() && self.members.is_empty() {
            return Ok(());
        }
        let member = self
            .members
            .get(member_id)
            .ok_or(GroupError::UnknownMemberId)?;
        if epoch != member.epoch {
            return Err(GroupError::StaleMemberEpoch);
        }
        Ok(())
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.members
            .values()
            .flat_map(|m| [Some(m.session_deadline), m.revoke_deadline])
            .flatten()
            .min()
    }

    /// Removes members whose session or revocation time ran out.
    pub fn expire(&mut self, now: Instant, now_ms: i64) {
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| m.session_deadline <= now || m.revoke_deadline.is_some_and(|d| d <= now))
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            tracing::info!(group = %self.id, member = %id, "consumer group member expired");
            self.remove_member(&id, now_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ConsumerSettings {
        ConsumerSettings {
            session_timeout: Duration::from_secs(45),
            max_size: 100,
        }
    }

    fn join(
        g: &mut ConsumerGroup,
        topics: &BTreeMap<String, i32>,
        now: Instant,
    ) -> HeartbeatResult {
        let p = HeartbeatParams {
            member_epoch: JOIN_EPOCH,
            rebalance_timeout_ms: 10_000,
            subscribed_topics: Some(vec!["t".into()]),
            ..Default::default()
        };
        g.heartbeat(p, topics, &settings(), now, 0).expect("joins")
    }

    fn beat(
        g: &mut ConsumerGroup,
        r: &HeartbeatResult,
        owned: Option<Assignment>,
        topics: &BTreeMap<String, i32>,
        now: Instant,
    ) -> HeartbeatResult {
        let p = HeartbeatParams {
            member_id: r.member_id.clone(),
            member_epoch: r.member_epoch,
            owned,
            ..Default::default()
        };
        g.heartbeat(p, topics, &settings(), now, 0)
            .expect("heartbeat")
    }

    fn count(a: &Option<Assignment>) -> usize {
        a.as_ref()
            .map(|a| a.values().map(|s| s.len()).sum())
            .unwrap_or(0)
    }

    #[test]
    fn a_second_member_gets_partitions_only_after_the_first_releases_them() {
        let topics: BTreeMap<String, i32> = [("t".to_string(), 4)].into();
        let now = Instant::now();
        let mut g = ConsumerGroup::new("g".into(), 0);
        let a = join(&mut g, &topics, now);
        assert_eq!(count(&a.assignment), 4);
        let a_owned = a.assignment.clone();
        let b = join(&mut g, &topics, now);
        assert_eq!(count(&b.assignment), 0, "b waits: a still owns everything");
        // a is told to keep two partitions (revoke the other two).
        let a2 = beat(&mut g, &a, a_owned.clone(), &topics, now);
        assert_eq!(count(&a2.assignment), 2);
        assert_eq!(
            a2.member_epoch, a.member_epoch,
            "no new epoch until revoked"
        );
        assert_eq!(g.state_name(), "Reconciling");
        // Still owning all four: nothing moves.
        let b2 = beat(&mut g, &b, Some(Assignment::new()), &topics, now);
        assert_eq!(count(&b2.assignment), 0);
        // a confirms; b then gets the released partitions.
        let a3 = beat(&mut g, &a2, a2.assignment.clone(), &topics, now);
        assert_eq!(a3.member_epoch, g.assignment_epoch);
        let b3 = beat(&mut g, &b2, Some(Assignment::new()), &topics, now);
        assert_eq!(count(&b3.assignment), 2);
        assert_eq!(g.state_name(), "Stable");
    }

    #[test]
    fn a_stale_epoch_is_fenced_and_a_silent_member_expires() {
        let topics: BTreeMap<String, i32> = [("t".to_string(), 2)].into();
        let now = Instant::now();
        let mut g = ConsumerGroup::new("g".into(), 0);
        let a = join(&mut g, &topics, now);
        let stale = HeartbeatResult {
            member_epoch: a.member_epoch + 5,
            ..a.clone()
        };
        let p = HeartbeatParams {
            member_id: stale.member_id.clone(),
            member_epoch: stale.member_epoch,
            ..Default::default()
        };
        assert_eq!(
            g.heartbeat(p, &topics, &settings(), now, 0),
            Err(GroupError::FencedMemberEpoch)
        );
        g.expire(now + Duration::from_secs(46), 0);
        assert!(g.members.is_empty());
        assert_eq!(g.state_name(), "Empty");
    }

    #[test]
    fn new_partitions_bump_the_epoch_and_reach_the_member() {
        let mut topics: BTreeMap<String, i32> = [("t".to_string(), 2)].into();
        let now = Instant::now();
        let mut g = ConsumerGroup::new("g".into(), 0);
        let a = join(&mut g, &topics, now);
        topics.insert("t".into(), 3);
        let a2 = beat(&mut g, &a, None, &topics, now);
        assert!(a2.member_epoch > a.member_epoch);
        assert_eq!(count(&a2.assignment), 3);
    }
}
