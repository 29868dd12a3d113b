//! runnel: a Kafka-compatible single-node broker.
