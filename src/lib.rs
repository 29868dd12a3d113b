//! runnel: a Kafka-compatible single-node broker.

pub mod log;
