//! The Kafka APIs: one table of what runnel supports, and one handler module per
//! API family. Handlers translate between the wire types of `kafka-protocol` and
//! the broker's own types; the managers below them never see wire types.

mod acls;
mod api_versions;
mod auth_helper;
mod cluster;
mod configs;
mod consumer_groups;
mod delete_records;
pub(crate) mod error;
mod error_counts;
mod fetch;
mod groups;
mod init_producer_id;
mod leader_epoch;
mod list_offsets;
mod metadata;
mod mutation_quota;
mod offsets;
mod partitions;
mod produce;
mod quotas;
mod reassign;
mod scram_credentials;
pub mod throttle;
mod topics;
mod txn;
mod txn_describe;

use std::sync::Arc;

use futures::future::BoxFuture;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

use crate::broker::BrokerState;
use crate::security::KafkaPrincipal;

pub use api_versions::unsupported_version_response;
pub use configs::incremental_alter_topic;
pub use error_counts::for_each_error;
pub use produce::append_records;

/// Every API runnel serves and the versions it accepts, in key order: the
/// source of the ApiVersions response and of the README's table (a test
/// checks that table against this one).
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 13),
    (ApiKey::Fetch, 4, 18),
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::Metadata, 0, 13),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::AddPartitionsToTxn, 0, 5),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 5),
    (ApiKey::TxnOffsetCommit, 0, 5),
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::DescribeLogDirs, 1, 4),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::AlterPartitionReassignments, 0, 1),
    (ApiKey::ListPartitionReassignments, 0, 0),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::DescribeClientQuotas, 0, 1),
    (ApiKey::AlterClientQuotas, 0, 1),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 2),
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    (ApiKey::ConsumerGroupDescribe, 0, 1),
];

/// Who sent a request: JoinGroup records it, DescribeGroups shows it.
pub struct RequestContext {
    pub client_id: String,
    /// The peer's address as Kafka shows it (`/127.0.0.1`).
    pub client_host: String,
    /// Which of the broker's listeners the connection came through.
    pub listener: usize,
    /// Who the connection authenticated as (User:ANONYMOUS without authentication).
    pub principal: KafkaPrincipal,
    /// The throttle (ms) the request's partition mutations call for under the
    /// client's controller_mutation_rate quota, set by the handler.
    pub mutation_throttle_ms: std::sync::atomic::AtomicU64,
}

/// The version range runnel accepts for `key`, if it serves that API.
pub fn supported_versions(key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED_APIS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|&(_, min, max)| (min, max))
}

/// A handler's answer. Responses still go out in request order: a `Later`
/// reply holds back the replies queued behind it until it resolves.
pub enum Reply {
    /// No response at all (Produce with acks=0).
    None,
    Now(Box<ResponseKind>),
    /// Resolves when the response is ready (a long-polling Fetch, a produce
    /// waiting for its fsync). The request's effects have already happened.
    Later(BoxFuture<'static, ResponseKind>),
}

impl Reply {
    pub fn now(response: ResponseKind) -> Reply {
        Reply::Now(Box::new(response))
    }
}

/// Runs one decoded request. Effects (appends, topic changes) happen here, in
/// the order requests arrive on the connection.
pub async fn handle(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: RequestKind,
    version: i16,
) -> Reply {
    match request {
        RequestKind::ApiVersions(r) => {
            Reply::now(ResponseKind::ApiVersions(api_versions::handle(&r, version)))
        }
        RequestKind::Metadata(r) => Reply::now(ResponseKind::Metadata(metadata::handle(
            broker, ctx, r, version,
        ))),
        RequestKind::Produce(r) => produce::handle(broker, ctx, r, version).await,
        RequestKind::Fetch(r) => fetch::handle(broker, ctx, r, version),
        RequestKind::ListOffsets(r) => Reply::now(ResponseKind::ListOffsets(list_offsets::handle(
            broker, ctx, r, version,
        ))),
        RequestKind::CreateTopics(r) => Reply::now(ResponseKind::CreateTopics(topics::create(
            broker, ctx, r, version,
        ))),
        RequestKind::DeleteTopics(r) => Reply::now(ResponseKind::DeleteTopics(topics::delete(
            broker, ctx, r, version,
        ))),
        RequestKind::DeleteRecords(r) => delete_records::handle(broker, ctx, r),
        RequestKind::InitProducerId(r) => init_producer_id::handle(broker, ctx, r, version),
        RequestKind::OffsetCommit(r) => offsets::commit(broker, ctx, r, version),
        RequestKind::OffsetFetch(r) => Reply::now(ResponseKind::OffsetFetch(offsets::fetch(
            broker, ctx, r, version,
        ))),
        RequestKind::OffsetDelete(r) => {
            Reply::now(ResponseKind::OffsetDelete(offsets::delete(broker, ctx, r)))
        }
        RequestKind::FindCoordinator(r) => Reply::now(ResponseKind::FindCoordinator(
            groups::find_coordinator(broker, ctx, r, version),
        )),
        RequestKind::JoinGroup(r) => groups::join(broker, ctx, r, version),
        RequestKind::SyncGroup(r) => groups::sync(broker, ctx, r),
        RequestKind::Heartbeat(r) => {
            Reply::now(ResponseKind::Heartbeat(groups::heartbeat(broker, ctx, r)))
        }
        RequestKind::LeaveGroup(r) => Reply::now(ResponseKind::LeaveGroup(groups::leave(
            broker, ctx, r, version,
        ))),
        RequestKind::DescribeGroups(r) => Reply::now(ResponseKind::DescribeGroups(
            groups::describe(broker, ctx, r, version),
        )),
        RequestKind::ListGroups(r) => {
            Reply::now(ResponseKind::ListGroups(groups::list(broker, ctx, r)))
        }
        RequestKind::DeleteGroups(r) => {
            Reply::now(ResponseKind::DeleteGroups(groups::delete(broker, ctx, r)))
        }
        RequestKind::DescribeConfigs(r) => Reply::now(ResponseKind::DescribeConfigs(
            configs::describe(broker, ctx, r, version),
        )),
        RequestKind::AlterConfigs(r) => Reply::now(ResponseKind::AlterConfigs(configs::alter(
            broker, ctx, r, version,
        ))),
        RequestKind::IncrementalAlterConfigs(r) => {
            Reply::now(ResponseKind::IncrementalAlterConfigs(
                configs::incremental_alter(broker, ctx, r, version),
            ))
        }
        RequestKind::OffsetForLeaderEpoch(r) => Reply::now(ResponseKind::OffsetForLeaderEpoch(
            leader_epoch::handle(broker, ctx, r, version),
        )),
        RequestKind::DescribeLogDirs(r) => Reply::now(ResponseKind::DescribeLogDirs(
            cluster::describe_log_dirs(broker, ctx, r, version),
        )),
        RequestKind::CreatePartitions(r) => Reply::now(ResponseKind::CreatePartitions(
            partitions::create(broker, ctx, r, version),
        )),
        RequestKind::ElectLeaders(r) => Reply::now(ResponseKind::ElectLeaders(
            reassign::elect_leaders(broker, ctx, r, version),
        )),
        RequestKind::AlterPartitionReassignments(r) => {
            Reply::now(ResponseKind::AlterPartitionReassignments(
                reassign::alter_reassignments(broker, ctx, r),
            ))
        }
        RequestKind::ListPartitionReassignments(r) => Reply::now(
            ResponseKind::ListPartitionReassignments(reassign::list_reassignments(broker, ctx, r)),
        ),
        RequestKind::DescribeClientQuotas(r) => Reply::now(ResponseKind::DescribeClientQuotas(
            quotas::describe(broker, ctx, r),
        )),
        RequestKind::AlterClientQuotas(r) => Reply::now(ResponseKind::AlterClientQuotas(
            quotas::alter(broker, ctx, r),
        )),
        RequestKind::DescribeUserScramCredentials(r) => Reply::now(
            ResponseKind::DescribeUserScramCredentials(scram_credentials::describe(broker, ctx, r)),
        ),
        RequestKind::AlterUserScramCredentials(r) => Reply::now(
            ResponseKind::AlterUserScramCredentials(scram_credentials::alter(broker, ctx, r)),
        ),
        RequestKind::DescribeCluster(r) => Reply::now(ResponseKind::DescribeCluster(
            cluster::describe_cluster(broker, ctx, r, version),
        )),
        RequestKind::ConsumerGroupHeartbeat(r) => Reply::now(ResponseKind::ConsumerGroupHeartbeat(
            consumer_groups::heartbeat(broker, ctx, r),
        )),
        RequestKind::ConsumerGroupDescribe(r) => Reply::now(ResponseKind::ConsumerGroupDescribe(
            consumer_groups::describe(broker, ctx, r),
        )),
        RequestKind::AddPartitionsToTxn(r) => txn::add_partitions(broker, ctx, r, version),
        RequestKind::AddOffsetsToTxn(r) => txn::add_offsets(broker, ctx, r, version),
        RequestKind::EndTxn(r) => txn::end_txn(broker, ctx, r, version),
        RequestKind::TxnOffsetCommit(r) => txn::txn_offset_commit(broker, ctx, r, version),
        RequestKind::ListTransactions(r) => Reply::now(ResponseKind::ListTransactions(
            txn_describe::list_transactions(broker, ctx, r, version),
        )),
        RequestKind::DescribeProducers(r) => Reply::now(ResponseKind::DescribeProducers(
            txn_describe::describe_producers(broker, ctx, r),
        )),
        RequestKind::DescribeTransactions(r) => Reply::now(ResponseKind::DescribeTransactions(
            txn_describe::describe_transactions(broker, ctx, r),
        )),
        RequestKind::CreateAcls(r) => {
            Reply::now(ResponseKind::CreateAcls(acls::create(broker, ctx, r)))
        }
        RequestKind::DescribeAcls(r) => {
            Reply::now(ResponseKind::DescribeAcls(acls::describe(broker, ctx, r)))
        }
        RequestKind::DeleteAcls(r) => {
            Reply::now(ResponseKind::DeleteAcls(acls::delete(broker, ctx, r)))
        }
        // The connection only decodes requests of the APIs in SUPPORTED_APIS;
        // its authenticator answers SaslHandshake and SaslAuthenticate.
        _ => Reply::None,
    }
}

#[cfg(test)]
mod tests {
    use super::SUPPORTED_APIS;

    /// The README's "Supported APIs" table is this table, row for row.
    #[test]
    fn the_readme_table_is_supported_apis() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("## Supported APIs")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .expect("a Supported APIs section");
        let rows: Vec<String> = section
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| API") && !l.starts_with("| ---"))
            .map(str::to_string)
            .collect();
        let expected: Vec<String> = SUPPORTED_APIS
            .iter()
            .map(|(key, min, max)| {
                let versions = if min == max {
                    min.to_string()
                } else {
                    format!("{min}–{max}")
                };
                format!("| {key:?} | {} | {versions} |", *key as i16)
            })
            .collect();
        assert_eq!(rows, expected);
    }
}
