//! InitProducerId for idempotent producers: a fresh producer id, epoch 0.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::broker::BrokerState;

pub fn handle(
    broker: &Arc<BrokerState>,
    request: InitProducerIdRequest,
    _version: i16,
) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if request.transactional_id.is_some() {
        // Transactions need the transaction coordinator, which runnel does not have yet.
        return response.with_error_code(ResponseError::CoordinatorNotAvailable.code());
    }
    // Without a transactional id Kafka always hands out a new producer id, also
    // when the client names its old one (KIP-360): the sequences start afresh.
    match broker.producer_ids.next_id() {
        Ok(id) => response
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => {
            tracing::error!(error = %e, "cannot allocate a producer id");
            response.with_error_code(ResponseError::KafkaStorageError.code())
        }
    }
}
