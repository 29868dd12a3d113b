//! Test helpers: a real broker on an ephemeral port with a temp data dir, and a
//! minimal Kafka client built on the kafka-protocol crate.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use runnel::{Broker, Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct TestBroker {
    pub broker: Option<Broker>,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

pub fn test_config(dir: &Path) -> Config {
    Config {
        listen: "127.0.0.1:0".into(),
        http_listen: "127.0.0.1:0".into(),
        data_dir: dir.to_path_buf(),
        ..Config::default()
    }
}

impl TestBroker {
    pub async fn start() -> TestBroker {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestBroker {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut config = test_config(tmp.path());
        tweak(&mut config);
        let dir = config.data_dir.clone();
        let broker = Broker::start(config).await.expect("broker starts");
        TestBroker {
            addr: broker.local_addr(),
            broker: Some(broker),
            dir,
            _tmp: Some(tmp),
        }
    }

    /// Shuts down cleanly and starts again on the same data dir (new port).
    pub async fn restart(&mut self, tweak: impl FnOnce(&mut Config)) {
        if let Some(b) = self.broker.take() {
            b.shutdown().await.expect("clean shutdown");
        }
        let mut config = test_config(&self.dir);
        tweak(&mut config);
        let broker = Broker::start(config).await.expect("broker restarts");
        self.addr = broker.local_addr();
        self.broker = Some(broker);
    }

    pub async fn client(&self) -> Client {
        Client::connect(self.addr).await
    }
}

/// A byte stream a client speaks Kafka over: TCP, or TLS over TCP.
pub trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for S {}

pub struct Client {
    pub stream: Box<dyn Stream>,
    correlation_id: i32,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).unwrap();
        Client::over(stream)
    }

    /// A client over a stream already connected (a TLS stream, say).
    pub fn over(stream: impl Stream + 'static) -> Client {
        Client {
            stream: Box::new(stream),
            correlation_id: 0,
        }
    }

    /// AlterClientQuotas (v1): sets quota `key` = `value` on the entity
    /// (`entity_type`, `name`); asserts success.
    pub async fn set_quota(
        &mut self,
        entity_type: &str,
        name: Option<&str>,
        key: &str,
        value: f64,
    ) {
        use kafka_protocol::messages::AlterClientQuotasRequest;
        use kafka_protocol::messages::alter_client_quotas_request::{
            EntityData, EntryData, OpData,
        };
        let s = |v: &str| StrBytes::from_string(v.to_string());
        let entry = EntryData::default()
            .with_entity(vec![
                EntityData::default()
                    .with_entity_type(s(entity_type))
                    .with_entity_name(name.map(s)),
            ])
            .with_ops(vec![OpData::default().with_key(s(key)).with_value(value)]);
        let request = AlterClientQuotasRequest::default().with_entries(vec![entry]);
        let r = self.send(&request, 1).await;
        assert_eq!(
            r.entries[0].error_code, 0,
            "{:?}",
            r.entries[0].error_message
        );
    }

    /// CreateTopics (v7) of one topic with `partitions` and `configs`; asserts success.
    pub async fn create_topic(&mut self, topic: &str, partitions: i32, configs: &[(&str, &str)]) {
        use kafka_protocol::messages::create_topics_request::{
            CreatableTopic, CreatableTopicConfig,
        };
        use kafka_protocol::messages::{CreateTopicsRequest, TopicName};
        let s = |v: &str| StrBytes::from_string(v.to_string());
        let t = CreatableTopic::default()
            .with_name(TopicName(s(topic)))
            .with_num_partitions(partitions)
            .with_replication_factor(1)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(s(k))
                            .with_value(Some(s(v)))
                    })
                    .collect(),
            );
        let r = self
            .send(&CreateTopicsRequest::default().with_topics(vec![t]), 7)
            .await;
        assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
    }

    /// Sends one request at `version` and decodes its response.
    pub async fn send<R: Request>(&mut self, request: &R, version: i16) -> R::Response {
        let frame = self.encode(request, version);
        self.stream.write_all(&frame).await.expect("write");
        let mut body = self.read_frame().await.expect("a response");
        let header =
            ResponseHeader::decode(&mut body, R::Response::header_version(version)).unwrap();
        assert_eq!(header.correlation_id, self.correlation_id);
        R::Response::decode(&mut body, version).expect("decodable response")
    }

    pub fn encode<R: Request>(&mut self, request: &R, version: i16) -> Bytes {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("runnel-test")));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header.encode(&mut buf, R::header_version(version)).unwrap();
        request.encode(&mut buf, version).unwrap();
        let len = (buf.len() - 4) as i32;
        buf[0..4].copy_from_slice(&len.to_be_bytes());
        buf.freeze()
    }

    /// Next response frame, or None when the broker closed the connection.
    pub async fn read_frame(&mut self) -> Option<Bytes> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).await.ok()?;
        let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut body).await.ok()?;
        Some(Bytes::from(body))
    }

    /// True when the broker closed the connection (EOF or reset) within 5 s.
    pub async fn is_closed_by_broker(&mut self) -> bool {
        let mut buf = [0u8; 1024];
        loop {
            match tokio::time::timeout(
                std::time::Duration::from_secs(5),
                self.stream.read(&mut buf),
            )
            .await
            {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }
}

pub fn api_key_of<R: Request>() -> ApiKey {
    ApiKey::try_from(R::KEY).unwrap()
}

/// One v2 record batch holding `values` (keys "k<i>"), with a valid CRC.
pub fn batch(values: &[&[u8]], compression: Compression) -> Bytes {
    batch_at(values, compression, 1_700_000_000_000)
}

pub fn batch_at(values: &[&[u8]], compression: Compression, timestamp: i64) -> Bytes {
    encode_batch(values, compression, timestamp, (-1, -1, -1))
}

/// Sets a v2 batch's CRC (CRC-32C of everything after it) to match its bytes,
/// after a test or bench changed a header field.
pub fn reseal(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// A batch from idempotent producer `pid` at `epoch`, sequences from `seq`.
pub fn idempotent_batch(values: &[&[u8]], pid: i64, epoch: i16, seq: i32) -> Bytes {
    encode_batch(
        values,
        Compression::None,
        1_700_000_000_000,
        (pid, epoch, seq),
    )
}

/// A transactional batch from producer `pid` at `epoch`, sequences from `seq`.
pub fn transactional_batch(values: &[&[u8]], pid: i64, epoch: i16, seq: i32) -> Bytes {
    encode(
        values,
        Compression::None,
        1_700_000_000_000,
        (pid, epoch, seq),
        true,
    )
}

fn encode_batch(
    values: &[&[u8]],
    compression: Compression,
    timestamp: i64,
    producer: (i64, i16, i32),
) -> Bytes {
    encode(values, compression, timestamp, producer, false)
}

fn encode(
    values: &[&[u8]],
    compression: Compression,
    timestamp: i64,
    (producer_id, producer_epoch, sequence): (i64, i16, i32),
    transactional: bool,
) -> Bytes {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional,
            control: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // In step with the offset (base -1 without a producer), so the
            // encoder keeps one batch.
            sequence: sequence + i as i32,
            timestamp: timestamp + i as i64,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::copy_from_slice(v)),
            headers: Default::default(),
            delete_horizon: false,
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    buf.freeze()
}

/// One batch (not idempotent) whose records have these keys.
pub fn batch_with_keys(keys: &[Option<&str>], compression: Compression) -> Bytes {
    let records: Vec<Record> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // In step with the offset, so the encoder keeps one batch (base -1).
            sequence: i as i32 - 1,
            timestamp: 1_700_000_000_000,
            key: k.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: Some(Bytes::from(format!("value {i}"))),
            headers: Default::default(),
            delete_horizon: false,
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
    buf.freeze()
}

/// Every record in `bytes` as (offset, value).
pub fn decode_records(bytes: &Bytes) -> Vec<(i64, Bytes)> {
    let mut buf = bytes.clone();
    let mut out = Vec::new();
    while buf.remaining() > 0 {
        let set = RecordBatchDecoder::decode(&mut buf).expect("valid batch");
        out.extend(
            set.records
                .into_iter()
                .map(|r| (r.offset, r.value.unwrap_or_default())),
        );
    }
    out
}
