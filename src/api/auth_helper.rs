//! The checks handlers make, as Kafka's AuthHelper: each asks whether the
//! request's principal, from its host, may perform an operation on a
//! resource. Without an authorizer every check passes at the cost of one
//! branch.

use crate::broker::BrokerState;
use crate::security::acl::{AclOperation, CLUSTER_NAME, ResourceType};

use super::RequestContext;

impl RequestContext {
    /// The client's IP address as ACLs name hosts (`127.0.0.1`).
    pub fn host(&self) -> &str {
        self.client_host.trim_start_matches('/')
    }
}

impl BrokerState {
    pub fn authorize(
        &self,
        ctx: &RequestContext,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        match &self.authorizer {
            None => true,
            Some(a) => a.authorize(&ctx.principal, ctx.host(), operation, resource_type, name),
        }
    }

    pub fn authorize_cluster(&self, ctx: &RequestContext, operation: AclOperation) -> bool {
        self.authorize(ctx, operation, ResourceType::Cluster, CLUSTER_NAME)
    }

    pub fn authorize_topic(
        &self,
        ctx: &RequestContext,
        operation: AclOperation,
        topic: &str,
    ) -> bool {
        self.authorize(ctx, operation, ResourceType::Topic, topic)
    }

    pub fn authorize_group(
        &self,
        ctx: &RequestContext,
        operation: AclOperation,
        group: &str,
    ) -> bool {
        self.authorize(ctx, operation, ResourceType::Group, group)
    }

    pub fn authorize_transactional_id(
        &self,
        ctx: &RequestContext,
        operation: AclOperation,
        id: &str,
    ) -> bool {
        self.authorize(ctx, operation, ResourceType::TransactionalId, id)
    }

    /// Kafka's authorizeByResourceType (KIP-679): the operation on some
    /// resource of the type.
    pub fn authorize_any(
        &self,
        ctx: &RequestContext,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> bool {
        match &self.authorizer {
            None => true,
            Some(a) => {
                a.authorize_by_resource_type(&ctx.principal, ctx.host(), operation, resource_type)
            }
        }
    }

    /// KIP-430's authorized-operations bit field of a resource: 0 when the
    /// principal may not even describe it, as Kafka answers.
    pub fn authorized_operations(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        name: &str,
    ) -> i32 {
        match &self.authorizer {
            Some(a) => {
                let ops = a.authorized_operations(&ctx.principal, ctx.host(), resource_type, name);
                if ops & (1 << AclOperation::Describe.code()) == 0 {
                    0
                } else {
                    ops
                }
            }
            None => {
                AclOperation::bit_field(AclOperation::of_resource(resource_type).iter().copied())
            }
        }
    }
}
