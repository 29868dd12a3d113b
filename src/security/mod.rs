//! Who a connection is (its principal), how it proves it (the listener's
//! security protocol), and what it may do.

pub mod credentials;
mod principal;
mod protocol;
pub mod sasl;
pub mod scram;

pub use credentials::CredentialStore;
pub use principal::KafkaPrincipal;
pub use protocol::{SecurityProtocol, parse_protocol_map};
