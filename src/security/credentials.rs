//! The SCRAM credentials of users (KIP-554), the one user store of every SASL
//! mechanism: salt, iterations, StoredKey and ServerKey per mechanism, never a
//! password. Kept in `<data_dir>/scram-credentials.toml` (mode 0600), rewritten
//! atomically on every change. Validation follows Kafka's ScramControlManager,
//! messages included.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use super::scram::{
    MAX_ITERATIONS, MIN_ITERATIONS, ScramCredential, ScramMechanism, b64, random_bytes, unb64,
};

pub const FILE: &str = "scram-credentials.toml";

/// Why one user's alteration or description was refused, as Kafka's error codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("{0}")]
    DuplicateResource(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    UnacceptableCredential(String),
    #[error("{0}")]
    UnsupportedSaslMechanism(String),
    #[error("{0}")]
    Storage(String),
}

/// One AlterUserScramCredentials change.
#[derive(Debug, Clone)]
pub enum Alteration {
    /// Delete `user`'s credential of mechanism type `mechanism`.
    Delete { user: String, mechanism: i8 },
    /// Set `user`'s credential from a salted password.
    Upsert {
        user: String,
        mechanism: i8,
        iterations: i32,
        salt: Vec<u8>,
        salted_password: Vec<u8>,
    },
}

impl Alteration {
    /// Sets `user`'s credential of `mechanism` from a password: a fresh 32-byte
    /// salt and the password salted at `iterations`, as kafka-configs.sh sends it.
    pub fn upsert_password(
        user: &str,
        mechanism: ScramMechanism,
        password: &str,
        iterations: i32,
    ) -> Result<Alteration, getrandom::Error> {
        let salt = random_bytes(32)?;
        let salted_password =
            mechanism.salted_password(password.as_bytes(), &salt, iterations.max(1) as u32);
        Ok(Alteration::Upsert {
            user: user.to_string(),
            mechanism: mechanism.kafka_type(),
            iterations,
            salt,
            salted_password,
        })
    }

    fn user(&self) -> &str {
        match self {
            Alteration::Delete { user, .. } | Alteration::Upsert { user, .. } => user,
        }
    }
}

/// Each user asked about, with (mechanism, iterations) of its credentials.
pub type Described = Vec<(String, Result<Vec<(ScramMechanism, i32)>, CredentialError>)>;

type Users = BTreeMap<String, BTreeMap<ScramMechanism, ScramCredential>>;

pub struct CredentialStore {
    path: PathBuf,
    users: Mutex<Users>,
    /// Bumped on every stored change, so caches of verified passwords expire.
    generation: AtomicU64,
}

impl CredentialStore {
    /// Loads the credentials stored in `data_dir` (none when there is no file yet).
    pub fn open(data_dir: &Path) -> io::Result<CredentialStore> {
        let path = data_dir.join(FILE);
        let users = match crate::data_dir::read_optional(&path)? {
            Some(text) => load(&text).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?,
            None => Users::new(),
        };
        Ok(CredentialStore {
            path,
            users: Mutex::new(users),
            generation: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Users> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `user`'s credential for `mechanism`.
    pub fn get(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        self.lock().get(user)?.get(&mechanism).cloned()
    }

    /// Every credential of `user`, strongest mechanism first.
    fn all_of(&self, user: &str) -> Vec<(ScramMechanism, ScramCredential)> {
        let users = self.lock();
        let mut all: Vec<_> = users
            .get(user)
            .map(|c| c.iter().map(|(m, c)| (*m, c.clone())).collect())
            .unwrap_or_default();
        all.reverse();
        all
    }

    /// Whether `password` is `user`'s, for the mechanisms that carry a
    /// password (PLAIN, HTTP Basic): PBKDF2 at the stored salt and iterations
    /// of any of its credentials, all made from the same password.
    pub fn verify_password(&self, user: &str, password: &str) -> bool {
        self.all_of(user)
            .into_iter()
            .next()
            .is_some_and(|(m, c)| c.matches_password(m, password.as_bytes()))
    }

    /// Changes whenever a credential is stored or deleted.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// DescribeUserScramCredentials: each user with (mechanism, iterations) of
    /// its credentials. `None` or an empty list describes every user.
    pub fn describe(&self, users: Option<&[String]>) -> Described {
        let stored = self.lock();
        let summary = |c: &BTreeMap<ScramMechanism, ScramCredential>| {
            c.iter().map(|(m, c)| (*m, c.iterations)).collect()
        };
        let wanted = match users {
            Some(u) if !u.is_empty() => u,
            _ => {
                return stored
                    .iter()
                    .map(|(user, c)| (user.clone(), Ok(summary(c))))
                    .collect();
            }
        };
        let mut out: Vec<(String, Result<_, CredentialError>)> = Vec::new();
        for user in wanted {
            if let Some((_, result)) = out.iter_mut().find(|(u, _)| u == user) {
                *result = Err(CredentialError::DuplicateResource(
                    "Cannot describe SCRAM credentials for the same user twice in a single request"
                        .into(),
                ));
                continue;
            }
            let result = stored.get(user).map(summary).ok_or_else(|| {
                CredentialError::ResourceNotFound(
                    "Attempt to describe a user credential that does not exist".into(),
                )
            });
            out.push((user.clone(), result));
        }
        out
    }

    /// AlterUserScramCredentials: one outcome per user named, in the order
    /// Kafka answers (deletions, upsertions, then refusals). A user altered
    /// twice in one request is refused as a whole.
    pub fn alter(
        &self,
        alterations: Vec<Alteration>,
    ) -> Vec<(String, Result<(), CredentialError>)> {
        let mut users = self.lock();
        let mut errors: Vec<(String, CredentialError)> = Vec::new();
        let mut accepted: Vec<Alteration> = Vec::new();
        for a in alterations {
            let user = a.user().to_string();
            if errors.iter().any(|(u, _)| *u == user) {
                continue;
            }
            if let Some(i) = accepted.iter().position(|b| b.user() == user) {
                accepted.remove(i);
                errors.push((
                    user,
                    CredentialError::DuplicateResource(
                        "A user credential cannot be altered twice in the same request".into(),
                    ),
                ));
                continue;
            }
            match validate(&users, &a) {
                Ok(()) => accepted.push(a),
                Err(e) => errors.push((user, e)),
            }
        }
        let mut altered = users.clone();
        for a in &accepted {
            apply(&mut altered, a);
        }
        let mut out: Vec<(String, Result<(), CredentialError>)> = Vec::new();
        let (deletions, upsertions): (Vec<_>, Vec<_>) = accepted
            .iter()
            .partition(|a| matches!(a, Alteration::Delete { .. }));
        let saved = if accepted.is_empty() {
            Ok(())
        } else {
            save(&self.path, &altered)
        };
        let outcome = match saved {
            Ok(()) => {
                *users = altered;
                self.generation.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "storing SCRAM credentials failed");
                Err(CredentialError::Storage(format!(
                    "storing SCRAM credentials failed: {e}"
                )))
            }
        };
        for a in deletions.into_iter().chain(upsertions) {
            out.push((a.user().to_string(), outcome.clone()));
        }
        out.extend(errors.into_iter().map(|(u, e)| (u, Err(e))));
        out
    }
}

fn validate(users: &Users, a: &Alteration) -> Result<(), CredentialError> {
    let (user, mechanism) = match a {
        Alteration::Delete { user, mechanism }
        | Alteration::Upsert {
            user, mechanism, ..
        } => (user, *mechanism),
    };
    if user.is_empty() {
        return Err(CredentialError::UnacceptableCredential(
            "Username must not be empty".into(),
        ));
    }
    let mechanism = ScramMechanism::from_kafka_type(mechanism).ok_or_else(|| {
        CredentialError::UnsupportedSaslMechanism("Unknown SCRAM mechanism".into())
    })?;
    match a {
        Alteration::Delete { .. } => {
            if users.get(user).and_then(|c| c.get(&mechanism)).is_none() {
                return Err(CredentialError::ResourceNotFound(
                    "Attempt to delete a user credential that does not exist".into(),
                ));
            }
        }
        Alteration::Upsert {
            iterations,
            salt,
            salted_password,
            ..
        } => {
            if *iterations < MIN_ITERATIONS {
                return Err(CredentialError::UnacceptableCredential(
                    "Too few iterations".into(),
                ));
            }
            if *iterations > MAX_ITERATIONS {
                return Err(CredentialError::UnacceptableCredential(
                    "Too many iterations".into(),
                ));
            }
            if salt.is_empty() || salted_password.is_empty() {
                return Err(CredentialError::UnacceptableCredential(
                    "Salt and salted password must not be empty".into(),
                ));
            }
        }
    }
    Ok(())
}

fn apply(users: &mut Users, a: &Alteration) {
    match a {
        Alteration::Delete { user, mechanism } => {
            if let (Some(c), Some(m)) = (
                users.get_mut(user),
                ScramMechanism::from_kafka_type(*mechanism),
            ) {
                c.remove(&m);
                if c.is_empty() {
                    users.remove(user);
                }
            }
        }
        Alteration::Upsert {
            user,
            mechanism,
            iterations,
            salt,
            salted_password,
        } => {
            if let Some(m) = ScramMechanism::from_kafka_type(*mechanism) {
                let credential =
                    ScramCredential::from_salted_password(m, salt, salted_password, *iterations);
                users.entry(user.clone()).or_default().insert(m, credential);
            }
        }
    }
}

#[derive(Serialize, Deserialize, Default)]
struct CredentialFile {
    #[serde(default)]
    user: Vec<StoredUser>,
}

#[derive(Serialize, Deserialize)]
struct StoredUser {
    name: String,
    /// Mechanism name → credential.
    credentials: BTreeMap<String, StoredCredential>,
}

#[derive(Serialize, Deserialize)]
struct StoredCredential {
    salt: String,
    stored_key: String,
    server_key: String,
    iterations: i32,
}

fn load(text: &str) -> Result<Users, String> {
    let file: CredentialFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut users = Users::new();
    for u in file.user {
        let mut credentials = BTreeMap::new();
        for (name, c) in u.credentials {
            let mechanism = ScramMechanism::from_name(&name)
                .ok_or_else(|| format!("user {}: unknown mechanism {name}", u.name))?;
            let bytes = |s: &str| unb64(s).ok_or_else(|| format!("user {}: bad base64", u.name));
            credentials.insert(
                mechanism,
                ScramCredential {
                    salt: bytes(&c.salt)?,
                    stored_key: bytes(&c.stored_key)?,
                    server_key: bytes(&c.server_key)?,
                    iterations: c.iterations,
                },
            );
        }
        users.insert(u.name, credentials);
    }
    Ok(users)
}

/// Writes the store atomically, readable by its owner only: a temp file,
/// fsync, rename, fsync the dir.
fn save(path: &Path, users: &Users) -> io::Result<()> {
    let file = CredentialFile {
        user: users
            .iter()
            .map(|(name, credentials)| StoredUser {
                name: name.clone(),
                credentials: credentials
                    .iter()
                    .map(|(m, c)| {
                        let stored = StoredCredential {
                            salt: b64(&c.salt),
                            stored_key: b64(&c.stored_key),
                            server_key: b64(&c.server_key),
                            iterations: c.iterations,
                        };
                        (m.name().to_string(), stored)
                    })
                    .collect(),
            })
            .collect(),
    };
    let body = toml::to_string(&file).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    crate::data_dir::write_atomically(path, body.as_bytes(), 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn upsert(user: &str, mechanism: i8, iterations: i32) -> Alteration {
        Alteration::Upsert {
            user: user.into(),
            mechanism,
            iterations,
            salt: b"salt".to_vec(),
            salted_password: b"salted".to_vec(),
        }
    }

    #[test]
    fn alterations_are_validated_as_kafka_does_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = CredentialStore::open(dir.path()).unwrap();
        let out = store.alter(vec![
            upsert("alice", 2, 4096),
            upsert("bob", 1, 4095),
            upsert("carol", 1, 16385),
            upsert("dave", 3, 4096),
            upsert("", 1, 4096),
            upsert("erin", 1, 4096),
            Alteration::Delete {
                user: "erin".into(),
                mechanism: 1,
            },
            Alteration::Delete {
                user: "frank".into(),
                mechanism: 1,
            },
        ]);
        let find = |u: &str| out.iter().find(|(n, _)| n == u).unwrap().1.clone();
        assert_eq!(find("alice"), Ok(()));
        assert!(
            matches!(find("bob"), Err(CredentialError::UnacceptableCredential(m)) if m == "Too few iterations")
        );
        assert!(
            matches!(find("carol"), Err(CredentialError::UnacceptableCredential(m)) if m == "Too many iterations")
        );
        assert!(matches!(
            find("dave"),
            Err(CredentialError::UnsupportedSaslMechanism(_))
        ));
        assert!(matches!(
            find(""),
            Err(CredentialError::UnacceptableCredential(_))
        ));
        assert!(matches!(
            find("erin"),
            Err(CredentialError::DuplicateResource(_))
        ));
        assert!(matches!(
            find("frank"),
            Err(CredentialError::ResourceNotFound(_))
        ));
        assert_eq!(out.len(), 7);

        let reopened = CredentialStore::open(dir.path()).unwrap();
        assert!(reopened.get("alice", ScramMechanism::Sha512).is_some());
        assert!(reopened.get("erin", ScramMechanism::Sha256).is_none());
        let described = reopened.describe(Some(&["alice".into(), "zed".into()]));
        assert_eq!(described[0].1, Ok(vec![(ScramMechanism::Sha512, 4096)]));
        assert!(matches!(
            described[1].1,
            Err(CredentialError::ResourceNotFound(_))
        ));
        let twice = reopened.describe(Some(&["alice".into(), "alice".into()]));
        assert_eq!(twice.len(), 1);
        assert!(matches!(
            twice[0].1,
            Err(CredentialError::DuplicateResource(_))
        ));
        assert_eq!(reopened.describe(None).len(), 1);
        let text = fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert!(!text.contains("salted"), "{text}");
        let mode = fs::metadata(dir.path().join(FILE)).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );

        let out = reopened.alter(vec![Alteration::Delete {
            user: "alice".into(),
            mechanism: 2,
        }]);
        assert_eq!(out, vec![("alice".to_string(), Ok(()))]);
        assert!(reopened.describe(None).is_empty());
    }
}
