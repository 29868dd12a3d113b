//! CreateAcls, DescribeAcls and DeleteAcls, as Kafka's AclApis: ALTER on the
//! cluster to change ACLs, DESCRIBE to read them, SECURITY_DISABLED without
//! an authorizer.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::broker::BrokerState;
use crate::security::acl::{
    AccessControlEntry, AclBinding, AclBindingFilter, AclOperation, AclPermissionType, PatternType,
    ResourcePattern, ResourceType,
};
use crate::security::{AclError, Authorizer};

const NO_AUTHORIZER: &str = "No Authorizer is configured on the broker";

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// The authorizer, or the error (code, message) every result gets.
fn authorizer<'a>(
    broker: &'a BrokerState,
    ctx: &RequestContext,
    operation: AclOperation,
) -> Result<&'a Authorizer, (ResponseError, Option<StrBytes>)> {
    let Some(a) = &broker.authorizer else {
        return Err((
            ResponseError::SecurityDisabled,
            Some(StrBytes::from_static_str(NO_AUTHORIZER)),
        ));
    };
    if !broker.authorize_cluster(ctx, operation) {
        return Err((ResponseError::ClusterAuthorizationFailed, None));
    }
    Ok(a)
}

fn acl_error(e: &AclError) -> (ResponseError, Option<StrBytes>) {
    let code = match e {
        AclError::Invalid(_) => ResponseError::InvalidRequest,
        AclError::Io(_) => ResponseError::UnknownServerError,
    };
    (code, Some(text(&e.to_string())))
}

pub fn create(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: CreateAclsRequest,
) -> CreateAclsResponse {
    let failed = |(code, message): (ResponseError, Option<StrBytes>)| {
        AclCreationResult::default()
            .with_error_code(code.code())
            .with_error_message(message)
    };
    let results = match authorizer(broker, ctx, AclOperation::Alter) {
        Err(e) => request
            .creations
            .iter()
            .map(|_| failed(e.clone()))
            .collect(),
        Ok(a) => {
            let bindings = request
                .creations
                .into_iter()
                .map(|c| AclBinding {
                    pattern: ResourcePattern {
                        resource_type: ResourceType::from_code(c.resource_type),
                        name: c.resource_name.to_string(),
                        pattern_type: PatternType::from_code(c.resource_pattern_type),
                    },
                    entry: AccessControlEntry {
                        principal: c.principal.to_string(),
                        host: c.host.to_string(),
                        operation: AclOperation::from_code(c.operation),
                        permission: AclPermissionType::from_code(c.permission_type),
                    },
                })
                .collect();
            a.create(bindings)
                .into_iter()
                .map(|r| match r {
                    Ok(()) => AclCreationResult::default(),
                    Err(e) => failed(acl_error(&e)),
                })
                .collect()
        }
    };
    CreateAclsResponse::default().with_results(results)
}

fn filter(
    resource_type: i8,
    name: Option<StrBytes>,
    pattern_type: i8,
    principal: Option<StrBytes>,
    host: Option<StrBytes>,
    operation: i8,
    permission: i8,
) -> AclBindingFilter {
    AclBindingFilter {
        resource_type: ResourceType::from_code(resource_type),
        name: name.map(|s| s.to_string()),
        pattern_type: PatternType::from_code(pattern_type),
        principal: principal.map(|s| s.to_string()),
        host: host.map(|s| s.to_string()),
        operation: AclOperation::from_code(operation),
        permission: AclPermissionType::from_code(permission),
    }
}

pub fn describe(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: DescribeAclsRequest,
) -> DescribeAclsResponse {
    let f = filter(
        request.resource_type_filter,
        request.resource_name_filter,
        request.pattern_type_filter,
        request.principal_filter,
        request.host_filter,
        request.operation,
        request.permission_type,
    );
    let found = authorizer(broker, ctx, AclOperation::Describe)
        .and_then(|a| a.describe(&f).map_err(|e| acl_error(&e)));
    match found {
        Err((code, message)) => DescribeAclsResponse::default()
            .with_error_code(code.code())
            .with_error_message(message),
        Ok(bindings) => {
            let mut by_pattern: BTreeMap<ResourcePattern, Vec<AclDescription>> = BTreeMap::new();
            for b in bindings {
                by_pattern.entry(b.pattern).or_default().push(
                    AclDescription::default()
                        .with_principal(text(&b.entry.principal))
                        .with_host(text(&b.entry.host))
                        .with_operation(b.entry.operation.code())
                        .with_permission_type(b.entry.permission.code()),
                );
            }
            let resources = by_pattern
                .into_iter()
                .map(|(p, acls)| {
                    DescribeAclsResource::default()
                        .with_resource_type(p.resource_type.code())
                        .with_resource_name(text(&p.name))
                        .with_pattern_type(p.pattern_type.code())
                        .with_acls(acls)
                })
                .collect();
            DescribeAclsResponse::default().with_resources(resources)
        }
    }
}

pub fn delete(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: DeleteAclsRequest,
) -> DeleteAclsResponse {
    let failed = |(code, message): (ResponseError, Option<StrBytes>)| {
        DeleteAclsFilterResult::default()
            .with_error_code(code.code())
            .with_error_message(message)
    };
    let results = match authorizer(broker, ctx, AclOperation::Alter) {
        Err(e) => request.filters.iter().map(|_| failed(e.clone())).collect(),
        Ok(a) => {
            let filters: Vec<AclBindingFilter> = request
                .filters
                .into_iter()
                .map(|f: DeleteAclsFilter| {
                    filter(
                        f.resource_type_filter,
                        f.resource_name_filter,
                        f.pattern_type_filter,
                        f.principal_filter,
                        f.host_filter,
                        f.operation,
                        f.permission_type,
                    )
                })
                .collect();
            a.delete(&filters)
                .into_iter()
                .map(|r| match r {
                    Err(e) => failed(acl_error(&e)),
                    Ok(removed) => DeleteAclsFilterResult::default().with_matching_acls(
                        removed
                            .into_iter()
                            .map(|b| {
                                DeleteAclsMatchingAcl::default()
                                    .with_resource_type(b.pattern.resource_type.code())
                                    .with_resource_name(text(&b.pattern.name))
                                    .with_pattern_type(b.pattern.pattern_type.code())
                                    .with_principal(text(&b.entry.principal))
                                    .with_host(text(&b.entry.host))
                                    .with_operation(b.entry.operation.code())
                                    .with_permission_type(b.entry.permission.code())
                            })
                            .collect(),
                    ),
                })
                .collect()
        }
    };
    DeleteAclsResponse::default().with_filter_results(results)
}
