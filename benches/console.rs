//! The web console with 1,000 partitions: GET /topics (the rendered page),
//! /api/topics (its JSON), one topic page of 1,000 partitions, and a message
//! browser page of 20 records from a partition of 100,000. Over HTTP on
//! loopback, as a browser asks for them.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use kafka_protocol::records::Compression;
use runnel::client::batch::{OutRecord, encode};
use runnel::topic::NewTopic;
use runnel::{Broker, Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

async fn get(addr: SocketAddr, path: &str) -> usize {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    assert!(out.starts_with(b"HTTP/1.1 200"), "{path}");
    out.len()
}

fn bench_console(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        listen: "127.0.0.1:0".into(),
        http_listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    config.log.segment_bytes = 1 << 20;
    let broker = rt.block_on(Broker::start(config)).unwrap();
    let http = broker.http_addr().unwrap();
    let state = broker.state().clone();
    // 10 topics of 100 partitions, and one topic of 1,000.
    for t in 0..10 {
        state
            .topics
            .create(NewTopic {
                name: format!("topic-{t}"),
                partitions: 100,
                replication_factor: 1,
                configs: Vec::new(),
            })
            .unwrap();
    }
    let wide = NewTopic {
        name: "wide".into(),
        partitions: 1000,
        replication_factor: 1,
        configs: Vec::new(),
    };
    state.topics.create(wide).unwrap();
    // A partition of 100,000 records (1,000 batches of 100) for the browser.
    let deep = NewTopic {
        name: "deep".into(),
        partitions: 1,
        replication_factor: 1,
        configs: Vec::new(),
    };
    let deep = state.topics.create(deep).unwrap();
    let records: Vec<OutRecord> = (0..100)
        .map(|i| OutRecord {
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(format!(
                "{{\"n\":{i},\"text\":\"{}\"}}",
                "x".repeat(100)
            ))),
            headers: Vec::new(),
            timestamp: 1_700_000_000_000 + i,
        })
        .collect();
    let batch = encode(&records, Compression::None).unwrap();
    for _ in 0..1000 {
        runnel::api::append_records(&state, &deep, 0, batch.clone()).unwrap();
    }

    let mut g = c.benchmark_group("console");
    g.measurement_time(Duration::from_secs(5));
    g.sample_size(20);
    g.bench_function("topics page, 2,000 partitions", |b| {
        b.iter(|| rt.block_on(get(http, "/topics")))
    });
    g.bench_function("/api/topics, 2,000 partitions", |b| {
        b.iter(|| rt.block_on(get(http, "/api/topics")))
    });
    g.bench_function("topic page, 1,000 partitions", |b| {
        b.iter(|| rt.block_on(get(http, "/topics/wide")))
    });
    g.bench_function("message browser, newest 20 of 100,000", |b| {
        b.iter(|| rt.block_on(get(http, "/topics/deep/messages")))
    });
    g.bench_function("/api records, 20 from the middle of 100,000", |b| {
        b.iter(|| rt.block_on(get(http, "/api/topics/deep/records?offset=50000&limit=20")))
    });
    g.finish();
    rt.block_on(broker.shutdown()).unwrap();
}

criterion_group!(benches, bench_console);
criterion_main!(benches);
