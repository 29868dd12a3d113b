//! Client quotas applied to requests, as Kafka's KafkaApis does: a
//! Produce's bytes, a Fetch response's bytes and every request's handling time
//! are counted against the client's quotas (`crate::quota_manager`); over any
//! of them, the response carries throttle_time_ms (the longest throttle) and
//! the connection is muted (not read from) for that long (KIP-219). As in Kafka
//! 2.0 and later, the response itself goes out at once at every version: a
//! client too old to throttle itself is held back by the mute, since its next
//! request is not read until the throttle is over. A throttled Fetch is
//! answered empty and its bytes are not counted.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::messages::{ApiKey, FetchResponse, RequestKind, ResponseKind};
use kafka_protocol::protocol::Encodable;
use tokio::time::Instant;

use super::{Reply, RequestContext};
use crate::broker::BrokerState;
use crate::metrics::QuotaLabels;
use crate::quota::ClientQuota;
use crate::quota_manager::{QuotaType, request_percentage};

/// Until when a connection is not read from.
#[derive(Default)]
pub struct Mute {
    until: Mutex<Option<Instant>>,
}

impl Mute {
    fn extend(&self, by: Duration) {
        let until = Instant::now() + by;
        let mut current = self.until.lock().unwrap_or_else(|p| p.into_inner());
        if current.is_none_or(|c| c < until) {
            *current = Some(until);
        }
    }

    /// Returns once the connection is no longer muted.
    pub async fn wait(&self) {
        let until = *self.until.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
    }
}

/// The quotas of one connection's client, resolved once and kept until the
/// connection's principal or client id changes, or the quota table does.
#[derive(Default)]
struct ResolvedQuotas {
    /// The quota store's generation they were resolved at; 0: never.
    generation: u64,
    user: String,
    client_id: String,
    quotas: [Option<ClientQuota>; QuotaType::CLIENT.len()],
}

impl ResolvedQuotas {
    fn get(
        &mut self,
        broker: &BrokerState,
        ctx: &RequestContext,
        kind: QuotaType,
    ) -> Option<&ClientQuota> {
        let generation = broker.quotas.generation();
        if generation != self.generation
            || self.user != ctx.principal.name
            || self.client_id != ctx.client_id
        {
            for (quota, kind) in self.quotas.iter_mut().zip(QuotaType::CLIENT) {
                *quota =
                    broker
                        .quotas
                        .client_quota(&ctx.principal.name, &ctx.client_id, kind.key());
            }
            self.generation = generation;
            self.user.clone_from(&ctx.principal.name);
            self.client_id.clone_from(&ctx.client_id);
        }
        let i = QuotaType::CLIENT.iter().position(|k| *k == kind)?;
        self.quotas[i].as_ref()
    }
}

/// One connection's side of quota enforcement: its mute and its client's quotas.
#[derive(Default)]
pub struct ConnectionThrottle {
    pub mute: Arc<Mute>,
    quotas: ResolvedQuotas,
}

/// What serving one request cost, as the quotas count it.
pub struct RequestCost {
    /// The request's size (Produce counts it against producer_byte_rate).
    pub bytes: usize,
    /// How long its handler ran, not counting a long poll's wait.
    pub handling: Duration,
}

/// Bounds a Fetch by what the consumer's quota allows in one window (Kafka's
/// getMaxValueInQuotaWindow), so one response cannot take many windows' worth.
pub fn bound_fetch(
    broker: &BrokerState,
    ctx: &RequestContext,
    conn: &mut ConnectionThrottle,
    request: &mut RequestKind,
) {
    let RequestKind::Fetch(fetch) = request else {
        return;
    };
    if let Some(quota) = conn.quotas.get(broker, ctx, QuotaType::Fetch) {
        let most = broker.client_quotas.max_value_in_window(quota);
        fetch.max_bytes = fetch.max_bytes.min(most.min(f64::from(i32::MAX)) as i32);
    }
}

/// Counts `amount` against the client's `kind` quota: the throttle time in ms.
fn record(
    broker: &BrokerState,
    ctx: &RequestContext,
    conn: &mut ConnectionThrottle,
    kind: QuotaType,
    amount: f64,
) -> u64 {
    conn.quotas
        .get(broker, ctx, kind)
        .map_or(0, |quota| broker.client_quotas.record(kind, quota, amount))
}

/// The longer of two throttles, and the quota that asks for it.
fn longest(a: (QuotaType, u64), b: (QuotaType, u64)) -> (QuotaType, u64) {
    if b.1 > a.1 { b } else { a }
}

/// Applies the client's quotas to the reply of one request: request time to
/// every one, bytes to Produce and Fetch.
pub fn apply(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    conn: &mut ConnectionThrottle,
    api_key: ApiKey,
    version: i16,
    cost: RequestCost,
    reply: Reply,
) -> Reply {
    let request = (
        QuotaType::Request,
        record(
            broker,
            ctx,
            conn,
            QuotaType::Request,
            request_percentage(cost.handling),
        ),
    );
    match api_key {
        ApiKey::Fetch => throttle_fetch(broker, ctx, conn, version, request, reply),
        ApiKey::Produce => {
            let produce = record(broker, ctx, conn, QuotaType::Produce, cost.bytes as f64);
            let (kind, ms) = longest((QuotaType::Produce, produce), request);
            if ms == 0 {
                return reply;
            }
            throttled(broker, &conn.mute, kind, ms);
            map(reply, move |r| with_throttle_time(r, ms))
        }
        _ => {
            let mutation = (
                QuotaType::ControllerMutation,
                ctx.mutation_throttle_ms.load(Ordering::Relaxed),
            );
            let (kind, ms) = longest(mutation, request);
            if ms == 0 {
                return reply;
            }
            throttled(broker, &conn.mute, kind, ms);
            map(reply, move |r| with_throttle_time(r, ms))
        }
    }
}

/// A Fetch's bytes are known once its response is: counted then, and a
/// throttled Fetch (by bytes or by request time) is answered empty.
fn throttle_fetch(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    conn: &mut ConnectionThrottle,
    version: i16,
    request: (QuotaType, u64),
    reply: Reply,
) -> Reply {
    let kind = QuotaType::Fetch;
    let quota = conn.quotas.get(broker, ctx, kind).cloned();
    if quota.is_none() && request.1 == 0 {
        return reply;
    }
    let (broker, mute) = (broker.clone(), conn.mute.clone());
    let respond = move |response: ResponseKind| -> ResponseKind {
        let ResponseKind::Fetch(fetch) = response else {
            return response;
        };
        let bytes = fetch.compute_size(version).unwrap_or(0) as f64;
        let fetched = quota
            .as_ref()
            .map_or(0, |q| broker.client_quotas.record(kind, q, bytes));
        let (which, ms) = longest((kind, fetched), request);
        if ms == 0 {
            return ResponseKind::Fetch(fetch);
        }
        if let Some(q) = &quota {
            broker.client_quotas.unrecord(kind, q, bytes);
        }
        throttled(&broker, &mute, which, ms);
        ResponseKind::Fetch(FetchResponse::default().with_throttle_time_ms(clamp(ms)))
    };
    map(reply, respond)
}

/// Sets throttle_time_ms in any response that has it.
fn with_throttle_time(mut response: ResponseKind, ms: u64) -> ResponseKind {
    macro_rules! set {
        ($($kind:ident),* $(,)?) => {
            match &mut response {
                $(ResponseKind::$kind(r) => r.throttle_time_ms = clamp(ms),)*
                _ => {}
            }
        };
    }
    set!(
        Produce,
        Fetch,
        ListOffsets,
        Metadata,
        OffsetCommit,
        OffsetFetch,
        FindCoordinator,
        JoinGroup,
        Heartbeat,
        LeaveGroup,
        SyncGroup,
        DescribeGroups,
        ListGroups,
        ApiVersions,
        CreateTopics,
        DeleteTopics,
        DeleteRecords,
        InitProducerId,
        OffsetForLeaderEpoch,
        AddPartitionsToTxn,
        AddOffsetsToTxn,
        EndTxn,
        TxnOffsetCommit,
        DescribeAcls,
        CreateAcls,
        DeleteAcls,
        DescribeConfigs,
        AlterConfigs,
        DescribeLogDirs,
        CreatePartitions,
        DeleteGroups,
        ElectLeaders,
        IncrementalAlterConfigs,
        AlterPartitionReassignments,
        ListPartitionReassignments,
        OffsetDelete,
        DescribeClientQuotas,
        AlterClientQuotas,
        DescribeUserScramCredentials,
        AlterUserScramCredentials,
        DescribeCluster,
        DescribeProducers,
        DescribeTransactions,
        ListTransactions,
        ConsumerGroupHeartbeat,
        ConsumerGroupDescribe,
    );
    response
}

fn clamp(ms: u64) -> i32 {
    ms.min(i32::MAX as u64) as i32
}

fn throttled(broker: &BrokerState, mute: &Mute, kind: QuotaType, ms: u64) {
    mute.extend(Duration::from_millis(ms));
    let labels = QuotaLabels {
        quota_type: kind.name().to_string(),
    };
    broker
        .metrics
        .throttled_requests
        .get_or_create(&labels)
        .inc();
    broker
        .metrics
        .throttle_seconds
        .get_or_create(&labels)
        .inc_by(ms as f64 / 1000.0);
}

/// `reply` with `change` applied to its response.
fn map(reply: Reply, change: impl FnOnce(ResponseKind) -> ResponseKind + Send + 'static) -> Reply {
    match reply {
        Reply::None => Reply::None,
        Reply::Now(r) => Reply::now(change(*r)),
        Reply::Later(f) => Reply::Later(Box::pin(async move { change(f.await) })),
    }
}
