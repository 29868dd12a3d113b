//! The error codes in a response, as Kafka's `AbstractResponse.errorCounts`
//! finds them: top-level, per topic, per partition, per group. They feed the
//! request-errors metric.

use kafka_protocol::messages::ResponseKind;

/// Calls `f` with every non-zero error code in `response`.
pub fn for_each_error(response: &ResponseKind, mut f: impl FnMut(i16)) {
    let mut one = |code: i16| {
        if code != 0 {
            f(code)
        }
    };
    match response {
        ResponseKind::Produce(r) => r
            .responses
            .iter()
            .flat_map(|t| &t.partition_responses)
            .for_each(|p| one(p.error_code)),
        ResponseKind::Fetch(r) => {
            one(r.error_code);
            r.responses
                .iter()
                .flat_map(|t| &t.partitions)
                .for_each(|p| one(p.error_code));
        }
        ResponseKind::ListOffsets(r) => r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| one(p.error_code)),
        ResponseKind::Metadata(r) => {
            for t in &r.topics {
                one(t.error_code);
                t.partitions.iter().for_each(|p| one(p.error_code));
            }
        }
        ResponseKind::OffsetCommit(r) => r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| one(p.error_code)),
        ResponseKind::OffsetFetch(r) => {
            one(r.error_code);
            r.topics
                .iter()
                .flat_map(|t| &t.partitions)
                .for_each(|p| one(p.error_code));
            for g in &r.groups {
                one(g.error_code);
                g.topics
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .for_each(|p| one(p.error_code));
            }
        }
        ResponseKind::FindCoordinator(r) => {
            one(r.error_code);
            r.coordinators.iter().for_each(|c| one(c.error_code));
        }
        ResponseKind::JoinGroup(r) => one(r.error_code),
        ResponseKind::Heartbeat(r) => one(r.error_code),
        ResponseKind::LeaveGroup(r) => {
            one(r.error_code);
            r.members.iter().for_each(|m| one(m.error_code));
        }
        ResponseKind::SyncGroup(r) => one(r.error_code),
        ResponseKind::DescribeGroups(r) => r.groups.iter().for_each(|g| one(g.error_code)),
        ResponseKind::ListGroups(r) => one(r.error_code),
        ResponseKind::ApiVersions(r) => one(r.error_code),
        ResponseKind::CreateTopics(r) => r.topics.iter().for_each(|t| one(t.error_code)),
        ResponseKind::DeleteTopics(r) => r.responses.iter().for_each(|t| one(t.error_code)),
        ResponseKind::DeleteRecords(r) => r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| one(p.error_code)),
        ResponseKind::InitProducerId(r) => one(r.error_code),
        ResponseKind::OffsetForLeaderEpoch(r) => r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| one(p.error_code)),
        ResponseKind::DescribeConfigs(r) => r.results.iter().for_each(|x| one(x.error_code)),
        ResponseKind::AlterConfigs(r) => r.responses.iter().for_each(|x| one(x.error_code)),
        ResponseKind::DescribeLogDirs(r) => {
            one(r.error_code);
            r.results.iter().for_each(|x| one(x.error_code));
        }
        ResponseKind::CreatePartitions(r) => r.results.iter().for_each(|x| one(x.error_code)),
        ResponseKind::DeleteGroups(r) => r.results.iter().for_each(|x| one(x.error_code)),
        ResponseKind::ElectLeaders(r) => {
            one(r.error_code);
            r.replica_election_results
                .iter()
                .flat_map(|t| &t.partition_result)
                .for_each(|p| one(p.error_code));
        }
        ResponseKind::IncrementalAlterConfigs(r) => {
            r.responses.iter().for_each(|x| one(x.error_code))
        }
        ResponseKind::AlterPartitionReassignments(r) => {
            one(r.error_code);
            r.responses
                .iter()
                .flat_map(|t| &t.partitions)
                .for_each(|p| one(p.error_code));
        }
        ResponseKind::ListPartitionReassignments(r) => one(r.error_code),
        ResponseKind::OffsetDelete(r) => {
            one(r.error_code);
            r.topics
                .iter()
                .flat_map(|t| &t.partitions)
                .for_each(|p| one(p.error_code));
        }
        ResponseKind::DescribeClientQuotas(r) => one(r.error_code),
        ResponseKind::AlterClientQuotas(r) => r.entries.iter().for_each(|e| one(e.error_code)),
        ResponseKind::DescribeCluster(r) => one(r.error_code),
        ResponseKind::ConsumerGroupHeartbeat(r) => one(r.error_code),
        ResponseKind::ConsumerGroupDescribe(r) => r.groups.iter().for_each(|g| one(g.error_code)),
        ResponseKind::AddPartitionsToTxn(r) => {
            one(r.error_code);
            r.results_by_topic_v3_and_below
                .iter()
                .flat_map(|t| &t.results_by_partition)
                .for_each(|p| one(p.partition_error_code));
            for txn in &r.results_by_transaction {
                txn.topic_results
                    .iter()
                    .flat_map(|t| &t.results_by_partition)
                    .for_each(|p| one(p.partition_error_code));
            }
        }
        ResponseKind::AddOffsetsToTxn(r) => one(r.error_code),
        ResponseKind::EndTxn(r) => one(r.error_code),
        ResponseKind::TxnOffsetCommit(r) => r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| one(p.error_code)),
        ResponseKind::DescribeProducers(r) => r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| one(p.error_code)),
        ResponseKind::ListTransactions(r) => one(r.error_code),
        ResponseKind::DescribeTransactions(r) => {
            r.transaction_states.iter().for_each(|t| one(t.error_code))
        }
        // Responses of APIs runnel does not serve.
        _ => {}
    }
}
