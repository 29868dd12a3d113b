//! One classic consumer group and its rebalance state machine, as Apache
//! Kafka's group coordinator runs it: Empty → PreparingRebalance (members
//! (re)join) → CompletingRebalance (the leader's SyncGroup brings the
//! assignment) → Stable, and back to PreparingRebalance whenever membership or
//! subscriptions change. Deadlines are plain instants; the coordinator's timer
//! task calls `expire`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;
use uuid::Uuid;

use super::GroupError;
use super::member::{JoinParams, JoinResult, JoinedMember, Member, Protocol, SyncResult};
use super::records::{CommittedOffset, StoredGroup, StoredMember};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name Kafka uses in DescribeGroups and ListGroups.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// Coordinator settings a group's transitions depend on.
#[derive(Debug, Clone)]
pub struct GroupSettings {
    pub initial_rebalance_delay: Duration,
    pub max_size: usize,
}

/// A SyncGroup request in the coordinator's terms.
pub struct SyncParams {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    /// The leader's assignment: member id → assignment bytes.
    pub assignments: Vec<(String, Bytes)>,
}

pub struct Group {
    pub id: String,
    pub state: GroupState,
    /// Wall-clock ms of the last state change (offsets of an Empty group expire from it).
    pub state_timestamp: i64,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// group.instance.id → member id of static members.
    static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, until they join or time out.
    pending_members: HashMap<String, Instant>,
    /// Members of this generation that have not sent SyncGroup yet.
    pending_sync: HashSet<String>,
    join_deadline: Option<Instant>,
    /// While the initial rebalance delay runs: how much of the rebalance timeout is left.
    initial_delay_left: Option<Duration>,
    new_member_added: bool,
    sync_deadline: Option<Instant>,
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
    /// The group's metadata changed in a way that is written to the offsets log.
    pub dirty: bool,
}

impl Group {
    pub fn new(id: String, now_ms: i64) -> Group {
        Group {
            id,
            state: GroupState::Empty,
            state_timestamp: now_ms,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending_members: HashMap::new(),
            pending_sync: HashSet::new(),
            join_deadline: None,
            initial_delay_left: None,
            new_member_added: false,
            sync_deadline: None,
            offsets: BTreeMap::new(),
            dirty: false,
        }
    }

    /// A group as last written to the offsets log; its members get a fresh session.
    pub fn restore(id: String, stored: StoredGroup, now: Instant) -> Group {
        let mut group = Group::new(id, stored.state_timestamp);
        group.generation = stored.generation;
        group.protocol_type = Some(stored.protocol_type).filter(|t| !t.is_empty());
        group.protocol = stored.protocol;
        group.leader = stored.leader;
        for m in stored.members {
            let protocol = group.protocol.clone().unwrap_or_default();
            let params = JoinParams {
                member_id: m.member_id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout_ms: m.session_timeout_ms,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                protocol_type: group.protocol_type.clone().unwrap_or_default(),
                protocols: vec![Protocol {
                    name: protocol,
                    metadata: m.subscription,
                }],
                require_known_member_id: false,
            };
            let mut member = Member::new(m.member_id.clone(), params, now);
            member.assignment = m.assignment;
            if let Some(instance) = m.instance_id {
                group.static_members.insert(instance, m.member_id.clone());
            }
            group.members.insert(m.member_id, member);
        }
        if !group.members.is_empty() {
            group.state = GroupState::Stable;
        }
        group
    }

    pub fn stored(&self) -> StoredGroup {
        let protocol = self.protocol.clone().unwrap_or_default();
        StoredGroup {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            state_timestamp: self.state_timestamp,
            members: self
                .members
                .values()
                .map(|m| StoredMember {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout.as_millis() as i32,
                    session_timeout_ms: m.session_timeout.as_millis() as i32,
                    subscription: m.metadata(&protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    fn transition(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_timestamp = now_ms;
    }

    /// Whether a static member's instance id is now held by another member id.
    fn is_fenced(&self, instance_id: Option<&str>, member_id: &str) -> bool {
        instance_id
            .and_then(|i| self.static_members.get(i))
            .is_some_and(|holder| holder != member_id)
    }

    fn supports(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|p| self.members.values().all(|m| m.supports(&p.name)))
    }

    fn max_rebalance_timeout(&self) -> Duration {
        self.members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default()
    }

    // ---- JoinGroup ----

    pub fn join(
        &mut self,
        p: JoinParams,
        reply: oneshot::Sender<JoinResult>,
        settings: &GroupSettings,
        now: Instant,
        now_ms: i64,
    ) {
        if self.state == GroupState::Dead {
            let _ = reply.send(JoinResult::error(
                GroupError::CoordinatorNotAvailable,
                p.member_id,
            ));
            return;
        }
        if !self.supports(&p.protocol_type, &p.protocols) {
            let _ = reply.send(JoinResult::error(
                GroupError::InconsistentGroupProtocol,
                p.member_id,
            ));
            return;
        }
        if p.member_id.is_empty() {
            self.join_new_member(p, reply, settings, now, now_ms);
        } else {
            self.join_known_member(p, reply, settings, now, now_ms);
        }
    }

    fn join_new_member(
        &mut self,
        p: JoinParams,
        reply: oneshot::Sender<JoinResult>,
        settings: &GroupSettings,
        now: Instant,
        now_ms: i64,
    ) {
        let prefix = p.instance_id.as_deref().unwrap_or(&p.client_id);
        let member_id = format!("{prefix}-{}", Uuid::new_v4());
        if let Some(old) = p
            .instance_id
            .as_ref()
            .and_then(|i| self.static_members.get(i))
            .cloned()
        {
            self.replace_static_member(old, member_id, p, reply, settings, now, now_ms);
            return;
        }
        if self.members.len() >= settings.max_size {
            let _ = reply.send(JoinResult::error(
                GroupError::GroupMaxSizeReached,
                p.member_id,
            ));
            return;
        }
        if p.require_known_member_id && p.instance_id.is_none() {
            let deadline = now + super::member::millis(p.session_timeout_ms);
            self.pending_members.insert(member_id.clone(), deadline);
            let _ = reply.send(JoinResult::error(GroupError::MemberIdRequired, member_id));
            return;
        }
        self.add_member_and_rebalance(member_id, p, reply, settings, now, now_ms);
    }

    fn join_known_member(
        &mut self,
        p: JoinParams,
        reply: oneshot::Sender<JoinResult>,
        settings: &GroupSettings,
        now: Instant,
        now_ms: i64,
    ) {
        let member_id = p.member_id.clone();
        if self.pending_members.remove(&member_id).is_some() {
            self.add_member_and_rebalance(member_id, p, reply, settings, now, now_ms);
            return;
        }
        if self.is_fenced(p.instance_id.as_deref(), &member_id) {
            let _ = reply.send(JoinResult::error(GroupError::FencedInstanceId, member_id));
            return;
        }
        let Some(member) = self.members.get(&member_id) else {
            let _ = reply.send(JoinResult::error(GroupError::UnknownMemberId, member_id));
            return;
        };
        let unchanged = member.protocols == p.protocols;
        let is_leader = self.leader.as_deref() == Some(member_id.as_str());
        match self.state {
            GroupState::PreparingRebalance => {
                self.update_member_and_rebalance(p, reply, settings, now, now_ms)
            }
            GroupState::CompletingRebalance if unchanged => {
                let _ = reply.send(self.join_result(&member_id));
            }
            GroupState::Stable if unchanged && !is_leader => {
                let _ = reply.send(self.join_result(&member_id));
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(p, reply, settings, now, now_ms)
            }
            GroupState::Empty | GroupState::Dead => {
                let _ = reply.send(JoinResult::error(GroupError::UnknownMemberId, member_id));
            }
        }
    }

    /// A static member came back with a new member id: the old id is fenced.
    #[allow(clippy::too_many_arguments)]
    fn replace_static_member(
        &mut self,
        old_id: String,
        new_id: String,
        p: JoinParams,
        reply: oneshot::Sender<JoinResult>,
        settings: &GroupSettings,
        now: Instant,
        now_ms: i64,
    ) {
        let Some(mut member) = self.members.remove(&old_id) else {
            self.add_member_and_rebalance(new_id, p, reply, settings, now, now_ms);
            return;
        };
        member.answer_join(JoinResult::error(
            GroupError::FencedInstanceId,
            old_id.clone(),
        ));
        member.answer_sync(SyncResult::error(GroupError::FencedInstanceId));
        let unchanged = member.protocols == p.protocols;
        member.id = new_id.clone();
        member.heartbeat(now);
        if let Some(instance) = &p.instance_id {
            self.static_members.insert(instance.clone(), new_id.clone());
        }
        if self.leader.as_deref() == Some(old_id.as_str()) {
            self.leader = Some(new_id.clone());
        }
        if self.pending_sync.remove(&old_id) {
            self.pending_sync.insert(new_id.clone());
        }
        let is_leader = self.leader.as_deref() == Some(new_id.as_str());
        self.members.insert(new_id.clone(), member);
        self.dirty = true;
        if self.state == GroupState::Stable && unchanged && !is_leader {
            let _ = reply.send(self.join_result(&new_id));
        } else {
            let p = JoinParams {
                member_id: new_id,
                ..p
            };
            self.update_member_and_rebalance(p, reply, settings, now, now_ms);
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        member_id: String,
        p: JoinParams,
        reply: oneshot::Sender<JoinResult>,
        settings: &GroupSettings,
        now: Instant,
        now_ms: i64,
    ) {
        if self.members.is_empty() {
            self.protocol_type = Some(p.protocol_type.clone());
        }
        if let Some(instance) = &p.instance_id {
            self.static_members
                .insert(instance.clone(), member_id.clone());
        }
        let mut member = Member::new(member_id.clone(), p, now);
        member.awaiting_join = Some(reply);
        if self.leader.is_none() {
            self.leader = Some(member_id.clone());
        }
        self.members.insert(member_id, member);
        self.new_member_added = true;
        self.maybe_prepare_rebalance(settings, now, now_ms);
        self.try_complete_join(now, now_ms);
    }

    fn update_member_and_rebalance(
        &mut self,
        p: JoinParams,
        reply: oneshot::Sender<JoinResult>,
        settings: &GroupSettings,
        now: Instant,
        now_ms: i64,
    ) {
        if let Some(member) = self.members.get_mut(&p.member_id) {
            // A member that joins again while its first join waits: the first one
            // is answered, the client will have given up on it.
            member.answer_join(JoinResult::error(
                GroupError::RebalanceInProgress,
                p.member_id.clone(),
            ));
            member.protocols = p.protocols;
            member.session_timeout = super::member::millis(p.session_timeout_ms);
            member.rebalance_timeout = super::member::millis(p.rebalance_timeout_ms);
            member.client_id = p.client_id;
            member.client_host = p.client_host;
            member.awaiting_join = Some(reply);
        }
        self.maybe_prepare_rebalance(settings, now, now_ms);
        self.try_complete_join(now, now_ms);
    }

    fn maybe_prepare_rebalance(&mut self, settings: &GroupSettings, now: Instant, now_ms: i64) {
        if matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(settings, now, now_ms);
        }
    }

    fn prepare_rebalance(&mut self, settings: &GroupSettings, now: Instant, now_ms: i64) {
        if self.state == GroupState::CompletingRebalance {
            for member in self.members.values_mut() {
                member.assignment = Bytes::new();
                member.answer_sync(SyncResult::error(GroupError::RebalanceInProgress));
            }
        }
        self.pending_sync.clear();
        self.sync_deadline = None;
        let timeout = self.max_rebalance_timeout();
        if self.state == GroupState::Empty {
            // Wait a little for the other members of a starting group (KIP-134).
            let delay = settings.initial_rebalance_delay.min(timeout);
            self.initial_delay_left = Some(timeout - delay);
            self.new_member_added = false;
            self.join_deadline = Some(now + delay);
        } else {
            self.initial_delay_left = None;
            self.join_deadline = Some(now + timeout);
        }
        tracing::debug!(group = %self.id, members = self.members.len(), "preparing rebalance");
        self.transition(GroupState::PreparingRebalance, now_ms);
    }

    fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    fn try_complete_join(&mut self, now: Instant, now_ms: i64) {
        if self.state == GroupState::PreparingRebalance
            && self.initial_delay_left.is_none()
            && self.all_members_joined()
        {
            self.complete_join(now, now_ms);
        }
    }

    fn complete_join(&mut self, now: Instant, now_ms: i64) {
        self.join_deadline = None;
        self.initial_delay_left = None;
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            self.remove_member(&id);
        }
        self.generation += 1;
        self.dirty = true;
        if self.members.is_empty() {
            self.protocol = None;
            self.transition(GroupState::Empty, now_ms);
            return;
        }
        self.protocol = self.select_protocol();
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        self.transition(GroupState::CompletingRebalance, now_ms);
        tracing::info!(
            group = %self.id,
            generation = self.generation,
            members = self.members.len(),
            protocol = self.protocol.as_deref().unwrap_or(""),
            "rebalance: all members joined"
        );
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in &ids {
            let result = self.join_result(id);
            if let Some(member) = self.members.get_mut(id) {
                member.answer_join(result);
                member.heartbeat(now);
            }
        }
        self.pending_sync = ids.into_iter().collect();
        self.sync_deadline = Some(now + self.max_rebalance_timeout());
    }

    /// The protocol every member supports that most members prefer.
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .filter(|name| self.members.values().all(|m| m.supports(name)))
            .collect();
        let mut votes: Vec<(&str, usize)> = candidates.iter().map(|c| (*c, 0)).collect();
        for member in self.members.values() {
            let vote = member
                .protocols
                .iter()
                .find(|p| candidates.contains(&p.name.as_str()));
            if let Some(slot) = vote.and_then(|p| votes.iter_mut().find(|(c, _)| *c == p.name)) {
                slot.1 += 1;
            }
        }
        // Ties go to the protocol listed first by the first member.
        let best = votes.iter().map(|(_, n)| *n).max()?;
        votes
            .iter()
            .find(|(_, n)| *n == best)
            .map(|(c, _)| c.to_string())
    }

    fn join_result(&self, member_id: &str) -> JoinResult {
        let protocol = self.protocol.clone().unwrap_or_default();
        let is_leader = self.leader.as_deref() == Some(member_id);
        JoinResult {
            error: None,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members: if is_leader {
                self.members
                    .values()
                    .map(|m| JoinedMember {
                        member_id: m.id.clone(),
                        instance_id: m.instance_id.clone(),
                        metadata: m.metadata(&protocol),
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    // ---- SyncGroup, Heartbeat, LeaveGroup ----

    /// Checks that `member_id` of `generation` may act in this group.
    fn check_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if self.is_fenced(instance_id, member_id) {
            return Err(GroupError::FencedInstanceId);
        }
        if !self.members.contains_key(member_id) {
            return Err(GroupError::UnknownMemberId);
        }
        if generation != self.generation {
            return Err(GroupError::IllegalGeneration);
        }
        Ok(())
    }

    pub fn sync(&mut self, p: SyncParams, reply: oneshot::Sender<SyncResult>, now: Instant) {
        if let Err(e) = self.check_member(&p.member_id, p.instance_id.as_deref(), p.generation) {
            let _ = reply.send(SyncResult::error(e));
            return;
        }
        if p.protocol_type
            .as_ref()
            .is_some_and(|t| Some(t) != self.protocol_type.as_ref())
            || p.protocol
                .as_ref()
                .is_some_and(|n| Some(n) != self.protocol.as_ref())
        {
            let _ = reply.send(SyncResult::error(GroupError::InconsistentGroupProtocol));
            return;
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => {
                let _ = reply.send(SyncResult::error(GroupError::UnknownMemberId));
            }
            GroupState::PreparingRebalance => {
                let _ = reply.send(SyncResult::error(GroupError::RebalanceInProgress));
            }
            GroupState::CompletingRebalance => {
                self.synced(&p.member_id, now);
                if let Some(member) = self.members.get_mut(&p.member_id) {
                    member.awaiting_sync = Some(reply);
                }
                if self.leader.as_deref() == Some(p.member_id.as_str()) {
                    self.assign(p.assignments);
                }
            }
            GroupState::Stable => {
                self.synced(&p.member_id, now);
                let result = self.sync_result(&p.member_id);
                let _ = reply.send(result);
            }
        }
    }

    fn synced(&mut self, member_id: &str, now: Instant) {
        self.pending_sync.remove(member_id);
        if self.pending_sync.is_empty() {
            self.sync_deadline = None;
        }
        if let Some(member) = self.members.get_mut(member_id) {
            member.heartbeat(now);
        }
    }

    /// The leader's assignment: the group becomes Stable and every waiting member
    /// gets its part.
    fn assign(&mut self, assignments: Vec<(String, Bytes)>) {
        let mut assignments: HashMap<String, Bytes> = assignments.into_iter().collect();
        for member in self.members.values_mut() {
            member.assignment = assignments.remove(&member.id).unwrap_or_default();
        }
        self.state = GroupState::Stable;
        self.dirty = true;
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let result = self.sync_result(&id);
            if let Some(member) = self.members.get_mut(&id) {
                member.answer_sync(result);
            }
        }
    }

    fn sync_result(&self, member_id: &str) -> SyncResult {
        SyncResult {
            error: None,
            protocol_type: self.protocol_type.clone(),
            protocol: self.protocol.clone(),
            assignment: self
                .members
                .get(member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default(),
        }
    }

    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Instant,
    ) -> Result<(), GroupError> {
        self.check_member(member_id, instance_id, generation)?;
        match self.state {
            GroupState::Empty | GroupState::Dead => Err(GroupError::UnknownMemberId),
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.touch(member_id, now);
                Ok(())
            }
            GroupState::PreparingRebalance => {
                self.touch(member_id, now);
                Err(GroupError::RebalanceInProgress)
            }
        }
    }

    fn touch(&mut self, member_id: &str, now: Instant) {
        if let Some(member) = self.members.get_mut(member_id) {
            member.heartbeat(now);
        }
    }

    /// One member of a LeaveGroup request; a static member may be named by its
    /// instance id alone.
    pub fn leave(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        settings: &GroupSettings,
        now: Instant,
        now_ms: i64,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        let member_id = match (member_id, instance_id) {
            ("", Some(instance)) => self
                .static_members
                .get(instance)
                .cloned()
                .ok_or(GroupError::UnknownMemberId)?,
            (id, _) => id.to_string(),
        };
        if self.pending_members.remove(&member_id).is_some() {
            self.try_complete_join(now, now_ms);
            return Ok(());
        }
        if self.is_fenced(instance_id, &member_id) {
            return Err(GroupError::FencedInstanceId);
        }
        if !self.members.contains_key(&member_id) {
            return Err(GroupError::UnknownMemberId);
        }
        self.remove_member_and_rebalance(&member_id, settings, now, now_ms);
        Ok(())
    }

    fn remove_member(&mut self, member_id: &str) {
        if let Some(mut member) = self.members.remove(member_id) {
            member.answer_join(JoinResult::error(
                GroupError::UnknownMemberId,
                member_id.to_string(),
            ));
            member.answer_sync(SyncResult::error(GroupError::UnknownMemberId));
            if let Some(instance) = &member.instance_id {
                self.static_members.remove(instance);
            }
        }
        self.pending_sync.remove(member_id);
        if self.leader.as_deref() == Some(member_id) {
            self.leader = self
                .members
                .values()
                .find(|m| m.awaiting_join.is_some())
                .or_else(|| self.members.values().next())
                .map(|m| m.id.clone());
        }
    }

    fn remove_member_and_rebalance(
        &mut self,
        member_id: &str,
        settings: &GroupSettings,
        now: Instant,
        now_ms: i64,
    ) {
        self.remove_member(member_id);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(settings, now, now_ms);
                self.try_complete_join(now, now_ms);
            }
            GroupState::PreparingRebalance => self.try_complete_join(now, now_ms),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    // ---- Offsets ----

    /// Whether an OffsetCommit by this member may write: a group used only to
    /// store offsets commits with generation -1 while it has no members.
    pub fn check_commit(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Instant,
    ) -> Result<(), GroupError> {
        // An Empty group has no members, static ones included: nothing to fence.
        if generation < 0 && self.state == GroupState::Empty {
            return Ok(());
        }
        self.check_member(member_id, instance_id, generation)?;
        match self.state {
            GroupState::CompletingRebalance => Err(GroupError::RebalanceInProgress),
            _ => {
                self.touch(member_id, now);
                Ok(())
            }
        }
    }

    /// Topics the members subscribe to, when the group runs the consumer protocol.
    pub fn subscribed_topics(&self) -> HashSet<String> {
        let protocol = self.protocol.clone().unwrap_or_default();
        if self.protocol_type.as_deref() != Some("consumer") {
            return HashSet::new();
        }
        self.members
            .values()
            .flat_map(|m| super::subscription::topics(&m.metadata(&protocol)))
            .collect()
    }

    // ---- Timers ----

    /// The earliest instant at which `expire` has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let members = self
            .members
            .values()
            .filter(|m| !m.is_waiting())
            .map(|m| m.heartbeat_deadline);
        let pending = self.pending_members.values().copied();
        let sync = self.sync_deadline.filter(|_| !self.pending_sync.is_empty());
        members
            .chain(pending)
            .chain(self.join_deadline)
            .chain(sync)
            .min()
    }

    /// Evicts silent members and ends rebalances whose time is up.
    pub fn expire(&mut self, settings: &GroupSettings, now: Instant, now_ms: i64) {
        let expired_pending: Vec<String> = self
            .pending_members
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired_pending {
            self.pending_members.remove(&id);
            self.try_complete_join(now, now_ms);
        }
        let silent: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.is_waiting() && m.heartbeat_deadline <= now)
            .map(|m| m.id.clone())
            .collect();
        for id in silent {
            tracing::info!(group = %self.id, member = %id, "member session expired");
            self.remove_member_and_rebalance(&id, settings, now, now_ms);
        }
        if self.join_deadline.is_some_and(|d| d <= now) {
            match self.initial_delay_left {
                Some(left) if self.new_member_added && !left.is_zero() => {
                    let delay = settings.initial_rebalance_delay.min(left);
                    self.initial_delay_left = Some(left - delay);
                    self.new_member_added = false;
                    self.join_deadline = Some(now + delay);
                }
                _ => self.complete_join(now, now_ms),
            }
        }
        if self.sync_deadline.is_some_and(|d| d <= now) && !self.pending_sync.is_empty() {
            let late: Vec<String> = self.pending_sync.drain().collect();
            for id in late {
                tracing::info!(group = %self.id, member = %id, "member did not sync in time");
                self.remove_member(&id);
            }
            if matches!(
                self.state,
                GroupState::CompletingRebalance | GroupState::Stable
            ) {
                self.prepare_rebalance(settings, now, now_ms);
                self.try_complete_join(now, now_ms);
            }
        }
    }

    /// A group that holds nothing (no members, no offsets) can be forgotten.
    pub fn is_empty_shell(&self) -> bool {
        self.state == GroupState::Empty
            && self.members.is_empty()
            && self.pending_members.is_empty()
            && self.offsets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(delay_ms: u64) -> GroupSettings {
        GroupSettings {
            initial_rebalance_delay: Duration::from_millis(delay_ms),
            max_size: 10,
        }
    }

    fn params(member_id: &str, session_ms: i32) -> JoinParams {
        JoinParams {
            member_id: member_id.to_string(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: session_ms,
            rebalance_timeout_ms: 5_000,
            protocol_type: "consumer".into(),
            protocols: vec![Protocol {
                name: "range".into(),
                metadata: Bytes::new(),
            }],
            require_known_member_id: false,
        }
    }

    fn join(
        g: &mut Group,
        p: JoinParams,
        s: &GroupSettings,
        now: Instant,
    ) -> oneshot::Receiver<JoinResult> {
        let (tx, rx) = oneshot::channel();
        g.join(p, tx, s, now, 0);
        rx
    }

    #[tokio::test]
    async fn the_initial_delay_waits_for_members_that_keep_arriving() {
        let s = settings(3_000);
        let t0 = Instant::now();
        let mut g = Group::new("g".into(), 0);
        let mut a = join(&mut g, params("", 10_000), &s, t0);
        assert_eq!(g.state, GroupState::PreparingRebalance);
        let mut b = join(
            &mut g,
            params("", 10_000),
            &s,
            t0 + Duration::from_millis(1_000),
        );
        g.expire(&s, t0 + Duration::from_millis(3_000), 0);
        // b arrived during the delay: it is extended instead of completed.
        assert_eq!(g.state, GroupState::PreparingRebalance);
        assert!(a.try_recv().is_err());
        g.expire(&s, t0 + Duration::from_millis(6_000), 0);
        assert_eq!(g.state, GroupState::CompletingRebalance);
        let (ra, rb) = (a.try_recv().unwrap(), b.try_recv().unwrap());
        assert_eq!((ra.generation, rb.generation), (1, 1));
        assert_eq!(
            ra.members.len() + rb.members.len(),
            2,
            "only the leader sees members"
        );
    }

    #[tokio::test]
    async fn a_member_without_heartbeats_is_removed_after_its_session() {
        let s = settings(0);
        let t0 = Instant::now();
        let mut g = Group::new("g".into(), 0);
        let mut rx = join(&mut g, params("", 1_000), &s, t0);
        g.expire(&s, t0, 0);
        let id = rx.try_recv().unwrap().member_id;
        let (tx, mut sync_rx) = oneshot::channel();
        let p = SyncParams {
            member_id: id.clone(),
            instance_id: None,
            generation: 1,
            protocol_type: None,
            protocol: None,
            assignments: vec![(id.clone(), Bytes::from_static(b"a"))],
        };
        g.sync(p, tx, t0);
        assert_eq!(
            sync_rx.try_recv().unwrap().assignment,
            Bytes::from_static(b"a")
        );
        assert_eq!(g.state, GroupState::Stable);
        let t1 = t0 + Duration::from_millis(900);
        assert_eq!(g.heartbeat(&id, None, 1, t1), Ok(()));
        g.expire(&s, t1 + Duration::from_millis(999), 0);
        assert_eq!(
            g.state,
            GroupState::Stable,
            "the heartbeat renewed the session"
        );
        assert_eq!(g.next_deadline(), Some(t1 + Duration::from_millis(1_000)));
        g.expire(&s, t1 + Duration::from_millis(1_000), 0);
        assert_eq!(g.state, GroupState::Empty);
        assert!(g.members.is_empty());
        assert_eq!(g.generation, 2);
    }

    #[tokio::test]
    async fn members_that_never_sync_are_removed_after_the_rebalance_timeout() {
        let s = settings(0);
        let t0 = Instant::now();
        let mut g = Group::new("g".into(), 0);
        let mut rx = join(&mut g, params("", 60_000), &s, t0);
        g.expire(&s, t0, 0);
        assert!(rx.try_recv().is_ok());
        assert_eq!(g.state, GroupState::CompletingRebalance);
        g.expire(&s, t0 + Duration::from_millis(5_000), 0);
        assert_eq!(g.state, GroupState::Empty);
    }

    #[test]
    fn the_protocol_most_members_prefer_wins() {
        let now = Instant::now();
        let mut g = Group::new("g".into(), 0);
        for (id, prefs) in [
            ("a", ["range", "roundrobin"]),
            ("b", ["roundrobin", "range"]),
            ("c", ["roundrobin", "range"]),
        ] {
            let mut p = params(id, 10_000);
            p.protocols = prefs
                .iter()
                .map(|n| Protocol {
                    name: n.to_string(),
                    metadata: Bytes::new(),
                })
                .collect();
            g.members
                .insert(id.to_string(), Member::new(id.to_string(), p, now));
        }
        assert_eq!(g.select_protocol().as_deref(), Some("roundrobin"));
    }
}
