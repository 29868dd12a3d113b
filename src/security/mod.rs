//! Who a connection is (its principal), how it proves it (the listener's
//! security protocol), and what it may do (ACLs and the authorizer).

pub mod acl;
mod acl_store;
mod authorizer;
pub mod basic_auth;
pub mod credentials;
mod principal;
mod protocol;
pub mod sasl;
pub mod scram;
mod ssl_factory;
mod ssl_principal;

pub use authorizer::{AclError, Authorizer, parse_super_users};
pub use basic_auth::{BasicAuthenticator, BasicCredentials};
pub use credentials::CredentialStore;
pub use principal::KafkaPrincipal;
pub use protocol::{SecurityProtocol, parse_protocol_map};
pub use ssl_factory::{SslFactory, principal_mapper};
pub use ssl_principal::{SslPrincipalMapper, subject_dn};
