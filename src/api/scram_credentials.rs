//! DescribeUserScramCredentials and AlterUserScramCredentials (KIP-554): the
//! users' SCRAM credentials in `crate::security::credentials`.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use super::error::credential_error;
use crate::broker::BrokerState;
use crate::security::acl::AclOperation;
use crate::security::credentials::{Alteration, CredentialError};

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn code_and_message(outcome: &Result<(), CredentialError>) -> (i16, Option<StrBytes>) {
    match outcome {
        Ok(()) => (0, None),
        Err(e) => (credential_error(e).code(), Some(text(&e.to_string()))),
    }
}

/// Needs DESCRIBE on the cluster, as in Kafka.
pub fn describe(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    if !broker.authorize_cluster(ctx, AclOperation::Describe) {
        let e = ResponseError::ClusterAuthorizationFailed;
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(e.code())
            .with_error_message(Some(text(&e.to_string())));
    }
    let users: Option<Vec<String>> = request
        .users
        .map(|u| u.iter().map(|n| n.name.to_string()).collect());
    let results = broker
        .credentials
        .describe(users.as_deref())
        .into_iter()
        .map(|(user, found)| {
            let result = DescribeUserScramCredentialsResult::default().with_user(text(&user));
            match found {
                Ok(credentials) => result.with_credential_infos(
                    credentials
                        .into_iter()
                        .map(|(m, iterations)| {
                            CredentialInfo::default()
                                .with_mechanism(m.kafka_type())
                                .with_iterations(iterations)
                        })
                        .collect(),
                ),
                Err(e) => {
                    let (code, message) = code_and_message(&Err(e));
                    result.with_error_code(code).with_error_message(message)
                }
            }
        })
        .collect();
    DescribeUserScramCredentialsResponse::default().with_results(results)
}

/// Needs ALTER on the cluster, as in Kafka; without it every user's result
/// is CLUSTER_AUTHORIZATION_FAILED.
pub fn alter(
    broker: &Arc<BrokerState>,
    ctx: &RequestContext,
    request: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    if !broker.authorize_cluster(ctx, AclOperation::Alter) {
        let e = ResponseError::ClusterAuthorizationFailed;
        let users = request.deletions.iter().map(|d| d.name.to_string());
        let users = users.chain(request.upsertions.iter().map(|u| u.name.to_string()));
        let results = users
            .map(|user| {
                AlterUserScramCredentialsResult::default()
                    .with_user(text(&user))
                    .with_error_code(e.code())
                    .with_error_message(Some(text(&e.to_string())))
            })
            .collect();
        return AlterUserScramCredentialsResponse::default().with_results(results);
    }
    let deletions = request.deletions.into_iter().map(|d| Alteration::Delete {
        user: d.name.to_string(),
        mechanism: d.mechanism,
    });
    let upsertions = request.upsertions.into_iter().map(|u| Alteration::Upsert {
        user: u.name.to_string(),
        mechanism: u.mechanism,
        iterations: u.iterations,
        salt: u.salt.to_vec(),
        salted_password: u.salted_password.to_vec(),
    });
    let results = broker
        .credentials
        .alter(deletions.chain(upsertions).collect())
        .into_iter()
        .map(|(user, outcome)| {
            let (code, message) = code_and_message(&outcome);
            AlterUserScramCredentialsResult::default()
                .with_user(text(&user))
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}
