//! Who a connection is (its principal) and what it may do.

mod principal;

pub use principal::KafkaPrincipal;
