//! Hostile and broken input: the broker closes that one connection (or answers
//! with a Kafka error) and keeps serving everyone else.

mod common;

use bytes::{BufMut, BytesMut};
use common::{Client, TestBroker};
use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};
use tokio::io::AsyncWriteExt;

/// A healthy client still gets answers.
async fn still_serving(b: &TestBroker) {
    let mut c = b.client().await;
    let resp = c.send(&ApiVersionsRequest::default(), 3).await;
    assert_eq!(resp.error_code, 0);
}

async fn send_raw(b: &TestBroker, bytes: &[u8]) -> Client {
    let mut c = b.client().await;
    c.stream.write_all(bytes).await.unwrap();
    c
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as i32).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

#[tokio::test]
async fn garbage_bytes_close_the_connection() {
    let b = TestBroker::start().await;
    let mut c = send_raw(
        &b,
        &frame(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    )
    .await;
    assert!(c.is_closed_by_broker().await);
    still_serving(&b).await;
}

#[tokio::test]
async fn a_two_gib_length_prefix_closes_without_allocating() {
    let b = TestBroker::start().await;
    let mut c = send_raw(&b, &i32::MAX.to_be_bytes()).await;
    assert!(c.is_closed_by_broker().await);
    // Just under the limit: the broker waits for bytes that never come and must
    // not have reserved them; closing our side ends it.
    let mut c = send_raw(&b, &(100 * 1024 * 1024i32).to_be_bytes()).await;
    c.stream.write_all(&[0u8; 100]).await.unwrap();
    drop(c);
    still_serving(&b).await;
}

#[tokio::test]
async fn a_negative_length_prefix_closes() {
    let b = TestBroker::start().await;
    let mut c = send_raw(&b, &(-5i32).to_be_bytes()).await;
    assert!(c.is_closed_by_broker().await);
    still_serving(&b).await;
}

#[tokio::test]
async fn a_truncated_frame_is_dropped_with_its_connection() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    let full = c.encode(&MetadataRequest::default(), 12);
    c.stream.write_all(&full[..full.len() / 2]).await.unwrap();
    c.stream.shutdown().await.unwrap();
    assert!(c.is_closed_by_broker().await);
    still_serving(&b).await;
}

#[tokio::test]
async fn an_unknown_api_key_closes() {
    let b = TestBroker::start().await;
    let mut body = BytesMut::new();
    body.put_i16(9999); // api key
    body.put_i16(0);
    body.put_i32(1);
    body.put_i16(-1);
    let mut c = send_raw(&b, &frame(&body)).await;
    assert!(c.is_closed_by_broker().await);
    still_serving(&b).await;
}

#[tokio::test]
async fn an_unsupported_version_of_another_api_closes() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    let mut req = c.encode(&MetadataRequest::default(), 12).to_vec();
    req[6..8].copy_from_slice(&999i16.to_be_bytes());
    c.stream.write_all(&req).await.unwrap();
    assert!(c.is_closed_by_broker().await);
    still_serving(&b).await;
}

#[tokio::test]
async fn a_header_that_does_not_parse_closes() {
    let b = TestBroker::start().await;
    let mut body = BytesMut::new();
    body.put_i16(3); // Metadata
    body.put_i16(1);
    body.put_i32(7);
    body.put_i16(500); // client id claims 500 bytes that are not there
    body.put_slice(b"short");
    let mut c = send_raw(&b, &frame(&body)).await;
    assert!(c.is_closed_by_broker().await);
    still_serving(&b).await;
}

#[tokio::test]
async fn an_array_count_of_two_billion_does_not_allocate_it() {
    let b = TestBroker::start().await;
    let mut body = BytesMut::new();
    body.put_i16(3); // Metadata v1: header v1, then an array of topics
    body.put_i16(1);
    body.put_i32(7);
    body.put_i16(-1); // null client id
    body.put_i32(i32::MAX); // topics array length
    body.put_slice(b"\x00\x01x");
    let mut c = send_raw(&b, &frame(&body)).await;
    assert!(c.is_closed_by_broker().await);
    // The same with a compact array in a flexible version (Metadata v9+).
    let mut body = BytesMut::new();
    body.put_i16(3);
    body.put_i16(12);
    body.put_i32(8);
    body.put_i16(-1);
    body.put_u8(0); // header tagged fields
    body.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]); // varint 2^32-1
    let mut c = send_raw(&b, &frame(&body)).await;
    assert!(c.is_closed_by_broker().await);
    still_serving(&b).await;
}
