//! Transactions and producers for the console: every transactional id the
//! coordinator knows (DescribeTransactions' view) and every producer the
//! partitions keep state for (DescribeProducers' view), each filtered as those
//! APIs filter: transactional ids the caller may DESCRIBE (ListTransactions),
//! their partitions of topics it may DESCRIBE, producers of topics it may
//! READ (DescribeProducers).

use serde::Serialize;

use crate::api::RequestContext;
use crate::broker::BrokerState;
use crate::security::acl::AclOperation;
use crate::topic::is_internal_topic;

#[derive(Serialize)]
pub struct TransactionSummary {
    pub transactional_id: String,
    pub state: &'static str,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    /// When the open transaction started (ms since the epoch), -1 when none is open.
    pub start_time_ms: i64,
    /// `topic-partition` of every partition in the open transaction.
    pub partitions: Vec<String>,
}

#[derive(Serialize)]
pub struct ProducerRow {
    pub topic: String,
    pub partition: i32,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub last_sequence: i32,
    pub last_timestamp: i64,
    /// First offset of the producer's open transaction in this partition.
    pub current_txn_start_offset: Option<i64>,
}

#[derive(Serialize)]
pub struct Transactions {
    pub transactions: Vec<TransactionSummary>,
    pub producers: Vec<ProducerRow>,
}

pub fn list(broker: &BrokerState, caller: &RequestContext) -> Transactions {
    let transactions = broker
        .txn
        .describe_all()
        .into_iter()
        .filter(|t| {
            broker.authorize_transactional_id(caller, AclOperation::Describe, &t.transactional_id)
        })
        .map(|t| TransactionSummary {
            transactional_id: t.transactional_id,
            state: t.state.name(),
            producer_id: t.producer_id,
            producer_epoch: t.producer_epoch,
            timeout_ms: t.timeout_ms,
            start_time_ms: t.start_timestamp,
            partitions: t
                .partitions
                .iter()
                .filter(|(topic, _)| broker.authorize_topic(caller, AclOperation::Describe, topic))
                .map(|(topic, p)| format!("{topic}-{p}"))
                .collect(),
        })
        .collect();
    let mut producers = Vec::new();
    for topic in broker.topics.all() {
        if is_internal_topic(&topic.name)
            || !broker.authorize_topic(caller, AclOperation::Read, &topic.name)
        {
            continue;
        }
        for p in &topic.partitions {
            producers.extend(p.producers().into_iter().map(|s| ProducerRow {
                topic: topic.name.clone(),
                partition: p.index,
                producer_id: s.producer_id,
                producer_epoch: s.epoch,
                last_sequence: s.last_sequence,
                last_timestamp: s.last_timestamp,
                current_txn_start_offset: s.current_txn_start_offset,
            }));
        }
    }
    producers.sort_by(|a, b| {
        (&a.topic, a.partition, a.producer_id).cmp(&(&b.topic, b.partition, b.producer_id))
    });
    Transactions {
        transactions,
        producers,
    }
}
