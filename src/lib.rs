//! runnel: a Kafka-compatible single-node broker.
//!
//! A request's path: `server` (frames, request header) → `api` (one handler per
//! API family, wire types ↔ broker types) → `topic` (partitions) → `log`
//! (segments and indexes on disk).

pub mod api;
pub mod broker;
pub mod cli;
pub mod client;
pub mod config;
pub mod config_report;
pub mod console;
mod data_dir;
pub mod dynamic_broker_config;
pub mod group;
pub mod health_probe;
pub mod http;
pub mod http_auth;
mod http_tls;
pub mod listener;
pub mod log;
pub mod metrics;
pub mod producer;
pub mod quota;
pub mod quota_manager;
pub mod security;
pub mod server;
pub mod topic;
pub mod txn;

pub use broker::{Broker, StartError};
pub use config::Config;
