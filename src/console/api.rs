//! The console's JSON API under /api/: thin handlers over the modules that
//! do the work (overview, topics, records, groups, transactions).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::error::{ApiError, ApiResult};
use super::{Broker, groups, overview, records, topics, transactions};
use crate::http::HttpState;

pub fn routes() -> Router<Arc<HttpState>> {
    Router::new()
        .route("/api/overview", get(get_overview))
        .route("/api/topics", get(list_topics).post(create_topic))
        .route("/api/topics/{name}", get(get_topic).delete(delete_topic))
        .route(
            "/api/topics/{name}/configs",
            post(alter_configs).patch(alter_configs),
        )
        .route(
            "/api/topics/{name}/records",
            get(browse_records).post(produce_record),
        )
        .route("/api/topics/{name}/newest", get(newest_records))
        .route(
            "/api/topics/{name}/partitions/{partition}/records/{offset}/value",
            get(full_value),
        )
        .route("/api/groups", get(list_groups))
        .route("/api/groups/{id}", get(get_group))
        .route("/api/groups/{id}/reset-offsets", post(reset_offsets))
        .route("/api/transactions", get(list_transactions))
}

/// A JSON body, or 400 with serde's reason.
fn body<T>(json: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    json.map(|Json(t)| t)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

async fn get_overview(Broker(b, caller): Broker) -> Json<overview::Overview> {
    Json(overview::overview(&b, &caller))
}

async fn list_topics(Broker(b, caller): Broker) -> Json<Vec<topics::TopicSummary>> {
    Json(topics::list(&b, &caller))
}

async fn get_topic(
    Broker(b, caller): Broker,
    Path(name): Path<String>,
) -> ApiResult<Json<topics::TopicDetail>> {
    topics::detail(&b, &caller, &name).map(Json)
}

async fn create_topic(
    Broker(b, caller): Broker,
    json: Result<Json<topics::CreateTopic>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<topics::TopicDetail>)> {
    let created = topics::create(&b, &caller, body(json)?)?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn delete_topic(
    Broker(b, caller): Broker,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    topics::delete(&b, &caller, &name).map(|()| StatusCode::NO_CONTENT)
}

async fn alter_configs(
    Broker(b, caller): Broker,
    Path(name): Path<String>,
    json: Result<Json<topics::AlterConfigs>, JsonRejection>,
) -> ApiResult<Json<topics::TopicDetail>> {
    topics::alter_configs(&b, &caller, &name, body(json)?).map(Json)
}

async fn browse_records(
    Broker(b, caller): Broker,
    Path(name): Path<String>,
    query: Result<Query<records::RecordsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<records::RecordsPage>> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    records::browse(&b, &caller, &name, &q).map(Json)
}

async fn newest_records(
    Broker(b, caller): Broker,
    Path(name): Path<String>,
    query: Result<Query<records::RecordsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<records::NewestPage>> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    records::newest(&b, &caller, &name, &q).map(Json)
}

async fn full_value(
    Broker(b, caller): Broker,
    Path((name, partition, offset)): Path<(String, i32, i64)>,
) -> ApiResult<Response> {
    let value = records::full_value(&b, &caller, &name, partition, offset)?;
    let Some(value) = value else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let content_type = if std::str::from_utf8(&value).is_ok() {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    };
    Ok(([(header::CONTENT_TYPE, content_type)], value).into_response())
}

async fn produce_record(
    Broker(b, caller): Broker,
    Path(name): Path<String>,
    json: Result<Json<records::NewRecord>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<records::Produced>)> {
    let produced = records::produce(&b, &caller, &name, body(json)?)?;
    Ok((StatusCode::CREATED, Json(produced)))
}

async fn list_groups(Broker(b, caller): Broker) -> Json<Vec<groups::GroupSummary>> {
    Json(groups::list(&b, &caller))
}

async fn get_group(
    Broker(b, caller): Broker,
    Path(id): Path<String>,
) -> ApiResult<Json<groups::GroupDetail>> {
    groups::detail(&b, &caller, &id).map(Json)
}

async fn reset_offsets(
    Broker(b, caller): Broker,
    Path(id): Path<String>,
    json: Result<Json<groups::ResetOffsets>, JsonRejection>,
) -> ApiResult<Json<groups::GroupDetail>> {
    groups::reset_offsets(&b, &caller, &id, body(json)?).map(Json)
}

async fn list_transactions(Broker(b, caller): Broker) -> Json<transactions::Transactions> {
    Json(transactions::list(&b, &caller))
}
