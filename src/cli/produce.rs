//! `runnel produce TOPIC`: one record per stdin line, batched per partition
//! with a linger, sent to each partition's leader.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use kafka_protocol::messages::ProduceRequest;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::records::Compression;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::Instant;

use super::{ClientArgs, key_value};
use crate::broker::now_ms;
use crate::client::batch::{self, OutRecord, parse_compression};
use crate::client::cluster::topic_name;
use crate::client::partitioner::partition_for_key;
use crate::client::{ClientError, Cluster};

#[derive(Args, Debug)]
pub struct ProduceArgs {
    pub topic: String,
    /// Split each line at the first SEP into key and value.
    #[arg(short = 'k', long, value_name = "SEP")]
    pub key_separator: Option<String>,
    /// A header on every record, KEY=VALUE (repeatable).
    #[arg(short = 'H', long = "header", value_name = "KEY=VALUE", value_parser = key_value)]
    pub headers: Vec<(String, String)>,
    /// Send every record to this partition (else: murmur2 of the key, or round robin).
    #[arg(short = 'p', long)]
    pub partition: Option<i32>,
    /// -1 (all), 0 (none) or 1 (leader).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true, value_parser = clap::value_parser!(i16).range(-1..=1))]
    pub acks: i16,
    /// none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none", value_parser = parse_compression)]
    pub compression: Compression,
    /// Send a batch once it holds this many bytes.
    #[arg(long, default_value_t = 1_000_000)]
    pub batch_size: usize,
    /// Send what is buffered once the oldest line waited this long.
    #[arg(long, default_value_t = 10)]
    pub linger_ms: u64,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub async fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let mut cluster = args.client.connect().await?;
    // As Kafka's producers do: a broker with auto.create.topics.enable creates it.
    cluster.set_allow_auto_create(true);
    let partitions = cluster.topic(&args.topic).await?.partitions.len() as i32;
    if let Some(p) = args.partition
        && (p < 0 || p >= partitions)
    {
        anyhow::bail!(
            "{} has no partition {p} ({partitions} partitions)",
            args.topic
        );
    }
    let headers: Vec<(String, Option<Bytes>)> = args
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Some(Bytes::from(v.clone()))))
        .collect();
    let mut stdin = BufReader::with_capacity(1 << 20, tokio::io::stdin());
    let mut pending: BTreeMap<i32, Vec<OutRecord>> = BTreeMap::new();
    let mut pending_bytes = 0;
    let mut first_at: Option<Instant> = None;
    let mut round_robin = 0;
    let mut failed = 0u64;
    let mut line = Vec::new();
    let linger = Duration::from_millis(args.linger_ms);
    loop {
        // None: the linger of the oldest buffered line expired.
        let read = match first_at {
            Some(t) => tokio::time::timeout_at(t + linger, stdin.read_until(b'\n', &mut line))
                .await
                .ok(),
            None => Some(stdin.read_until(b'\n', &mut line).await),
        };
        let (timed_out, eof) = match read {
            None => (true, false),
            Some(r) => (false, r.context("reading stdin")? == 0),
        };
        if !timed_out && !eof {
            if line.last() == Some(&b'\n') {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
            }
            let record = to_record(&line, args.key_separator.as_deref(), &headers);
            // Cleared only after a whole line: a read cut by the linger timeout
            // leaves what it had read in `line`.
            line.clear();
            let partition = match (args.partition, &record.key) {
                (Some(p), _) => p,
                (None, Some(k)) => partition_for_key(k, partitions),
                (None, None) => round_robin % partitions,
            };
            pending_bytes += record.value.as_ref().map_or(0, |v| v.len())
                + record.key.as_ref().map_or(0, |k| k.len())
                + 16;
            pending.entry(partition).or_default().push(record);
            first_at.get_or_insert_with(Instant::now);
            if pending_bytes < args.batch_size {
                continue;
            }
        }
        if !pending.is_empty() {
            let batches = std::mem::take(&mut pending);
            failed += send(&mut cluster, &args, batches).await?;
            pending_bytes = 0;
            first_at = None;
            round_robin = round_robin.wrapping_add(1);
        }
        if eof {
            break;
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} record(s) were not produced");
    }
    Ok(())
}

fn to_record(
    line: &[u8],
    separator: Option<&str>,
    headers: &[(String, Option<Bytes>)],
) -> OutRecord {
    let (key, value) = match separator.map(str::as_bytes).filter(|s| !s.is_empty()) {
        Some(sep) => match line.windows(sep.len()).position(|w| w == sep) {
            Some(at) => (
                Some(Bytes::copy_from_slice(&line[..at])),
                Bytes::copy_from_slice(&line[at + sep.len()..]),
            ),
            None => (None, Bytes::copy_from_slice(line)),
        },
        None => (None, Bytes::copy_from_slice(line)),
    };
    OutRecord {
        key,
        value: Some(value),
        headers: headers.to_vec(),
        timestamp: now_ms(),
    }
}

/// Sends one batch per partition, one request per leader; returns how many records failed.
async fn send(
    cluster: &mut Cluster,
    args: &ProduceArgs,
    batches: BTreeMap<i32, Vec<OutRecord>>,
) -> anyhow::Result<u64> {
    let mut by_leader: HashMap<i32, Vec<(i32, Bytes, u64)>> = HashMap::new();
    for (partition, records) in batches {
        let leader = cluster.leader_of(&args.topic, partition).await?;
        let bytes = batch::encode(&records, args.compression)?;
        by_leader
            .entry(leader)
            .or_default()
            .push((partition, bytes, records.len() as u64));
    }
    let mut failed = 0;
    for (leader, batches) in by_leader {
        let counts: HashMap<i32, u64> = batches.iter().map(|(p, _, n)| (*p, *n)).collect();
        let request = produce_request(
            &args.topic,
            args.acks,
            batches.into_iter().map(|(p, b, _)| (p, b)).collect(),
        );
        let conn = cluster.broker(leader).await?;
        let version = conn.version::<ProduceRequest>()?;
        if args.acks == 0 {
            conn.write_request(&request, version).await?;
            continue;
        }
        let response = conn.send_at(&request, version).await?;
        for (partition, result) in partition_results(&response) {
            if let Err(e) = result {
                eprintln!("runnel: produce to {}-{partition}: {e}", args.topic);
                failed += counts.get(&partition).copied().unwrap_or(0);
                cluster.forget(&args.topic);
            }
        }
    }
    Ok(failed)
}

pub fn produce_request(topic: &str, acks: i16, batches: Vec<(i32, Bytes)>) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_partition_data(
                    batches
                        .into_iter()
                        .map(|(p, b)| {
                            PartitionProduceData::default()
                                .with_index(p)
                                .with_records(Some(b))
                        })
                        .collect(),
                ),
        ])
}

/// Each partition of a produce response and whether it succeeded.
pub fn partition_results(
    response: &kafka_protocol::messages::ProduceResponse,
) -> Vec<(i32, Result<i64, ClientError>)> {
    response
        .responses
        .iter()
        .flat_map(|t| t.partition_responses.iter())
        .map(|p| {
            let result = ClientError::check(p.error_code, p.error_message.as_deref())
                .map(|()| p.base_offset);
            (p.index, result)
        })
        .collect()
}
