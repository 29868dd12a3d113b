//! The decision, as Kafka's StandardAuthorizer makes it: super users may do
//! everything; otherwise the ACLs on the resource (its literal name, the
//! wildcard `*` and every prefix of its name) that match the principal and
//! host decide, a DENY beating any ALLOW; a resource without any ACL is
//! allowed only with allow.everyone.if.no.acl.found.
//!
//! The bindings live in `<data_dir>/acls.toml`, rewritten atomically on every
//! change; lookups go through an index by resource type and name, so a check
//! costs a few hash lookups whatever the number of ACLs.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard};

use super::KafkaPrincipal;
use super::acl::{
    AccessControlEntry, AclBinding, AclBindingFilter, AclOperation, AclPermissionType, PatternType,
    ResourcePattern, ResourceType, WILDCARD, WILDCARD_PRINCIPAL,
};
use super::acl_store;

#[derive(Debug, thiserror::Error)]
pub enum AclError {
    /// INVALID_REQUEST.
    #[error("{0}")]
    Invalid(String),
    #[error("storing ACLs: {0}")]
    Io(#[from] io::Error),
}

pub struct Authorizer {
    super_users: HashSet<KafkaPrincipal>,
    allow_everyone_if_no_acl_found: bool,
    path: PathBuf,
    acls: RwLock<AclIndex>,
}

impl Authorizer {
    /// What Kafka's authorizer.class.name names for this authorizer.
    pub const KAFKA_CLASS: &'static str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

    /// Loads the ACLs stored in `data_dir` (none when there is no file yet).
    pub fn open(
        data_dir: &Path,
        super_users: &str,
        allow_everyone_if_no_acl_found: bool,
    ) -> io::Result<Authorizer> {
        let path = data_dir.join(acl_store::FILE);
        let bindings = acl_store::load(&path)?;
        Ok(Authorizer {
            super_users: parse_super_users(super_users).map_err(io::Error::other)?,
            allow_everyone_if_no_acl_found,
            path,
            acls: RwLock::new(AclIndex::new(bindings)),
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, AclIndex> {
        self.acls.read().unwrap_or_else(|p| p.into_inner())
    }

    /// May `principal`, connected from `host` (an IP address), perform
    /// `operation` on the resource?
    pub fn authorize(
        &self,
        principal: &KafkaPrincipal,
        host: &str,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        if self.super_users.contains(principal) {
            return true;
        }
        let acls = self.read();
        let Some(index) = acls.by_type.get(&resource_type) else {
            return self.allow_everyone_if_no_acl_found;
        };
        let mut found = false;
        let mut allowed = false;
        let mut sections = [index.literal.get(name), index.literal.get(WILDCARD)]
            .into_iter()
            .flatten()
            .chain(
                index
                    .prefix_lengths
                    .iter()
                    .take_while(|&&len| len <= name.len())
                    .filter_map(|&len| name.get(..len).and_then(|p| index.prefixed.get(p))),
            );
        if sections.any(|entries| {
            found = true;
            entries
                .iter()
                .filter(|e| e.applies_to(principal, host))
                .any(|e| match e.permission {
                    AclPermissionType::Deny => {
                        e.operation == AclOperation::All || e.operation == operation
                    }
                    _ => {
                        allowed |= e.operation.allows(operation);
                        false
                    }
                })
        }) {
            return false;
        }
        if !found {
            return self.allow_everyone_if_no_acl_found;
        }
        allowed
    }

    /// May the principal perform `operation` on some resource of the type?
    /// Kafka's `authorizeByResourceType` (KIP-679): an ALLOW on any name that
    /// no DENY covers.
    pub fn authorize_by_resource_type(
        &self,
        principal: &KafkaPrincipal,
        host: &str,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> bool {
        // Kafka's own shortcut: a name no ACL is likely to name, so that super
        // users and allow.everyone.if.no.acl.found apply.
        if self.authorize(principal, host, operation, resource_type, "hardcode") {
            return true;
        }
        let acls = self.read();
        let mut allows = Vec::new();
        let mut denies = Vec::new();
        for b in &acls.bindings {
            let e = IndexedEntry::from(&b.entry);
            if b.pattern.resource_type != resource_type
                || !e.applies_to(principal, host)
                || (e.operation != operation && e.operation != AclOperation::All)
            {
                continue;
            }
            match e.permission {
                AclPermissionType::Deny => denies.push(&b.pattern),
                _ => allows.push(&b.pattern),
            }
        }
        let denied = |p: &ResourcePattern| {
            denies.iter().any(|d| match d.pattern_type {
                PatternType::Literal => d.name == WILDCARD || *d == p,
                _ => p.name.starts_with(&d.name),
            })
        };
        allows.iter().any(|p| !denied(p))
    }

    /// The operations of KIP-430's authorized-operations fields.
    pub fn authorized_operations(
        &self,
        principal: &KafkaPrincipal,
        host: &str,
        resource_type: ResourceType,
        name: &str,
    ) -> i32 {
        AclOperation::bit_field(
            AclOperation::of_resource(resource_type)
                .iter()
                .copied()
                .filter(|&op| self.authorize(principal, host, op, resource_type, name)),
        )
    }

    /// Adds the valid bindings (adding one twice changes nothing); one outcome
    /// per binding, in order.
    pub fn create(&self, bindings: Vec<AclBinding>) -> Vec<Result<(), AclError>> {
        let mut acls = self.acls.write().unwrap_or_else(|p| p.into_inner());
        let mut all = acls.bindings.clone();
        let mut outcomes: Vec<Result<(), AclError>> = bindings
            .into_iter()
            .map(|b| {
                b.validate().map_err(AclError::Invalid)?;
                all.insert(b);
                Ok(())
            })
            .collect();
        if all != acls.bindings {
            match acl_store::save(&self.path, &all) {
                Ok(()) => *acls = AclIndex::new(all),
                Err(e) => fail_all(&mut outcomes, &e),
            }
        }
        outcomes
    }

    /// The bindings the filter matches.
    pub fn describe(&self, filter: &AclBindingFilter) -> Result<Vec<AclBinding>, AclError> {
        filter.validate().map_err(AclError::Invalid)?;
        Ok(self
            .read()
            .bindings
            .iter()
            .filter(|b| filter.matches(b))
            .cloned()
            .collect())
    }

    /// Removes what each filter matches; per filter, the bindings it removed.
    pub fn delete(&self, filters: &[AclBindingFilter]) -> Vec<Result<Vec<AclBinding>, AclError>> {
        let mut acls = self.acls.write().unwrap_or_else(|p| p.into_inner());
        let mut all = acls.bindings.clone();
        let mut outcomes: Vec<Result<Vec<AclBinding>, AclError>> = filters
            .iter()
            .map(|f| {
                f.validate().map_err(AclError::Invalid)?;
                let removed: Vec<AclBinding> = acls
                    .bindings
                    .iter()
                    .filter(|b| f.matches(b))
                    .cloned()
                    .collect();
                for b in &removed {
                    all.remove(b);
                }
                Ok(removed)
            })
            .collect();
        if all != acls.bindings {
            match acl_store::save(&self.path, &all) {
                Ok(()) => *acls = AclIndex::new(all),
                Err(e) => fail_all(&mut outcomes, &e),
            }
        }
        outcomes
    }
}

fn fail_all<T>(outcomes: &mut [Result<T, AclError>], e: &io::Error) {
    tracing::error!(error = %e, "storing ACLs failed");
    for o in outcomes.iter_mut().filter(|o| o.is_ok()) {
        *o = Err(AclError::Io(io::Error::new(e.kind(), e.to_string())));
    }
}

/// Kafka's super.users: `User:a;User:b`.
pub fn parse_super_users(list: &str) -> Result<HashSet<KafkaPrincipal>, String> {
    list.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| KafkaPrincipal::parse(s).ok_or_else(|| format!("`{s}` is not Type:name")))
        .collect()
}

/// An entry as the index keeps it: the wildcards resolved once.
struct IndexedEntry {
    /// None: every principal (`User:*`).
    principal: Option<KafkaPrincipal>,
    /// None: every host.
    host: Option<String>,
    operation: AclOperation,
    permission: AclPermissionType,
}

impl From<&AccessControlEntry> for IndexedEntry {
    fn from(e: &AccessControlEntry) -> Self {
        IndexedEntry {
            principal: (e.principal != WILDCARD_PRINCIPAL)
                .then(|| KafkaPrincipal::parse(&e.principal))
                .flatten(),
            host: (e.host != WILDCARD).then(|| e.host.clone()),
            operation: e.operation,
            permission: e.permission,
        }
    }
}

impl IndexedEntry {
    fn applies_to(&self, principal: &KafkaPrincipal, host: &str) -> bool {
        self.principal.as_ref().is_none_or(|p| p == principal)
            && self.host.as_deref().is_none_or(|h| h == host)
    }
}

#[derive(Default)]
struct TypeIndex {
    /// By name; the wildcard is the name `*`.
    literal: HashMap<String, Vec<IndexedEntry>>,
    prefixed: HashMap<String, Vec<IndexedEntry>>,
    /// The lengths of the prefixes above, so a lookup tries only those.
    prefix_lengths: BTreeSet<usize>,
}

struct AclIndex {
    bindings: BTreeSet<AclBinding>,
    by_type: HashMap<ResourceType, TypeIndex>,
}

impl AclIndex {
    fn new(bindings: BTreeSet<AclBinding>) -> AclIndex {
        let mut by_type: HashMap<ResourceType, TypeIndex> = HashMap::new();
        for b in &bindings {
            let index = by_type.entry(b.pattern.resource_type).or_default();
            let section = match b.pattern.pattern_type {
                PatternType::Prefixed => {
                    index.prefix_lengths.insert(b.pattern.name.len());
                    &mut index.prefixed
                }
                _ => &mut index.literal,
            };
            section
                .entry(b.pattern.name.clone())
                .or_default()
                .push(IndexedEntry::from(&b.entry));
        }
        AclIndex { bindings, by_type }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AclOperation::*;
    use AclPermissionType::{Allow, Deny};

    fn acl(
        rt: ResourceType,
        name: &str,
        pt: PatternType,
        principal: &str,
        op: AclOperation,
        perm: AclPermissionType,
    ) -> AclBinding {
        AclBinding {
            pattern: ResourcePattern {
                resource_type: rt,
                name: name.into(),
                pattern_type: pt,
            },
            entry: AccessControlEntry {
                principal: principal.into(),
                host: "*".into(),
                operation: op,
                permission: perm,
            },
        }
    }

    fn topic(name: &str, principal: &str, op: AclOperation, perm: AclPermissionType) -> AclBinding {
        acl(
            ResourceType::Topic,
            name,
            PatternType::Literal,
            principal,
            op,
            perm,
        )
    }

    fn authorizer(super_users: &str, allow_everyone: bool) -> (tempfile::TempDir, Authorizer) {
        let dir = tempfile::tempdir().unwrap();
        let a = Authorizer::open(dir.path(), super_users, allow_everyone).unwrap();
        (dir, a)
    }

    fn may(a: &Authorizer, who: &str, op: AclOperation, name: &str) -> bool {
        let p = KafkaPrincipal::parse(who).unwrap();
        a.authorize(&p, "127.0.0.1", op, ResourceType::Topic, name)
    }

    #[test]
    fn allow_implies_describe_and_deny_wins() {
        let (_d, a) = authorizer("", false);
        let r = a.create(vec![
            topic("t", "User:alice", Read, Allow),
            topic("t", "User:bob", All, Allow),
            topic("t", "User:bob", Write, Deny),
        ]);
        assert!(r.iter().all(Result::is_ok));
        assert!(may(&a, "User:alice", Read, "t"));
        assert!(may(&a, "User:alice", Describe, "t"));
        assert!(!may(&a, "User:alice", Write, "t"));
        assert!(!may(&a, "User:carol", Read, "t"));
        assert!(may(&a, "User:bob", Delete, "t"));
        assert!(!may(&a, "User:bob", Write, "t"));
        // No ACL on the resource at all: allow.everyone.if.no.acl.found (false).
        assert!(!may(&a, "User:alice", Read, "other"));
    }

    #[test]
    fn wildcards_prefixes_hosts_and_super_users() {
        let (_d, a) = authorizer("User:admin; User:ops", true);
        a.create(vec![
            acl(
                ResourceType::Topic,
                "logs-",
                PatternType::Prefixed,
                "User:*",
                Read,
                Allow,
            ),
            topic("*", "User:eve", All, Deny),
            topic("private", "User:alice", Read, Allow),
        ]);
        assert!(may(&a, "User:anyone", Read, "logs-app"));
        assert!(!may(&a, "User:anyone", Write, "logs-app"));
        assert!(!may(&a, "User:eve", Read, "logs-app"));
        assert!(may(&a, "User:admin", Write, "private"));
        assert!(!may(&a, "User:bob", Read, "private"));
        // The wildcard ACL counts as an ACL on every topic.
        assert!(!may(&a, "User:bob", Read, "free"));
        let (_d, a) = authorizer("", true);
        assert!(may(&a, "User:bob", Read, "free"));
        let mut b = topic("t", "User:alice", Read, Allow);
        b.entry.host = "10.0.0.1".into();
        a.create(vec![b]);
        let alice = KafkaPrincipal::user("alice");
        assert!(a.authorize(&alice, "10.0.0.1", Read, ResourceType::Topic, "t"));
        assert!(!a.authorize(&alice, "10.0.0.2", Read, ResourceType::Topic, "t"));
    }

    #[test]
    fn by_resource_type_needs_an_allow_no_deny_covers() {
        let (_d, a) = authorizer("", false);
        let alice = KafkaPrincipal::user("alice");
        let any =
            |a: &Authorizer| a.authorize_by_resource_type(&alice, "h", Write, ResourceType::Topic);
        assert!(!any(&a));
        a.create(vec![acl(
            ResourceType::Topic,
            "app-",
            PatternType::Prefixed,
            "User:alice",
            Write,
            Allow,
        )]);
        assert!(any(&a));
        a.create(vec![acl(
            ResourceType::Topic,
            "app",
            PatternType::Prefixed,
            "User:alice",
            Write,
            Deny,
        )]);
        assert!(!any(&a));
    }

    #[test]
    fn acls_survive_reopening_and_delete_by_filter() {
        let (dir, a) = authorizer("", false);
        a.create(vec![
            topic("t", "User:alice", Read, Allow),
            topic("u", "User:alice", Write, Allow),
        ]);
        let a = Authorizer::open(dir.path(), "", false).unwrap();
        assert!(may(&a, "User:alice", Read, "t"));
        let filter = AclBindingFilter {
            resource_type: ResourceType::Topic,
            name: Some("t".into()),
            pattern_type: PatternType::Literal,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermissionType::Any,
        };
        let removed = a.delete(std::slice::from_ref(&filter));
        assert_eq!(removed[0].as_ref().unwrap().len(), 1);
        let a = Authorizer::open(dir.path(), "", false).unwrap();
        assert!(!may(&a, "User:alice", Read, "t"));
        assert!(may(&a, "User:alice", Write, "u"));
        assert!(a.describe(&filter).unwrap().is_empty());
    }
}
