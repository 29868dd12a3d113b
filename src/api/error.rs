//! The one place broker errors become Kafka error codes.

use kafka_protocol::ResponseError;

use crate::log::record::CorruptRecords;
use crate::log::{BatchError, LogError};
use crate::producer::ProducerError;
use crate::topic::{AppendError, TopicError};

pub fn topic_error(e: &TopicError) -> ResponseError {
    match e {
        TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
        TopicError::InvalidName(_) => ResponseError::InvalidTopicException,
        TopicError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        TopicError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
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
    }
}

pub fn records_error(_: &CorruptRecords) -> ResponseError {
    ResponseError::CorruptMessage
}
