//! The principal of a client that authenticated with a certificate, as Kafka's
//! DefaultKafkaPrincipalBuilder gives it: the subject's distinguished name in
//! RFC 2253 form (Java's `X500Principal.getName()`), passed through
//! `ssl.principal.mapping.rules` (SslPrincipalMapper).

use regex::Regex;
use x509_parser::der_parser::asn1_rs::ToDer;
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

use super::KafkaPrincipal;

/// The subject DN of a DER certificate, as `CN=alice,OU=eng,O=Acme,C=US`.
pub fn subject_dn(cert_der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    Some(rfc2253(cert.subject()))
}

/// RFC 2253 as Java writes it: the last RDN first, multi-valued RDNs joined
/// with `+`, the keywords Java knows by name, any other attribute as
/// `OID=#hex` of its DER value.
fn rfc2253(name: &X509Name) -> String {
    let rdns: Vec<String> = name
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|ava| {
                    let oid = ava.attr_type().to_id_string();
                    match (keyword(&oid), ava.as_str()) {
                        (Some(k), Ok(value)) => format!("{k}={}", escape(value)),
                        _ => {
                            let der = ava.attr_value().to_der_vec().unwrap_or_default();
                            let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
                            format!("{oid}=#{hex}")
                        }
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        _ => return None,
    })
}

/// Backslash before RFC 2253's special characters, a leading `#` or space
/// and a trailing space.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '=' | '+' | '<' | '>' | '#' | ';' | '"' | '\\')
            || (c == ' ' && (i == 0 || i == last));
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One rule of `ssl.principal.mapping.rules`.
#[derive(Debug, Clone)]
enum Rule {
    Default,
    Replace {
        pattern: Regex,
        replacement: String,
        case: Option<char>,
    },
}

/// Kafka's SslPrincipalMapper: the first rule whose pattern matches the whole
/// DN names the user; `DEFAULT` keeps the DN as it is.
#[derive(Debug, Clone)]
pub struct SslPrincipalMapper {
    rules: Vec<Rule>,
}

impl SslPrincipalMapper {
    /// Parses `RULE:pattern/replacement/[LU], ..., DEFAULT`.
    pub fn parse(rules: &str) -> Result<Self, String> {
        let rule = Regex::new(
            r"^\s*(?:(DEFAULT)|RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?))\s*(?:,|$)",
        )
        .map_err(|e| e.to_string())?;
        // Java writes group references as $1; the regex crate reads `$1x` as
        // a group named "1x", so brace them.
        let groups = Regex::new(r"\$(\d+)").map_err(|e| e.to_string())?;
        let mut parsed = Vec::new();
        let mut rest = rules.trim();
        while !rest.is_empty() {
            let caps = rule
                .captures(rest)
                .ok_or_else(|| format!("invalid rule: `{rest}`"))?;
            if caps.get(1).is_some() {
                parsed.push(Rule::Default);
            } else {
                let pattern = &caps[2];
                let pattern = Regex::new(&format!("^(?:{pattern})$"))
                    .map_err(|e| format!("invalid pattern `{pattern}`: {e}"))?;
                let replacement = groups.replace_all(&caps[3], "$${$1}").into_owned();
                parsed.push(Rule::Replace {
                    pattern,
                    replacement,
                    case: caps[4].chars().next(),
                });
            }
            rest = rest[caps[0].len()..].trim_start();
        }
        if parsed.is_empty() {
            return Err("no rule given (DEFAULT keeps the whole DN)".to_string());
        }
        Ok(SslPrincipalMapper { rules: parsed })
    }

    /// The user name for `dn`; None when no rule applies (Kafka refuses such
    /// a client).
    pub fn name(&self, dn: &str) -> Option<String> {
        self.rules.iter().find_map(|rule| match rule {
            Rule::Default => Some(dn.to_string()),
            Rule::Replace {
                pattern,
                replacement,
                case,
            } => {
                let caps = pattern.captures(dn)?;
                let mut name = String::new();
                caps.expand(replacement, &mut name);
                Some(match case {
                    Some('L') => name.to_lowercase(),
                    Some('U') => name.to_uppercase(),
                    _ => name,
                })
            }
        })
    }

    /// The principal of a client that showed `cert_der`; None when the
    /// certificate cannot be read or no rule applies.
    pub fn principal(&self, cert_der: &[u8]) -> Option<KafkaPrincipal> {
        self.name(&subject_dn(cert_der)?).map(KafkaPrincipal::user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

    fn cert_with(subject: &[(DnType, &str)]) -> Vec<u8> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        for (t, v) in subject {
            dn.push(t.clone(), *v);
        }
        params.distinguished_name = dn;
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn the_dn_is_written_as_java_writes_it() {
        // DER order C, O, OU, CN: Java prints the last RDN first.
        let der = cert_with(&[
            (DnType::CountryName, "US"),
            (DnType::OrganizationName, "Acme, Inc."),
            (DnType::OrganizationalUnitName, "eng"),
            (DnType::CommonName, "alice"),
        ]);
        assert_eq!(
            subject_dn(&der).unwrap(),
            r"CN=alice,OU=eng,O=Acme\, Inc.,C=US"
        );
        let der = cert_with(&[
            (DnType::CommonName, " #a+b=c "),
            (
                DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
                "a@b",
            ),
        ]);
        // emailAddress has no keyword: its OID and hex DER (IA5String or
        // UTF8String, as rcgen encodes it).
        let dn = subject_dn(&der).unwrap();
        assert!(dn.starts_with("1.2.840.113549.1.9.1=#"), "{dn}");
        assert!(dn.ends_with(r",CN=\ \#a\+b\=c\ "), "{dn}");
    }

    #[test]
    fn default_rules_keep_the_dn() {
        let m = SslPrincipalMapper::parse("DEFAULT").unwrap();
        let der = cert_with(&[(DnType::OrganizationName, "O"), (DnType::CommonName, "bob")]);
        assert_eq!(m.principal(&der).unwrap().to_string(), "User:CN=bob,O=O");
    }

    #[test]
    fn mapping_rules_as_kafka_documents_them() {
        let m = SslPrincipalMapper::parse(
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,\n RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L, RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U, DEFAULT",
        )
        .unwrap();
        assert_eq!(
            m.name("CN=kafka-svc,OU=ServiceUsers,O=Unknown").unwrap(),
            "kafka-svc"
        );
        assert_eq!(
            m.name("CN=Adam,OU=Sales,O=Unknown,L=Unknown,ST=Unknown,C=Unknown")
                .unwrap(),
            "adam@sales"
        );
        assert_eq!(m.name("OU=x,cn=duke").unwrap(), "DUKE");
        assert_eq!(m.name("O=nobody").unwrap(), "O=nobody");
        let strict = SslPrincipalMapper::parse("RULE:^CN=(.*)$/$1x/").unwrap();
        assert_eq!(strict.name("CN=a").unwrap(), "ax");
        assert!(strict.name("O=a").is_none());
        assert!(SslPrincipalMapper::parse("RULE:a/b").is_err());
        assert!(SslPrincipalMapper::parse("NOPE").is_err());
        assert!(SslPrincipalMapper::parse("").is_err());
        assert!(SslPrincipalMapper::parse("RULE:(/x/").is_err());
    }
}
