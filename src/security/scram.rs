//! SCRAM (RFC 5802, RFC 7677) as Kafka uses it: the key derivations, the
//! stored credential, and the messages of one exchange.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

/// Kafka's bounds on a credential's iteration count (ScramMechanism.minIterations,
/// ScramControlManager.MAX_ITERATIONS).
pub const MIN_ITERATIONS: i32 = 4096;
pub const MAX_ITERATIONS: i32 = 16384;

/// The SCRAM mechanisms, with Kafka's type numbers (ScramMechanism).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The type byte of DescribeUserScramCredentials / AlterUserScramCredentials.
    pub fn kafka_type(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    pub fn from_kafka_type(t: i8) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.kafka_type() == t)
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => mac::<Hmac<Sha256>>(key, data),
            ScramMechanism::Sha512 => mac::<Hmac<Sha512>>(key, data),
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// Hi(password, salt, iterations): PBKDF2 with this mechanism's HMAC.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => {
                pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password, salt, iterations).to_vec()
            }
            ScramMechanism::Sha512 => {
                pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password, salt, iterations).to_vec()
            }
        }
    }

    pub fn client_key(self, salted_password: &[u8]) -> Vec<u8> {
        self.hmac(salted_password, b"Client Key")
    }

    pub fn stored_key(self, client_key: &[u8]) -> Vec<u8> {
        self.hash(client_key)
    }

    pub fn server_key(self, salted_password: &[u8]) -> Vec<u8> {
        self.hmac(salted_password, b"Server Key")
    }
}

fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length.
    let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// What the broker keeps of a password: never the password itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

impl ScramCredential {
    /// The credential of a salted password (what AlterUserScramCredentials carries).
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salt: &[u8],
        salted_password: &[u8],
        iterations: i32,
    ) -> Self {
        ScramCredential {
            salt: salt.to_vec(),
            stored_key: mechanism.stored_key(&mechanism.client_key(salted_password)),
            server_key: mechanism.server_key(salted_password),
            iterations,
        }
    }

    /// Whether `password` is the one this credential was made from (for PLAIN).
    pub fn matches_password(&self, mechanism: ScramMechanism, password: &[u8]) -> bool {
        let salted = mechanism.salted_password(password, &self.salt, self.iterations as u32);
        let stored = mechanism.stored_key(&mechanism.client_key(&salted));
        bool::from(stored.ct_eq(&self.stored_key))
    }
}

/// Random bytes from the operating system.
pub fn random_bytes(n: usize) -> Result<Vec<u8>, getrandom::Error> {
    let mut out = vec![0u8; n];
    getrandom::fill(&mut out)?;
    Ok(out)
}

/// A fresh nonce: printable, without commas.
pub fn nonce() -> Result<String, getrandom::Error> {
    Ok(B64.encode(random_bytes(24)?))
}

pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub fn unb64(s: &str) -> Option<Vec<u8>> {
    B64.decode(s).ok()
}

/// A SCRAM user name as sent: `=2C` for `,` and `=3D` for `=`.
fn decode_saslname(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

pub fn encode_saslname(s: &str) -> String {
    s.replace('=', "=3D").replace(',', "=2C")
}

/// `client-first-message`: `n,[a=authzid],n=user,r=nonce[,extensions]`.
#[derive(Debug, PartialEq)]
pub struct ClientFirst {
    pub authzid: Option<String>,
    pub user: String,
    pub nonce: String,
    pub extensions: Vec<(String, String)>,
    /// `n,[a=authzid],`: the client final message echoes it as its channel binding.
    pub gs2_header: String,
    /// Everything after the GS2 header, part of the AuthMessage.
    pub bare: String,
}

impl ClientFirst {
    pub fn parse(message: &str) -> Option<ClientFirst> {
        // Channel binding is not supported: the flag must be "n".
        let rest = message.strip_prefix("n,")?;
        let (authzid, bare) = rest.split_once(',')?;
        let authzid = match authzid {
            "" => None,
            a => Some(decode_saslname(a.strip_prefix("a=")?)?),
        };
        let mut parts = bare.split(',');
        let user = decode_saslname(parts.next()?.strip_prefix("n=")?)?;
        let nonce = parts.next()?.strip_prefix("r=")?.to_string();
        if user.is_empty() || nonce.is_empty() {
            return None;
        }
        let extensions = parts
            .map(|p| {
                p.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(ClientFirst {
            authzid,
            user,
            nonce,
            extensions,
            gs2_header: message[..message.len() - bare.len()].to_string(),
            bare: bare.to_string(),
        })
    }
}

/// `client-final-message`: `c=binding,r=nonce[,extensions],p=proof`.
#[derive(Debug, PartialEq)]
pub struct ClientFinal {
    pub channel_binding: Vec<u8>,
    pub nonce: String,
    pub proof: Vec<u8>,
    /// The message up to (not including) `,p=`, part of the AuthMessage.
    pub without_proof: String,
}

impl ClientFinal {
    pub fn parse(message: &str) -> Option<ClientFinal> {
        let (without_proof, proof) = message.rsplit_once(",p=")?;
        let mut parts = without_proof.split(',');
        let channel_binding = unb64(parts.next()?.strip_prefix("c=")?)?;
        let nonce = parts.next()?.strip_prefix("r=")?.to_string();
        Some(ClientFinal {
            channel_binding,
            nonce,
            proof: unb64(proof)?,
            without_proof: without_proof.to_string(),
        })
    }
}

/// The server's side of one exchange, after the client's first message.
pub struct ServerExchange {
    mechanism: ScramMechanism,
    credential: ScramCredential,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

impl ServerExchange {
    /// Starts an exchange for a user's credential; returns it and the
    /// `server-first-message`.
    pub fn start(
        mechanism: ScramMechanism,
        credential: ScramCredential,
        first: &ClientFirst,
        server_nonce: &str,
    ) -> (ServerExchange, String) {
        let nonce = format!("{}{server_nonce}", first.nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            b64(&credential.salt),
            credential.iterations
        );
        let exchange = ServerExchange {
            mechanism,
            credential,
            gs2_header: first.gs2_header.clone(),
            client_first_bare: first.bare.clone(),
            server_first: server_first.clone(),
            nonce,
        };
        (exchange, server_first)
    }

    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// Checks the client's proof; on success returns the `server-final-message`.
    pub fn finish(&self, last: &ClientFinal) -> Option<String> {
        if last.nonce != self.nonce || last.channel_binding != self.gs2_header.as_bytes() {
            return None;
        }
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, self.server_first, last.without_proof
        );
        let m = self.mechanism;
        let signature = m.hmac(&self.credential.stored_key, auth_message.as_bytes());
        if signature.len() != last.proof.len() {
            return None;
        }
        let client_key: Vec<u8> = last
            .proof
            .iter()
            .zip(&signature)
            .map(|(p, s)| p ^ s)
            .collect();
        if !bool::from(m.stored_key(&client_key).ct_eq(&self.credential.stored_key)) {
            return None;
        }
        let server_signature = m.hmac(&self.credential.server_key, auth_message.as_bytes());
        Some(format!("v={}", b64(&server_signature)))
    }
}

/// The client's side of one exchange (for runnel's own client and tests).
pub struct ClientExchange {
    mechanism: ScramMechanism,
    password: String,
    client_first_bare: String,
    nonce: String,
    server_signature: Vec<u8>,
}

impl ClientExchange {
    /// Starts an exchange; returns it and the `client-first-message`.
    pub fn start(
        mechanism: ScramMechanism,
        user: &str,
        password: &str,
    ) -> Result<(ClientExchange, String), getrandom::Error> {
        let nonce = nonce()?;
        let bare = format!("n={},r={nonce}", encode_saslname(user));
        let first = format!("n,,{bare}");
        Ok((
            ClientExchange {
                mechanism,
                password: password.to_string(),
                client_first_bare: bare,
                nonce,
                server_signature: Vec::new(),
            },
            first,
        ))
    }

    /// Answers the `server-first-message` with the `client-final-message`.
    pub fn answer(&mut self, server_first: &str) -> Result<String, String> {
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for part in server_first.split(',') {
            match part.split_at_checked(2) {
                Some(("r=", v)) => nonce = Some(v),
                Some(("s=", v)) => salt = unb64(v),
                Some(("i=", v)) => iterations = v.parse::<u32>().ok(),
                _ => {}
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err(format!("malformed server-first-message `{server_first}`"));
        };
        if !nonce.starts_with(&self.nonce) || iterations < MIN_ITERATIONS as u32 {
            return Err("server-first-message refused: bad nonce or too few iterations".into());
        }
        let m = self.mechanism;
        let salted = m.salted_password(self.password.as_bytes(), &salt, iterations);
        let client_key = m.client_key(&salted);
        let stored_key = m.stored_key(&client_key);
        let without_proof = format!("c={},r={nonce}", b64(b"n,,"));
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature = m.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        self.server_signature = m.hmac(&m.server_key(&salted), auth_message.as_bytes());
        Ok(format!("{without_proof},p={}", b64(&proof)))
    }

    /// Checks the `server-final-message`: the server knew the credential too.
    pub fn verify(&self, server_final: &str) -> Result<(), String> {
        if let Some(e) = server_final.strip_prefix("e=") {
            return Err(format!("the server refused: {e}"));
        }
        let signature = server_final
            .strip_prefix("v=")
            .and_then(unb64)
            .ok_or_else(|| format!("malformed server-final-message `{server_final}`"))?;
        if bool::from(signature.ct_eq(&self.server_signature)) {
            Ok(())
        } else {
            Err("the server's signature is wrong".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's SCRAM-SHA-256 example, end to end.
    #[test]
    fn rfc7677_example() {
        let m = ScramMechanism::Sha256;
        let salt = unb64("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let salted = m.salted_password(b"pencil", &salt, 4096);
        let credential = ScramCredential::from_salted_password(m, &salt, &salted, 4096);
        let first = ClientFirst::parse("n,,n=user,r=rOprNGfwEbeRWgbNEkqO").unwrap();
        assert_eq!(first.user, "user");
        let (exchange, server_first) = ServerExchange::start(
            m,
            credential.clone(),
            &first,
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        );
        assert_eq!(
            server_first,
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let last = ClientFinal::parse(
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        )
        .unwrap();
        assert_eq!(
            exchange.finish(&last).as_deref(),
            Some("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        );
        assert!(credential.matches_password(m, b"pencil"));
        assert!(!credential.matches_password(m, b"pencil2"));
    }

    #[test]
    fn client_and_server_agree_and_a_wrong_password_fails() {
        for m in ScramMechanism::ALL {
            let salt = random_bytes(16).unwrap();
            let salted = m.salted_password(b"secret", &salt, 4096);
            let credential = ScramCredential::from_salted_password(m, &salt, &salted, 4096);
            for (password, ok) in [("secret", true), ("wrong", false)] {
                let (mut client, first) = ClientExchange::start(m, "a,b=c", password).unwrap();
                let first = ClientFirst::parse(&first).unwrap();
                assert_eq!(first.user, "a,b=c");
                let (server, server_first) =
                    ServerExchange::start(m, credential.clone(), &first, "xyz");
                let last = ClientFinal::parse(&client.answer(&server_first).unwrap()).unwrap();
                let server_final = server.finish(&last);
                assert_eq!(server_final.is_some(), ok);
                if let Some(f) = server_final {
                    client.verify(&f).unwrap();
                }
            }
        }
    }

    #[test]
    fn malformed_messages_are_refused() {
        for bad in [
            "",
            "y,,n=u,r=x",
            "n,,n=,r=x",
            "n,,n=u",
            "n,,n=a=ZZ,r=x",
            "n,a=x",
        ] {
            assert!(ClientFirst::parse(bad).is_none(), "{bad}");
        }
        let first = ClientFirst::parse("n,a=u,n=u,r=x,tokenauth=true").unwrap();
        assert_eq!(first.authzid.as_deref(), Some("u"));
        assert_eq!(first.extensions, vec![("tokenauth".into(), "true".into())]);
        for bad in ["c=biws,r=x", "c=!!,r=x,p=AA==", "r=x,c=biws,p=AA=="] {
            assert!(ClientFinal::parse(bad).is_none(), "{bad}");
        }
    }
}
