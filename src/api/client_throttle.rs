//! Which request versions come from clients that throttle themselves (KIP-219).
//!
//! Kafka's clients decide this per response with `shouldClientThrottle(version)`
//! (each `*Response` class in org.apache.kafka.common.requests; the default is
//! false): from the version bumped for KIP-219 on, a client that reads a
//! throttle_time_ms sends nothing more to that broker for that long. A client
//! below it does not, so runnel holds such a throttled response back for the
//! throttle time (see `super::throttle`).

use kafka_protocol::messages::ApiKey;

/// The first version of `api_key` whose client throttles itself, as Kafka's
/// `shouldClientThrottle` answers; None where no version does (the default:
/// OffsetForLeaderEpoch, the SASL APIs, DescribeClientQuotas,
/// AlterClientQuotas, DescribeCluster, DescribeProducers, DescribeTransactions,
/// ListTransactions, ConsumerGroupHeartbeat, ConsumerGroupDescribe, ...).
pub fn first_self_throttling_version(api_key: ApiKey) -> Option<i16> {
    use ApiKey::*;
    match api_key {
        Produce | Metadata => Some(6),
        Fetch => Some(8),
        OffsetCommit | OffsetFetch => Some(4),
        ListOffsets | JoinGroup | CreateTopics => Some(3),
        FindCoordinator | Heartbeat | LeaveGroup | SyncGroup | DescribeGroups | ListGroups
        | ApiVersions | DeleteTopics | DescribeConfigs => Some(2),
        DeleteRecords
        | InitProducerId
        | AddPartitionsToTxn
        | AddOffsetsToTxn
        | EndTxn
        | TxnOffsetCommit
        | DescribeAcls
        | CreateAcls
        | DeleteAcls
        | AlterConfigs
        | AlterReplicaLogDirs
        | DescribeLogDirs
        | CreatePartitions
        | CreateDelegationToken
        | RenewDelegationToken
        | ExpireDelegationToken
        | DescribeDelegationToken
        | DeleteGroups => Some(1),
        ElectLeaders
        | IncrementalAlterConfigs
        | AlterPartitionReassignments
        | ListPartitionReassignments
        | OffsetDelete
        | DescribeUserScramCredentials
        | AlterUserScramCredentials => Some(0),
        _ => None,
    }
}

/// Whether a client sending `api_key` at `version` throttles itself.
pub fn client_throttles(api_key: ApiKey, version: i16) -> bool {
    first_self_throttling_version(api_key).is_some_and(|first| version >= first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kip_219_versions_as_kafka_clients_have_them() {
        let cases = [
            (ApiKey::Produce, 5, false),
            (ApiKey::Produce, 6, true),
            (ApiKey::Fetch, 7, false),
            (ApiKey::Fetch, 8, true),
            (ApiKey::Metadata, 5, false),
            (ApiKey::Metadata, 6, true),
            (ApiKey::ListOffsets, 2, false),
            (ApiKey::ListOffsets, 3, true),
            (ApiKey::JoinGroup, 2, false),
            (ApiKey::JoinGroup, 3, true),
            (ApiKey::ApiVersions, 1, false),
            (ApiKey::ApiVersions, 2, true),
            (ApiKey::DeleteRecords, 0, false),
            (ApiKey::DeleteRecords, 1, true),
            (ApiKey::IncrementalAlterConfigs, 0, true),
            (ApiKey::DescribeClientQuotas, 1, false),
            (ApiKey::ConsumerGroupHeartbeat, 1, false),
            (ApiKey::SaslAuthenticate, 2, false),
        ];
        for (key, version, expected) in cases {
            assert_eq!(
                client_throttles(key, version),
                expected,
                "{key:?} v{version}"
            );
        }
    }
}
