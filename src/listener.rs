//! Named listeners, as Kafka has them (`listeners` / `advertised.listeners`):
//! each binds its own address and tells the clients that connect through it
//! its own advertised address, so containers on a Docker network and clients
//! on the host can each be given an address they can reach.
//!
//! `listen` is either one `HOST:PORT` (a listener named PLAINTEXT) or Kafka's
//! list form `NAME://HOST:PORT,NAME://HOST:PORT`; `advertised_listener` takes
//! the same forms, naming a subset of the listeners.

use std::net::{SocketAddr, ToSocketAddrs};

use crate::config::ConfigError;
use crate::security::{SecurityProtocol, parse_protocol_map};

/// The name of the listener `listen = "HOST:PORT"` defines.
pub const DEFAULT_NAME: &str = "PLAINTEXT";

/// One listener as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSpec {
    pub name: String,
    pub protocol: SecurityProtocol,
    pub bind: SocketAddr,
    /// Host and port for Metadata; None derives them from the bound address.
    pub advertised: Option<(String, i32)>,
}

/// A listener that is bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    pub protocol: SecurityProtocol,
    pub bound: SocketAddr,
    pub advertised: (String, i32),
}

impl ListenerSpec {
    /// The listener once bound to `bound` (whose port is the real one when the
    /// spec asked for port 0).
    pub fn bound(&self, bound: SocketAddr) -> Listener {
        let advertised = self.advertised.clone().unwrap_or_else(|| {
            let host = if bound.ip().is_unspecified() {
                hostname().unwrap_or_else(|| "localhost".to_string())
            } else {
                bound.ip().to_string()
            };
            (host, bound.port() as i32)
        });
        Listener {
            name: self.name.clone(),
            protocol: self.protocol,
            bound,
            advertised,
        }
    }
}

/// Kafka's `NAME://HOST:PORT,...` form of a list of (name, host, port).
pub fn kafka_form<'a>(entries: impl IntoIterator<Item = (&'a str, String, i32)>) -> String {
    entries
        .into_iter()
        .map(|(name, host, port)| {
            if host.contains(':') {
                format!("{name}://[{host}]:{port}")
            } else {
                format!("{name}://{host}:{port}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn invalid(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        problem: problem.into(),
    }
}

/// Parses the `listen`, `advertised_listener` and
/// `listener_security_protocol_map` settings.
pub fn parse(
    listen: &str,
    advertised: &str,
    protocol_map: &str,
) -> Result<Vec<ListenerSpec>, ConfigError> {
    const MAP_KEY: &str = "listener_security_protocol_map";
    let protocols = parse_protocol_map(protocol_map).map_err(|e| invalid(MAP_KEY, e))?;
    let mut specs = Vec::new();
    for (name, address) in entries("listen", listen)? {
        if specs.iter().any(|s: &ListenerSpec| s.name == name) {
            return Err(invalid("listen", format!("listener {name} is named twice")));
        }
        let bind = resolve(&address)
            .ok_or_else(|| invalid("listen", format!("`{address}` is not HOST:PORT")))?;
        let protocol = protocols
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, p)| p)
            .ok_or_else(|| {
                invalid(
                    MAP_KEY,
                    format!("listener {name} has no security protocol: add {name}:PLAINTEXT (or SSL, SASL_PLAINTEXT, SASL_SSL)"),
                )
            })?;
        specs.push(ListenerSpec {
            name,
            protocol,
            bind,
            advertised: None,
        });
    }
    if specs.is_empty() {
        return Err(invalid("listen", "no listener given"));
    }
    if advertised.trim().is_empty() {
        return Ok(specs);
    }
    let named = advertised.contains("://");
    let advertised_entries = entries("advertised_listener", advertised)?;
    if !named && specs.len() > 1 {
        return Err(invalid(
            "advertised_listener",
            "with several listeners, name each advertised address: NAME://HOST:PORT",
        ));
    }
    for (name, address) in advertised_entries {
        let name = if named { name } else { specs[0].name.clone() };
        let (host, port) = parse_host_port(&address).ok_or_else(|| {
            invalid(
                "advertised_listener",
                format!("`{address}` is not HOST:PORT"),
            )
        })?;
        let spec = specs.iter_mut().find(|s| s.name == name).ok_or_else(|| {
            invalid(
                "advertised_listener",
                format!("{name} is not one of the listeners in `listen`"),
            )
        })?;
        if spec.advertised.is_some() {
            return Err(invalid(
                "advertised_listener",
                format!("listener {name} is named twice"),
            ));
        }
        spec.advertised = Some((host, port));
    }
    Ok(specs)
}

/// The (name, HOST:PORT) entries of a setting in either form.
fn entries(key: &str, value: &str) -> Result<Vec<(String, String)>, ConfigError> {
    if !value.contains("://") {
        return Ok(vec![(DEFAULT_NAME.to_string(), value.trim().to_string())]);
    }
    value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (name, address) = entry
                .split_once("://")
                .ok_or_else(|| invalid(key, format!("`{entry}` is not NAME://HOST:PORT")))?;
            let valid_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid_name {
                return Err(invalid(key, format!("`{name}` is not a listener name")));
            }
            Ok((name.to_ascii_uppercase(), address.to_string()))
        })
        .collect()
}

/// A bind address; an empty host (Kafka's `PLAINTEXT://:9092`) means every interface.
fn resolve(address: &str) -> Option<SocketAddr> {
    let address = if address.starts_with(':') {
        format!("0.0.0.0{address}")
    } else {
        address.to_string()
    };
    address.to_socket_addrs().ok()?.next()
}

pub fn parse_host_port(s: &str) -> Option<(String, i32)> {
    let (host, port) = s.trim().rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return None;
    }
    Some((host.to_string(), port as i32))
}

fn hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_address_is_one_plaintext_listener() {
        let specs = parse("127.0.0.1:9092", "", "").unwrap();
        assert_eq!(
            specs,
            vec![ListenerSpec {
                name: "PLAINTEXT".into(),
                protocol: SecurityProtocol::Plaintext,
                bind: addr("127.0.0.1:9092"),
                advertised: None
            }]
        );
        let specs = parse("127.0.0.1:9092", "broker.example:19092", "").unwrap();
        assert_eq!(
            specs[0].advertised,
            Some(("broker.example".to_string(), 19092))
        );
    }

    #[test]
    fn named_listeners_get_their_own_advertised_address() {
        let specs = parse(
            "INTERNAL://0.0.0.0:19092, EXTERNAL://:9092",
            "INTERNAL://runnel:19092,EXTERNAL://127.0.0.1:9092",
            "INTERNAL:PLAINTEXT,EXTERNAL:SASL_SSL",
        )
        .unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].name, "INTERNAL");
        assert_eq!(specs[0].bind, addr("0.0.0.0:19092"));
        assert_eq!(specs[0].advertised, Some(("runnel".to_string(), 19092)));
        assert_eq!(specs[1].name, "EXTERNAL");
        assert_eq!(specs[1].protocol, SecurityProtocol::SaslSsl);
        assert_eq!(specs[1].bind, addr("0.0.0.0:9092"));
        assert_eq!(specs[1].advertised, Some(("127.0.0.1".to_string(), 9092)));
    }

    #[test]
    fn an_unadvertised_listener_advertises_its_bound_address() {
        let specs = parse(
            "A://127.0.0.1:0,B://127.0.0.2:0",
            "A://a.example:1",
            "A:SSL,B:SSL",
        )
        .unwrap();
        let b = specs[1].bound(addr("127.0.0.2:4567"));
        assert_eq!(b.advertised, ("127.0.0.2".to_string(), 4567));
        let a = specs[0].bound(addr("127.0.0.1:4568"));
        assert_eq!(a.advertised, ("a.example".to_string(), 1));
    }

    #[test]
    fn bad_listener_settings_are_refused_with_the_key() {
        for (listen, advertised, key) in [
            ("nonsense", "", "listen"),
            ("A://127.0.0.1:1,A://127.0.0.1:2", "", "listen"),
            ("A B://127.0.0.1:1", "", "listen"),
            (
                "A://127.0.0.1:1,B://127.0.0.1:2",
                "host:1",
                "advertised_listener",
            ),
            ("A://127.0.0.1:1", "C://host:1", "advertised_listener"),
            ("A://127.0.0.1:1", "A://host", "advertised_listener"),
            ("C://127.0.0.1:1", "", "listener_security_protocol_map"),
        ] {
            let err = parse(listen, advertised, "A:PLAINTEXT,B:PLAINTEXT")
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{listen} / {advertised}: {err}");
        }
    }

    #[test]
    fn kafka_form_brackets_ipv6_hosts() {
        assert_eq!(
            kafka_form([("A", "::1".to_string(), 1), ("B", "h".to_string(), 2)]),
            "A://[::1]:1,B://h:2"
        );
    }
}
