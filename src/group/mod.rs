//! Consumer groups: the classic group coordinator (JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup) and committed offsets, kept durably in the
//! `__consumer_offsets` log.

mod assignor;
mod classic_group;
mod consumer_coordinator;
mod consumer_group;
mod coordinator;
pub mod group_config;
mod member;
mod offsets_log;
pub(crate) mod records;
mod subscription;
mod txn_offsets;

pub use assignor::Assignment;
pub use classic_group::{GroupState, SyncParams};
pub use consumer_coordinator::{ConsumerGroupDescription, ConsumerMemberDescription};
pub use consumer_group::{HeartbeatParams, HeartbeatResult};
pub use coordinator::{
    GroupCoordinator, GroupDescription, GroupListing, GroupReport, MemberDescription,
};
pub use member::{JoinParams, JoinResult, JoinedMember, Protocol, SyncResult};
pub use offsets_log::OFFSETS_TOPIC;
pub use records::CommittedOffset;

/// Why the coordinator refused a request; the api layer maps each to its Kafka code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("the coordinator is not available")]
    CoordinatorNotAvailable,
    #[error("the coordinator is shutting down")]
    NotCoordinator,
    #[error("invalid group id")]
    InvalidGroupId,
    #[error("session timeout outside the broker's allowed range")]
    InvalidSessionTimeout,
    #[error("protocol type or assignors do not match the group's")]
    InconsistentGroupProtocol,
    #[error("unknown member id")]
    UnknownMemberId,
    #[error("member id required")]
    MemberIdRequired,
    #[error("illegal generation")]
    IllegalGeneration,
    #[error("rebalance in progress")]
    RebalanceInProgress,
    #[error("static member fenced by a newer instance")]
    FencedInstanceId,
    #[error("group is full")]
    GroupMaxSizeReached,
    #[error("group not found")]
    GroupIdNotFound,
    #[error("group is not empty")]
    NonEmptyGroup,
    #[error("group is subscribed to the topic")]
    GroupSubscribedToTopic,
    #[error("offset metadata too large")]
    OffsetMetadataTooLarge,
    #[error("could not write the offsets log")]
    Storage,
    #[error("invalid request")]
    InvalidRequest,
    #[error("the server assignor is not supported")]
    UnsupportedAssignor,
    #[error("the member epoch is fenced")]
    FencedMemberEpoch,
    #[error("the member epoch is stale")]
    StaleMemberEpoch,
}
