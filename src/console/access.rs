//! The console's ACL checks: the `BrokerState::authorize_*` helpers the Kafka
//! APIs use, turned into 403 answers with Kafka's error names and messages.

use kafka_protocol::ResponseError;

use super::error::{ApiError, ApiResult};
use crate::api::RequestContext;
use crate::broker::BrokerState;
use crate::security::acl::AclOperation;

/// `operation` on the topic, or 403 TOPIC_AUTHORIZATION_FAILED.
pub fn require_topic(
    broker: &BrokerState,
    caller: &RequestContext,
    operation: AclOperation,
    topic: &str,
) -> ApiResult<()> {
    if broker.authorize_topic(caller, operation, topic) {
        return Ok(());
    }
    Err(ApiError::kafka(
        ResponseError::TopicAuthorizationFailed,
        format!("Not authorized to access topics: [{topic}]"),
    ))
}

/// `operation` on the group, or 403 GROUP_AUTHORIZATION_FAILED.
pub fn require_group(
    broker: &BrokerState,
    caller: &RequestContext,
    operation: AclOperation,
    group: &str,
) -> ApiResult<()> {
    if broker.authorize_group(caller, operation, group) {
        return Ok(());
    }
    Err(ApiError::kafka(
        ResponseError::GroupAuthorizationFailed,
        format!("Not authorized to access group: {group}"),
    ))
}
