//! `runnel user add|delete|list`, like kafka-configs.sh --entity-type users
//! with SCRAM-SHA-256/SCRAM-SHA-512 configs: the CLI salts and iterates the
//! password itself and sends only the salted password
//! (AlterUserScramCredentials). With --data-dir it writes the credential store
//! of a stopped broker directly, like kafka-storage format --add-scram, to
//! create the first user of a broker whose every listener needs SASL.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest,
};

use super::{ClientArgs, read_password};
use crate::client::ClientError;
use crate::client::cluster::str_bytes;
use crate::security::CredentialStore;
use crate::security::credentials::{Alteration, CredentialError};
use crate::security::scram::{MIN_ITERATIONS, ScramMechanism};

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user, or change its password.
    Add {
        name: String,
        /// The new password (prefer --password-file or SCRAM_PASSWORD: a flag
        /// shows in the process list).
        #[arg(long, env = "SCRAM_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// A file whose first line is the new password.
        #[arg(long, conflicts_with = "password")]
        password_file: Option<PathBuf>,
        /// SCRAM mechanisms to store a credential for (PLAIN logins check any).
        #[arg(long = "mechanism", default_values = ["SCRAM-SHA-256", "SCRAM-SHA-512"])]
        mechanisms: Vec<String>,
        /// PBKDF2 iterations, 4096 to 16384.
        #[arg(long, default_value_t = MIN_ITERATIONS)]
        iterations: i32,
        #[command(flatten)]
        target: Target,
    },
    /// Delete a user's credentials (every mechanism unless --mechanism is given).
    Delete {
        name: String,
        #[arg(long = "mechanism")]
        mechanisms: Vec<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Users and the mechanisms and iterations of their credentials.
    List {
        names: Vec<String>,
        #[command(flatten)]
        target: Target,
    },
}

/// A running broker, or the data dir of a stopped one.
#[derive(Args, Debug)]
pub struct Target {
    /// Write the credential store in this data dir directly; the broker must
    /// not be running.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    client: ClientArgs,
}

pub async fn run(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            name,
            password,
            password_file,
            mechanisms,
            iterations,
            target,
        } => {
            let password = read_password(password.as_deref(), password_file.as_deref())?
                .context("give the password with --password-file, SCRAM_PASSWORD or --password")?;
            let mut alterations = Vec::new();
            for m in parse_mechanisms(&mechanisms)? {
                alterations.push(
                    Alteration::upsert_password(&name, m, &password, iterations)
                        .context("no random numbers")?,
                );
            }
            alter(&target, alterations).await?;
            println!("user {name}: credentials stored");
        }
        UserCommand::Delete {
            name,
            mechanisms,
            target,
        } => {
            let mechanisms = if mechanisms.is_empty() {
                let listed = list(&target, std::slice::from_ref(&name)).await?;
                listed
                    .into_iter()
                    .flat_map(|(_, found)| found)
                    .map(|(m, _)| m)
                    .collect()
            } else {
                parse_mechanisms(&mechanisms)?
            };
            let alterations = mechanisms
                .into_iter()
                .map(|m| Alteration::Delete {
                    user: name.clone(),
                    mechanism: m.kafka_type(),
                })
                .collect();
            alter(&target, alterations).await?;
            println!("user {name}: credentials deleted");
        }
        UserCommand::List { names, target } => {
            println!("{:<24} {:<16} ITERATIONS", "USER", "MECHANISM");
            for (user, credentials) in list(&target, &names).await? {
                for (m, iterations) in credentials {
                    println!("{user:<24} {:<16} {iterations}", m.name());
                }
            }
        }
    }
    Ok(())
}

fn parse_mechanisms(names: &[String]) -> anyhow::Result<Vec<ScramMechanism>> {
    names
        .iter()
        .map(|n| {
            ScramMechanism::from_name(&n.to_ascii_uppercase())
                .with_context(|| format!("{n} is not SCRAM-SHA-256 or SCRAM-SHA-512"))
        })
        .collect()
}

/// Applies `alterations` one request each (Kafka refuses two for one user in
/// one request), to the broker or to the offline store.
async fn alter(target: &Target, alterations: Vec<Alteration>) -> anyhow::Result<()> {
    if let Some(dir) = &target.data_dir {
        let _lock = crate::data_dir::lock(dir)
            .with_context(|| format!("{} (stop the broker first)", dir.display()))?;
        let store = CredentialStore::open(dir)?;
        for a in alterations {
            for (user, outcome) in store.alter(vec![a]) {
                outcome.map_err(|e| anyhow::anyhow!("user {user}: {e}"))?;
            }
        }
        return Ok(());
    }
    let mut cluster = target.client.connect().await?;
    for a in alterations {
        let request = match a {
            Alteration::Delete { user, mechanism } => AlterUserScramCredentialsRequest::default()
                .with_deletions(vec![
                    ScramCredentialDeletion::default()
                        .with_name(str_bytes(&user))
                        .with_mechanism(mechanism),
                ]),
            Alteration::Upsert {
                user,
                mechanism,
                iterations,
                salt,
                salted_password,
            } => AlterUserScramCredentialsRequest::default().with_upsertions(vec![
                ScramCredentialUpsertion::default()
                    .with_name(str_bytes(&user))
                    .with_mechanism(mechanism)
                    .with_iterations(iterations)
                    .with_salt(salt.into())
                    .with_salted_password(salted_password.into()),
            ]),
        };
        let response = cluster.any().send(&request).await?;
        for r in response.results {
            ClientError::check(r.error_code, r.error_message.as_ref().map(|m| m.as_str()))
                .with_context(|| format!("user {}", r.user.as_str()))?;
        }
    }
    Ok(())
}

type Listed = Vec<(String, Vec<(ScramMechanism, i32)>)>;

async fn list(target: &Target, names: &[String]) -> anyhow::Result<Listed> {
    let wanted = (!names.is_empty()).then_some(names);
    if let Some(dir) = &target.data_dir {
        let store = CredentialStore::open(dir)?;
        return store
            .describe(wanted)
            .into_iter()
            .map(|(user, found)| {
                found
                    .map(|c| (user.clone(), c))
                    .map_err(|e: CredentialError| anyhow::anyhow!("user {user}: {e}"))
            })
            .collect();
    }
    let mut cluster = target.client.connect().await?;
    let request = DescribeUserScramCredentialsRequest::default().with_users(wanted.map(|n| {
        n.iter()
            .map(|n| UserName::default().with_name(str_bytes(n)))
            .collect()
    }));
    let response = cluster.any().send(&request).await?;
    ClientError::check(
        response.error_code,
        response.error_message.as_ref().map(|m| m.as_str()),
    )?;
    let mut out = Vec::new();
    for r in response.results {
        ClientError::check(r.error_code, r.error_message.as_ref().map(|m| m.as_str()))
            .with_context(|| format!("user {}", r.user.as_str()))?;
        let credentials = r
            .credential_infos
            .iter()
            .filter_map(|c| Some((ScramMechanism::from_kafka_type(c.mechanism)?, c.iterations)))
            .collect();
        out.push((r.user.to_string(), credentials));
    }
    Ok(out)
}
