//! The classic group protocol and committed offsets over TCP: the errors Kafka
//! answers at each step, rebalances, static membership, offsets that survive a
//! restart.

mod common;

use bytes::Bytes;
use common::{Client, TestBroker};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn fast_broker() -> TestBroker {
    TestBroker::start_with(|c| {
        c.group.initial_rebalance_delay_ms = 0;
        c.group.min_session_timeout_ms = 100;
    })
    .await
}

fn join_request(member_id: &str, instance: Option<&str>, session_ms: i32) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_session_timeout_ms(session_ms)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(s(member_id))
        .with_group_instance_id(instance.map(s))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from_static(b"meta")),
        ])
}

/// A new dynamic member: MEMBER_ID_REQUIRED first, then the real join.
async fn join_new(c: &mut Client) -> JoinGroupResponse {
    let first = c.send(&join_request("", None, 10_000), 5).await;
    assert_eq!(first.error_code, ResponseError::MemberIdRequired.code());
    assert!(!first.member_id.is_empty());
    c.send(&join_request(&first.member_id, None, 10_000), 5)
        .await
}

async fn sync(
    c: &mut Client,
    member: &str,
    generation: i32,
    assign: &[(&str, &[u8])],
) -> SyncGroupResponse {
    let req = SyncGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_generation_id(generation)
        .with_member_id(s(member))
        .with_protocol_type(Some(s("consumer")))
        .with_protocol_name(Some(s("range")))
        .with_assignments(
            assign
                .iter()
                .map(|(m, a)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(m))
                        .with_assignment(Bytes::copy_from_slice(a))
                })
                .collect(),
        );
    c.send(&req, 5).await
}

async fn heartbeat(c: &mut Client, member: &str, generation: i32) -> i16 {
    let req = HeartbeatRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_generation_id(generation)
        .with_member_id(s(member));
    c.send(&req, 4).await.error_code
}

async fn describe(c: &mut Client) -> describe_groups_response::DescribedGroup {
    let req = DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g"))]);
    c.send(&req, 5).await.groups.remove(0)
}

#[tokio::test]
async fn one_member_joins_syncs_and_heartbeats() {
    let broker = fast_broker().await;
    let mut c = broker.client().await;
    let joined = join_new(&mut c).await;
    assert_eq!(joined.error_code, 0);
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader, joined.member_id);
    assert_eq!(joined.members.len(), 1);
    assert_eq!(joined.members[0].metadata, Bytes::from_static(b"meta"));
    let me = joined.member_id.to_string();

    let synced = sync(&mut c, &me, 1, &[(&me, b"mine")]).await;
    assert_eq!(synced.error_code, 0);
    assert_eq!(synced.assignment, Bytes::from_static(b"mine"));

    assert_eq!(heartbeat(&mut c, &me, 1).await, 0);
    assert_eq!(
        heartbeat(&mut c, &me, 7).await,
        ResponseError::IllegalGeneration.code()
    );
    assert_eq!(
        heartbeat(&mut c, "nobody", 1).await,
        ResponseError::UnknownMemberId.code()
    );

    let g = describe(&mut c).await;
    assert_eq!(g.group_state.as_str(), "Stable");
    assert_eq!(g.protocol_data.as_str(), "range");
    assert_eq!(g.members[0].client_host.as_str(), "/127.0.0.1");
    assert_eq!(g.members[0].member_assignment, Bytes::from_static(b"mine"));

    let listed = c
        .send(
            &ListGroupsRequest::default().with_states_filter(vec![s("Stable")]),
            4,
        )
        .await;
    assert_eq!(listed.groups.len(), 1);
    assert_eq!(listed.groups[0].protocol_type.as_str(), "consumer");
    let listed = c
        .send(
            &ListGroupsRequest::default().with_states_filter(vec![s("Empty")]),
            4,
        )
        .await;
    assert!(listed.groups.is_empty());

    // A group with a member cannot be deleted; after it leaves, it can.
    let del = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("g"))]);
    let r = c.send(&del, 2).await;
    assert_eq!(r.results[0].error_code, ResponseError::NonEmptyGroup.code());
    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_members(vec![
            leave_group_request::MemberIdentity::default().with_member_id(s(&me)),
        ]);
    let r = c.send(&leave, 4).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.members[0].error_code, 0);
    assert_eq!(describe(&mut c).await.group_state.as_str(), "Empty");
    let r = c.send(&del, 2).await;
    assert_eq!(r.results[0].error_code, 0);
    let r = c.send(&del, 2).await;
    assert_eq!(
        r.results[0].error_code,
        ResponseError::GroupIdNotFound.code()
    );
}

#[tokio::test]
async fn a_second_member_triggers_a_rebalance() {
    let broker = fast_broker().await;
    let mut a = broker.client().await;
    let mut b = broker.client().await;
    let ja = join_new(&mut a).await;
    let ida = ja.member_id.to_string();
    assert_eq!(sync(&mut a, &ida, 1, &[(&ida, b"all")]).await.error_code, 0);

    // b's join waits for a to rejoin.
    let b_join = tokio::spawn(async move {
        let r = join_new(&mut b).await;
        (b, r)
    });
    let mut rebalancing = false;
    for _ in 0..100 {
        let code = heartbeat(&mut a, &ida, 1).await;
        if code == ResponseError::RebalanceInProgress.code() {
            rebalancing = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(rebalancing, "a learns of the rebalance from its heartbeat");
    // Syncing the old generation is refused.
    assert_eq!(
        sync(&mut a, &ida, 1, &[]).await.error_code,
        ResponseError::RebalanceInProgress.code()
    );
    let ja2 = a.send(&join_request(&ida, None, 10_000), 5).await;
    let (mut b, jb) = b_join.await.expect("b joins");
    assert_eq!(ja2.generation_id, 2);
    assert_eq!(jb.generation_id, 2);
    assert_eq!(ja2.leader.as_str(), ida);
    assert_eq!(ja2.members.len(), 2, "the leader sees every member");
    assert!(jb.members.is_empty());
    let idb = jb.member_id.to_string();

    // b's SyncGroup waits for the leader's assignment.
    let b_sync = tokio::spawn(async move { sync(&mut b, &idb, 2, &[]).await });
    let idb = jb.member_id.to_string();
    let ra = sync(&mut a, &ida, 2, &[(&ida, b"half-a"), (&idb, b"half-b")]).await;
    assert_eq!(ra.assignment, Bytes::from_static(b"half-a"));
    let rb = b_sync.await.expect("b syncs");
    assert_eq!(rb.error_code, 0);
    assert_eq!(rb.assignment, Bytes::from_static(b"half-b"));
    assert_eq!(
        heartbeat(&mut a, &ida, 1).await,
        ResponseError::IllegalGeneration.code()
    );
}

#[tokio::test]
async fn a_silent_member_is_evicted() {
    let broker = fast_broker().await;
    let mut c = broker.client().await;
    let first = c.send(&join_request("", None, 300), 5).await;
    let joined = c.send(&join_request(&first.member_id, None, 300), 5).await;
    let me = joined.member_id.to_string();
    assert_eq!(sync(&mut c, &me, 1, &[(&me, b"x")]).await.error_code, 0);
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(describe(&mut c).await.group_state.as_str(), "Empty");
    assert_eq!(
        heartbeat(&mut c, &me, 1).await,
        ResponseError::UnknownMemberId.code()
    );
}

#[tokio::test]
async fn a_static_member_rejoining_fences_its_old_id() {
    let broker = fast_broker().await;
    let mut c = broker.client().await;
    // Static members get their id at once (no MEMBER_ID_REQUIRED).
    let first = c.send(&join_request("", Some("host-1"), 10_000), 5).await;
    assert_eq!(first.error_code, 0);
    let old = first.member_id.to_string();
    assert!(old.starts_with("host-1-"));
    assert_eq!(sync(&mut c, &old, 1, &[(&old, b"p")]).await.error_code, 0);

    let again = c.send(&join_request("", Some("host-1"), 10_000), 5).await;
    assert_eq!(again.error_code, 0);
    assert_ne!(again.member_id.as_str(), old);
    let hb = HeartbeatRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_generation_id(again.generation_id)
        .with_member_id(s(&old))
        .with_group_instance_id(Some(s("host-1")));
    assert_eq!(
        c.send(&hb, 4).await.error_code,
        ResponseError::FencedInstanceId.code()
    );
    let g = describe(&mut c).await;
    assert_eq!(g.members.len(), 1);
    assert_eq!(g.members[0].group_instance_id.as_deref(), Some("host-1"));
}

#[tokio::test]
async fn bad_joins_get_kafka_errors() {
    let broker = fast_broker().await;
    let mut c = broker.client().await;
    let r = c.send(&join_request("", None, 1), 5).await;
    assert_eq!(r.error_code, ResponseError::InvalidSessionTimeout.code());
    let r = c
        .send(
            &join_request("", None, 10_000).with_group_id(GroupId(s(""))),
            5,
        )
        .await;
    assert_eq!(r.error_code, ResponseError::InvalidGroupId.code());
    let r = c.send(&join_request("ghost", None, 10_000), 5).await;
    assert_eq!(r.error_code, ResponseError::UnknownMemberId.code());
    let r = c
        .send(&join_request("", None, 10_000).with_protocol_type(s("")), 5)
        .await;
    assert_eq!(
        r.error_code,
        ResponseError::InconsistentGroupProtocol.code()
    );
}

fn commit_request(group: &str, topic: &str, entries: &[(i32, i64, &str)]) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(
                    entries
                        .iter()
                        .map(|(p, o, m)| {
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(*p)
                                .with_committed_offset(*o)
                                .with_committed_leader_epoch(3)
                                .with_committed_metadata(Some(s(m)))
                        })
                        .collect(),
                ),
        ])
}

async fn fetch_v8(
    c: &mut Client,
    group: &str,
    topic: &str,
    partitions: &[i32],
) -> Vec<(i32, i64, i32, String)> {
    let req = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(Some(vec![
                OffsetFetchRequestTopics::default()
                    .with_name(TopicName(s(topic)))
                    .with_partition_indexes(partitions.to_vec()),
            ])),
    ]);
    let r = c.send(&req, 8).await;
    r.groups[0].topics[0]
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition_index,
                p.committed_offset,
                p.committed_leader_epoch,
                p.metadata.as_deref().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn committed_offsets_round_trip_and_survive_a_restart() {
    let mut broker = fast_broker().await;
    let mut c = broker.client().await;
    let create = CreateTopicsRequest::default().with_topics(vec![
        create_topics_request::CreatableTopic::default()
            .with_name(TopicName(s("t")))
            .with_num_partitions(3)
            .with_replication_factor(1),
    ]);
    assert_eq!(c.send(&create, 5).await.topics[0].error_code, 0);

    let r = c
        .send(
            &commit_request("off", "t", &[(0, 5, "zero"), (1, 7, "")]),
            8,
        )
        .await;
    assert!(r.topics[0].partitions.iter().all(|p| p.error_code == 0));
    let r = c
        .send(&commit_request("off", "nope", &[(0, 1, "")]), 8)
        .await;
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    let big = "m".repeat(5000);
    let r = c
        .send(&commit_request("off", "t", &[(2, 1, &big)]), 8)
        .await;
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ResponseError::OffsetMetadataTooLarge.code()
    );

    let want = vec![
        (0, 5, 3, "zero".to_string()),
        (1, 7, 3, String::new()),
        (2, -1, -1, String::new()),
    ];
    assert_eq!(fetch_v8(&mut c, "off", "t", &[0, 1, 2]).await, want);
    // The pre-v8 shape, and "all partitions" (null topics).
    let old = OffsetFetchRequest::default()
        .with_group_id(GroupId(s("off")))
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partition_indexes(vec![0]),
        ]));
    let r = c.send(&old, 5).await;
    assert_eq!(r.topics[0].partitions[0].committed_offset, 5);
    let all = OffsetFetchRequest::default()
        .with_group_id(GroupId(s("off")))
        .with_topics(None);
    let r = c.send(&all, 5).await;
    assert_eq!(r.topics[0].partitions.len(), 2);

    broker
        .restart(|c| c.group.initial_rebalance_delay_ms = 0)
        .await;
    let mut c = broker.client().await;
    assert_eq!(fetch_v8(&mut c, "off", "t", &[0, 1, 2]).await, want);

    let del = OffsetDeleteRequest::default()
        .with_group_id(GroupId(s("off")))
        .with_topics(vec![
            OffsetDeleteRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(vec![
                    OffsetDeleteRequestPartition::default().with_partition_index(0),
                ]),
        ]);
    let r = c.send(&del, 0).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    assert_eq!(fetch_v8(&mut c, "off", "t", &[0]).await[0].1, -1);

    broker.restart(|_| {}).await;
    let mut c = broker.client().await;
    assert_eq!(fetch_v8(&mut c, "off", "t", &[0, 1]).await[1].1, 7);
    assert_eq!(fetch_v8(&mut c, "off", "t", &[0]).await[0].1, -1);
}

#[tokio::test]
async fn the_offsets_topic_is_internal() {
    let broker = fast_broker().await;
    let mut c = broker.client().await;
    let all = c
        .send(&MetadataRequest::default().with_topics(None), 12)
        .await;
    assert!(
        all.topics
            .iter()
            .all(|t| t.name.as_ref().map(|n| n.as_str()) != Some("__consumer_offsets"))
    );
    let named = c
        .send(
            &MetadataRequest::default().with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(TopicName(s("__consumer_offsets")))),
            ])),
            12,
        )
        .await;
    assert_eq!(named.topics[0].error_code, 0);
    assert!(named.topics[0].is_internal);
    let del =
        DeleteTopicsRequest::default().with_topic_names(vec![TopicName(s("__consumer_offsets"))]);
    let r = c.send(&del, 5).await;
    assert_ne!(r.responses[0].error_code, 0);
}

#[tokio::test]
async fn find_coordinator_names_this_broker() {
    let broker = fast_broker().await;
    let mut c = broker.client().await;
    let r = c
        .send(
            &FindCoordinatorRequest::default()
                .with_key(s("g"))
                .with_key_type(0),
            3,
        )
        .await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.port, broker.addr.port() as i32);
    let r = c
        .send(
            &FindCoordinatorRequest::default()
                .with_key_type(0)
                .with_coordinator_keys(vec![s("a"), s("b")]),
            4,
        )
        .await;
    assert_eq!(r.coordinators.len(), 2);
    assert!(
        r.coordinators
            .iter()
            .all(|c| c.error_code == 0 && c.node_id.0 == 1)
    );
}

fn consumer_heartbeat(member_id: &str, epoch: i32) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s("kip848")))
        .with_member_id(s(member_id))
        .with_member_epoch(epoch)
        .with_rebalance_timeout_ms(10_000)
}

#[tokio::test]
async fn consumer_group_protocol_heartbeats() {
    let broker = fast_broker().await;
    let mut c = broker.client().await;
    let create = CreateTopicsRequest::default().with_topics(vec![
        create_topics_request::CreatableTopic::default()
            .with_name(TopicName(s("k")))
            .with_num_partitions(2)
            .with_replication_factor(1),
    ]);
    let created = c.send(&create, 7).await;
    let topic_id = created.topics[0].topic_id;

    // Join (epoch 0) with a client-chosen member id (v1): everything is ours.
    let join = consumer_heartbeat("m-1", 0)
        .with_subscribed_topic_names(Some(vec![TopicName(s("k"))]))
        .with_topic_partitions(Some(vec![]));
    let r = c.send(&join, 1).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.member_id.as_deref(), Some("m-1"));
    assert!(r.member_epoch > 0);
    assert!(r.heartbeat_interval_ms > 0);
    let assignment = r.assignment.expect("an assignment on join");
    assert_eq!(assignment.topic_partitions[0].topic_id, topic_id);
    assert_eq!(assignment.topic_partitions[0].partitions, vec![0, 1]);
    let epoch = r.member_epoch;

    // Nothing changed: no assignment in the answer.
    let r = c.send(&consumer_heartbeat("m-1", epoch), 1).await;
    assert_eq!(r.error_code, 0);
    assert!(r.assignment.is_none());

    let r = c.send(&consumer_heartbeat("m-1", epoch + 7), 1).await;
    assert_eq!(r.error_code, ResponseError::FencedMemberEpoch.code());
    let r = c.send(&consumer_heartbeat("ghost", 3), 1).await;
    assert_eq!(r.error_code, ResponseError::UnknownMemberId.code());
    let r = c
        .send(
            &consumer_heartbeat("m-2", 0).with_server_assignor(Some(s("magic"))),
            1,
        )
        .await;
    assert_eq!(r.error_code, ResponseError::UnsupportedAssignor.code());

    let describe =
        ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("kip848"))]);
    let d = c.send(&describe, 1).await;
    assert_eq!(d.groups[0].error_code, 0);
    assert_eq!(d.groups[0].group_state.as_str(), "Stable");
    assert_eq!(d.groups[0].assignor_name.as_str(), "uniform");
    assert_eq!(
        d.groups[0].members[0].assignment.topic_partitions[0].partitions,
        vec![0, 1]
    );
    // A classic group cannot be described as a consumer group, nor joined classically.
    let r = c
        .send(
            &join_request("", None, 10_000).with_group_id(GroupId(s("kip848"))),
            5,
        )
        .await;
    assert_eq!(
        r.error_code,
        ResponseError::InconsistentGroupProtocol.code()
    );

    // Commits are checked against the member epoch.
    let commit = commit_request("kip848", "k", &[(0, 3, "")])
        .with_member_id(s("m-1"))
        .with_generation_id_or_member_epoch(epoch + 1);
    let r = c.send(&commit, 9).await;
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        ResponseError::StaleMemberEpoch.code()
    );
    let commit = commit.with_generation_id_or_member_epoch(epoch);
    let r = c.send(&commit, 9).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);

    // Leaving (epoch -1) empties the group; its offsets stay.
    let r = c.send(&consumer_heartbeat("m-1", -1), 1).await;
    assert_eq!((r.error_code, r.member_epoch), (0, -1));
    let d = c.send(&describe, 1).await;
    assert_eq!(d.groups[0].group_state.as_str(), "Empty");
    assert_eq!(fetch_v8(&mut c, "kip848", "k", &[0]).await[0].1, 3);
}

#[tokio::test]
async fn offsets_of_an_empty_group_expire_after_the_retention() {
    let broker = fast_broker().await;
    let mut c = broker.client().await;
    let create = CreateTopicsRequest::default().with_topics(vec![
        create_topics_request::CreatableTopic::default()
            .with_name(TopicName(s("t")))
            .with_num_partitions(1)
            .with_replication_factor(1),
    ]);
    c.send(&create, 5).await;
    let r = c.send(&commit_request("old", "t", &[(0, 9, "")]), 8).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let groups = &broker.broker.as_ref().expect("running").state().groups;
    let day_ms = 24 * 3600 * 1000;
    let now = runnel::broker::now_ms();
    groups.expire_offsets(now + 6 * day_ms);
    assert_eq!(
        fetch_v8(&mut c, "old", "t", &[0]).await[0].1,
        9,
        "kept for 7 days"
    );
    groups.expire_offsets(now + 8 * day_ms);
    assert_eq!(fetch_v8(&mut c, "old", "t", &[0]).await[0].1, -1);
    let listed = c.send(&ListGroupsRequest::default(), 4).await;
    assert!(
        listed.groups.iter().all(|g| g.group_id.0.as_str() != "old"),
        "the group is gone"
    );
}
