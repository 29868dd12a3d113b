//! Kafka's security protocols and the map from listener names to them
//! (`listener.security.protocol.map`).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub const ALL: [SecurityProtocol; 4] = [
        SecurityProtocol::Plaintext,
        SecurityProtocol::Ssl,
        SecurityProtocol::SaslPlaintext,
        SecurityProtocol::SaslSsl,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s.trim()))
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses `NAME:PROTOCOL,...`. An empty map is Kafka's default, where each
/// protocol's name is a listener name for itself.
pub fn parse_protocol_map(map: &str) -> Result<Vec<(String, SecurityProtocol)>, String> {
    if map.trim().is_empty() {
        return Ok(SecurityProtocol::ALL
            .into_iter()
            .map(|p| (p.name().to_string(), p))
            .collect());
    }
    let mut entries: Vec<(String, SecurityProtocol)> = Vec::new();
    for entry in map.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, protocol) = entry
            .split_once(':')
            .ok_or_else(|| format!("`{entry}` is not LISTENER_NAME:SECURITY_PROTOCOL"))?;
        let protocol = SecurityProtocol::parse(protocol).ok_or_else(|| {
            format!("`{protocol}` is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
        })?;
        let name = name.trim().to_ascii_uppercase();
        if entries.iter().any(|(n, _)| *n == name) {
            return Err(format!("listener {name} is mapped twice"));
        }
        entries.push((name, protocol));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_map_maps_each_protocol_name_to_itself() {
        let map = parse_protocol_map("").unwrap();
        assert!(map.contains(&("SASL_SSL".to_string(), SecurityProtocol::SaslSsl)));
        assert_eq!(map.len(), 4);
    }

    #[test]
    fn a_map_names_listeners() {
        let map = parse_protocol_map("internal:PLAINTEXT, EXTERNAL:sasl_ssl").unwrap();
        assert_eq!(
            map,
            vec![
                ("INTERNAL".to_string(), SecurityProtocol::Plaintext),
                ("EXTERNAL".to_string(), SecurityProtocol::SaslSsl)
            ]
        );
        assert!(parse_protocol_map("A:TLS").is_err());
        assert!(parse_protocol_map("A").is_err());
        assert!(parse_protocol_map("A:SSL,A:PLAINTEXT").is_err());
    }
}
