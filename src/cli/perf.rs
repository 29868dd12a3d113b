//! `runnel perf produce|consume`, in the manner of Kafka's producer and
//! consumer perf tools: a progress line each second and a summary, bounded by
//! a record count and a duration. MB is 10^6 bytes.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use clap::{Args, Subcommand};
use kafka_protocol::messages::ProduceRequest;
use kafka_protocol::records::Compression;
use tokio::time::Instant;

use super::ClientArgs;
use super::consume::{Positions, fetch, start_positions};
use super::histogram::Histogram;
use super::produce::{partition_results, produce_request};
use crate::broker::now_ms;
use crate::client::batch::{self, OutRecord, parse_compression};
use crate::client::{Cluster, Connection};

#[derive(Subcommand, Debug)]
pub enum PerfCommand {
    /// Produce generated records as fast as allowed and report throughput and latency.
    Produce(ProducePerfArgs),
    /// Read a topic from the beginning and report throughput.
    Consume(ConsumePerfArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ProducePerfArgs {
    topic: String,
    /// Records to send (the run also stops after --duration).
    #[arg(long, default_value_t = 1_000_000)]
    num_records: u64,
    /// Bytes of value per record.
    #[arg(long, default_value_t = 100)]
    record_size: usize,
    /// Records per second at most, -1 for no limit.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    throughput: i64,
    /// Stop after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// -1 (all), 0 (none) or 1 (leader).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true, value_parser = clap::value_parser!(i16).range(-1..=1))]
    acks: i16,
    /// Bytes of records per batch (one batch per produce request).
    #[arg(long, default_value_t = 262_144)]
    batch_size: usize,
    /// How long a batch may wait to fill when --throughput limits the rate.
    #[arg(long, default_value_t = 5)]
    linger_ms: u64,
    /// none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none", value_parser = parse_compression)]
    compression: Compression,
    /// Produce requests in flight per connection (Kafka's max.in.flight).
    #[arg(long, default_value_t = 5)]
    max_in_flight: usize,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args, Debug, Clone)]
pub struct ConsumePerfArgs {
    topic: String,
    /// Records to read (the run also stops after --duration, or --timeout without new records).
    #[arg(long, default_value_t = u64::MAX)]
    messages: u64,
    /// Stop after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Stop when no record arrived for this many seconds.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Largest fetch per partition, bytes.
    #[arg(long, default_value_t = 1 << 20)]
    fetch_max_bytes: i32,
    #[command(flatten)]
    client: ClientArgs,
}

pub async fn run(command: PerfCommand) -> anyhow::Result<()> {
    match command {
        PerfCommand::Produce(a) => produce(a).await,
        PerfCommand::Consume(a) => consume(a).await,
    }
}

/// What the producer tasks report: totals and the current second's window.
#[derive(Default)]
struct Stats {
    total: Histogram,
    window: Histogram,
    records: u64,
    bytes: u64,
    window_records: u64,
    window_bytes: u64,
}

impl Stats {
    fn add(&mut self, records: u64, bytes: u64, latency: Option<Duration>) {
        self.records += records;
        self.bytes += bytes;
        self.window_records += records;
        self.window_bytes += bytes;
        if let Some(l) = latency {
            let micros = l.as_micros() as u64;
            self.total.record(micros, records);
            self.window.record(micros, records);
        }
    }
}

/// Hands out record counts to the sender tasks under the count, time and rate limits.
struct Budget {
    left: Mutex<u64>,
    start: Instant,
    deadline: Option<Instant>,
}

impl Budget {
    /// Up to `want` records to send now; 0 when the count or the time is used up.
    fn take(&self, want: u64) -> u64 {
        if self.over() {
            return 0;
        }
        let Ok(mut left) = self.left.lock() else {
            return 0;
        };
        let n = (*left).min(want);
        *left -= n;
        n
    }

    fn over(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

async fn produce(args: ProducePerfArgs) -> anyhow::Result<()> {
    let mut cluster = args.client.connect().await?;
    cluster.set_allow_auto_create(true);
    let info = cluster.topic(&args.topic).await?;
    let mut by_leader: std::collections::BTreeMap<i32, Vec<i32>> = Default::default();
    for p in &info.partitions {
        by_leader.entry(p.leader).or_default().push(p.partition);
    }
    let start = Instant::now();
    let budget = Arc::new(Budget {
        left: Mutex::new(args.num_records),
        start,
        deadline: args.duration.map(|d| start + Duration::from_secs_f64(d)),
    });
    let stats = Arc::new(Mutex::new(Stats::default()));
    let mut tasks = Vec::new();
    let leaders = by_leader.len().max(1) as i64;
    for (leader, partitions) in by_leader {
        let addr = cluster
            .broker_addr(leader)
            .ok_or_else(|| anyhow::anyhow!("no address for broker {leader}"))?;
        let conn =
            Connection::connect_over(&addr, cluster.client_id(), cluster.sasl(), cluster.tls())
                .await?;
        let mut args = args.clone();
        if args.throughput > 0 {
            args.throughput = (args.throughput / leaders).max(1);
        }
        tasks.push(tokio::spawn(send_loop(
            conn,
            args,
            partitions,
            budget.clone(),
            stats.clone(),
        )));
    }
    let reporter = tokio::spawn(report_each_second(stats.clone()));
    let mut failure = None;
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = Some(e),
            Err(e) => failure = Some(e.into()),
        }
    }
    reporter.abort();
    let elapsed = start.elapsed().as_secs_f64();
    let Ok(s) = stats.lock() else {
        anyhow::bail!("stats lock poisoned");
    };
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, {:.2} ms 50th, {:.2} ms 95th, {:.2} ms 99th, {:.2} ms 99.9th.",
        s.records,
        s.records as f64 / elapsed,
        s.bytes as f64 / elapsed / 1e6,
        s.total.mean() / 1000.0,
        ms(s.total.max()),
        ms(s.total.quantile(0.50)),
        ms(s.total.quantile(0.95)),
        ms(s.total.quantile(0.99)),
        ms(s.total.quantile(0.999)),
    );
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

async fn report_each_second(stats: Arc<Mutex<Stats>>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last = Instant::now();
    loop {
        tick.tick().await;
        let secs = last.elapsed().as_secs_f64();
        last = Instant::now();
        let Ok(mut s) = stats.lock() else {
            return;
        };
        let w = std::mem::take(&mut s.window);
        println!(
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency.",
            s.window_records,
            s.window_records as f64 / secs,
            s.window_bytes as f64 / secs / 1e6,
            w.mean() / 1000.0,
            w.max() as f64 / 1000.0
        );
        s.window_records = 0;
        s.window_bytes = 0;
    }
}

/// Sends batches to one leader's partitions, round robin, keeping up to
/// `max_in_flight` requests outstanding, and records each batch's latency.
async fn send_loop(
    mut conn: Connection,
    args: ProducePerfArgs,
    partitions: Vec<i32>,
    budget: Arc<Budget>,
    stats: Arc<Mutex<Stats>>,
) -> anyhow::Result<()> {
    let version = conn.version::<ProduceRequest>()?;
    let per_batch = (args.batch_size / args.record_size.max(1)).max(1) as u64;
    let payload = payload(args.record_size);
    let mut in_flight: VecDeque<(i32, Instant, u64, u64)> = VecDeque::new();
    let mut next_partition = 0;
    let mut sent = 0u64;
    let mut done = false;
    loop {
        while !done && in_flight.len() < args.max_in_flight.max(1) {
            let want = if args.throughput > 0 {
                // Pace: batches of what the rate allows per linger interval.
                let allowed = (args.throughput as u64 * args.linger_ms.max(1) / 1000).max(1);
                let due =
                    budget.start + Duration::from_secs_f64(sent as f64 / args.throughput as f64);
                if due > Instant::now() && !in_flight.is_empty() {
                    break; // read responses while waiting, so they are timed right
                }
                tokio::time::sleep_until(due).await;
                per_batch.min(allowed)
            } else {
                per_batch
            };
            let n = budget.take(want);
            if n == 0 {
                done = true;
                break;
            }
            let now = now_ms();
            let records: Vec<OutRecord> = (0..n)
                .map(|_| OutRecord {
                    key: None,
                    value: Some(payload.clone()),
                    headers: Vec::new(),
                    timestamp: now,
                })
                .collect();
            let partition = partitions[next_partition % partitions.len()];
            next_partition += 1;
            let batch = batch::encode(&records, args.compression)?;
            let request = produce_request(&args.topic, args.acks, vec![(partition, batch)]);
            let started = Instant::now();
            let correlation = conn.write_request(&request, version).await?;
            sent += n;
            let bytes = n * args.record_size as u64;
            if args.acks == 0 {
                if let Ok(mut s) = stats.lock() {
                    s.add(n, bytes, None);
                }
            } else {
                in_flight.push_back((correlation, started, n, bytes));
            }
        }
        let Some((correlation, started, n, bytes)) = in_flight.pop_front() else {
            return Ok(());
        };
        let response = conn
            .read_response::<ProduceRequest>(version, correlation)
            .await?;
        let latency = started.elapsed();
        for (partition, result) in partition_results(&response) {
            if let Err(e) = result {
                anyhow::bail!("produce to {}-{partition}: {e}", args.topic);
            }
        }
        if let Ok(mut s) = stats.lock() {
            s.add(n, bytes, Some(latency));
        }
    }
}

/// A record value of `size` printable bytes, shared by every record.
fn payload(size: usize) -> Bytes {
    Bytes::from(
        (0..size)
            .map(|i| b'a' + (i % 26) as u8)
            .collect::<Vec<u8>>(),
    )
}

async fn consume(args: ConsumePerfArgs) -> anyhow::Result<()> {
    let mut cluster: Cluster = args.client.connect().await?;
    let partitions: Vec<i32> = cluster
        .topic(&args.topic)
        .await?
        .partitions
        .iter()
        .map(|p| p.partition)
        .collect();
    let mut positions: Positions = start_positions(
        &mut cluster,
        &args.topic,
        &partitions,
        super::consume::Start::Beginning,
    )
    .await?;
    let start = Instant::now();
    let deadline = args.duration.map(|d| start + Duration::from_secs_f64(d));
    let idle_limit = Duration::from_secs_f64(args.timeout);
    let (mut records, mut bytes) = (0u64, 0u64);
    let (mut window_records, mut window_bytes) = (0u64, 0u64);
    let mut window_start = Instant::now();
    let mut last_record = Instant::now();
    while records < args.messages
        && deadline.is_none_or(|d| Instant::now() < d)
        && last_record.elapsed() < idle_limit
    {
        let fetched = fetch(
            &mut cluster,
            &args.topic,
            args.fetch_max_bytes,
            &mut positions,
            100,
        )
        .await?;
        if !fetched.is_empty() {
            last_record = Instant::now();
        }
        for (partition, r) in fetched {
            if records >= args.messages {
                break;
            }
            records += 1;
            let size =
                r.value.as_ref().map_or(0, |v| v.len()) + r.key.as_ref().map_or(0, |k| k.len());
            bytes += size as u64;
            window_records += 1;
            window_bytes += size as u64;
            positions.next.insert(partition, r.offset + 1);
        }
        if window_start.elapsed() >= Duration::from_secs(1) {
            let secs = window_start.elapsed().as_secs_f64();
            println!(
                "{window_records} records consumed, {:.1} records/sec ({:.2} MB/sec)",
                window_records as f64 / secs,
                window_bytes as f64 / secs / 1e6
            );
            window_start = Instant::now();
            window_records = 0;
            window_bytes = 0;
        }
    }
    // The run ends at the last record, not after the idle timeout that followed it.
    let end = if last_record.elapsed() >= idle_limit {
        last_record
    } else {
        Instant::now()
    };
    let secs = end.duration_since(start).as_secs_f64().max(1e-9);
    println!(
        "{records} records consumed ({:.2} MB) in {secs:.2} s, {:.1} records/sec ({:.2} MB/sec).",
        bytes as f64 / 1e6,
        records as f64 / secs,
        bytes as f64 / secs / 1e6
    );
    Ok(())
}
