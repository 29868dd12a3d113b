//! DescribeClientQuotas and AlterClientQuotas: quotas are validated, stored and
//! reported (see `crate::quota`); the byte rates are enforced by
//! `crate::api::throttle` from the next request on.

use std::sync::Arc;

use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, DescribeClientQuotasRequest,
    DescribeClientQuotasResponse, alter_client_quotas_response as alter_resp,
    describe_client_quotas_response as describe_resp,
};
use kafka_protocol::protocol::StrBytes;

use kafka_protocol::ResponseError;

use super::RequestContext;
use super::error::quota_error;
use crate::broker::BrokerState;
use crate::quota::{Match, QuotaError, QuotaOp};
use crate::security::acl::AclOperation;

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// A filter component in the broker's terms, checked as Kafka checks it.
fn component(c: &ComponentData) -> Result<(String, Match), QuotaError> {
    let m = match (c.match_type, &c._match) {
        (0, Some(name)) => Match::Exact(name.to_string()),
        (0, None) => {
            return Err(QuotaError::Invalid(
                "Request specified MATCH_TYPE_EXACT, but set match string to null.".into(),
            ));
        }
        (1, None) => Match::Default,
        (2, None) => Match::Specified,
        (1 | 2, Some(_)) => {
            let name = if c.match_type == 1 {
                "DEFAULT"
            } else {
                "SPECIFIED"
            };
            return Err(QuotaError::Invalid(format!(
                "Request specified MATCH_TYPE_{name}, but also specified a match string."
            )));
        }
        (t, _) => return Err(QuotaError::Unsupported(format!("Unknown match type {t}"))),
    };
    Ok((c.entity_type.to_string(), m))
}

pub fn describe(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    if !broker.authorize_cluster(ctx, AclOperation::DescribeConfigs) {
        let e = ResponseError::ClusterAuthorizationFailed;
        return DescribeClientQuotasResponse::default()
            .with_error_code(e.code())
            .with_error_message(Some(text(&e.to_string())))
            .with_entries(None);
    }
    let found = request
        .components
        .iter()
        .map(component)
        .collect::<Result<Vec<_>, _>>()
        .and_then(|components| broker.quotas.describe(&components, request.strict));
    match found {
        Ok(found) => {
            let entries = found
                .into_iter()
                .map(|(entity, values)| {
                    describe_resp::EntryData::default()
                        .with_entity(
                            entity
                                .iter()
                                .map(|(kind, name)| {
                                    describe_resp::EntityData::default()
                                        .with_entity_type(text(kind))
                                        .with_entity_name(name.as_deref().map(text))
                                })
                                .collect(),
                        )
                        .with_values(
                            values
                                .iter()
                                .map(|(k, v)| {
                                    describe_resp::ValueData::default()
                                        .with_key(text(k))
                                        .with_value(*v)
                                })
                                .collect(),
                        )
                })
                .collect();
            DescribeClientQuotasResponse::default().with_entries(Some(entries))
        }
        Err(e) => DescribeClientQuotasResponse::default()
            .with_error_code(quota_error(&e).code())
            .with_error_message(Some(StrBytes::from_string(e.to_string())))
            .with_entries(None),
    }
}

pub fn alter(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: AlterClientQuotasRequest,
) -> AlterClientQuotasResponse {
    let authorized = broker.authorize_cluster(ctx, AclOperation::AlterConfigs);
    let entities: Vec<Vec<alter_resp::EntityData>> = request
        .entries
        .iter()
        .map(|e| {
            e.entity
                .iter()
                .map(|d| {
                    alter_resp::EntityData::default()
                        .with_entity_type(d.entity_type.clone())
                        .with_entity_name(d.entity_name.clone())
                })
                .collect()
        })
        .collect();
    let entries = request
        .entries
        .into_iter()
        .map(|e| {
            let entity = e
                .entity
                .into_iter()
                .map(|d| {
                    (
                        d.entity_type.to_string(),
                        d.entity_name.map(|n| n.to_string()),
                    )
                })
                .collect();
            let ops = e
                .ops
                .into_iter()
                .map(|op| {
                    if op.remove {
                        QuotaOp::Remove(op.key.to_string())
                    } else {
                        QuotaOp::Set(op.key.to_string(), op.value)
                    }
                })
                .collect();
            (entity, ops)
        })
        .collect();
    let outcomes = if authorized {
        broker.quotas.alter(entries, request.validate_only)
    } else {
        entries
            .iter()
            .map(|_| Err(QuotaError::Unauthorized))
            .collect()
    };
    let entries = outcomes
        .into_iter()
        .zip(entities)
        .map(|(outcome, entity)| {
            let entry = alter_resp::EntryData::default().with_entity(entity);
            match outcome {
                Ok(()) => entry,
                Err(e) => entry
                    .with_error_code(quota_error(&e).code())
                    .with_error_message(Some(StrBytes::from_string(e.to_string()))),
            }
        })
        .collect();
    AlterClientQuotasResponse::default().with_entries(entries)
}
