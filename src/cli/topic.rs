//! `runnel topic create|list|describe|alter|delete`, like kafka-topics.sh.

use anyhow::Context;
use clap::Subcommand;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
    IncrementalAlterConfigsRequest,
};

use super::{ClientArgs, key_value};
use crate::client::cluster::{str_bytes, topic_name};
use crate::client::{ClientError, Cluster};

/// DescribeConfigs / IncrementalAlterConfigs resource type of a topic.
const TOPIC_RESOURCE: i8 = 2;
/// DescribeConfigs config source of a config set on the topic itself.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const TIMEOUT_MS: i32 = 30_000;

#[derive(Subcommand, Debug)]
pub enum TopicCommand {
    /// Create a topic.
    Create {
        topic: String,
        /// Number of partitions (-1: the broker's num.partitions).
        #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
        partitions: i32,
        /// Replication factor (-1: the broker's default).
        #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
        replication_factor: i16,
        /// A topic config, KEY=VALUE (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = key_value)]
        configs: Vec<(String, String)>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List topic names.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show partitions, leaders, replicas and the configs set on the topic.
    Describe {
        topics: Vec<String>,
        /// Show every config with its source, not only those set on the topic.
        #[arg(long)]
        all_configs: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Change topic configs or add partitions.
    Alter {
        topic: String,
        /// Set a config, KEY=VALUE (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = key_value)]
        set: Vec<(String, String)>,
        /// Remove a config override, back to the default (repeatable).
        #[arg(long = "delete", value_name = "KEY")]
        delete: Vec<String>,
        /// Grow the topic to this many partitions.
        #[arg(long)]
        partitions: Option<i32>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete topics.
    Delete {
        #[arg(required = true)]
        topics: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

pub async fn run(command: TopicCommand) -> anyhow::Result<()> {
    match command {
        TopicCommand::Create {
            topic,
            partitions,
            replication_factor,
            configs,
            client,
        } => {
            let mut cluster = client.connect().await?;
            create(
                &mut cluster,
                &topic,
                partitions,
                replication_factor,
                &configs,
            )
            .await
        }
        TopicCommand::List { client } => {
            let mut cluster = client.connect().await?;
            let mut names: Vec<String> = cluster
                .metadata(None, false)
                .await?
                .into_iter()
                .map(|t| t.name)
                .collect();
            names.sort();
            for n in names {
                println!("{n}");
            }
            Ok(())
        }
        TopicCommand::Describe {
            topics,
            all_configs,
            client,
        } => {
            let mut cluster = client.connect().await?;
            describe(&mut cluster, topics, all_configs).await
        }
        TopicCommand::Alter {
            topic,
            set,
            delete,
            partitions,
            client,
        } => {
            if set.is_empty() && delete.is_empty() && partitions.is_none() {
                anyhow::bail!("nothing to alter: give --set, --delete or --partitions");
            }
            let mut cluster = client.connect().await?;
            if !set.is_empty() || !delete.is_empty() {
                alter_configs(&mut cluster, &topic, &set, &delete).await?;
            }
            if let Some(count) = partitions {
                add_partitions(&mut cluster, &topic, count).await?;
            }
            Ok(())
        }
        TopicCommand::Delete { topics, client } => {
            let mut cluster = client.connect().await?;
            let request = DeleteTopicsRequest::default()
                .with_topic_names(topics.iter().map(|t| topic_name(t)).collect())
                .with_timeout_ms(TIMEOUT_MS);
            let response = cluster.any().send(&request).await?;
            for r in response.responses {
                let name = r.name.map(|n| n.0.to_string()).unwrap_or_default();
                ClientError::check(r.error_code, r.error_message.as_deref())
                    .with_context(|| format!("delete {name}"))?;
            }
            Ok(())
        }
    }
}

async fn create(
    cluster: &mut Cluster,
    topic: &str,
    partitions: i32,
    replication_factor: i16,
    configs: &[(String, String)],
) -> anyhow::Result<()> {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(TIMEOUT_MS)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(topic_name(topic))
                .with_num_partitions(partitions)
                .with_replication_factor(replication_factor)
                .with_configs(
                    configs
                        .iter()
                        .map(|(k, v)| {
                            CreatableTopicConfig::default()
                                .with_name(str_bytes(k))
                                .with_value(Some(str_bytes(v)))
                        })
                        .collect(),
                ),
        ]);
    let response = cluster.any().send(&request).await?;
    for t in response.topics {
        ClientError::check(t.error_code, t.error_message.as_deref())
            .with_context(|| format!("create {topic}"))?;
    }
    Ok(())
}

async fn describe(
    cluster: &mut Cluster,
    topics: Vec<String>,
    all_configs: bool,
) -> anyhow::Result<()> {
    let names = if topics.is_empty() {
        None
    } else {
        Some(topics)
    };
    let mut infos = cluster.metadata(names.as_deref(), false).await?;
    infos.sort_by(|a, b| a.name.cmp(&b.name));
    for t in infos {
        ClientError::check(t.error_code, None).with_context(|| format!("topic {}", t.name))?;
        let configs = topic_configs(cluster, &t.name, all_configs).await?;
        let replication = t.partitions.first().map(|p| p.replicas.len()).unwrap_or(0);
        println!(
            "Topic: {}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}",
            t.name,
            t.topic_id,
            t.partitions.len(),
            replication,
            configs.join(",")
        );
        for p in &t.partitions {
            println!(
                "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}",
                t.name,
                p.partition,
                p.leader,
                join(&p.replicas),
                join(&p.isr)
            );
        }
    }
    Ok(())
}

/// `key=value` of the topic's configs: those set on the topic, or all.
async fn topic_configs(
    cluster: &mut Cluster,
    topic: &str,
    all: bool,
) -> anyhow::Result<Vec<String>> {
    let request = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(TOPIC_RESOURCE)
            .with_resource_name(str_bytes(topic))
            .with_configuration_keys(None),
    ]);
    let response = cluster.any().send(&request).await?;
    let mut out = Vec::new();
    for r in response.results {
        ClientError::check(r.error_code, r.error_message.as_deref())
            .with_context(|| format!("describe configs of {topic}"))?;
        for c in r.configs {
            if all || c.config_source == DYNAMIC_TOPIC_CONFIG {
                let value = c.value.as_deref().unwrap_or("null");
                out.push(format!("{}={value}", c.name.as_str()));
            }
        }
    }
    out.sort();
    Ok(out)
}

async fn alter_configs(
    cluster: &mut Cluster,
    topic: &str,
    set: &[(String, String)],
    delete: &[String],
) -> anyhow::Result<()> {
    let mut configs: Vec<AlterableConfig> = set
        .iter()
        .map(|(k, v)| {
            AlterableConfig::default()
                .with_name(str_bytes(k))
                .with_config_operation(OP_SET)
                .with_value(Some(str_bytes(v)))
        })
        .collect();
    configs.extend(delete.iter().map(|k| {
        AlterableConfig::default()
            .with_name(str_bytes(k))
            .with_config_operation(OP_DELETE)
            .with_value(None)
    }));
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(TOPIC_RESOURCE)
            .with_resource_name(str_bytes(topic))
            .with_configs(configs),
    ]);
    let response = cluster.any().send(&request).await?;
    for r in response.responses {
        ClientError::check(r.error_code, r.error_message.as_deref())
            .with_context(|| format!("alter configs of {topic}"))?;
    }
    Ok(())
}

async fn add_partitions(cluster: &mut Cluster, topic: &str, count: i32) -> anyhow::Result<()> {
    let request = CreatePartitionsRequest::default()
        .with_timeout_ms(TIMEOUT_MS)
        .with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name(topic_name(topic))
                .with_count(count)
                .with_assignments(None),
        ]);
    let response = cluster.any().send(&request).await?;
    for r in response.results {
        ClientError::check(r.error_code, r.error_message.as_deref())
            .with_context(|| format!("add partitions to {topic}"))?;
    }
    Ok(())
}

fn join(nodes: &[i32]) -> String {
    nodes
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(",")
}
