//! Every supported version of every API: the request decodes, the handler
//! answers, and the response encodes at that version (the encoder refuses
//! values a version cannot carry, which would close the connection).

mod common;

use common::{TestBroker, batch, decode_records};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use runnel::api::SUPPORTED_APIS;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn range(key: ApiKey) -> std::ops::RangeInclusive<i16> {
    let (_, min, max) = SUPPORTED_APIS.iter().find(|(k, _, _)| *k == key).unwrap();
    *min..=*max
}

#[tokio::test]
async fn every_version_round_trips() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;

    for v in range(ApiKey::ApiVersions) {
        let r = c.send(&ApiVersionsRequest::default(), v).await;
        assert_eq!(r.error_code, 0, "ApiVersions v{v}");
        assert_eq!(r.api_keys.len(), SUPPORTED_APIS.len());
    }

    for v in range(ApiKey::CreateTopics) {
        let req = CreateTopicsRequest::default()
            .with_timeout_ms(1000)
            .with_topics(vec![
                CreatableTopic::default()
                    .with_name(name(&format!("v{v}")))
                    .with_num_partitions(1)
                    .with_replication_factor(1),
            ]);
        let r = c.send(&req, v).await;
        assert_eq!(r.topics[0].error_code, 0, "CreateTopics v{v}");
    }

    let mut topic_id = Default::default();
    for v in range(ApiKey::Metadata) {
        let topics = Some(vec![
            MetadataRequestTopic::default().with_name(Some(name("v2"))),
        ]);
        let r = c
            .send(&MetadataRequest::default().with_topics(topics), v)
            .await;
        assert_eq!(r.topics.len(), 1, "Metadata v{v}");
        assert_eq!(r.topics[0].error_code, 0, "Metadata v{v}");
        assert_eq!(r.topics[0].partitions[0].leader_id, 1);
        if v >= 10 {
            topic_id = r.topics[0].topic_id;
        }
    }
    assert!(!topic_id.is_nil());

    let mut expected = 0;
    for v in range(ApiKey::Produce) {
        let topic = TopicProduceData::default().with_partition_data(vec![
            PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch(&[b"x"], Compression::None))),
        ]);
        let topic = if v >= 13 {
            topic.with_topic_id(topic_id)
        } else {
            topic.with_name(name("v2"))
        };
        let req = ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(1000)
            .with_topic_data(vec![topic]);
        let r = c.send(&req, v).await;
        let p = &r.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (0, expected), "Produce v{v}");
        expected += 1;
    }

    for v in range(ApiKey::Fetch) {
        let topic = FetchTopic::default().with_partitions(vec![
            FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20),
        ]);
        let topic = if v >= 13 {
            topic.with_topic_id(topic_id)
        } else {
            topic.with_topic(name("v2"))
        };
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_bytes(1 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![topic]);
        let r = c.send(&req, v).await;
        let p = &r.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "Fetch v{v}");
        assert_eq!(p.high_watermark, expected, "Fetch v{v}");
        assert_eq!(
            decode_records(p.records.as_ref().unwrap()).len(),
            expected as usize,
            "Fetch v{v}"
        );
    }

    for v in range(ApiKey::ListOffsets) {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(name("v2"))
                    .with_partitions(vec![
                        ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_timestamp(-1),
                    ]),
            ]);
        let r = c.send(&req, v).await;
        let p = &r.topics[0].partitions[0];
        assert_eq!((p.error_code, p.offset), (0, expected), "ListOffsets v{v}");
    }

    for v in range(ApiKey::DescribeConfigs) {
        use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
        let req = DescribeConfigsRequest::default()
            .with_include_synonyms(true)
            .with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_static_str("v2")),
                DescribeConfigsResource::default()
                    .with_resource_type(4)
                    .with_resource_name(StrBytes::from_static_str("1")),
            ]);
        let r = c.send(&req, v).await;
        assert!(
            r.results
                .iter()
                .all(|r| r.error_code == 0 && !r.configs.is_empty()),
            "DescribeConfigs v{v}"
        );
    }

    for v in range(ApiKey::AlterConfigs) {
        use kafka_protocol::messages::alter_configs_request::{
            AlterConfigsResource, AlterableConfig,
        };
        let req = AlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("v2"))
                .with_configs(vec![
                    AlterableConfig::default()
                        .with_name(StrBytes::from_static_str("retention.ms"))
                        .with_value(Some(StrBytes::from_static_str("60000"))),
                ]),
        ]);
        let r = c.send(&req, v).await;
        assert_eq!(r.responses[0].error_code, 0, "AlterConfigs v{v}");
    }

    for v in range(ApiKey::IncrementalAlterConfigs) {
        use kafka_protocol::messages::incremental_alter_configs_request::{
            AlterConfigsResource, AlterableConfig,
        };
        let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("v2"))
                .with_configs(vec![
                    AlterableConfig::default()
                        .with_name(StrBytes::from_static_str("cleanup.policy"))
                        .with_config_operation(2)
                        .with_value(Some(StrBytes::from_static_str("compact"))),
                ]),
        ]);
        let r = c.send(&req, v).await;
        assert_eq!(r.responses[0].error_code, 0, "IncrementalAlterConfigs v{v}");
    }

    for v in range(ApiKey::DeleteTopics) {
        let create = CreateTopicsRequest::default().with_topics(vec![
            CreatableTopic::default()
                .with_name(name(&format!("d{v}")))
                .with_num_partitions(1)
                .with_replication_factor(1),
        ]);
        assert_eq!(c.send(&create, 7).await.topics[0].error_code, 0);
        let req = if v >= 6 {
            DeleteTopicsRequest::default().with_topics(vec![
                DeleteTopicState::default().with_name(Some(name(&format!("d{v}")))),
            ])
        } else {
            DeleteTopicsRequest::default().with_topic_names(vec![name(&format!("d{v}"))])
        };
        let r = c.send(&req.with_timeout_ms(1000), v).await;
        assert_eq!(r.responses[0].error_code, 0, "DeleteTopics v{v}");
    }
}
