//! `runnel consume TOPIC`: fetch from each partition's leader and print, from
//! a chosen start, alone or as a member of a consumer group.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Args;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::FetchRequest;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use tokio::time::Instant;

use super::ClientArgs;
use super::format::{Format, parse_format};
use crate::client::batch;
use crate::client::cluster::{EARLIEST, LATEST, topic_name};
use crate::client::group_member::{GroupMember, Heartbeat, fetch_offsets};
use crate::client::{ClientError, Cluster};

const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Args, Debug)]
pub struct ConsumeArgs {
    pub topic: String,
    /// Where to start: beginning, end, OFFSET, -N (N before the end) or
    /// @TIMESTAMP_MS. With a group, only where the group has no committed offset.
    #[arg(short = 'o', long, default_value = "end", allow_hyphen_values = true, value_parser = parse_start)]
    pub offset: Start,
    /// Read only this partition.
    #[arg(short = 'p', long, conflicts_with = "group")]
    pub partition: Option<i32>,
    /// Exit after this many records.
    #[arg(short = 'c', long)]
    pub count: Option<u64>,
    /// Exit once every partition is read to its end.
    #[arg(short = 'e', long)]
    pub exit_at_end: bool,
    /// Consume as a member of this consumer group (range assignor), committing offsets.
    #[arg(short = 'g', long)]
    pub group: Option<String>,
    /// text (the value), json, or a format string: %t topic, %p partition,
    /// %o offset, %k key, %s value, %T timestamp, %h headers, %S value size,
    /// %K key size, \n, \t.
    #[arg(short = 'f', long, default_value = "text", value_parser = parse_format)]
    pub format: Format,
    /// Largest fetch per partition, bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub fetch_max_bytes: i32,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Beginning,
    End,
    Offset(i64),
    FromEnd(i64),
    Timestamp(i64),
}

pub fn parse_start(s: &str) -> Result<Start, String> {
    let bad = || format!("`{s}`: expected beginning, end, OFFSET, -N or @TIMESTAMP_MS");
    match s {
        "beginning" => Ok(Start::Beginning),
        "end" => Ok(Start::End),
        _ if s.starts_with('@') => s[1..].parse().map(Start::Timestamp).map_err(|_| bad()),
        _ if s.starts_with('-') => s[1..].parse().map(Start::FromEnd).map_err(|_| bad()),
        _ => s.parse().map(Start::Offset).map_err(|_| bad()),
    }
}

/// The next offset to read in each partition being consumed, and whether it
/// reached the high watermark of the last fetch.
pub(super) struct Positions {
    pub next: BTreeMap<i32, i64>,
    pub at_end: BTreeMap<i32, bool>,
}

pub async fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    let mut cluster = args.client.connect().await?;
    let all: Vec<i32> = cluster
        .topic(&args.topic)
        .await?
        .partitions
        .iter()
        .map(|p| p.partition)
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        super::shutdown_signal().await;
        flag.store(true, Ordering::SeqCst);
    });
    let mut member = match &args.group {
        Some(g) => {
            Some(GroupMember::join(&mut cluster, g, std::slice::from_ref(&args.topic)).await?)
        }
        None => None,
    };
    let mut positions = match &member {
        Some(m) => group_positions(&mut cluster, &args, m).await?,
        None => {
            let partitions = match args.partition {
                Some(p) if all.contains(&p) => vec![p],
                Some(p) => anyhow::bail!("{} has no partition {p}", args.topic),
                None => all,
            };
            start_positions(&mut cluster, &args.topic, &partitions, args.offset).await?
        }
    };
    let result = consume(&mut cluster, &args, &mut member, &mut positions, &stop).await;
    if let Some(m) = &mut member {
        let offsets = commit_list(&args.topic, &positions);
        if let Err(e) = m.commit(&mut cluster, &offsets).await {
            eprintln!("runnel: commit: {e}");
        }
        if let Err(e) = m.leave(&mut cluster).await {
            eprintln!("runnel: leave group: {e}");
        }
    }
    result
}

async fn consume(
    cluster: &mut Cluster,
    args: &ConsumeArgs,
    member: &mut Option<GroupMember>,
    positions: &mut Positions,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let mut printed = 0u64;
    let mut last_heartbeat = Instant::now();
    let max_wait = if args.exit_at_end { 100 } else { 500 };
    while !stop.load(Ordering::SeqCst) {
        if let Some(m) = member.as_mut()
            && last_heartbeat.elapsed() >= HEARTBEAT_INTERVAL
        {
            last_heartbeat = Instant::now();
            let offsets = commit_list(&args.topic, positions);
            match m.commit(cluster, &offsets).await {
                // A rebalance is under way: the heartbeat below rejoins, and the
                // next commit is made in the new generation.
                Err(e) if e.code().is_some_and(rebalancing) => {}
                Err(e) => eprintln!("runnel: commit: {e}"),
                Ok(()) => {}
            }
            if m.heartbeat(cluster).await? == Heartbeat::Rejoin {
                m.rejoin(cluster).await?;
                *positions = group_positions(cluster, args, m).await?;
            }
        }
        if args.exit_at_end && positions.at_end.values().all(|e| *e) {
            return Ok(());
        }
        if positions.next.is_empty() {
            tokio::time::sleep(Duration::from_millis(max_wait as u64)).await;
            continue;
        }
        let fetched = fetch(
            cluster,
            &args.topic,
            args.fetch_max_bytes,
            positions,
            max_wait,
        )
        .await?;
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        for (partition, record) in fetched {
            if args.count.is_some_and(|c| printed >= c) {
                // Not printed: read it again next time (and commit accordingly).
                let next = positions.next.entry(partition).or_insert(record.offset);
                *next = (*next).min(record.offset);
                continue;
            }
            let written = args.format.write(&mut out, &args.topic, partition, &record);
            if let Err(e) = written {
                return broken_pipe_is_fine(e);
            }
            printed += 1;
            positions.next.insert(partition, record.offset + 1);
        }
        if let Err(e) = out.flush() {
            return broken_pipe_is_fine(e);
        }
        if args.count.is_some_and(|c| printed >= c) {
            return Ok(());
        }
    }
    Ok(())
}

fn rebalancing(code: i16) -> bool {
    [
        ResponseError::RebalanceInProgress,
        ResponseError::IllegalGeneration,
        ResponseError::UnknownMemberId,
    ]
    .iter()
    .any(|e| e.code() == code)
}

fn broken_pipe_is_fine(e: std::io::Error) -> anyhow::Result<()> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(e.into())
    }
}

/// One fetch from each leader; returns the records in partition order and
/// moves past batches that held nothing to show.
pub(super) async fn fetch(
    cluster: &mut Cluster,
    topic: &str,
    fetch_max_bytes: i32,
    positions: &mut Positions,
    max_wait: i32,
) -> anyhow::Result<Vec<(i32, batch::InRecord)>> {
    let mut by_leader: HashMap<i32, Vec<(i32, i64)>> = HashMap::new();
    for (&p, &offset) in &positions.next {
        by_leader
            .entry(cluster.leader_of(topic, p).await?)
            .or_default()
            .push((p, offset));
    }
    let mut out = Vec::new();
    for (leader, partitions) in by_leader {
        let request = FetchRequest::default()
            .with_max_wait_ms(max_wait)
            .with_min_bytes(1)
            .with_max_bytes(64 << 20)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(topic_name(topic))
                    .with_partitions(
                        partitions
                            .iter()
                            .map(|&(p, offset)| {
                                FetchPartition::default()
                                    .with_partition(p)
                                    .with_fetch_offset(offset)
                                    .with_partition_max_bytes(fetch_max_bytes)
                            })
                            .collect(),
                    ),
            ]);
        let response = cluster.broker(leader).await?.send(&request).await?;
        ClientError::check(response.error_code, None)?;
        for t in response.responses {
            for p in t.partitions {
                let partition = p.partition_index;
                let Some(&from) = positions.next.get(&partition) else {
                    continue;
                };
                if p.error_code == ResponseError::OffsetOutOfRange.code() {
                    let reset = start_offset(cluster, topic, partition, Start::Beginning).await?;
                    eprintln!(
                        "runnel: {}-{partition}: offset {from} is out of range, reading from {reset}",
                        topic
                    );
                    positions.next.insert(partition, reset);
                    continue;
                }
                if let Some(e) = ResponseError::try_from_code(p.error_code)
                    && e.is_retriable()
                {
                    cluster.forget(topic);
                    continue;
                }
                ClientError::check(p.error_code, Some(&format!("{}-{partition}", topic)))?;
                let (records, next) = batch::decode(p.records.unwrap_or_default(), from)?;
                let end = next.unwrap_or(from).max(from);
                positions.next.insert(partition, end);
                positions.at_end.insert(partition, end >= p.high_watermark);
                out.extend(records.into_iter().map(|r| (partition, r)));
            }
        }
    }
    Ok(out)
}

/// Offsets of a group member's partitions: committed, else from `-o`.
async fn group_positions(
    cluster: &mut Cluster,
    args: &ConsumeArgs,
    member: &GroupMember,
) -> anyhow::Result<Positions> {
    let partitions = member
        .assignment
        .get(&args.topic)
        .cloned()
        .unwrap_or_default();
    let group = &member.group;
    let committed = fetch_offsets(
        cluster.coordinator(group).await?,
        group,
        Some(&[(args.topic.clone(), partitions.clone())]),
    )
    .await?;
    let mut positions = start_positions(cluster, &args.topic, &[], args.offset).await?;
    for p in partitions {
        let offset = match committed.get(&(args.topic.clone(), p)) {
            Some(&o) => o,
            None => start_offset(cluster, &args.topic, p, args.offset).await?,
        };
        positions.next.insert(p, offset);
        positions.at_end.insert(p, false);
    }
    Ok(positions)
}

pub(super) async fn start_positions(
    cluster: &mut Cluster,
    topic: &str,
    partitions: &[i32],
    start: Start,
) -> anyhow::Result<Positions> {
    let mut positions = Positions {
        next: BTreeMap::new(),
        at_end: BTreeMap::new(),
    };
    for &p in partitions {
        positions
            .next
            .insert(p, start_offset(cluster, topic, p, start).await?);
        positions.at_end.insert(p, false);
    }
    Ok(positions)
}

async fn start_offset(
    cluster: &mut Cluster,
    topic: &str,
    partition: i32,
    start: Start,
) -> anyhow::Result<i64> {
    let mut list = async |ts: i64| -> anyhow::Result<i64> {
        let offsets = cluster.list_offsets(topic, &[partition], ts).await?;
        Ok(offsets.get(&partition).copied().unwrap_or(-1))
    };
    Ok(match start {
        Start::Beginning => list(EARLIEST).await?,
        Start::End => list(LATEST).await?,
        Start::Offset(o) => o,
        Start::FromEnd(n) => {
            let end = list(LATEST).await?;
            let begin = list(EARLIEST).await?;
            (end - n).max(begin)
        }
        Start::Timestamp(ts) => match list(ts).await? {
            -1 => list(LATEST).await?,
            o => o,
        },
    })
}

fn commit_list(topic: &str, positions: &Positions) -> Vec<(String, i32, i64)> {
    positions
        .next
        .iter()
        .map(|(&p, &o)| (topic.to_string(), p, o))
        .collect()
}
