//! Who a connection is (its principal), how it proves it (the listener's
//! security protocol), and what it may do (ACLs and the authorizer).

pub mod acl;
mod acl_store;
mod authorizer;
mod principal;
mod protocol;

pub use authorizer::{AclError, Authorizer, parse_super_users};
pub use principal::KafkaPrincipal;
pub use protocol::{SecurityProtocol, parse_protocol_map};
