//! Client quotas applied to Produce and Fetch, as Kafka's KafkaApis does: the
//! bytes are counted against the client's quota (`crate::quota_manager`);
//! over it, the response carries throttle_time_ms and the connection is muted
//! (not read from) for that long (KIP-219). Clients too old to throttle
//! themselves get their response only after the throttle time. A throttled
//! Fetch is answered empty and its bytes are not counted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::messages::{ApiKey, FetchResponse, RequestKind, ResponseKind};
use kafka_protocol::protocol::Encodable;
use tokio::time::Instant;

use super::{Reply, RequestContext};
use crate::broker::BrokerState;
use crate::metrics::QuotaLabels;
use crate::quota::ClientQuota;
use crate::quota_manager::QuotaType;

/// Produce from v6 and Fetch from v8 on, clients throttle themselves (KIP-219).
fn client_throttles(api_key: ApiKey, version: i16) -> bool {
    match api_key {
        ApiKey::Produce => version >= 6,
        _ => version >= 8,
    }
}

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

/// Bounds a Fetch by what the consumer's quota allows in one window (Kafka's
/// getMaxValueInQuotaWindow), so one response cannot take many windows' worth.
pub fn bound_fetch(broker: &BrokerState, ctx: &RequestContext, request: &mut RequestKind) {
    let RequestKind::Fetch(fetch) = request else {
        return;
    };
    if let Some(quota) = quota(broker, ctx, QuotaType::Fetch) {
        let most = broker.client_quotas.max_value_in_window(&quota);
        fetch.max_bytes = fetch.max_bytes.min(most.min(f64::from(i32::MAX)) as i32);
    }
}

fn quota(broker: &BrokerState, ctx: &RequestContext, kind: QuotaType) -> Option<ClientQuota> {
    broker
        .quotas
        .client_quota(&ctx.principal.name, &ctx.client_id, kind.key())
}

/// Applies the client's byte-rate quota to the reply of a Produce
/// (`request_bytes` long) or Fetch; other replies pass unchanged.
pub fn apply(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    api_key: ApiKey,
    version: i16,
    request_bytes: usize,
    reply: Reply,
    mute: &Arc<Mute>,
) -> Reply {
    let kind = match api_key {
        ApiKey::Produce => QuotaType::Produce,
        ApiKey::Fetch => QuotaType::Fetch,
        _ => return reply,
    };
    let Some(quota) = quota(broker, ctx, kind) else {
        return reply;
    };
    let delay = !client_throttles(api_key, version);
    if kind == QuotaType::Produce {
        let ms = broker
            .client_quotas
            .record(kind, &quota, request_bytes as f64);
        if ms == 0 {
            return reply;
        }
        throttled(broker, mute, kind, ms);
        return map(reply, delay.then_some(ms), move |response| match response {
            ResponseKind::Produce(r) => ResponseKind::Produce(r.with_throttle_time_ms(clamp(ms))),
            other => other,
        });
    }
    let (broker, mute) = (broker.clone(), mute.clone());
    let respond = move |response: ResponseKind| -> (ResponseKind, u64) {
        let ResponseKind::Fetch(fetch) = response else {
            return (response, 0);
        };
        let bytes = fetch.compute_size(version).unwrap_or(0) as f64;
        let ms = broker.client_quotas.record(kind, &quota, bytes);
        if ms == 0 {
            return (ResponseKind::Fetch(fetch), 0);
        }
        broker.client_quotas.unrecord(kind, &quota, bytes);
        throttled(&broker, &mute, kind, ms);
        let empty = FetchResponse::default().with_throttle_time_ms(clamp(ms));
        (ResponseKind::Fetch(empty), ms)
    };
    let response = match reply {
        Reply::Now(r) => futures::future::Either::Left(std::future::ready(*r)),
        Reply::Later(f) => futures::future::Either::Right(f),
        Reply::None => return Reply::None,
    };
    Reply::Later(Box::pin(async move {
        let (response, ms) = respond(response.await);
        if delay && ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        response
    }))
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

/// `reply` with `change` applied to its response, held back `delay` ms.
fn map(
    reply: Reply,
    delay: Option<u64>,
    change: impl FnOnce(ResponseKind) -> ResponseKind + Send + 'static,
) -> Reply {
    match (reply, delay) {
        (Reply::None, _) => Reply::None,
        (Reply::Now(r), None) => Reply::now(change(*r)),
        (Reply::Now(r), Some(ms)) => Reply::Later(Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            change(*r)
        })),
        (Reply::Later(f), delay) => Reply::Later(Box::pin(async move {
            let response = f.await;
            if let Some(ms) = delay {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            change(response)
        })),
    }
}
