//! The one place broker errors become Kafka error codes.

use kafka_protocol::ResponseError;

use crate::group::GroupError;
use crate::log::record::CorruptRecords;
use crate::log::{BatchError, LogError};
use crate::producer::ProducerError;
use crate::quota::QuotaError;
use crate::security::credentials::CredentialError;
use crate::topic::{AppendError, TopicError};
use crate::txn::TxnError;

pub fn topic_error(e: &TopicError) -> ResponseError {
    match e {
        TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
        TopicError::InvalidName(_) => ResponseError::InvalidTopicException,
        TopicError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        TopicError::PartitionCount(_) => ResponseError::InvalidPartitions,
        TopicError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
        TopicError::InvalidReplicaAssignment(_) => ResponseError::InvalidReplicaAssignment,
        TopicError::InvalidConfig(_) => ResponseError::InvalidConfig,
        TopicError::UnknownTopic => ResponseError::UnknownTopicOrPartition,
        TopicError::Storage(e) => log_error(e),
        TopicError::Io(_) => ResponseError::KafkaStorageError,
    }
}

pub fn log_error(e: &LogError) -> ResponseError {
    match e {
        LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        LogError::Corrupt(_) => ResponseError::CorruptMessage,
        _ => ResponseError::KafkaStorageError,
    }
}

pub fn batch_error(e: &BatchError) -> ResponseError {
    match e {
        BatchError::UnsupportedMagic(_) | BatchError::InvalidRecordCount { .. } => {
            ResponseError::InvalidRecord
        }
        _ => ResponseError::CorruptMessage,
    }
}

pub fn append_error(e: &AppendError) -> ResponseError {
    match e {
        AppendError::Log(e) => log_error(e),
        AppendError::Producer(ProducerError::InvalidProducerEpoch { .. }) => {
            ResponseError::InvalidProducerEpoch
        }
        AppendError::Producer(ProducerError::OutOfOrderSequence { .. }) => {
            ResponseError::OutOfOrderSequenceNumber
        }
        // A transactional batch: the producer's epoch is stale, or its
        // transaction does not hold the partition (Kafka's partition verification).
        AppendError::Txn(TxnError::ProducerFenced) => ResponseError::InvalidProducerEpoch,
        AppendError::Txn(TxnError::ConcurrentTransactions) => ResponseError::ConcurrentTransactions,
        AppendError::Txn(_) => ResponseError::InvalidTxnState,
    }
}

pub fn group_error(e: GroupError) -> ResponseError {
    match e {
        GroupError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        GroupError::NotCoordinator => ResponseError::NotCoordinator,
        GroupError::InvalidGroupId => ResponseError::InvalidGroupId,
        GroupError::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
        GroupError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
        GroupError::UnknownMemberId => ResponseError::UnknownMemberId,
        GroupError::MemberIdRequired => ResponseError::MemberIdRequired,
        GroupError::IllegalGeneration => ResponseError::IllegalGeneration,
        GroupError::RebalanceInProgress => ResponseError::RebalanceInProgress,
        GroupError::FencedInstanceId => ResponseError::FencedInstanceId,
        GroupError::GroupMaxSizeReached => ResponseError::GroupMaxSizeReached,
        GroupError::GroupIdNotFound => ResponseError::GroupIdNotFound,
        GroupError::NonEmptyGroup => ResponseError::NonEmptyGroup,
        GroupError::GroupSubscribedToTopic => ResponseError::GroupSubscribedToTopic,
        GroupError::OffsetMetadataTooLarge => ResponseError::OffsetMetadataTooLarge,
        GroupError::Storage => ResponseError::UnknownServerError,
        GroupError::InvalidRequest => ResponseError::InvalidRequest,
        GroupError::UnsupportedAssignor => ResponseError::UnsupportedAssignor,
        GroupError::FencedMemberEpoch => ResponseError::FencedMemberEpoch,
        GroupError::StaleMemberEpoch => ResponseError::StaleMemberEpoch,
    }
}

pub fn records_error(_: &CorruptRecords) -> ResponseError {
    ResponseError::CorruptMessage
}

pub fn quota_error(e: &QuotaError) -> ResponseError {
    match e {
        QuotaError::Invalid(_) => ResponseError::InvalidRequest,
        QuotaError::Unsupported(_) => ResponseError::UnsupportedVersion,
        QuotaError::Unauthorized => ResponseError::ClusterAuthorizationFailed,
        QuotaError::Io(_) => ResponseError::UnknownServerError,
    }
}

/// `fenced_as_epoch`: the request version predates PRODUCER_FENCED (KIP-588), so
/// a fenced producer gets INVALID_PRODUCER_EPOCH, as Kafka answers old clients.
pub fn txn_error(e: TxnError, fenced_as_epoch: bool) -> ResponseError {
    match e {
        TxnError::InvalidTransactionTimeout => ResponseError::InvalidTransactionTimeout,
        TxnError::ConcurrentTransactions => ResponseError::ConcurrentTransactions,
        TxnError::ProducerFenced if fenced_as_epoch => ResponseError::InvalidProducerEpoch,
        TxnError::ProducerFenced => ResponseError::ProducerFenced,
        TxnError::InvalidProducerIdMapping => ResponseError::InvalidProducerIdMapping,
        TxnError::InvalidTxnState => ResponseError::InvalidTxnState,
        TxnError::TransactionalIdNotFound => ResponseError::TransactionalIdNotFound,
        TxnError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        TxnError::InvalidRequest => ResponseError::InvalidRequest,
    }
}

pub fn credential_error(e: &CredentialError) -> ResponseError {
    match e {
        CredentialError::DuplicateResource(_) => ResponseError::DuplicateResource,
        CredentialError::ResourceNotFound(_) => ResponseError::ResourceNotFound,
        CredentialError::UnacceptableCredential(_) => ResponseError::UnacceptableCredential,
        CredentialError::UnsupportedSaslMechanism(_) => ResponseError::UnsupportedSaslMechanism,
        CredentialError::Storage(_) => ResponseError::KafkaStorageError,
    }
}
