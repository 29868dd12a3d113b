//! The ACL file, `<data_dir>/acls.toml`: one `[[acl]]` table per binding,
//! with Kafka's names for every enum, rewritten atomically on every change.

use std::collections::BTreeSet;
use std::io::{self};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::acl::{
    AccessControlEntry, AclBinding, AclOperation, AclPermissionType, PatternType, ResourcePattern,
    ResourceType,
};

pub const FILE: &str = "acls.toml";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AclFile {
    #[serde(default)]
    acl: Vec<StoredAcl>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredAcl {
    resource_type: String,
    name: String,
    pattern_type: String,
    principal: String,
    host: String,
    operation: String,
    permission: String,
}

fn invalid(path: &Path, problem: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {problem}", path.display()),
    )
}

/// The stored bindings (none when there is no file yet).
pub fn load(path: &Path) -> io::Result<BTreeSet<AclBinding>> {
    let Some(text) = crate::data_dir::read_optional(path)? else {
        return Ok(BTreeSet::new());
    };
    let file: AclFile = toml::from_str(&text).map_err(|e| invalid(path, e))?;
    file.acl
        .into_iter()
        .map(|a| {
            let binding = AclBinding {
                pattern: ResourcePattern {
                    resource_type: ResourceType::parse(&a.resource_type)
                        .unwrap_or(ResourceType::Unknown),
                    name: a.name,
                    pattern_type: PatternType::parse(&a.pattern_type)
                        .unwrap_or(PatternType::Unknown),
                },
                entry: AccessControlEntry {
                    principal: a.principal,
                    host: a.host,
                    operation: AclOperation::parse(&a.operation).unwrap_or(AclOperation::Unknown),
                    permission: AclPermissionType::parse(&a.permission)
                        .unwrap_or(AclPermissionType::Unknown),
                },
            };
            binding.validate().map_err(|e| invalid(path, e))?;
            Ok(binding)
        })
        .collect()
}

/// Writes the bindings atomically: a temp file, fsync, rename, fsync the dir.
pub fn save(path: &Path, bindings: &BTreeSet<AclBinding>) -> io::Result<()> {
    let file = AclFile {
        acl: bindings
            .iter()
            .map(|b| StoredAcl {
                resource_type: b.pattern.resource_type.name().into(),
                name: b.pattern.name.clone(),
                pattern_type: b.pattern.pattern_type.name().into(),
                principal: b.entry.principal.clone(),
                host: b.entry.host.clone(),
                operation: b.entry.operation.name().into(),
                permission: b.entry.permission.name().into(),
            })
            .collect(),
    };
    let body = toml::to_string(&file).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    crate::data_dir::write_atomically(path, body.as_bytes(), 0o644)
}
