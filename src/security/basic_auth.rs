//! HTTP Basic authentication (RFC 7617) against the SCRAM credential store:
//! the password is checked as SASL/PLAIN checks it, by deriving the salted
//! password at the stored salt and iterations. That costs thousands of HMACs,
//! so a successful check is remembered for a while, keyed by the user and a
//! hash of the password, and forgotten as soon as any credential changes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::CredentialStore;
use super::scram::unb64;

/// How long a verified password is trusted without deriving it again.
pub const VERIFIED_TTL: Duration = Duration::from_secs(60);
/// Entries kept at most; beyond that the stale ones are swept, then all.
const MAX_ENTRIES: usize = 1024;

/// A user name and password from an `Authorization: Basic` header.
pub struct BasicCredentials {
    pub user: String,
    pub password: String,
}

impl BasicCredentials {
    /// Parses the header's value: `Basic base64(user:password)`.
    pub fn parse(header: &str) -> Option<BasicCredentials> {
        let (scheme, encoded) = header.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = String::from_utf8(unb64(encoded.trim())?).ok()?;
        let (user, password) = decoded.split_once(':')?;
        if user.is_empty() {
            return None;
        }
        Some(BasicCredentials {
            user: user.to_string(),
            password: password.to_string(),
        })
    }

    fn key(&self) -> (String, [u8; 32]) {
        (self.user.clone(), Sha256::digest(&self.password).into())
    }
}

struct Verified {
    generation: u64,
    at: Instant,
}

/// Passwords recently verified against the store.
#[derive(Default)]
pub struct BasicAuthenticator {
    verified: Mutex<HashMap<(String, [u8; 32]), Verified>>,
}

impl BasicAuthenticator {
    /// Whether these credentials were verified lately and no credential has
    /// changed since: cheap, no key derivation.
    pub fn recently_verified(&self, store: &CredentialStore, c: &BasicCredentials) -> bool {
        let generation = store.generation();
        let verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        verified
            .get(&c.key())
            .is_some_and(|v| v.generation == generation && v.at.elapsed() < VERIFIED_TTL)
    }

    /// Checks the password against the store (PBKDF2: run it off the async
    /// runtime) and remembers a success.
    pub fn verify(&self, store: &CredentialStore, c: &BasicCredentials) -> bool {
        if self.recently_verified(store, c) {
            return true;
        }
        // Read before deriving: a change meanwhile leaves this entry stale.
        let generation = store.generation();
        if !store.verify_password(&c.user, &c.password) {
            return false;
        }
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if verified.len() >= MAX_ENTRIES {
            verified.retain(|_, v| v.generation == generation && v.at.elapsed() < VERIFIED_TTL);
            if verified.len() >= MAX_ENTRIES {
                verified.clear();
            }
        }
        verified.insert(
            c.key(),
            Verified {
                generation,
                at: Instant::now(),
            },
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::credentials::Alteration;
    use crate::security::scram::{ScramMechanism, b64};

    fn add(store: &CredentialStore, user: &str, m: ScramMechanism, password: &str) {
        let out = store.alter(vec![
            Alteration::upsert_password(user, m, password, 4096).unwrap(),
        ]);
        assert!(out.iter().all(|(_, r)| r.is_ok()));
    }

    fn creds(user: &str, password: &str) -> BasicCredentials {
        let header = format!("Basic {}", b64(format!("{user}:{password}").as_bytes()));
        BasicCredentials::parse(&header).unwrap()
    }

    #[test]
    fn parses_the_header_as_rfc_7617_writes_it() {
        let c = BasicCredentials::parse("Basic YWxpY2U6cGE6c3M=").unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("alice", "pa:ss"));
        assert!(BasicCredentials::parse("basic YWxpY2U6cGE6c3M=").is_some());
        assert!(BasicCredentials::parse("Bearer YWxpY2U6cGE6c3M=").is_none());
        assert!(BasicCredentials::parse("Basic !!!").is_none());
        // "alice" without a colon, and ":pw" without a user.
        assert!(BasicCredentials::parse("Basic YWxpY2U=").is_none());
        assert!(BasicCredentials::parse("Basic OnB3").is_none());
    }

    #[test]
    fn verifies_either_mechanism_and_forgets_when_credentials_change() {
        let dir = tempfile::tempdir().unwrap();
        let store = CredentialStore::open(dir.path()).unwrap();
        add(&store, "alice", ScramMechanism::Sha256, "a-pw");
        add(&store, "bob", ScramMechanism::Sha512, "b-pw");
        let auth = BasicAuthenticator::default();
        assert!(!auth.verify(&store, &creds("alice", "wrong")));
        assert!(!auth.verify(&store, &creds("nobody", "a-pw")));
        assert!(!auth.recently_verified(&store, &creds("alice", "a-pw")));
        assert!(auth.verify(&store, &creds("alice", "a-pw")));
        assert!(auth.verify(&store, &creds("bob", "b-pw")));
        assert!(auth.recently_verified(&store, &creds("alice", "a-pw")));
        assert!(!auth.recently_verified(&store, &creds("alice", "wrong")));
        // A new password: the old one is no longer trusted, cached or not.
        add(&store, "alice", ScramMechanism::Sha256, "new-pw");
        assert!(!auth.recently_verified(&store, &creds("alice", "a-pw")));
        assert!(!auth.verify(&store, &creds("alice", "a-pw")));
        assert!(auth.verify(&store, &creds("alice", "new-pw")));
    }
}
