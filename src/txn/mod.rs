//! Transactions (KIP-98): the transaction coordinator keyed by transactional id,
//! its durable state in `__transaction_state`, and the markers that end a
//! transaction in every partition it wrote to.

mod coordinator;
mod metadata;
mod records;
mod state_log;
mod timers;

pub use coordinator::{TransactionCoordinator, TransactionDescription};
pub use metadata::{TopicPartition, TransactionMetadata, TransactionState};
pub use state_log::TRANSACTION_STATE_TOPIC;

/// Why the coordinator refused a request; the api layer maps each to its Kafka code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    #[error("the transaction timeout is larger than transaction.max.timeout.ms or not positive")]
    InvalidTransactionTimeout,
    #[error("a previous commit or abort of this transactional id is still completing")]
    ConcurrentTransactions,
    #[error("there is a newer producer with the same transactional id")]
    ProducerFenced,
    #[error("the producer id is not the one of this transactional id")]
    InvalidProducerIdMapping,
    #[error("the request is not allowed in the transaction's current state")]
    InvalidTxnState,
    #[error("the transactional id is not known")]
    TransactionalIdNotFound,
    #[error("the transaction state could not be written")]
    CoordinatorNotAvailable,
    #[error("invalid transactional id")]
    InvalidRequest,
}
