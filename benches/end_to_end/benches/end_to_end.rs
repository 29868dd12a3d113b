//! End-to-end throughput through runnel's TCP server on loopback, with the rdkafka
//! crate (librdkafka) as the client: produce of 1 KiB and 100 B records (acks=1),
//! of 1 KiB records with acks=all and 5 requests in flight, plain and idempotent,
//! and a consumer reading a 100 MiB partition from the beginning.
//!
//! `cargo bench -p runnel-end-to-end-bench` (add `-- produce` or `-- fetch` to run
//! one group). The broker runs in the bench process with a temp data dir, as the
//! integration tests embed it; client and broker share the machine's cores.

use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use runnel_end_to_end_bench::{Acks, BenchBroker, fetch_all, produce, producer, warm_consumer};

/// Records of 1 KiB per produce iteration: 100 MiB.
const KIB_RECORDS: u64 = 100 * 1024;
/// Records of 100 B per produce iteration.
const SMALL_RECORDS: u64 = 1_000_000;

fn end_to_end(c: &mut Criterion) {
    let broker = BenchBroker::start();
    let bootstrap = broker.bootstrap_servers();

    let mut group = c.benchmark_group("produce");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    let cases = [
        (
            "1KiB_records_acks1",
            1024,
            KIB_RECORDS,
            Acks::Leader,
            "produce-1k",
        ),
        (
            "100B_records_acks1",
            100,
            SMALL_RECORDS,
            Acks::Leader,
            "produce-100",
        ),
        (
            "1KiB_records_acks_all",
            1024,
            KIB_RECORDS,
            Acks::All,
            "produce-1k-all",
        ),
        (
            "1KiB_records_acks_all_idempotent",
            1024,
            KIB_RECORDS,
            Acks::Idempotent,
            "produce-1k-idempotent",
        ),
    ];
    for (name, size, count, acks, topic) in cases {
        broker.create_topic(topic);
        let payload = vec![b'x'; size];
        let producer = producer(&bootstrap, acks);
        // One record first: an idempotent producer's first batch waits for its
        // producer id, which librdkafka asks for on a 500 ms retry timer when no
        // connection is up yet. That start-up is not throughput.
        produce(&producer, topic, &payload, 1);
        group.throughput(if size >= 1024 {
            Throughput::Bytes(size as u64 * count)
        } else {
            Throughput::Elements(count)
        });
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    produce(&producer, topic, &payload, count);
                }
                start.elapsed()
            })
        });
    }
    group.finish();

    // One partition of 100 MiB in 1 KiB records, read whole from the beginning each
    // iteration by one consumer (assign, ListOffsets, fetches, unassign).
    let topic = "fetch-1k";
    broker.create_topic(topic);
    produce(
        &producer(&bootstrap, Acks::Leader),
        topic,
        &[b'x'; 1024],
        KIB_RECORDS,
    );
    let mut group = c.benchmark_group("fetch");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Bytes(1024 * KIB_RECORDS));
    let consumer = warm_consumer(&bootstrap, topic);
    group.bench_function("1KiB_records_from_beginning", |b| {
        b.iter(|| assert_eq!(fetch_all(&consumer, topic, KIB_RECORDS), 1024 * KIB_RECORDS))
    });
    group.finish();
}

criterion_group!(benches, end_to_end);
criterion_main!(benches);
