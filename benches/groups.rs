//! Group coordinator round trips over loopback TCP against an in-process
//! broker: an OffsetCommit of 100 partitions, an OffsetFetch of the same, and
//! a rebalance of three members (initial delay 0) from the last JoinGroup to
//! every member's answer.

use std::net::SocketAddr;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use runnel::client::Connection;
use runnel::{Broker, Config};
use tokio::runtime::Runtime;

async fn connect(addr: SocketAddr) -> Connection {
    Connection::connect(&addr.to_string(), "bench")
        .await
        .unwrap()
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn join(group: &str, member: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_session_timeout_ms(30_000)
        .with_rebalance_timeout_ms(30_000)
        .with_member_id(s(member))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default().with_name(s("range")),
        ])
}

fn bench_groups(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        listen: "127.0.0.1:0".into(),
        http_listen: "off".into(),
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let mut config = config;
    // Long enough for the three first joins to land in one generation.
    config.group.initial_rebalance_delay_ms = 200;
    let broker = rt.block_on(Broker::start(config)).unwrap();
    let addr = broker.local_addr();
    let mut client = rt.block_on(connect(addr));
    let create = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(TopicName(s("bench")))
            .with_num_partitions(100)
            .with_replication_factor(1),
    ]);
    rt.block_on(client.send_at(&create, 7)).unwrap();

    let partitions: Vec<OffsetCommitRequestPartition> = (0..100)
        .map(|p| {
            OffsetCommitRequestPartition::default()
                .with_partition_index(p)
                .with_committed_offset(42)
        })
        .collect();
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(s("bench-group")))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("bench")))
                .with_partitions(partitions),
        ]);
    c.bench_function("offset_commit_100_partitions", |b| {
        b.iter(|| rt.block_on(client.send_at(&commit, 8)).unwrap())
    });
    let fetch = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s("bench-group")))
            .with_topics(Some(vec![
                OffsetFetchRequestTopics::default()
                    .with_name(TopicName(s("bench")))
                    .with_partition_indexes((0..100).collect()),
            ])),
    ]);
    c.bench_function("offset_fetch_100_partitions", |b| {
        b.iter(|| rt.block_on(client.send_at(&fetch, 8)).unwrap())
    });

    // Three members of a stable group rejoin (their subscription changed) and
    // sync: one whole rebalance, from the first JoinGroup to the last SyncGroup answer.
    let mut members: Vec<Connection> = (0..3).map(|_| rt.block_on(connect(addr))).collect();
    let mut ids = vec![String::new(); 3];
    let mut generation = 0;
    let mut round = 0u8;
    let rebalance = |members: &mut Vec<Connection>,
                     ids: &mut Vec<String>,
                     generation: &mut i32,
                     round: u8| {
        rt.block_on(async {
            let joins = members.iter_mut().zip(ids.iter()).map(|(m, id)| {
                let mut req = join("rebalance", id);
                req.protocols[0].metadata = Bytes::from(vec![round]);
                async move { m.send_at(&req, 3).await.unwrap() }
            });
            let answers = futures::future::join_all(joins).await;
            assert!(answers.iter().all(|a| a.error_code == 0));
            let leader = answers[0].leader.to_string();
            *generation = answers[0].generation_id;
            for (id, a) in ids.iter_mut().zip(&answers) {
                *id = a.member_id.to_string();
            }
            let syncs = members.iter_mut().zip(ids.iter()).map(|(m, id)| {
                let mut req = SyncGroupRequest::default()
                    .with_group_id(GroupId(s("rebalance")))
                    .with_generation_id(*generation)
                    .with_member_id(s(id));
                if *id == leader {
                    req.assignments = ids
                        .iter()
                        .map(|i| {
                            kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment::default()
                                .with_member_id(s(i))
                        })
                        .collect();
                }
                async move { m.send_at(&req, 3).await.unwrap() }
            });
            let synced = futures::future::join_all(syncs).await;
            assert!(synced.iter().all(|a| a.error_code == 0));
        })
    };
    rebalance(&mut members, &mut ids, &mut generation, round);
    c.bench_function("rebalance_3_members", |b| {
        b.iter(|| {
            round = round.wrapping_add(1);
            rebalance(&mut members, &mut ids, &mut generation, round)
        })
    });
    rt.block_on(broker.shutdown()).unwrap();
}

criterion_group!(benches, bench_groups);
criterion_main!(benches);
