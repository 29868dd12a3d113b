//! `runnel health`: the container's HEALTHCHECK. An image built FROM scratch
//! has no curl, so the binary asks its own HTTP listener for /health (or, with
//! HTTP off, checks that the Kafka listener accepts a connection).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::Config;

const TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the broker `config` describes answers as healthy.
pub fn probe(config: &Config) -> Result<(), String> {
    if let Some(addr) = config.http_addr().map_err(|e| e.to_string())? {
        let status = get_status(local(addr), "/health").map_err(|e| e.to_string())?;
        return match status {
            200 => Ok(()),
            s => Err(format!("/health answered {s}")),
        };
    }
    let listener = config
        .listeners()
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .ok_or("no listener")?;
    TcpStream::connect_timeout(&local(listener.bind), TIMEOUT)
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", listener.bind))
}

/// A wildcard bind address is reached through loopback.
fn local(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

/// The status code of an HTTP/1.0 GET of `path`.
fn get_status(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut head = [0u8; 32];
    let mut n = 0;
    while n < 12 {
        match stream.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    std::str::from_utf8(&head[..n])
        .ok()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))
}
