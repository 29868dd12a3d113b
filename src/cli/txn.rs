//! `runnel txn list|describe|producers`, like kafka-transactions.sh: the
//! transaction coordinators' view of transactional ids, and the producers a
//! partition knows.

use std::collections::BTreeMap;

use anyhow::Context;
use clap::Subcommand;
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::{
    DescribeProducersRequest, DescribeTransactionsRequest, ListTransactionsRequest, TransactionalId,
};

use super::ClientArgs;
use crate::client::ClientError;
use crate::client::cluster::{str_bytes, topic_name};

#[derive(Subcommand, Debug)]
pub enum TxnCommand {
    /// Every transactional id the brokers' coordinators know, with its state.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// A transactional id's state, producer, timeout and partitions.
    Describe {
        #[arg(required = true)]
        ids: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// The producers a partition knows: id, epoch, last sequence, open transaction.
    Producers {
        topic: String,
        #[arg(short = 'p', long, default_value_t = 0)]
        partition: i32,
        #[command(flatten)]
        client: ClientArgs,
    },
}

pub async fn run(command: TxnCommand) -> anyhow::Result<()> {
    match command {
        TxnCommand::List { client } => {
            let mut cluster = client.connect().await?;
            let mut rows = BTreeMap::new();
            for node in cluster.broker_ids() {
                let response = cluster
                    .broker(node)
                    .await?
                    .send(&ListTransactionsRequest::default())
                    .await?;
                ClientError::check(response.error_code, None)?;
                for t in response.transaction_states {
                    rows.insert(
                        t.transactional_id.0.to_string(),
                        (t.producer_id.0, t.transaction_state.to_string(), node),
                    );
                }
            }
            println!(
                "{:<40} {:>12} {:<16} COORDINATOR",
                "TRANSACTIONAL-ID", "PRODUCER-ID", "STATE"
            );
            for (id, (pid, state, node)) in rows {
                println!("{id:<40} {pid:>12} {state:<16} {node}");
            }
            Ok(())
        }
        TxnCommand::Describe { ids, client } => {
            let mut cluster = client.connect().await?;
            for id in ids {
                let request = DescribeTransactionsRequest::default()
                    .with_transactional_ids(vec![TransactionalId(str_bytes(&id))]);
                let response = cluster
                    .transaction_coordinator(&id)
                    .await?
                    .send(&request)
                    .await?;
                let t = response
                    .transaction_states
                    .into_iter()
                    .next()
                    .context("empty DescribeTransactions response")?;
                ClientError::check(t.error_code, None)
                    .with_context(|| format!("describe transaction {id}"))?;
                let partitions: Vec<String> = t
                    .topics
                    .iter()
                    .flat_map(|topic| {
                        topic
                            .partitions
                            .iter()
                            .map(move |p| format!("{}-{p}", topic.topic.as_str()))
                    })
                    .collect();
                println!(
                    "TransactionalId: {id}\tState: {}\tProducerId: {}\tProducerEpoch: {}\tTimeoutMs: {}\tStartTimeMs: {}\tPartitions: {}",
                    t.transaction_state.as_str(),
                    t.producer_id.0,
                    t.producer_epoch,
                    t.transaction_timeout_ms,
                    t.transaction_start_time_ms,
                    if partitions.is_empty() {
                        "-".to_string()
                    } else {
                        partitions.join(",")
                    }
                );
            }
            Ok(())
        }
        TxnCommand::Producers {
            topic,
            partition,
            client,
        } => {
            let mut cluster = client.connect().await?;
            let leader = cluster.leader_of(&topic, partition).await?;
            let request = DescribeProducersRequest::default().with_topics(vec![
                TopicRequest::default()
                    .with_name(topic_name(&topic))
                    .with_partition_indexes(vec![partition]),
            ]);
            let response = cluster.broker(leader).await?.send(&request).await?;
            let p = response
                .topics
                .into_iter()
                .flat_map(|t| t.partitions)
                .next()
                .context("empty DescribeProducers response")?;
            ClientError::check(p.error_code, p.error_message.as_deref())
                .with_context(|| format!("describe producers of {topic}-{partition}"))?;
            println!(
                "{:>12} {:>6} {:>13} {:>15} {:>17}",
                "PRODUCER-ID", "EPOCH", "LAST-SEQUENCE", "LAST-TIMESTAMP", "TXN-START-OFFSET"
            );
            for s in p.active_producers {
                let start = match s.current_txn_start_offset {
                    -1 => "-".to_string(),
                    o => o.to_string(),
                };
                println!(
                    "{:>12} {:>6} {:>13} {:>15} {:>17}",
                    s.producer_id.0, s.producer_epoch, s.last_sequence, s.last_timestamp, start
                );
            }
            Ok(())
        }
    }
}
