//! The broker's footprint, as a whole process: the aims of idle RSS
//! under 10 MB, start to listening under 20 ms on an empty data dir and under
//! 100 ms on 10 GB of cleanly shut down data, RssAnon under 100 MB while 10 GB
//! are produced and fetched, and at most 0.6 CPU-seconds of broker time
//! (utime+stime) for producing and then fetching 1 GB.
//!
//! Not a criterion bench: every figure comes from the release binary started as
//! its own process (default config, the HTTP listener on an ephemeral port),
//! and the clients are `runnel perf produce` (1 KiB records, acks=1) and
//! `runnel perf consume`. `cargo bench --bench footprint`; FOOTPRINT_GB sets
//! the size of the big run (default 10), FOOTPRINT_RUNS the repetitions of each
//! timed start and of the 1 GB run (default 5, 3), FOOTPRINT_BIN another
//! runnel binary to measure (e.g. the docker image's static `dist` build).

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const RECORD_SIZE: u64 = 1024;

fn main() {
    let gb: u64 = env_or("FOOTPRINT_GB", 10);
    let runs: usize = env_or("FOOTPRINT_RUNS", 5);
    let cpu_runs: usize = env_or("FOOTPRINT_CPU_RUNS", 3);

    let empty = tempfile::tempdir().expect("temp dir");
    let (starts, idle_rss, idle_anon) = timed_starts(empty.path(), runs);
    println!(
        "start to listening, empty data dir: median {:.1} ms (range {:.1}-{:.1} ms, {runs} starts)",
        ms(median(&starts)),
        ms(min(&starts)),
        ms(max(&starts))
    );
    println!(
        "idle RSS, 1 s after start: median {:.1} MB (range {:.1}-{:.1} MB), of which RssAnon {:.1} MB",
        mb(median(&idle_rss)),
        mb(min(&idle_rss)),
        mb(max(&idle_rss)),
        mb(median(&idle_anon))
    );

    let (mut cpu, mut produce_cpu, mut fetch_cpu) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..cpu_runs {
        let dir = tempfile::tempdir().expect("temp dir");
        let (broker, _) = Broker::start(dir.path());
        let before = broker.cpu_seconds();
        let records = 1_000_000_000 / RECORD_SIZE;
        produce(&broker.addr, records);
        let produced = broker.cpu_seconds();
        consume(&broker.addr, records);
        let fetched = broker.cpu_seconds();
        cpu.push(fetched - before);
        produce_cpu.push(produced - before);
        fetch_cpu.push(fetched - produced);
        broker.stop();
    }
    println!(
        "broker CPU (utime+stime) producing then fetching 1 GB: median {:.2} s (range {:.2}-{:.2} s, {cpu_runs} runs; produce {:.2} s, fetch {:.2} s)",
        median(&cpu),
        min(&cpu),
        max(&cpu),
        median(&produce_cpu),
        median(&fetch_cpu)
    );

    let big = tempfile::tempdir().expect("temp dir");
    let (broker, _) = Broker::start(big.path());
    let peak = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (pid, peak, done) = (broker.child.id(), peak.clone(), done.clone());
        thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(status_of(pid, "RssAnon"), Ordering::Relaxed);
                thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let records = gb * 1_000_000_000 / RECORD_SIZE;
    let t = Instant::now();
    produce(&broker.addr, records);
    let produced = t.elapsed();
    let t = Instant::now();
    consume(&broker.addr, records);
    let consumed = t.elapsed();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    println!(
        "{gb} GB of 1 KiB records: produced in {:.1} s, fetched in {:.1} s; peak RssAnon {:.1} MB (sampled every 20 ms)",
        produced.as_secs_f64(),
        consumed.as_secs_f64(),
        mb(peak.load(Ordering::Relaxed) as f64)
    );
    let t = Instant::now();
    broker.stop();
    println!(
        "clean shutdown with {gb} GB: {:.0} ms",
        ms(t.elapsed().as_secs_f64())
    );

    let (starts, rss, _) = timed_starts(big.path(), runs);
    println!(
        "start to listening, {gb} GB cleanly shut down: median {:.1} ms (range {:.1}-{:.1} ms, {runs} starts); RSS 1 s later {:.1} MB",
        ms(median(&starts)),
        ms(min(&starts)),
        ms(max(&starts)),
        mb(median(&rss))
    );
}

/// Starts a broker on `data_dir` `runs` times: the time each took to listen, and
/// its VmRSS and RssAnon 1 s later.
fn timed_starts(data_dir: &Path, runs: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut took, mut rss, mut anon) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let (broker, t) = Broker::start(data_dir);
        took.push(t);
        thread::sleep(Duration::from_secs(1));
        rss.push(broker.status("VmRSS"));
        anon.push(broker.status("RssAnon"));
        broker.stop();
    }
    (took, rss, anon)
}

/// A broker process on an ephemeral port.
struct Broker {
    child: Child,
    addr: String,
}

impl Broker {
    /// Starts the binary on `data_dir` and returns once it accepts a connection,
    /// with the time from spawning it.
    fn start(data_dir: &Path) -> (Broker, f64) {
        let addr = free_addr();
        let t = Instant::now();
        let child = Command::new(runnel_bin())
            .args(["--listen", &addr, "--http-listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--log-level", "warn"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start runnel");
        while TcpStream::connect(&addr).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "broker did not start"
            );
            thread::sleep(Duration::from_micros(200));
        }
        let took = t.elapsed().as_secs_f64();
        (Broker { child, addr }, took)
    }

    fn status(&self, field: &str) -> f64 {
        status_of(self.child.id(), field) as f64
    }

    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("read /proc/PID/stat");
        // Fields after the command name (which may hold spaces): state is the 3rd
        // field of the whole line, utime and stime the 14th and 15th.
        let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 =
            fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
        ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
    }

    /// SIGTERM and wait: a clean shutdown.
    fn stop(mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().expect("wait for runnel");
        assert!(status.success(), "runnel exited with {status}");
    }
}

/// A /proc/PID/status field in bytes (0 when the process is gone).
fn status_of(pid: u32, field: &str) -> u64 {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn produce(addr: &str, records: u64) {
    perf(&[
        "produce",
        "footprint",
        "--num-records",
        &records.to_string(),
        "--record-size",
        &RECORD_SIZE.to_string(),
        "--acks",
        "1",
        "-b",
        addr,
    ]);
}

fn consume(addr: &str, records: u64) {
    perf(&[
        "consume",
        "footprint",
        "--messages",
        &records.to_string(),
        "-b",
        addr,
    ]);
}

fn perf(args: &[&str]) {
    let status = Command::new(runnel_bin())
        .arg("perf")
        .args(args)
        .stdout(Stdio::null())
        .status()
        .expect("run runnel perf");
    assert!(status.success(), "runnel perf {args:?}: {status}");
}

fn runnel_bin() -> String {
    std::env::var("FOOTPRINT_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_runnel").to_string())
}

fn free_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("local addr").to_string()
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

fn median(v: &[f64]) -> f64 {
    sorted(v)[v.len() / 2]
}

fn min(v: &[f64]) -> f64 {
    sorted(v)[0]
}

fn max(v: &[f64]) -> f64 {
    sorted(v)[v.len() - 1]
}

fn ms(s: f64) -> f64 {
    s * 1000.0
}

fn mb(bytes: f64) -> f64 {
    bytes / 1e6
}
