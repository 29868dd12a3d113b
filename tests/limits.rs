//! Limits that keep the broker up: max.connections, max.connections.per.ip,
//! connections.max.idle.ms and queued.max.request.bytes, over real sockets.

mod common;

use std::time::Duration;

use common::{Client, TestBroker};
use kafka_protocol::messages::ApiVersionsRequest;
use tokio::io::AsyncWriteExt;
use tokio::time::timeout;

async fn answers(c: &mut Client) -> bool {
    let frame = c.encode(&ApiVersionsRequest::default(), 0);
    if c.stream.write_all(&frame).await.is_err() {
        return false;
    }
    matches!(
        timeout(Duration::from_secs(1), c.read_frame()).await,
        Ok(Some(_))
    )
}

#[tokio::test]
async fn a_connection_beyond_max_connections_per_ip_is_closed() {
    let b = TestBroker::start_with(|c| c.socket.max_connections_per_ip = 2).await;
    let mut first = b.client().await;
    let mut second = b.client().await;
    assert!(answers(&mut first).await && answers(&mut second).await);
    let mut third = b.client().await;
    assert!(third.is_closed_by_broker().await);
    // The two open ones are still served; once one closes, a new one is too.
    assert!(answers(&mut second).await);
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = b.client().await;
    assert!(answers(&mut fourth).await);
}

#[tokio::test]
async fn at_max_connections_the_broker_holds_back_accepting() {
    let b = TestBroker::start_with(|c| c.socket.max_connections = 2).await;
    let mut first = b.client().await;
    let mut second = b.client().await;
    assert!(answers(&mut first).await && answers(&mut second).await);
    // The kernel completes the handshake, but the broker does not take the
    // connection: its request waits unanswered, the connection stays open.
    let mut third = b.client().await;
    assert!(!answers(&mut third).await);
    drop(first);
    let reply = timeout(Duration::from_secs(5), third.read_frame()).await;
    assert!(matches!(reply, Ok(Some(_))), "accepted once a slot is free");
    assert!(answers(&mut third).await);
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_connections_max_idle_ms() {
    let b = TestBroker::start_with(|c| c.socket.connections_max_idle_ms = 500).await;
    let mut idle = b.client().await;
    let mut busy = b.client().await;
    assert!(answers(&mut idle).await);
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(answers(&mut busy).await, "a connection in use stays open");
    }
    assert!(idle.is_closed_by_broker().await);
}

/// Writes `bytes` to `c`, giving up after `within`; answers how much went.
async fn write_within(c: &mut Client, bytes: &[u8], within: Duration) -> usize {
    let mut sent = 0;
    let deadline = tokio::time::Instant::now() + within;
    while sent < bytes.len() {
        match tokio::time::timeout_at(deadline, c.stream.write(&bytes[sent..])).await {
            Ok(Ok(n)) if n > 0 => sent += n,
            _ => break,
        }
    }
    sent
}

#[tokio::test]
async fn at_queued_max_request_bytes_the_broker_stops_reading() {
    const MIB: usize = 1 << 20;
    let b = TestBroker::start_with(|c| {
        c.socket.queued_max_request_bytes = 40 * MIB as u64;
        c.socket.queued_max_request_bytes_per_connection = 40 * MIB as u64;
    })
    .await;
    // A 30 MiB request (zeros: Produce v0, which the broker does not serve,
    // so the whole frame is read and then the connection is closed).
    let mut frame = vec![0u8; 4 + 30 * MIB];
    frame[..4].copy_from_slice(&(30 * MIB as i32).to_be_bytes());

    let mut first = b.client().await;
    let head = 4 + 25 * MIB;
    assert_eq!(
        write_within(&mut first, &frame[..head], Duration::from_secs(20)).await,
        head,
        "the first request is read while memory is free"
    );
    // 30 of 40 MiB are held: the second request's body is not read, so the
    // socket buffers fill and its writer stalls far short of 30 MiB.
    let mut second = b.client().await;
    let sent = write_within(&mut second, &frame, Duration::from_secs(3)).await;
    assert!(
        sent < 20 * MIB,
        "the broker read {sent} bytes past its bound"
    );
    // The first request completes and is done with: the second is read.
    assert_eq!(
        write_within(&mut first, &frame[head..], Duration::from_secs(20)).await,
        frame.len() - head
    );
    assert!(first.is_closed_by_broker().await);
    let rest = write_within(&mut second, &frame[sent..], Duration::from_secs(20)).await;
    assert_eq!(
        sent + rest,
        frame.len(),
        "reading resumed once memory was freed"
    );
    assert!(second.is_closed_by_broker().await);
}
