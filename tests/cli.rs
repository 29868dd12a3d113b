//! The `runnel` client commands, run as the built binary against a broker on
//! an ephemeral port: topics, produce and consume in every output format,
//! start positions, a consumer group of two CLIs, offset resets, and perf.

mod common;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use common::TestBroker;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn command(broker: &TestBroker, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_runnel"));
    c.args(args)
        .arg("-b")
        .arg(broker.addr.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// Runs `runnel ARGS -b ADDR` with `stdin`, within 20 s.
async fn runnel(broker: &TestBroker, args: &[&str], stdin: &str) -> Output {
    let mut child = command(broker, args).spawn().expect("runnel starts");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("write stdin");
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("runnel {args:?} did not finish"))
        .expect("runnel output");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs and asserts success; returns stdout.
async fn ok(broker: &TestBroker, args: &[&str], stdin: &str) -> String {
    let out = runnel(broker, args, stdin).await;
    assert_eq!(out.code, 0, "runnel {args:?}: {}", out.stderr);
    out.stdout
}

async fn broker() -> TestBroker {
    TestBroker::start_with(|c| c.group.initial_rebalance_delay_ms = 0).await
}

#[tokio::test]
async fn topic_create_list_describe_alter_delete() {
    let b = broker().await;
    ok(
        &b,
        &[
            "topic",
            "create",
            "orders",
            "--partitions",
            "3",
            "--config",
            "retention.ms=123456",
        ],
        "",
    )
    .await;
    let again = runnel(&b, &["topic", "create", "orders"], "").await;
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains("TOPIC_ALREADY_EXISTS"),
        "{}",
        again.stderr
    );
    ok(&b, &["topic", "create", "other", "--partitions", "1"], "").await;
    assert_eq!(ok(&b, &["topic", "list"], "").await, "orders\nother\n");

    let described = ok(&b, &["topic", "describe", "orders"], "").await;
    let lines: Vec<&str> = described.lines().collect();
    assert_eq!(lines.len(), 4, "{described}");
    assert!(
        lines[0].starts_with("Topic: orders\tTopicId: "),
        "{described}"
    );
    assert!(
        lines[0].ends_with("PartitionCount: 3\tReplicationFactor: 1\tConfigs: retention.ms=123456"),
        "{described}"
    );
    assert_eq!(
        lines[3],
        "\tTopic: orders\tPartition: 2\tLeader: 1\tReplicas: 1\tIsr: 1"
    );

    ok(
        &b,
        &[
            "topic",
            "alter",
            "orders",
            "--set",
            "cleanup.policy=compact",
            "--delete",
            "retention.ms",
            "--partitions",
            "5",
        ],
        "",
    )
    .await;
    let described = ok(&b, &["topic", "describe", "orders"], "").await;
    assert!(
        described
            .lines()
            .next()
            .unwrap()
            .ends_with("PartitionCount: 5\tReplicationFactor: 1\tConfigs: cleanup.policy=compact"),
        "{described}"
    );
    assert_eq!(described.lines().count(), 6);
    let shrink = runnel(&b, &["topic", "alter", "orders", "--partitions", "2"], "").await;
    assert_eq!(shrink.code, 1);
    assert!(
        shrink.stderr.contains("INVALID_PARTITIONS"),
        "{}",
        shrink.stderr
    );

    ok(&b, &["topic", "delete", "orders"], "").await;
    assert_eq!(ok(&b, &["topic", "list"], "").await, "other\n");
    let gone = runnel(&b, &["topic", "describe", "orders"], "").await;
    assert_eq!(gone.code, 1);
    assert!(
        gone.stderr.contains("UNKNOWN_TOPIC_OR_PARTITION"),
        "{}",
        gone.stderr
    );
    let usage = runnel(&b, &["topic", "create"], "").await;
    assert_eq!(usage.code, 2, "a usage error");
}

#[tokio::test]
async fn produce_keys_and_headers_then_consume_as_text_json_and_format() {
    let b = broker().await;
    ok(&b, &["topic", "create", "t", "--partitions", "1"], "").await;
    ok(
        &b,
        &["produce", "t", "-k", ":", "-H", "a=1", "-H", "b=two"],
        "k1:v1\nk2:v:2\nnokey\n",
    )
    .await;

    let text = ok(&b, &["consume", "t", "-o", "beginning", "-e"], "").await;
    assert_eq!(text, "v1\nv:2\nnokey\n");

    let format = ok(
        &b,
        &[
            "consume",
            "t",
            "-o",
            "beginning",
            "-e",
            "-f",
            r"%t|%p|%o|%k|%s|%h|%S|%K\n",
        ],
        "",
    )
    .await;
    assert_eq!(
        format,
        "t|0|0|k1|v1|a=1,b=two|2|2\nt|0|1|k2|v:2|a=1,b=two|3|2\nt|0|2||nokey|a=1,b=two|5|-1\n"
    );

    let json = ok(
        &b,
        &["consume", "t", "-o", "beginning", "-e", "-f", "json"],
        "",
    )
    .await;
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1]["topic"], "t");
    assert_eq!(rows[1]["partition"], 0);
    assert_eq!(rows[1]["offset"], 1);
    assert_eq!(rows[1]["key"], "k2");
    assert_eq!(rows[1]["value"], "v:2");
    assert_eq!(
        rows[1]["headers"],
        serde_json::json!({"a": "1", "b": "two"})
    );
    assert!(rows[1]["timestamp"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(rows[2]["key"], serde_json::Value::Null);
}

#[tokio::test]
async fn consume_from_offset_end_relative_and_timestamp() {
    let b = broker().await;
    ok(&b, &["topic", "create", "t", "--partitions", "2"], "").await;
    let first: String = (1..=10).map(|i| format!("{i}\n")).collect();
    ok(&b, &["produce", "t", "-p", "0"], &first).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let between = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    tokio::time::sleep(Duration::from_millis(20)).await;
    ok(
        &b,
        &["produce", "t", "-p", "0", "--compression", "zstd"],
        "11\n12\n",
    )
    .await;

    let consume = |args: &'static [&'static str]| {
        let mut all = vec!["consume", "t", "-p", "0", "-e"];
        all.extend_from_slice(args);
        all
    };
    assert_eq!(
        ok(&b, &consume(&["-o", "7"]), "").await,
        "8\n9\n10\n11\n12\n"
    );
    assert_eq!(ok(&b, &consume(&["-o", "-3"]), "").await, "10\n11\n12\n");
    assert_eq!(ok(&b, &consume(&["-o", "end"]), "").await, "");
    assert_eq!(
        ok(&b, &consume(&["-o", "beginning", "-c", "2"]), "").await,
        "1\n2\n"
    );
    let at = format!("@{between}");
    let out = ok(&b, &["consume", "t", "-p", "0", "-e", "-o", &at], "").await;
    assert_eq!(out, "11\n12\n");
    // Partition 1 is empty; without -p both partitions are read to their end.
    assert_eq!(
        ok(&b, &["consume", "t", "-e", "-o", "beginning"], "")
            .await
            .lines()
            .count(),
        12
    );
}

fn spawn_member(b: &TestBroker) -> Child {
    command(
        b,
        &[
            "consume",
            "t",
            "-g",
            "g",
            "-o",
            "beginning",
            "-f",
            r"%p %s\n",
        ],
    )
    .spawn()
    .expect("runnel starts")
}

/// The committed offsets of `g` on `t` as (partition, current, end), and the state line.
async fn group_offsets(b: &TestBroker) -> (String, Vec<(i32, String, String)>) {
    let out = ok(b, &["group", "describe", "g"], "").await;
    let state = out.lines().next().unwrap_or_default().to_string();
    let rows = out
        .lines()
        .filter(|l| l.starts_with("t "))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[1].parse().unwrap(), f[2].to_string(), f[3].to_string())
        })
        .collect();
    (state, rows)
}

#[tokio::test]
async fn two_consumers_in_a_group_split_the_partitions_and_commit() {
    let b = broker().await;
    ok(&b, &["topic", "create", "t", "--partitions", "4"], "").await;
    let mut one = spawn_member(&b);
    let mut two = spawn_member(&b);
    let mut stable = String::new();
    for _ in 0..100 {
        stable = ok(&b, &["group", "describe", "g"], "").await;
        if stable.contains("State: Stable") && stable.contains("Members: 2") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stable.contains("Members: 2"), "{stable}");
    assert_eq!(ok(&b, &["group", "list"], "").await, "g\n");

    let lines: String = (0..40).map(|i| format!("key{i}:value{i}\n")).collect();
    ok(&b, &["produce", "t", "-k", ":"], &lines).await;
    // Both members commit every second; wait until everything is committed.
    let mut committed = 0;
    for _ in 0..100 {
        let (_, rows) = group_offsets(&b).await;
        committed = rows
            .iter()
            .filter_map(|(_, c, _)| c.parse::<i64>().ok())
            .sum();
        if committed == 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(committed, 40);

    let mut seen_partitions = Vec::new();
    let mut values = BTreeSet::new();
    for child in [&mut one, &mut two] {
        let pid = child.id().expect("running") as i32;
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    for child in [one, two] {
        let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
            .await
            .expect("exits on SIGTERM")
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let mut partitions = BTreeSet::new();
        for line in stdout.lines() {
            let (p, v) = line.split_once(' ').unwrap();
            partitions.insert(p.parse::<i32>().unwrap());
            assert!(values.insert(v.to_string()), "{v} read twice");
        }
        seen_partitions.push(partitions);
    }
    assert_eq!(values.len(), 40);
    assert_eq!(seen_partitions[0].len(), 2, "{seen_partitions:?}");
    assert_eq!(seen_partitions[1].len(), 2, "{seen_partitions:?}");
    assert!(seen_partitions[0].is_disjoint(&seen_partitions[1]));

    // Both left: the group is empty, every offset committed, no lag.
    let (state, rows) = group_offsets(&b).await;
    assert!(state.contains("State: Empty"), "{state}");
    assert_eq!(rows.len(), 4);
    for (_, current, end) in &rows {
        assert_eq!(current, end);
    }
    let described = ok(&b, &["group", "describe", "g"], "").await;
    assert!(described.ends_with("Total lag: 0\n"), "{described}");

    // A dry run changes nothing; --execute moves every partition to the start.
    let plan = ok(
        &b,
        &[
            "group",
            "reset-offsets",
            "-g",
            "g",
            "-t",
            "t",
            "--to-earliest",
        ],
        "",
    )
    .await;
    assert_eq!(
        plan.lines().filter(|l| l.ends_with(" 0")).count(),
        4,
        "{plan}"
    );
    assert!(
        ok(&b, &["group", "describe", "g"], "")
            .await
            .ends_with("Total lag: 0\n")
    );
    ok(
        &b,
        &[
            "group",
            "reset-offsets",
            "-g",
            "g",
            "-t",
            "t",
            "--to-earliest",
            "--execute",
        ],
        "",
    )
    .await;
    assert!(
        ok(&b, &["group", "describe", "g"], "")
            .await
            .ends_with("Total lag: 40\n")
    );
    let again = ok(&b, &["consume", "t", "-g", "g", "-e"], "").await;
    assert_eq!(again.lines().count(), 40);
    assert!(
        ok(&b, &["group", "describe", "g"], "")
            .await
            .ends_with("Total lag: 0\n")
    );
}

#[tokio::test]
async fn reset_offsets_is_refused_while_the_group_has_members() {
    let b = broker().await;
    ok(&b, &["topic", "create", "t", "--partitions", "1"], "").await;
    let mut member = spawn_member(&b);
    for _ in 0..100 {
        if ok(&b, &["group", "describe", "g"], "")
            .await
            .contains("Members: 1")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let args = [
        "group",
        "reset-offsets",
        "-g",
        "g",
        "-t",
        "t",
        "--to-latest",
        "--execute",
    ];
    let refused = runnel(&b, &args, "").await;
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("active member"),
        "{}",
        refused.stderr
    );
    member.kill().await.unwrap();
}

#[tokio::test]
async fn perf_produce_and_consume_report_and_the_records_are_there() {
    let b = broker().await;
    ok(&b, &["topic", "create", "p", "--partitions", "2"], "").await;
    let produced = ok(
        &b,
        &[
            "perf",
            "produce",
            "p",
            "--num-records",
            "20000",
            "--record-size",
            "50",
            "--compression",
            "lz4",
        ],
        "",
    )
    .await;
    let summary = produced.lines().last().unwrap();
    assert!(summary.starts_with("20000 records sent, "), "{produced}");
    for part in [
        "records/sec",
        "MB/sec",
        "ms avg latency",
        "ms 50th",
        "ms 99th",
        "ms 99.9th.",
    ] {
        assert!(summary.contains(part), "{summary}");
    }
    let consumed = ok(&b, &["perf", "consume", "p", "--timeout", "1"], "").await;
    let summary = consumed.lines().last().unwrap();
    assert!(
        summary.starts_with("20000 records consumed (1.00 MB) in "),
        "{consumed}"
    );
    // Bounded by time: far more records than a second allows, stopped after one.
    let started = std::time::Instant::now();
    let timed = ok(
        &b,
        &[
            "perf",
            "produce",
            "q",
            "--num-records",
            "1000000000",
            "--duration",
            "1",
            "--throughput",
            "20000",
        ],
        "",
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    let sent: u64 = timed
        .lines()
        .last()
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((5_000..=25_000).contains(&sent), "{timed}");
    let values = ok(
        &b,
        &["consume", "p", "-o", "beginning", "-e", "-f", r"%S\n"],
        "",
    )
    .await;
    assert_eq!(values.lines().count(), 20000);
    assert!(values.lines().all(|l| l == "50"));
}

#[tokio::test]
async fn failed_records_and_misused_flags_exit_non_zero() {
    let b = broker().await;
    ok(
        &b,
        &["topic", "create", "c", "--config", "cleanup.policy=compact"],
        "",
    )
    .await;
    // A compacted topic refuses records without a key.
    let out = runnel(&b, &["produce", "c", "-k", ":"], "a:1\nno key\n").await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("INVALID_RECORD"), "{}", out.stderr);
    assert!(
        out.stderr.contains("2 record(s) were not produced"),
        "{}",
        out.stderr
    );
    let mixed = runnel(&b, &["--data-dir", "/nowhere", "topic", "list"], "").await;
    assert_eq!(mixed.code, 2, "{}", mixed.stderr);
    let unknown = runnel(&b, &["consume", "nope", "-e"], "").await;
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stderr.contains("UNKNOWN_TOPIC_OR_PARTITION"),
        "{}",
        unknown.stderr
    );
}
