//! InitProducerId: for idempotent producers a fresh producer id, epoch 0; with a
//! transactional id, the transaction coordinator's answer.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProducerId, ResponseKind,
};

use super::error::txn_error;
use super::{Reply, RequestContext};
use crate::broker::BrokerState;
use crate::security::acl::{AclOperation, ResourceType};

pub fn handle(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: InitProducerIdRequest,
    version: i16,
) -> Reply {
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    // WRITE on the transactional id; an idempotent producer needs
    // IDEMPOTENT_WRITE on the cluster or WRITE on some topic (KIP-679).
    let denied = match &request.transactional_id {
        Some(id) => (!broker.authorize_transactional_id(ctx, AclOperation::Write, id))
            .then_some(ResponseError::TransactionalIdAuthorizationFailed),
        None => (!broker.authorize_cluster(ctx, AclOperation::IdempotentWrite)
            && !broker.authorize_any(ctx, AclOperation::Write, ResourceType::Topic))
        .then_some(ResponseError::ClusterAuthorizationFailed),
    };
    if let Some(e) = denied {
        return Reply::now(ResponseKind::InitProducerId(
            response.with_error_code(e.code()),
        ));
    }
    if let Some(id) = &request.transactional_id {
        let expected = (request.producer_id.0, request.producer_epoch);
        let failed = response
            .clone()
            .with_error_code(ResponseError::CoordinatorNotAvailable.code());
        let answer = match broker
            .txn
            .init_producer_id(id, request.transaction_timeout_ms, expected)
        {
            Ok((id, epoch)) => response
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(epoch),
            Err(e) => response.with_error_code(txn_error(e, version < 4).code()),
        };
        return super::txn::durable(
            broker,
            Vec::new(),
            ResponseKind::InitProducerId(answer),
            ResponseKind::InitProducerId(failed),
        );
    }
    // Without a transactional id Kafka always hands out a new producer id, also
    // when the client names its old one (KIP-360): the sequences start afresh.
    let answer = match broker.producer_ids.next_id() {
        Ok(id) => response
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => {
            tracing::error!(error = %e, "cannot allocate a producer id");
            response.with_error_code(ResponseError::KafkaStorageError.code())
        }
    };
    Reply::now(ResponseKind::InitProducerId(answer))
}
