//! Kafka's ACL model: a binding is a resource pattern (what) plus an access
//! control entry (who, from where, which operation, allow or deny). Filters
//! (`AclBindingFilter`) select bindings for DescribeAcls and DeleteAcls. The
//! wire codes are Kafka's (`ResourceType`, `PatternType`, `AclOperation`,
//! `AclPermissionType`).

use std::fmt;

/// Kafka's name of the one cluster resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// The resource name and host that match every name and host.
pub const WILDCARD: &str = "*";
/// The principal that matches every principal.
pub const WILDCARD_PRINCIPAL: &str = "User:*";

/// Defines a Kafka enum with its wire codes and names.
macro_rules! kafka_enum {
    ($name:ident { $($variant:ident = $code:literal, $text:literal;)* }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant,)* }

        impl $name {
            pub const ALL: &[$name] = &[$($name::$variant,)*];

            pub fn code(self) -> i8 {
                match self { $($name::$variant => $code,)* }
            }

            /// The variant of a wire code; UNKNOWN for codes Kafka does not define.
            pub fn from_code(code: i8) -> $name {
                match code { $($code => $name::$variant,)* _ => $name::Unknown }
            }

            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            /// Parses Kafka's name, ignoring case, `-` and `_` (`transactional-id`).
            pub fn parse(s: &str) -> Option<$name> {
                let norm = |t: &str| t.replace(['-', '_'], "").to_ascii_uppercase();
                let s = norm(s);
                Self::ALL.iter().copied().find(|v| norm(v.name()) == s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

kafka_enum!(ResourceType {
    Unknown = 0, "UNKNOWN";
    Any = 1, "ANY";
    Topic = 2, "TOPIC";
    Group = 3, "GROUP";
    Cluster = 4, "CLUSTER";
    TransactionalId = 5, "TRANSACTIONAL_ID";
    DelegationToken = 6, "DELEGATION_TOKEN";
    User = 7, "USER";
});

kafka_enum!(PatternType {
    Unknown = 0, "UNKNOWN";
    Any = 1, "ANY";
    Match = 2, "MATCH";
    Literal = 3, "LITERAL";
    Prefixed = 4, "PREFIXED";
});

kafka_enum!(AclOperation {
    Unknown = 0, "UNKNOWN";
    Any = 1, "ANY";
    All = 2, "ALL";
    Read = 3, "READ";
    Write = 4, "WRITE";
    Create = 5, "CREATE";
    Delete = 6, "DELETE";
    Alter = 7, "ALTER";
    Describe = 8, "DESCRIBE";
    ClusterAction = 9, "CLUSTER_ACTION";
    DescribeConfigs = 10, "DESCRIBE_CONFIGS";
    AlterConfigs = 11, "ALTER_CONFIGS";
    IdempotentWrite = 12, "IDEMPOTENT_WRITE";
    CreateTokens = 13, "CREATE_TOKENS";
    DescribeTokens = 14, "DESCRIBE_TOKENS";
});

kafka_enum!(AclPermissionType {
    Unknown = 0, "UNKNOWN";
    Any = 1, "ANY";
    Deny = 2, "DENY";
    Allow = 3, "ALLOW";
});

impl AclOperation {
    /// Whether an ALLOW entry for `self` allows `wanted`: ALL allows everything,
    /// READ/WRITE/DELETE/ALTER imply DESCRIBE, ALTER_CONFIGS implies
    /// DESCRIBE_CONFIGS. A DENY entry denies only its own operation (or ALL).
    pub fn allows(self, wanted: AclOperation) -> bool {
        use AclOperation::*;
        self == All
            || self == wanted
            || (wanted == Describe && matches!(self, Read | Write | Delete | Alter))
            || (wanted == DescribeConfigs && self == AlterConfigs)
    }

    /// The operations a resource type has, as Kafka reports authorized
    /// operations (KIP-430).
    pub fn of_resource(resource_type: ResourceType) -> &'static [AclOperation] {
        use AclOperation::*;
        match resource_type {
            ResourceType::Topic => &[
                Read,
                Write,
                Create,
                Delete,
                Alter,
                Describe,
                DescribeConfigs,
                AlterConfigs,
            ],
            ResourceType::Group => &[Read, Describe, Delete],
            ResourceType::Cluster => &[
                Create,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
                Alter,
                Describe,
            ],
            ResourceType::TransactionalId => &[Describe, Write],
            ResourceType::DelegationToken => &[Describe],
            ResourceType::User => &[CreateTokens, DescribeTokens],
            _ => &[],
        }
    }

    /// KIP-430's bit field of operations.
    pub fn bit_field(ops: impl IntoIterator<Item = AclOperation>) -> i32 {
        ops.into_iter().fold(0, |bits, op| bits | (1 << op.code()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourcePattern {
    pub resource_type: ResourceType,
    pub name: String,
    /// LITERAL or PREFIXED.
    pub pattern_type: PatternType,
}

impl ResourcePattern {
    /// Whether this pattern covers the resource `name` (of its type).
    pub fn covers(&self, name: &str) -> bool {
        match self.pattern_type {
            PatternType::Literal => self.name == name || self.name == WILDCARD,
            PatternType::Prefixed => name.starts_with(&self.name),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccessControlEntry {
    /// `Type:name`, or `User:*` for everyone.
    pub principal: String,
    /// An IP address, or `*` for every host.
    pub host: String,
    pub operation: AclOperation,
    /// ALLOW or DENY.
    pub permission: AclPermissionType,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBinding {
    pub pattern: ResourcePattern,
    pub entry: AccessControlEntry,
}

impl AclBinding {
    /// Kafka's checks of a binding to create (`AclControlManager.validateNewAcl`),
    /// as the message of an INVALID_REQUEST.
    pub fn validate(&self) -> Result<(), String> {
        use AclOperation as Op;
        match self.pattern.resource_type {
            ResourceType::Unknown | ResourceType::Any => {
                return Err(format!(
                    "Invalid resourceType {}",
                    self.pattern.resource_type
                ));
            }
            _ => {}
        }
        match self.pattern.pattern_type {
            PatternType::Literal | PatternType::Prefixed => {}
            p => return Err(format!("Invalid patternType {p}")),
        }
        match self.entry.operation {
            Op::Unknown | Op::Any => {
                return Err(format!("Invalid operation {}", self.entry.operation));
            }
            _ => {}
        }
        match self.entry.permission {
            AclPermissionType::Allow | AclPermissionType::Deny => {}
            p => return Err(format!("Invalid permissionType {p}")),
        }
        if self.pattern.name.is_empty() {
            return Err("Resource name should not be empty".into());
        }
        if self.pattern.resource_type == ResourceType::Cluster && self.pattern.name != CLUSTER_NAME
        {
            return Err("The only valid name for the CLUSTER resource is kafka-cluster".into());
        }
        if super::KafkaPrincipal::parse(&self.entry.principal).is_none() {
            return Err(format!(
                "Could not parse principal from `{}` (no colon is present separating the principal type from the principal name)",
                self.entry.principal
            ));
        }
        if self.entry.host.is_empty() {
            return Err("Invalid empty host".into());
        }
        Ok(())
    }
}

impl fmt::Display for AclBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "(principal={}, host={}, operation={}, permissionType={}) on {}:{}:{}",
            self.entry.principal,
            self.entry.host,
            self.entry.operation,
            self.entry.permission,
            self.pattern.resource_type,
            self.pattern.pattern_type,
            self.pattern.name
        )
    }
}

/// Kafka's AclBindingFilter: None (or ANY) fields match everything. The
/// pattern type MATCH selects every binding that would apply to the named
/// resource (literal, wildcard and prefixes of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclBindingFilter {
    pub resource_type: ResourceType,
    pub name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission: AclPermissionType,
}

impl AclBindingFilter {
    /// Kafka's checks of a filter (`findIndefiniteField` plus the MATCH rule),
    /// as the message of an INVALID_REQUEST.
    pub fn validate(&self) -> Result<(), String> {
        if self.resource_type == ResourceType::Unknown {
            return Err("Resource type is UNKNOWN.".into());
        }
        if self.pattern_type == PatternType::Unknown {
            return Err("Resource pattern type is UNKNOWN.".into());
        }
        if self.operation == AclOperation::Unknown {
            return Err("Operation is UNKNOWN.".into());
        }
        if self.permission == AclPermissionType::Unknown {
            return Err("Permission type is UNKNOWN.".into());
        }
        Ok(())
    }

    pub fn matches(&self, binding: &AclBinding) -> bool {
        let (p, e) = (&binding.pattern, &binding.entry);
        if self.resource_type != ResourceType::Any && self.resource_type != p.resource_type {
            return false;
        }
        let pattern_ok = match (self.pattern_type, &self.name) {
            (PatternType::Any, None) => true,
            (PatternType::Any, Some(n)) => *n == p.name,
            (PatternType::Match, None) => true,
            (PatternType::Match, Some(n)) => match p.pattern_type {
                PatternType::Literal => p.name == *n || p.name == WILDCARD,
                PatternType::Prefixed => n.starts_with(&p.name),
                _ => false,
            },
            (t, None) => t == p.pattern_type,
            (t, Some(n)) => t == p.pattern_type && *n == p.name,
        };
        pattern_ok
            && self.principal.as_ref().is_none_or(|x| *x == e.principal)
            && self.host.as_ref().is_none_or(|x| *x == e.host)
            && (self.operation == AclOperation::Any || self.operation == e.operation)
            && (self.permission == AclPermissionType::Any || self.permission == e.permission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(rt: ResourceType, name: &str, pt: PatternType) -> AclBinding {
        AclBinding {
            pattern: ResourcePattern {
                resource_type: rt,
                name: name.into(),
                pattern_type: pt,
            },
            entry: AccessControlEntry {
                principal: "User:alice".into(),
                host: "*".into(),
                operation: AclOperation::Read,
                permission: AclPermissionType::Allow,
            },
        }
    }

    fn filter(name: Option<&str>, pt: PatternType) -> AclBindingFilter {
        AclBindingFilter {
            resource_type: ResourceType::Topic,
            name: name.map(str::to_string),
            pattern_type: pt,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermissionType::Any,
        }
    }

    #[test]
    fn codes_and_names_are_kafkas() {
        assert_eq!(ResourceType::TransactionalId.code(), 5);
        assert_eq!(AclOperation::from_code(12), AclOperation::IdempotentWrite);
        assert_eq!(AclOperation::from_code(99), AclOperation::Unknown);
        assert_eq!(
            ResourceType::parse("transactional-id"),
            Some(ResourceType::TransactionalId)
        );
        assert_eq!(
            AclOperation::parse("DescribeConfigs"),
            Some(AclOperation::DescribeConfigs)
        );
        assert_eq!(PatternType::Prefixed.to_string(), "PREFIXED");
    }

    #[test]
    fn implied_operations() {
        use AclOperation::*;
        assert!(All.allows(Write));
        assert!(Read.allows(Describe));
        assert!(Alter.allows(Describe));
        assert!(AlterConfigs.allows(DescribeConfigs));
        assert!(!Describe.allows(Read));
        assert!(!Read.allows(Write));
        assert!(!Create.allows(Describe));
        assert!(!DescribeConfigs.allows(AlterConfigs));
    }

    #[test]
    fn filters_match_as_kafkas() {
        let lit = binding(ResourceType::Topic, "orders", PatternType::Literal);
        let wild = binding(ResourceType::Topic, "*", PatternType::Literal);
        let pre = binding(ResourceType::Topic, "ord", PatternType::Prefixed);
        let group = binding(ResourceType::Group, "orders", PatternType::Literal);
        let any = filter(None, PatternType::Any);
        assert!(any.matches(&lit) && any.matches(&pre) && !any.matches(&group));
        let m = filter(Some("orders"), PatternType::Match);
        assert!(m.matches(&lit) && m.matches(&wild) && m.matches(&pre));
        let m = filter(Some("other"), PatternType::Match);
        assert!(!m.matches(&lit) && m.matches(&wild) && !m.matches(&pre));
        let exact = filter(Some("ord"), PatternType::Prefixed);
        assert!(exact.matches(&pre) && !exact.matches(&lit));
        let any_named = filter(Some("orders"), PatternType::Any);
        assert!(any_named.matches(&lit) && !any_named.matches(&pre));
        let mut deny_only = filter(None, PatternType::Any);
        deny_only.permission = AclPermissionType::Deny;
        assert!(!deny_only.matches(&lit));
    }

    #[test]
    fn validation_refuses_what_kafka_refuses() {
        let ok = binding(ResourceType::Topic, "t", PatternType::Literal);
        assert!(ok.validate().is_ok());
        let mut b = ok.clone();
        b.pattern.pattern_type = PatternType::Match;
        assert!(b.validate().is_err());
        let mut b = ok.clone();
        b.entry.operation = AclOperation::Any;
        assert!(b.validate().is_err());
        let mut b = ok.clone();
        b.entry.principal = "alice".into();
        assert!(b.validate().is_err());
        let b = binding(ResourceType::Cluster, "other", PatternType::Literal);
        assert!(b.validate().is_err());
        let mut f = filter(None, PatternType::Any);
        assert!(f.validate().is_ok());
        f.operation = AclOperation::Unknown;
        assert!(f.validate().is_err());
    }
}
