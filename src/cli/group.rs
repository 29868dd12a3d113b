//! `runnel group list|describe|reset-offsets`, like kafka-consumer-groups.sh.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use clap::{Args, Subcommand};
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::{DescribeGroupsRequest, ListGroupsRequest};

use super::ClientArgs;
use crate::client::cluster::{EARLIEST, LATEST, group_id};
use crate::client::group_member::{commit_offsets, decode_assignment, fetch_offsets};
use crate::client::{ClientError, Cluster};

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// List the consumer groups of every broker.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// State, members and their assignments, committed offsets and lag.
    Describe {
        #[arg(required = true)]
        groups: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Move a group's committed offsets (a dry run without --execute).
    ResetOffsets(ResetArgs),
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("to").required(true).args(["to_earliest", "to_latest", "to_offset", "to_datetime"])))]
pub struct ResetArgs {
    #[arg(short = 'g', long)]
    group: String,
    #[arg(short = 't', long)]
    topic: String,
    /// Only this partition (else every partition of the topic).
    #[arg(short = 'p', long)]
    partition: Option<i32>,
    #[arg(long)]
    to_earliest: bool,
    #[arg(long)]
    to_latest: bool,
    #[arg(long)]
    to_offset: Option<i64>,
    /// The first offset at or after this time: milliseconds since the epoch or
    /// YYYY-MM-DDTHH:MM:SS[.mmm] (UTC).
    #[arg(long, value_parser = parse_datetime)]
    to_datetime: Option<i64>,
    /// Commit the new offsets (else print the plan only).
    #[arg(long)]
    execute: bool,
    #[command(flatten)]
    client: ClientArgs,
}

pub async fn run(command: GroupCommand) -> anyhow::Result<()> {
    match command {
        GroupCommand::List { client } => {
            let mut cluster = client.connect().await?;
            let mut names = BTreeSet::new();
            for node in cluster.broker_ids() {
                let response = cluster
                    .broker(node)
                    .await?
                    .send(&ListGroupsRequest::default())
                    .await?;
                ClientError::check(response.error_code, None)?;
                names.extend(
                    response
                        .groups
                        .into_iter()
                        .map(|g| g.group_id.0.to_string()),
                );
            }
            for n in names {
                println!("{n}");
            }
            Ok(())
        }
        GroupCommand::Describe { groups, client } => {
            let mut cluster = client.connect().await?;
            for (i, g) in groups.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                describe(&mut cluster, g).await?;
            }
            Ok(())
        }
        GroupCommand::ResetOffsets(args) => reset(args).await,
    }
}

async fn describe_group(cluster: &mut Cluster, group: &str) -> anyhow::Result<DescribedGroup> {
    let request = DescribeGroupsRequest::default().with_groups(vec![group_id(group)]);
    let response = cluster.coordinator(group).await?.send(&request).await?;
    let g = response
        .groups
        .into_iter()
        .next()
        .context("empty DescribeGroups response")?;
    ClientError::check(g.error_code, g.error_message.as_deref())
        .with_context(|| format!("describe group {group}"))?;
    Ok(g)
}

async fn describe(cluster: &mut Cluster, group: &str) -> anyhow::Result<()> {
    let g = describe_group(cluster, group).await?;
    println!(
        "Group: {group}\tState: {}\tProtocol: {}/{}\tMembers: {}",
        g.group_state.as_str(),
        g.protocol_type.as_str(),
        g.protocol_data.as_str(),
        g.members.len()
    );
    let mut owner: BTreeMap<(String, i32), String> = BTreeMap::new();
    if !g.members.is_empty() {
        println!(
            "{:<50} {:<20} {:<20} ASSIGNMENT",
            "MEMBER-ID", "CLIENT-ID", "HOST"
        );
    }
    for m in &g.members {
        let assignment = if g.protocol_type.as_str() == "consumer" {
            decode_assignment(m.member_assignment.clone())
        } else {
            BTreeMap::new()
        };
        let mut shown = Vec::new();
        for (topic, partitions) in &assignment {
            for p in partitions {
                owner.insert((topic.clone(), *p), m.member_id.to_string());
                shown.push(format!("{topic}-{p}"));
            }
        }
        println!(
            "{:<50} {:<20} {:<20} {}",
            m.member_id.as_str(),
            m.client_id.as_str(),
            m.client_host.as_str(),
            shown.join(",")
        );
    }
    let committed = fetch_offsets(cluster.coordinator(group).await?, group, None).await?;
    let mut rows: BTreeMap<(String, i32), Option<i64>> = committed
        .iter()
        .map(|(k, v)| (k.clone(), Some(*v)))
        .collect();
    for k in owner.keys() {
        rows.entry(k.clone()).or_insert(None);
    }
    if rows.is_empty() {
        return Ok(());
    }
    let mut ends: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let topics: BTreeSet<String> = rows.keys().map(|(t, _)| t.clone()).collect();
    for t in topics {
        let partitions: Vec<i32> = rows
            .keys()
            .filter(|(rt, _)| *rt == t)
            .map(|(_, p)| *p)
            .collect();
        for (p, end) in cluster.list_offsets(&t, &partitions, LATEST).await? {
            ends.insert((t.clone(), p), end);
        }
    }
    println!(
        "{:<30} {:>9} {:>15} {:>15} {:>10}  MEMBER-ID",
        "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"
    );
    let mut total = 0;
    for ((topic, partition), current) in &rows {
        let end = ends.get(&(topic.clone(), *partition)).copied();
        let lag = match (current, end) {
            (Some(c), Some(e)) => Some((e - c).max(0)),
            _ => None,
        };
        total += lag.unwrap_or(0);
        let dash = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
        println!(
            "{:<30} {:>9} {:>15} {:>15} {:>10}  {}",
            topic,
            partition,
            dash(*current),
            dash(end),
            dash(lag),
            owner
                .get(&(topic.clone(), *partition))
                .map_or("-", |m| m.as_str())
        );
    }
    println!("Total lag: {total}");
    Ok(())
}

async fn reset(args: ResetArgs) -> anyhow::Result<()> {
    let mut cluster = args.client.connect().await?;
    let info = cluster.topic(&args.topic).await?;
    let partitions: Vec<i32> = match args.partition {
        Some(p) => vec![p],
        None => info.partitions.iter().map(|p| p.partition).collect(),
    };
    let earliest = cluster
        .list_offsets(&args.topic, &partitions, EARLIEST)
        .await?;
    let latest = cluster
        .list_offsets(&args.topic, &partitions, LATEST)
        .await?;
    let target = match (args.to_offset, args.to_datetime) {
        (Some(o), _) => partitions.iter().map(|&p| (p, o)).collect(),
        (_, Some(ts)) => {
            let mut found = cluster.list_offsets(&args.topic, &partitions, ts).await?;
            for (p, o) in found.iter_mut() {
                if *o < 0 {
                    *o = latest.get(p).copied().unwrap_or(0);
                }
            }
            found
        }
        _ if args.to_earliest => earliest.clone(),
        _ => latest.clone(),
    };
    let mut plan = Vec::new();
    for p in &partitions {
        let offset = target.get(p).copied().unwrap_or(0);
        // Kafka's tool clamps the new offset into the partition's range.
        let low = earliest.get(p).copied().unwrap_or(0);
        let high = latest.get(p).copied().unwrap_or(offset);
        plan.push((args.topic.clone(), *p, offset.clamp(low, high.max(low))));
    }
    println!("{:<30} {:>9} {:>12}", "TOPIC", "PARTITION", "NEW-OFFSET");
    for (t, p, o) in &plan {
        println!("{t:<30} {p:>9} {o:>12}");
    }
    if !args.execute {
        println!("(dry run: add --execute to commit these offsets)");
        return Ok(());
    }
    let g = describe_group(&mut cluster, &args.group).await?;
    if !g.members.is_empty() {
        anyhow::bail!(
            "group {} has {} active member(s) (state {}); offsets can be reset only when it is inactive",
            args.group,
            g.members.len(),
            g.group_state.as_str()
        );
    }
    let conn = cluster.coordinator(&args.group).await?;
    commit_offsets(conn, &args.group, -1, "", &plan).await?;
    Ok(())
}

/// Milliseconds since the epoch, or YYYY-MM-DDTHH:MM:SS[.mmm][Z] in UTC.
fn parse_datetime(s: &str) -> Result<i64, String> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let bad = || format!("`{s}`: expected milliseconds or YYYY-MM-DDTHH:MM:SS[.mmm] (UTC)");
    let s = s.trim_end_matches('Z');
    let (date, time) = s.split_once('T').ok_or_else(bad)?;
    let d: Vec<i64> = date
        .split('-')
        .map(|x| x.parse())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let (hms, millis) = match time.split_once('.') {
        Some((hms, fraction)) => {
            let digits: String = format!("{fraction:0<3}").chars().take(3).collect();
            (hms, digits.parse::<i64>().map_err(|_| bad())?)
        }
        None => (time, 0),
    };
    let t: Vec<i64> = hms
        .split(':')
        .map(|x| x.parse())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    if d.len() != 3 || t.len() != 3 {
        return Err(bad());
    }
    let days = days_from_civil(d[0], d[1], d[2]);
    Ok(((days * 24 + t[0]) * 60 + t[1]) * 60_000 + t[2] * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_are_utc_milliseconds() {
        assert_eq!(parse_datetime("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_datetime("1970-01-01T00:00:01.5Z"), Ok(1500));
        assert_eq!(parse_datetime("2023-11-14T22:13:20"), Ok(1_700_000_000_000));
        assert!(parse_datetime("yesterday").is_err());
    }
}
