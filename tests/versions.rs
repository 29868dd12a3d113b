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

fn group(s: &str) -> GroupId {
    GroupId(StrBytes::from_string(s.to_string()))
}

fn str(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Joins `group_id` as a new member at version `v`; returns (member id, generation).
async fn join_at(c: &mut common::Client, group_id: &str, v: i16) -> (StrBytes, i32) {
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    let req = |member: StrBytes| {
        JoinGroupRequest::default()
            .with_group_id(group(group_id))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_member_id(member)
            .with_protocol_type(str("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default().with_name(str("range")),
            ])
    };
    let mut r = c.send(&req(StrBytes::default()), v).await;
    if v >= 4 {
        assert_eq!(r.error_code, 79, "JoinGroup v{v}: MEMBER_ID_REQUIRED first");
        r = c.send(&req(r.member_id.clone()), v).await;
    }
    assert_eq!(r.error_code, 0, "JoinGroup v{v}");
    (r.member_id, r.generation_id)
}

#[tokio::test]
async fn every_group_api_version_round_trips() {
    use kafka_protocol::messages::leave_group_request::MemberIdentity;
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
    };

    let b = TestBroker::start_with(|c| c.group.initial_rebalance_delay_ms = 0).await;
    let mut c = b.client().await;
    let req = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(name("gt"))
            .with_num_partitions(1)
            .with_replication_factor(1),
    ]);
    assert_eq!(c.send(&req, 5).await.topics[0].error_code, 0);

    for v in range(ApiKey::FindCoordinator) {
        let req = FindCoordinatorRequest::default()
            .with_key(if v < 4 { str("g") } else { StrBytes::default() })
            .with_coordinator_keys(if v >= 4 { vec![str("g")] } else { vec![] });
        let r = c.send(&req, v).await;
        let code = if v >= 4 {
            r.coordinators[0].error_code
        } else {
            r.error_code
        };
        assert_eq!(code, 0, "FindCoordinator v{v}");
    }

    for v in range(ApiKey::JoinGroup) {
        let gid = format!("join-v{v}");
        let (member, generation) = join_at(&mut c, &gid, v).await;
        for sv in range(ApiKey::SyncGroup) {
            let mut req = SyncGroupRequest::default()
                .with_group_id(group(&gid))
                .with_generation_id(generation)
                .with_member_id(member.clone());
            if sv >= 5 {
                req = req
                    .with_protocol_type(Some(str("consumer")))
                    .with_protocol_name(Some(str("range")));
            }
            assert_eq!(c.send(&req, sv).await.error_code, 0, "SyncGroup v{sv}");
        }
        for hv in range(ApiKey::Heartbeat) {
            let req = HeartbeatRequest::default()
                .with_group_id(group(&gid))
                .with_generation_id(generation)
                .with_member_id(member.clone());
            assert_eq!(c.send(&req, hv).await.error_code, 0, "Heartbeat v{hv}");
        }
    }

    for v in range(ApiKey::LeaveGroup) {
        let (member, _) = join_at(&mut c, &format!("leave-v{v}"), 5).await;
        let req = if v >= 3 {
            LeaveGroupRequest::default()
                .with_group_id(group(&format!("leave-v{v}")))
                .with_members(vec![MemberIdentity::default().with_member_id(member)])
        } else {
            LeaveGroupRequest::default()
                .with_group_id(group(&format!("leave-v{v}")))
                .with_member_id(member)
        };
        let r = c.send(&req, v).await;
        assert_eq!(r.error_code, 0, "LeaveGroup v{v}");
    }

    for v in range(ApiKey::OffsetCommit) {
        let req = OffsetCommitRequest::default()
            .with_group_id(group("offsets"))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(name("gt"))
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default().with_committed_offset(v as i64),
                    ]),
            ]);
        let r = c.send(&req, v).await;
        assert_eq!(r.topics[0].partitions[0].error_code, 0, "OffsetCommit v{v}");
    }
    let last = *range(ApiKey::OffsetCommit).end() as i64;

    for v in range(ApiKey::OffsetFetch) {
        let offset = if v >= 8 {
            let req = OffsetFetchRequest::default().with_groups(vec![
                OffsetFetchRequestGroup::default()
                    .with_group_id(group("offsets"))
                    .with_topics(Some(vec![
                        OffsetFetchRequestTopics::default()
                            .with_name(name("gt"))
                            .with_partition_indexes(vec![0]),
                    ])),
            ]);
            c.send(&req, v).await.groups[0].topics[0].partitions[0].committed_offset
        } else {
            let req = OffsetFetchRequest::default()
                .with_group_id(group("offsets"))
                .with_topics(Some(vec![
                    OffsetFetchRequestTopic::default()
                        .with_name(name("gt"))
                        .with_partition_indexes(vec![0]),
                ]));
            c.send(&req, v).await.topics[0].partitions[0].committed_offset
        };
        assert_eq!(offset, last, "OffsetFetch v{v}");
    }

    for v in range(ApiKey::DescribeGroups) {
        let req = DescribeGroupsRequest::default().with_groups(vec![group("join-v5")]);
        let r = c.send(&req, v).await;
        assert_eq!(
            r.groups[0].group_state.as_str(),
            "Stable",
            "DescribeGroups v{v}"
        );
    }
    for v in range(ApiKey::ListGroups) {
        let r = c.send(&ListGroupsRequest::default(), v).await;
        assert_eq!(r.error_code, 0, "ListGroups v{v}");
        assert!(r.groups.iter().any(|g| g.group_id.0.as_str() == "offsets"));
    }
    for v in range(ApiKey::OffsetDelete) {
        use kafka_protocol::messages::offset_delete_request::{
            OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
        };
        let req = OffsetDeleteRequest::default()
            .with_group_id(group("offsets"))
            .with_topics(vec![
                OffsetDeleteRequestTopic::default()
                    .with_name(name("gt"))
                    .with_partitions(vec![OffsetDeleteRequestPartition::default()]),
            ]);
        assert_eq!(c.send(&req, v).await.error_code, 0, "OffsetDelete v{v}");
    }
    for v in range(ApiKey::ConsumerGroupHeartbeat) {
        let req = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(group(&format!("kip848-v{v}")))
            .with_member_id(str(&format!("member-v{v}")))
            .with_member_epoch(0)
            .with_rebalance_timeout_ms(10_000)
            .with_subscribed_topic_names(Some(vec![name("gt")]))
            .with_topic_partitions(Some(vec![]));
        let r = c.send(&req, v).await;
        assert_eq!(r.error_code, 0, "ConsumerGroupHeartbeat v{v}");
    }
    for v in range(ApiKey::ConsumerGroupDescribe) {
        let req = ConsumerGroupDescribeRequest::default().with_group_ids(vec![group("kip848-v1")]);
        let r = c.send(&req, v).await;
        assert_eq!(r.groups[0].error_code, 0, "ConsumerGroupDescribe v{v}");
        assert_eq!(r.groups[0].members.len(), 1);
    }
    for v in range(ApiKey::DeleteGroups) {
        let gid = format!("leave-v{v}");
        let req = DeleteGroupsRequest::default().with_groups_names(vec![group(&gid)]);
        let r = c.send(&req, v).await;
        assert_eq!(r.results[0].error_code, 0, "DeleteGroups v{v}");
    }
}

#[tokio::test]
async fn every_admin_api_version_round_trips() {
    use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
    use kafka_protocol::messages::alter_partition_reassignments_request::{
        ReassignablePartition, ReassignableTopic,
    };
    use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
    use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
    use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
    use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
    use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
    use kafka_protocol::messages::offset_for_leader_epoch_request::{
        OffsetForLeaderPartition, OffsetForLeaderTopic,
    };

    let b = TestBroker::start().await;
    let mut c = b.client().await;
    let req = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(name("adm"))
            .with_num_partitions(1)
            .with_replication_factor(1),
    ]);
    assert_eq!(c.send(&req, 7).await.topics[0].error_code, 0);

    let mut count = 1;
    for v in range(ApiKey::CreatePartitions) {
        count += 1;
        let req = CreatePartitionsRequest::default()
            .with_timeout_ms(1000)
            .with_topics(vec![
                CreatePartitionsTopic::default()
                    .with_name(name("adm"))
                    .with_count(count)
                    .with_assignments(None),
            ]);
        let r = c.send(&req, v).await;
        assert_eq!(r.results[0].error_code, 0, "CreatePartitions v{v}");
    }

    for v in range(ApiKey::DescribeCluster) {
        let r = c.send(&DescribeClusterRequest::default(), v).await;
        assert_eq!(
            (r.error_code, r.brokers.len()),
            (0, 1),
            "DescribeCluster v{v}"
        );
    }

    for v in range(ApiKey::DescribeLogDirs) {
        let req = DescribeLogDirsRequest::default().with_topics(Some(vec![
            DescribableLogDirTopic::default()
                .with_topic(name("adm"))
                .with_partitions(vec![0, 1]),
        ]));
        let r = c.send(&req, v).await;
        assert_eq!(r.results[0].error_code, 0, "DescribeLogDirs v{v}");
        assert_eq!(
            r.results[0].topics[0].partitions.len(),
            2,
            "DescribeLogDirs v{v}"
        );
    }

    for v in range(ApiKey::OffsetForLeaderEpoch) {
        let req = OffsetForLeaderEpochRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![
                OffsetForLeaderTopic::default()
                    .with_topic(name("adm"))
                    .with_partitions(vec![
                        OffsetForLeaderPartition::default()
                            .with_partition(0)
                            .with_current_leader_epoch(0)
                            .with_leader_epoch(0),
                    ]),
            ]);
        let r = c.send(&req, v).await;
        let p = &r.topics[0].partitions[0];
        assert_eq!(
            (p.error_code, p.leader_epoch, p.end_offset),
            (0, 0, 0),
            "OffsetForLeaderEpoch v{v}"
        );
    }

    for v in range(ApiKey::ElectLeaders) {
        let req = ElectLeadersRequest::default().with_topic_partitions(Some(vec![
            TopicPartitions::default()
                .with_topic(name("adm"))
                .with_partitions(vec![0]),
        ]));
        let r = c.send(&req, v).await;
        assert_eq!(
            r.replica_election_results[0].partition_result[0].error_code, 84,
            "ElectLeaders v{v}: ELECTION_NOT_NEEDED"
        );
    }

    for v in range(ApiKey::AlterPartitionReassignments) {
        let req = AlterPartitionReassignmentsRequest::default().with_topics(vec![
            ReassignableTopic::default()
                .with_name(name("adm"))
                .with_partitions(vec![
                    ReassignablePartition::default()
                        .with_partition_index(0)
                        .with_replicas(Some(vec![BrokerId(1)])),
                ]),
        ]);
        let r = c.send(&req, v).await;
        assert_eq!(
            r.responses[0].partitions[0].error_code, 0,
            "AlterPartitionReassignments v{v}"
        );
    }

    for v in range(ApiKey::ListPartitionReassignments) {
        let req = ListPartitionReassignmentsRequest::default().with_topics(Some(vec![
            ListPartitionReassignmentsTopics::default()
                .with_name(name("adm"))
                .with_partition_indexes(vec![0]),
        ]));
        let r = c.send(&req, v).await;
        assert_eq!(
            (r.error_code, r.topics.len()),
            (0, 0),
            "ListPartitionReassignments v{v}"
        );
    }

    for v in range(ApiKey::AlterClientQuotas) {
        let req = AlterClientQuotasRequest::default().with_entries(vec![
            EntryData::default()
                .with_entity(vec![
                    EntityData::default()
                        .with_entity_type(str("client-id"))
                        .with_entity_name(Some(str(&format!("c{v}")))),
                ])
                .with_ops(vec![
                    OpData::default()
                        .with_key(str("producer_byte_rate"))
                        .with_value(1000.0),
                ]),
        ]);
        let r = c.send(&req, v).await;
        assert_eq!(r.entries[0].error_code, 0, "AlterClientQuotas v{v}");
    }

    for v in range(ApiKey::DescribeClientQuotas) {
        let req = DescribeClientQuotasRequest::default().with_components(vec![
            ComponentData::default()
                .with_entity_type(str("client-id"))
                .with_match_type(2)
                .with_match(None),
        ]);
        let r = c.send(&req, v).await;
        assert_eq!(r.error_code, 0, "DescribeClientQuotas v{v}");
        assert_eq!(
            r.entries.map(|e| e.len()),
            Some(2),
            "DescribeClientQuotas v{v}"
        );
    }
}

#[tokio::test]
async fn every_transaction_api_version_round_trips() {
    use kafka_protocol::messages::add_partitions_to_txn_request::{
        AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
    };
    use kafka_protocol::messages::txn_offset_commit_request::{
        TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    };

    let b = TestBroker::start().await;
    let mut c = b.client().await;
    c.create_topic("txn", 1, &[]).await;
    let tid = |s: &str| TransactionalId(str(s));
    let topics = || {
        vec![
            AddPartitionsToTxnTopic::default()
                .with_name(name("txn"))
                .with_partitions(vec![0]),
        ]
    };

    for v in range(ApiKey::FindCoordinator).filter(|v| *v >= 1) {
        let req = FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_key(if v < 4 { str("t") } else { StrBytes::default() })
            .with_coordinator_keys(if v >= 4 { vec![str("t")] } else { vec![] });
        let r = c.send(&req, v).await;
        let code = if v >= 4 {
            r.coordinators[0].error_code
        } else {
            r.error_code
        };
        assert_eq!(code, 0, "FindCoordinator (transaction) v{v}");
    }

    let init = async |c: &mut common::Client, id: &str, v: i16| {
        let req = InitProducerIdRequest::default()
            .with_transactional_id(Some(tid(id)))
            .with_transaction_timeout_ms(60_000);
        let r = c.send(&req, v).await;
        assert_eq!(r.error_code, 0, "InitProducerId v{v}");
        (r.producer_id, r.producer_epoch)
    };
    for v in range(ApiKey::InitProducerId) {
        init(&mut c, &format!("ip{v}"), v).await;
    }

    for v in range(ApiKey::AddPartitionsToTxn) {
        let id = format!("ap{v}");
        let (pid, epoch) = init(&mut c, &id, 4).await;
        let code = if v < 4 {
            let req = AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(tid(&id))
                .with_v3_and_below_producer_id(pid)
                .with_v3_and_below_producer_epoch(epoch)
                .with_v3_and_below_topics(topics());
            let r = c.send(&req, v).await;
            r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
        } else {
            let req = AddPartitionsToTxnRequest::default().with_transactions(vec![
                AddPartitionsToTxnTransaction::default()
                    .with_transactional_id(tid(&id))
                    .with_producer_id(pid)
                    .with_producer_epoch(epoch)
                    .with_topics(topics()),
            ]);
            let r = c.send(&req, v).await;
            assert_eq!(r.error_code, 0, "AddPartitionsToTxn v{v}");
            r.results_by_transaction[0].topic_results[0].results_by_partition[0]
                .partition_error_code
        };
        assert_eq!(code, 0, "AddPartitionsToTxn v{v}");
    }

    for v in range(ApiKey::EndTxn) {
        let id = format!("et{v}");
        let (pid, epoch) = init(&mut c, &id, 4).await;
        let req = AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(tid(&id))
            .with_v3_and_below_producer_id(pid)
            .with_v3_and_below_producer_epoch(epoch)
            .with_v3_and_below_topics(topics());
        c.send(&req, 3).await;
        let req = EndTxnRequest::default()
            .with_transactional_id(tid(&id))
            .with_producer_id(pid)
            .with_producer_epoch(epoch)
            .with_committed(v % 2 == 0);
        let r = c.send(&req, v).await;
        assert_eq!(r.error_code, 0, "EndTxn v{v}");
        if v >= 5 {
            assert_eq!((r.producer_id, r.producer_epoch), (pid, epoch));
        }
    }

    for v in range(ApiKey::AddOffsetsToTxn) {
        let id = format!("ao{v}");
        let (pid, epoch) = init(&mut c, &id, 4).await;
        let req = AddOffsetsToTxnRequest::default()
            .with_transactional_id(tid(&id))
            .with_producer_id(pid)
            .with_producer_epoch(epoch)
            .with_group_id(group("g"));
        assert_eq!(c.send(&req, v).await.error_code, 0, "AddOffsetsToTxn v{v}");
    }

    for v in range(ApiKey::TxnOffsetCommit) {
        let id = format!("toc{v}");
        let (pid, epoch) = init(&mut c, &id, 4).await;
        let req = AddOffsetsToTxnRequest::default()
            .with_transactional_id(tid(&id))
            .with_producer_id(pid)
            .with_producer_epoch(epoch)
            .with_group_id(group("g"));
        c.send(&req, 3).await;
        let req = TxnOffsetCommitRequest::default()
            .with_transactional_id(tid(&id))
            .with_group_id(group("g"))
            .with_producer_id(pid)
            .with_producer_epoch(epoch)
            .with_generation_id(-1)
            .with_topics(vec![
                TxnOffsetCommitRequestTopic::default()
                    .with_name(name("txn"))
                    .with_partitions(vec![
                        TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(i64::from(v)),
                    ]),
            ]);
        let r = c.send(&req, v).await;
        assert_eq!(
            r.topics[0].partitions[0].error_code, 0,
            "TxnOffsetCommit v{v}"
        );
    }

    for v in range(ApiKey::ListTransactions) {
        let r = c.send(&ListTransactionsRequest::default(), v).await;
        assert_eq!(r.error_code, 0, "ListTransactions v{v}");
        assert!(r.transaction_states.len() > 10, "ListTransactions v{v}");
    }

    for v in range(ApiKey::DescribeProducers) {
        use kafka_protocol::messages::describe_producers_request::TopicRequest;
        let req = DescribeProducersRequest::default().with_topics(vec![
            TopicRequest::default()
                .with_name(name("__consumer_offsets"))
                .with_partition_indexes(vec![0, 1]),
        ]);
        let r = c.send(&req, v).await;
        let parts = &r.topics[0].partitions;
        assert_eq!(parts[0].error_code, 0, "DescribeProducers v{v}");
        assert!(
            parts[0]
                .active_producers
                .iter()
                .any(|p| p.current_txn_start_offset >= 0 && p.last_timestamp > 0),
            "DescribeProducers v{v}: the open transactions of TxnOffsetCommit"
        );
        assert_eq!(
            parts[1].error_code,
            kafka_protocol::ResponseError::UnknownTopicOrPartition.code()
        );
    }

    for v in range(ApiKey::DescribeTransactions) {
        let req = DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![tid("ao0"), tid("missing")]);
        let r = c.send(&req, v).await;
        let states = &r.transaction_states;
        assert_eq!(states[0].error_code, 0, "DescribeTransactions v{v}");
        assert_eq!(states[0].transaction_state.as_str(), "Ongoing");
        assert_eq!(states[0].topics[0].topic.as_str(), "__consumer_offsets");
        assert_eq!(
            states[1].error_code,
            kafka_protocol::ResponseError::TransactionalIdNotFound.code()
        );
    }
}
