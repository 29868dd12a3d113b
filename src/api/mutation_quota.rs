//! The controller_mutation_rate quota of one request (KIP-599), as Kafka's
//! ControllerMutationQuota: CreateTopics, CreatePartitions and DeleteTopics
//! count the partitions they create or delete. From the versions that know
//! THROTTLING_QUOTA_EXCEEDED on (strict), a topic is refused while the
//! client's bucket is in debt; older versions are always served and throttled
//! after. The throttle goes to the connection through the request context.

use std::sync::atomic::Ordering;

use super::RequestContext;
use crate::broker::BrokerState;
use crate::quota::ClientQuota;
use crate::quota_manager::QuotaType;

pub struct MutationQuota<'a> {
    broker: &'a BrokerState,
    ctx: &'a RequestContext,
    quota: Option<ClientQuota>,
    strict: bool,
}

impl<'a> MutationQuota<'a> {
    pub fn new(broker: &'a BrokerState, ctx: &'a RequestContext, strict: bool) -> Self {
        let quota = broker.quotas.client_quota(
            &ctx.principal.name,
            &ctx.client_id,
            QuotaType::ControllerMutation.key(),
        );
        MutationQuota {
            broker,
            ctx,
            quota,
            strict,
        }
    }

    /// Whether `partitions` may be created or deleted now; false: refuse the
    /// topic with THROTTLING_QUOTA_EXCEEDED.
    pub fn record(&self, partitions: i32) -> bool {
        let Some(quota) = &self.quota else {
            return true;
        };
        let outcome = self.broker.client_quotas.record_mutation(
            quota,
            f64::from(partitions.max(0)),
            self.strict,
        );
        let (ms, accepted) = match outcome {
            Ok(ms) => (ms, true),
            Err(ms) => (ms, false),
        };
        self.ctx
            .mutation_throttle_ms
            .fetch_max(ms, Ordering::Relaxed);
        accepted
    }
}
