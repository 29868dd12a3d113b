//! Idempotent producers: producer ids handed out by InitProducerId, and the
//! per-partition sequence state that turns a retried batch into its original
//! offsets instead of a second copy.

mod id_manager;
pub mod snapshot;
mod state;

pub use id_manager::ProducerIdManager;
pub use state::{ProducerError, ProducerStateTable, ProducerSummary, SequenceCheck};
