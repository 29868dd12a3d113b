//! One member of a classic consumer group, and the results its JoinGroup and
//! SyncGroup requests wait for.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::GroupError;

/// An assignor the member supports, with the member's subscription for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    pub name: String,
    pub metadata: Bytes,
}

/// A JoinGroup request in the coordinator's terms.
#[derive(Debug, Clone)]
pub struct JoinParams {
    /// Empty for a member joining for the first time.
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<Protocol>,
    /// KIP-394 (JoinGroup v4+): a new member first gets MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
}

/// A member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub metadata: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResult {
    pub error: Option<GroupError>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Every member's metadata, for the leader only.
    pub members: Vec<JoinedMember>,
}

impl JoinResult {
    pub fn error(error: GroupError, member_id: String) -> JoinResult {
        JoinResult {
            error: Some(error),
            generation: -1,
            protocol_type: None,
            protocol: None,
            leader: String::new(),
            member_id,
            members: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResult {
    pub error: Option<GroupError>,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    pub fn error(error: GroupError) -> SyncResult {
        SyncResult {
            error: Some(error),
            protocol_type: None,
            protocol: None,
            assignment: Bytes::new(),
        }
    }
}

pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocols: Vec<Protocol>,
    pub assignment: Bytes,
    pub awaiting_join: Option<oneshot::Sender<JoinResult>>,
    pub awaiting_sync: Option<oneshot::Sender<SyncResult>>,
    /// Without a heartbeat (or another request) before this, the member is evicted.
    pub heartbeat_deadline: Instant,
}

impl Member {
    pub fn new(id: String, p: JoinParams, now: Instant) -> Member {
        let session_timeout = millis(p.session_timeout_ms);
        Member {
            id,
            instance_id: p.instance_id,
            client_id: p.client_id,
            client_host: p.client_host,
            session_timeout,
            rebalance_timeout: millis(p.rebalance_timeout_ms),
            protocols: p.protocols,
            assignment: Bytes::new(),
            awaiting_join: None,
            awaiting_sync: None,
            heartbeat_deadline: now + session_timeout,
        }
    }

    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }

    pub fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|p| p.name == protocol)
    }

    pub fn heartbeat(&mut self, now: Instant) {
        self.heartbeat_deadline = now + self.session_timeout;
    }

    /// A member waiting for its JoinGroup or SyncGroup answer is alive: the
    /// rebalance's own deadlines bound that wait.
    pub fn is_waiting(&self) -> bool {
        self.awaiting_join.is_some() || self.awaiting_sync.is_some()
    }

    pub fn answer_join(&mut self, result: JoinResult) {
        if let Some(tx) = self.awaiting_join.take() {
            let _ = tx.send(result);
        }
    }

    pub fn answer_sync(&mut self, result: SyncResult) {
        if let Some(tx) = self.awaiting_sync.take() {
            let _ = tx.send(result);
        }
    }
}

pub fn millis(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}
