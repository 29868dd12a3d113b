//! InitProducerId: for idempotent producers a fresh producer id, epoch 0; with a
//! transactional id, the transaction coordinator's answer.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProducerId, ResponseKind,
};

use super::Reply;
use super::error::txn_error;
use crate::broker::BrokerState;

pub fn handle(broker: &Arc<BrokerState>, request: InitProducerIdRequest, version: i16) -> Reply {
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
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
