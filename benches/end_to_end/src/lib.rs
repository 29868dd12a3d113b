//! Helpers of the end-to-end benchmarks (`benches/end_to_end.rs`): a runnel broker
//! embedded in the bench process, and rdkafka clients configured against it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use runnel::topic::NewTopic;
use runnel::{Broker, Config};
use tokio::runtime::Runtime;

/// runnel listening on an ephemeral loopback port, with a temp data dir, on its own
/// tokio runtime. Shut down cleanly on drop.
pub struct BenchBroker {
    runtime: Runtime,
    broker: Option<Broker>,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl BenchBroker {
    pub fn start() -> BenchBroker {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            listen: "127.0.0.1:0".into(),
            http_listen: "off".into(),
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let broker = runtime.block_on(Broker::start(config)).unwrap();
        BenchBroker {
            addr: broker.local_addr(),
            broker: Some(broker),
            runtime,
            _dir: dir,
        }
    }

    pub fn bootstrap_servers(&self) -> String {
        self.addr.to_string()
    }

    /// Creates a topic with one partition.
    pub fn create_topic(&self, name: &str) {
        let broker = self.broker.as_ref().unwrap();
        broker
            .state()
            .topics
            .create(NewTopic {
                name: name.into(),
                partitions: 1,
                replication_factor: 1,
                configs: Vec::new(),
            })
            .unwrap();
    }
}

impl Drop for BenchBroker {
    fn drop(&mut self) {
        if let Some(broker) = self.broker.take() {
            self.runtime.block_on(broker.shutdown()).unwrap();
        }
    }
}

/// Counts delivery reports.
#[derive(Default)]
pub struct Deliveries {
    ok: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.ok.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// How a bench producer has its batches acknowledged.
#[derive(Clone, Copy)]
pub enum Acks {
    /// acks=1, librdkafka's default of unlimited requests in flight.
    Leader,
    /// acks=all with at most 5 requests in flight, as an idempotent producer has.
    All,
    /// `enable.idempotence=true` (acks=all, at most 5 in flight, sequence numbers).
    Idempotent,
}

/// A producer configured like librdkafka's `rdkafka_performance` (1 MB batches, a
/// deep local queue) but with librdkafka's default 5 ms linger.
pub fn producer(bootstrap: &str, acks: Acks) -> BaseProducer<Deliveries> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .set("compression.codec", "none");
    match acks {
        Acks::Leader => config.set("acks", "1"),
        Acks::All => config.set("acks", "all").set("max.in.flight", "5"),
        Acks::Idempotent => config
            .set("acks", "all")
            .set("max.in.flight", "5")
            .set("enable.idempotence", "true"),
    };
    config.create_with_context(Deliveries::default()).unwrap()
}

/// Produces `count` records of `payload` to partition 0 of `topic` and waits for every
/// delivery report; panics if any record failed.
pub fn produce(producer: &BaseProducer<Deliveries>, topic: &str, payload: &[u8], count: u64) {
    let before = producer.context().ok.load(Ordering::Relaxed);
    for i in 0..count {
        let mut record = BaseRecord::to(topic).partition(0).payload(payload);
        loop {
            match producer.send::<(), [u8]>(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    // As rdkafka_performance: serve delivery reports until there is room.
                    record = back;
                    producer.poll(Duration::from_millis(1));
                }
                Err((e, _)) => panic!("produce: {e}"),
            }
        }
        if i % 1024 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(120)).unwrap();
    let ctx = producer.context();
    assert_eq!(ctx.failed.load(Ordering::Relaxed), 0, "failed deliveries");
    assert_eq!(ctx.ok.load(Ordering::Relaxed) - before, count);
}

/// A consumer that never joins its group: partitions are assigned explicitly and no
/// offset is ever committed, so the figure is fetch alone (librdkafka still wants a
/// group.id for assign). `fetch.wait.max.ms` is 10 ms instead of 500: once a pass has
/// read the whole partition the consumer's next fetch is parked at the broker until
/// new data or that timeout, and the following pass would wait for it.
pub fn consumer(bootstrap: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "runnel-bench")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("queued.min.messages", "1000000")
        .set("fetch.wait.max.ms", "10")
        .create()
        .unwrap()
}

/// A consumer that already knows `topic`'s leader. A consumer assigned a partition
/// before its first metadata response waits for librdkafka's offset-query retry timer
/// (about 500 ms) before it starts fetching; warming it up keeps that out of the figures.
pub fn warm_consumer(bootstrap: &str, topic: &str) -> BaseConsumer {
    let consumer = consumer(bootstrap);
    consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    consumer
}

/// Reads `count` records of partition 0 of `topic` from the beginning: the first call
/// assigns the partition at offset BEGINNING, later calls seek back to BEGINNING (an
/// unassign/assign cycle would wait on librdkafka's offset-query timer again). Returns
/// the payload bytes read.
pub fn fetch_all(consumer: &BaseConsumer, topic: &str, count: u64) -> u64 {
    if consumer.assignment().unwrap().count() == 0 {
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, 0, Offset::Beginning)
            .unwrap();
        consumer.assign(&assignment).unwrap();
    } else {
        consumer
            .seek(topic, 0, Offset::Beginning, Duration::from_secs(10))
            .unwrap();
    }
    let (mut seen, mut bytes) = (0, 0);
    while seen < count {
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(message)) => {
                assert_eq!(message.offset(), seen as i64);
                bytes += message.payload_len() as u64;
                seen += 1;
            }
            Some(Err(e)) => panic!("fetch: {e}"),
            None => panic!("no record within 10 s after {seen} of {count}"),
        }
    }
    bytes
}
