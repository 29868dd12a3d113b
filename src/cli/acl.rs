//! `runnel acl add|list|remove`, like kafka-acls.sh: ACL bindings through
//! CreateAcls, DescribeAcls and DeleteAcls.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};

use super::ClientArgs;
use crate::client::ClientError;
use crate::client::cluster::str_bytes;
use crate::security::acl::{
    AclOperation, AclPermissionType, CLUSTER_NAME, PatternType, ResourceType, WILDCARD,
};

#[derive(Subcommand, Debug)]
pub enum AclCommand {
    /// Add ACLs: every principal × host × operation on every resource named.
    Add {
        #[command(flatten)]
        resources: ResourceArgs,
        #[command(flatten)]
        entries: EntryArgs,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List the ACLs on the resources named (all ACLs when none is named).
    List {
        #[command(flatten)]
        resources: ResourceArgs,
        /// Only ACLs of this principal (`User:alice`).
        #[arg(long)]
        principal: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Remove the ACLs that match: without principals, every ACL on the resources.
    Remove {
        #[command(flatten)]
        resources: ResourceArgs,
        #[command(flatten)]
        entries: EntryArgs,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Args, Debug)]
pub struct ResourceArgs {
    /// A topic (`*` for every topic).
    #[arg(long)]
    topic: Vec<String>,
    /// A consumer group (`*` for every group).
    #[arg(long)]
    group: Vec<String>,
    /// The cluster.
    #[arg(long)]
    cluster: bool,
    /// A transactional id (`*` for every one).
    #[arg(long)]
    transactional_id: Vec<String>,
    /// literal or prefixed (add; default literal); any, match, literal or
    /// prefixed (list, remove; default any).
    #[arg(long)]
    resource_pattern_type: Option<String>,
}

#[derive(Args, Debug)]
pub struct EntryArgs {
    /// A principal to allow (`User:alice`, `User:*`).
    #[arg(long)]
    allow_principal: Vec<String>,
    /// A principal to deny.
    #[arg(long)]
    deny_principal: Vec<String>,
    /// A host allowed principals may connect from (default: every host).
    #[arg(long)]
    allow_host: Vec<String>,
    /// A host denied principals are denied from (default: every host).
    #[arg(long)]
    deny_host: Vec<String>,
    /// Read, Write, Create, Delete, Alter, Describe, ClusterAction,
    /// DescribeConfigs, AlterConfigs, IdempotentWrite, All (default All).
    #[arg(long)]
    operation: Vec<String>,
}

/// (resource type, name) pairs named on the command line.
fn resources(args: &ResourceArgs) -> Vec<(ResourceType, String)> {
    let mut out = Vec::new();
    out.extend(args.topic.iter().map(|n| (ResourceType::Topic, n.clone())));
    out.extend(args.group.iter().map(|n| (ResourceType::Group, n.clone())));
    out.extend(
        args.transactional_id
            .iter()
            .map(|n| (ResourceType::TransactionalId, n.clone())),
    );
    if args.cluster {
        out.push((ResourceType::Cluster, CLUSTER_NAME.to_string()));
    }
    out
}

fn pattern_type(args: &ResourceArgs, default: PatternType) -> anyhow::Result<PatternType> {
    match &args.resource_pattern_type {
        None => Ok(default),
        Some(p) => PatternType::parse(p)
            .filter(|p| !matches!(p, PatternType::Unknown))
            .with_context(|| format!("`{p}` is not any, match, literal or prefixed")),
    }
}

/// (principal, host, operation, permission) of every entry asked for.
fn entries(
    args: &EntryArgs,
) -> anyhow::Result<Vec<(String, String, AclOperation, AclPermissionType)>> {
    let operations = if args.operation.is_empty() {
        vec![AclOperation::All]
    } else {
        args.operation
            .iter()
            .map(|o| {
                AclOperation::parse(o)
                    .filter(|o| !matches!(o, AclOperation::Unknown | AclOperation::Any))
                    .with_context(|| format!("`{o}` is not an operation"))
            })
            .collect::<anyhow::Result<_>>()?
    };
    let hosts = |h: &Vec<String>| {
        if h.is_empty() {
            vec![WILDCARD.to_string()]
        } else {
            h.clone()
        }
    };
    let mut out = Vec::new();
    for (principals, hosts, permission) in [
        (
            &args.allow_principal,
            hosts(&args.allow_host),
            AclPermissionType::Allow,
        ),
        (
            &args.deny_principal,
            hosts(&args.deny_host),
            AclPermissionType::Deny,
        ),
    ] {
        for p in principals {
            for h in &hosts {
                for &o in &operations {
                    out.push((p.clone(), h.clone(), o, permission));
                }
            }
        }
    }
    Ok(out)
}

pub async fn run(command: AclCommand) -> anyhow::Result<()> {
    match command {
        AclCommand::Add {
            resources: r,
            entries: e,
            client,
        } => {
            let pattern = pattern_type(&r, PatternType::Literal)?;
            if !matches!(pattern, PatternType::Literal | PatternType::Prefixed) {
                bail!("ACLs are added with a literal or prefixed resource pattern type");
            }
            let resources = resources(&r);
            let entries = entries(&e)?;
            if resources.is_empty() || entries.is_empty() {
                bail!(
                    "name a resource (--topic, --group, --cluster, --transactional-id) and a principal (--allow-principal, --deny-principal)"
                );
            }
            let creations: Vec<AclCreation> = resources
                .iter()
                .flat_map(|(rt, name)| {
                    entries.iter().map(move |(p, h, o, perm)| {
                        AclCreation::default()
                            .with_resource_type(rt.code())
                            .with_resource_name(str_bytes(name))
                            .with_resource_pattern_type(pattern.code())
                            .with_principal(str_bytes(p))
                            .with_host(str_bytes(h))
                            .with_operation(o.code())
                            .with_permission_type(perm.code())
                    })
                })
                .collect();
            let mut cluster = client.connect().await?;
            let response = cluster
                .any()
                .send(&CreateAclsRequest::default().with_creations(creations))
                .await?;
            for result in response.results {
                ClientError::check(result.error_code, result.error_message.as_deref())
                    .context("create ACLs")?;
            }
            println!("Added ACLs.");
            Ok(())
        }
        AclCommand::List {
            resources: r,
            principal,
            client,
        } => {
            let pattern = pattern_type(&r, PatternType::Any)?;
            let mut targets: Vec<(ResourceType, Option<String>)> = resources(&r)
                .into_iter()
                .map(|(t, n)| (t, Some(n)))
                .collect();
            if targets.is_empty() {
                targets.push((ResourceType::Any, None));
            }
            let mut cluster = client.connect().await?;
            for (rt, name) in targets {
                let request = DescribeAclsRequest::default()
                    .with_resource_type_filter(rt.code())
                    .with_resource_name_filter(name.as_deref().map(str_bytes))
                    .with_pattern_type_filter(pattern.code())
                    .with_principal_filter(principal.as_deref().map(str_bytes))
                    .with_host_filter(None)
                    .with_operation(AclOperation::Any.code())
                    .with_permission_type(AclPermissionType::Any.code());
                let response = cluster.any().send(&request).await?;
                ClientError::check(response.error_code, response.error_message.as_deref())
                    .context("describe ACLs")?;
                for resource in response.resources {
                    println!(
                        "Current ACLs for resource `ResourcePattern(resourceType={}, name={}, patternType={})`:",
                        ResourceType::from_code(resource.resource_type),
                        resource.resource_name.as_str(),
                        PatternType::from_code(resource.pattern_type)
                    );
                    for acl in resource.acls {
                        println!(
                            " \t(principal={}, host={}, operation={}, permissionType={})",
                            acl.principal.as_str(),
                            acl.host.as_str(),
                            AclOperation::from_code(acl.operation),
                            AclPermissionType::from_code(acl.permission_type)
                        );
                    }
                    println!();
                }
            }
            Ok(())
        }
        AclCommand::Remove {
            resources: r,
            entries: e,
            client,
        } => {
            let pattern = pattern_type(&r, PatternType::Any)?;
            let resources = resources(&r);
            if resources.is_empty() {
                bail!("name a resource (--topic, --group, --cluster, --transactional-id)");
            }
            let entries = entries(&e)?;
            let filter = |rt: ResourceType, name: &str| {
                DeleteAclsFilter::default()
                    .with_resource_type_filter(rt.code())
                    .with_resource_name_filter(Some(str_bytes(name)))
                    .with_pattern_type_filter(pattern.code())
            };
            let filters: Vec<DeleteAclsFilter> = resources
                .iter()
                .flat_map(|(rt, name)| {
                    if entries.is_empty() {
                        return vec![
                            filter(*rt, name)
                                .with_principal_filter(None)
                                .with_host_filter(None)
                                .with_operation(AclOperation::Any.code())
                                .with_permission_type(AclPermissionType::Any.code()),
                        ];
                    }
                    entries
                        .iter()
                        .map(|(p, h, o, perm)| {
                            filter(*rt, name)
                                .with_principal_filter(Some(str_bytes(p)))
                                .with_host_filter(Some(str_bytes(h)))
                                .with_operation(o.code())
                                .with_permission_type(perm.code())
                        })
                        .collect()
                })
                .collect();
            let mut cluster = client.connect().await?;
            let response = cluster
                .any()
                .send(&DeleteAclsRequest::default().with_filters(filters))
                .await?;
            let mut removed = 0;
            for result in response.filter_results {
                ClientError::check(result.error_code, result.error_message.as_deref())
                    .context("delete ACLs")?;
                removed += result.matching_acls.len();
            }
            println!("Removed {removed} ACLs.");
            Ok(())
        }
    }
}
