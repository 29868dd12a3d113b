//! Who a connection is (its principal), how it proves it (the listener's
//! security protocol), and what it may do.

mod principal;
mod protocol;

pub use principal::KafkaPrincipal;
pub use protocol::{SecurityProtocol, parse_protocol_map};
