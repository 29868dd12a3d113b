//! Named listeners: every client is told the advertised address of the
//! listener it connected through, in Metadata, FindCoordinator and
//! DescribeCluster; DescribeConfigs reports all of them in Kafka's form.

mod common;

use common::{Client, TestBroker};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const BROKER_RESOURCE: i8 = 4;

struct Seen {
    metadata: (String, i32),
    coordinator: (String, i32),
    cluster: (String, i32),
}

async fn addresses_seen_through(client: &mut Client) -> Seen {
    let m = client.send(&MetadataRequest::default(), 12).await;
    let c = client
        .send(
            &FindCoordinatorRequest::default()
                .with_key(StrBytes::from_static_str("g"))
                .with_key_type(0),
            3,
        )
        .await;
    let d = client.send(&DescribeClusterRequest::default(), 1).await;
    assert_eq!(m.brokers.len(), 1);
    assert_eq!(d.brokers.len(), 1);
    Seen {
        metadata: (m.brokers[0].host.to_string(), m.brokers[0].port),
        coordinator: (c.host.to_string(), c.port),
        cluster: (d.brokers[0].host.to_string(), d.brokers[0].port),
    }
}

#[tokio::test]
async fn each_listener_advertises_its_own_address() {
    let broker = TestBroker::start_with(|c| {
        c.listen = "INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0".into();
        c.advertised_listener = "INTERNAL://runnel-internal:19092".into();
        c.listener_security_protocol_map = "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT".into();
    })
    .await;
    let b = broker.broker.as_ref().unwrap();
    let internal = b.listener_addr("INTERNAL").unwrap();
    let external = b.listener_addr("external").unwrap();
    assert_ne!(internal, external);

    let seen = addresses_seen_through(&mut Client::connect(internal).await).await;
    let want = ("runnel-internal".to_string(), 19092);
    assert_eq!(seen.metadata, want);
    assert_eq!(seen.coordinator, want);
    assert_eq!(seen.cluster, want);

    // EXTERNAL has no advertised address: it advertises where it is bound.
    let seen = addresses_seen_through(&mut Client::connect(external).await).await;
    let want = ("127.0.0.1".to_string(), external.port() as i32);
    assert_eq!(seen.metadata, want);
    assert_eq!(seen.coordinator, want);
    assert_eq!(seen.cluster, want);

    // Both listeners serve the same topics.
    let mut c = Client::connect(external).await;
    c.create_topic("shared", 2, &[]).await;
    let m = Client::connect(internal)
        .await
        .send(
            &MetadataRequest::default().with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_static_str("shared")))),
            ])),
            12,
        )
        .await;
    assert_eq!(m.topics[0].error_code, 0);
    assert_eq!(m.topics[0].partitions.len(), 2);

    let r = c
        .send(
            &DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(BROKER_RESOURCE)
                    .with_resource_name(StrBytes::from_static_str("1"))
                    .with_configuration_keys(Some(vec![
                        StrBytes::from_static_str("listeners"),
                        StrBytes::from_static_str("advertised.listeners"),
                    ])),
            ]),
            4,
        )
        .await;
    let value = |name: &str| {
        r.results[0]
            .configs
            .iter()
            .find(|e| e.name.as_str() == name)
            .and_then(|e| e.value.as_ref())
            .map(|v| v.to_string())
            .unwrap()
    };
    assert_eq!(
        value("listeners"),
        format!("INTERNAL://{internal},EXTERNAL://{external}")
    );
    assert_eq!(
        value("advertised.listeners"),
        format!("INTERNAL://runnel-internal:19092,EXTERNAL://{external}")
    );
}

#[tokio::test]
async fn a_plain_address_is_one_plaintext_listener() {
    let broker = TestBroker::start_with(|c| c.advertised_listener = "h.example:1234".into()).await;
    let b = broker.broker.as_ref().unwrap();
    assert_eq!(b.listener_addr("PLAINTEXT"), Some(broker.addr));
    let seen = addresses_seen_through(&mut broker.client().await).await;
    assert_eq!(seen.metadata, ("h.example".to_string(), 1234));
}
