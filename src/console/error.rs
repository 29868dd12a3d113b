//! The console API's errors: an HTTP status and Kafka's error name and message,
//! as JSON `{"error": "INVALID_TOPIC_EXCEPTION", "message": "..."}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kafka_protocol::ResponseError;
use serde::Serialize;

use crate::api::error::{group_error, topic_error};
use crate::group::GroupError;
use crate::metrics::error_name;
use crate::topic::TopicError;

#[derive(Debug, Clone, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub error: String,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, error: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: error.to_string(),
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
    }

    /// A Kafka error code with its message, under the HTTP status that fits it.
    pub fn kafka(error: ResponseError, message: impl Into<String>) -> ApiError {
        ApiError {
            status: status_of(error),
            error: error_name(error.code()),
            message: message.into(),
        }
    }

    pub fn topic(name: &str, e: &TopicError) -> ApiError {
        let message = match e {
            TopicError::UnknownTopic => format!("The topic '{name}' does not exist."),
            e => e.to_string(),
        };
        ApiError::kafka(topic_error(e), message)
    }

    pub fn group(group: &str, e: GroupError) -> ApiError {
        ApiError::kafka(group_error(e), format!("group '{group}': {e}"))
    }
}

fn status_of(error: ResponseError) -> StatusCode {
    use ResponseError::*;
    match error {
        UnknownTopicOrPartition | UnknownTopicId | GroupIdNotFound => StatusCode::NOT_FOUND,
        TopicAlreadyExists | NonEmptyGroup | RebalanceInProgress | UnknownMemberId => {
            StatusCode::CONFLICT
        }
        TopicAuthorizationFailed
        | GroupAuthorizationFailed
        | ClusterAuthorizationFailed
        | TransactionalIdAuthorizationFailed => StatusCode::FORBIDDEN,
        KafkaStorageError | CoordinatorNotAvailable | NotCoordinator | UnknownServerError => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self)).into_response()
    }
}
