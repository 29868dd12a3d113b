//! The console's pages, rendered on the server (the message browser is in
//! `messages`). Forms post JSON to /api/ through assets/console.js; in
//! read-only mode the forms are left out.

use std::fmt::Write;
use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use super::error::ApiError;
use super::html::{bytes, esc, page, table, url};
use super::{Broker, groups, overview, topics, transactions};
use crate::http::HttpState;

const JS: &str = include_str!("assets/console.js");
const CSS: &str = include_str!("assets/console.css");

pub fn routes() -> Router<Arc<HttpState>> {
    Router::new()
        .route("/", get(overview_page))
        .route("/topics", get(topics_page))
        .route("/topics/{name}", get(topic_page))
        .route("/topics/{name}/messages", get(super::messages::page))
        .route("/groups", get(groups_page))
        .route("/groups/{id}", get(group_page))
        .route("/transactions", get(transactions_page))
        .route(
            "/assets/console.js",
            get(|| asset(JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/assets/console.css",
            get(|| asset(CSS, "text/css; charset=utf-8")),
        )
}

async fn asset(body: &'static str, content_type: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

pub(super) fn html(title: &str, active: &str, read_only: bool, body: &str) -> Response {
    Html(page(title, active, read_only, body)).into_response()
}

pub(super) fn error_page(e: ApiError, active: &str, read_only: bool) -> Response {
    let body = format!(
        "<p class=\"error\">{}: {}</p>",
        esc(&e.error),
        esc(&e.message)
    );
    (e.status, Html(page("Error", active, read_only, &body))).into_response()
}

async fn overview_page(Broker(b, caller): Broker) -> Response {
    let o = overview::overview(&b, &caller);
    let listeners = table(
        "listeners",
        &["Listener", "Bound", "Advertised"],
        o.listeners
            .iter()
            .map(|l| vec![esc(&l.name), esc(&l.bound), esc(&l.advertised)]),
    );
    let facts = [
        ("Version", o.version.to_string()),
        ("Cluster id", o.cluster_id.clone()),
        ("Node id", o.node_id.to_string()),
        ("Uptime", format!("{} s", o.uptime_ms / 1000)),
        ("Data dir", o.data_dir.clone()),
        (
            "Disk",
            format!(
                "{} in logs; {} free of {}",
                bytes(o.disk.logs_bytes),
                bytes(o.disk.usable_bytes),
                bytes(o.disk.total_bytes)
            ),
        ),
        (
            "Topics",
            format!("{} ({} partitions)", o.topics, o.partitions),
        ),
        ("Consumer groups", o.groups.to_string()),
        ("HTTP", o.http_listen.clone()),
    ];
    let mut body = String::from("<dl class=\"facts\">");
    for (k, v) in facts {
        let _ = write!(body, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    }
    body.push_str("</dl><h2>Listeners</h2>");
    body.push_str(&listeners);
    body.push_str(
        "<h2>Throughput</h2><div class=\"charts\">\
<figure><figcaption>Bytes in /s</figcaption><canvas id=\"chart-in\" width=\"360\" height=\"140\"></canvas></figure>\
<figure><figcaption>Bytes out /s</figcaption><canvas id=\"chart-out\" width=\"360\" height=\"140\"></canvas></figure>\
<figure><figcaption>Requests /s</figcaption><canvas id=\"chart-requests\" width=\"360\" height=\"140\"></canvas></figure>\
</div>",
    );
    if !o.config.is_null() {
        let config = serde_json::to_string_pretty(&o.config).unwrap_or_default();
        let _ = write!(
            body,
            "<h2>Effective configuration</h2><pre class=\"config\">{}</pre>",
            esc(&config)
        );
    }
    html("Overview", "/", o.read_only, &body)
}

async fn topics_page(Broker(b, caller): Broker) -> Response {
    let read_only = b.config.console.read_only;
    let list = topics::list(&b, &caller);
    let rows = list.iter().map(|t| {
        vec![
            format!("<a href=\"/topics/{}\">{}</a>", url(&t.name), esc(&t.name)),
            t.partitions.to_string(),
            t.records.to_string(),
            bytes(t.size_bytes),
            esc(&t.cleanup_policy),
            esc(&t.retention_ms),
            bytes(t.bytes_in),
            bytes(t.bytes_out),
            format!("<span data-rate-in=\"{}\">…</span>", esc(&t.name)),
            format!("<span data-rate-out=\"{}\">…</span>", esc(&t.name)),
        ]
    });
    let mut body = table(
        "topics",
        &[
            "Topic",
            "Partitions",
            "Records",
            "Size",
            "cleanup.policy",
            "retention.ms",
            "Bytes in",
            "Bytes out",
            "In /s",
            "Out /s",
        ],
        rows,
    );
    if !read_only {
        body.push_str(
            "<h2>Create a topic</h2><form id=\"create-topic\" data-form=\"create-topic\">\
<label>Name <input name=\"name\" required pattern=\"[a-zA-Z0-9._\\-]+\"></label>\
<label>Partitions <input name=\"partitions\" type=\"number\" min=\"1\" value=\"1\"></label>\
<label>Configs <textarea name=\"configs\" rows=\"2\" placeholder=\"retention.ms=3600000\"></textarea></label>\
<button type=\"submit\">Create</button></form>",
        );
    }
    html("Topics", "/topics", read_only, &body)
}

async fn topic_page(Broker(b, caller): Broker, Path(name): Path<String>) -> Response {
    let read_only = b.config.console.read_only;
    let t = match topics::detail(&b, &caller, &name) {
        Ok(t) => t,
        Err(e) => return error_page(e, "/topics", read_only),
    };
    let s = &t.summary;
    let mut body = format!(
        "<p><a class=\"button\" href=\"/topics/{}/messages\">Browse messages</a></p>\
<dl class=\"facts\"><dt>Id</dt><dd>{}</dd><dt>Partitions</dt><dd>{}</dd><dt>Records</dt><dd>{}</dd>\
<dt>Size</dt><dd>{}</dd><dt>Bytes in / out</dt><dd>{} / {}</dd></dl><h2>Partitions</h2>",
        url(&s.name),
        esc(&t.id),
        s.partitions,
        s.records,
        bytes(s.size_bytes),
        bytes(s.bytes_in),
        bytes(s.bytes_out)
    );
    body.push_str(&table(
        "partitions",
        &[
            "Partition",
            "Log start",
            "Log end",
            "Records",
            "Size",
            "Newest timestamp",
        ],
        t.partition_detail.iter().map(|p| {
            vec![
                format!(
                    "<a href=\"/topics/{}/messages?partition={}\">{}</a>",
                    url(&s.name),
                    p.partition,
                    p.partition
                ),
                p.log_start_offset.to_string(),
                p.log_end_offset.to_string(),
                p.records.to_string(),
                bytes(p.size_bytes),
                p.max_timestamp
                    .map(|ts| format!("<time data-ts=\"{ts}\">{ts}</time>"))
                    .unwrap_or_default(),
            ]
        }),
    ));
    body.push_str("<h2>Configs</h2>");
    let Some(configs) = &t.configs else {
        body.push_str("<p>Not authorized to describe the configs of this topic.</p>");
        return topic_html(s, body, read_only);
    };
    body.push_str(&table(
        "configs",
        &["Name", "Value", "Source"],
        configs.iter().map(|c| {
            let value = esc(c.value.as_deref().unwrap_or(""));
            let cell = if read_only || c.read_only {
                value
            } else {
                let reset = if c.source == "DYNAMIC_TOPIC_CONFIG" {
                    format!(
                        " <button type=\"button\" data-config-delete=\"{}\">Reset</button>",
                        esc(&c.name)
                    )
                } else {
                    String::new()
                };
                format!(
                    "<form class=\"inline\" data-form=\"config\" data-name=\"{name}\">\
<input name=\"value\" value=\"{value}\" aria-label=\"{name}\"> <button type=\"submit\">Save</button>{reset}</form>",
                    name = esc(&c.name)
                )
            };
            vec![esc(&c.name), cell, esc(c.source)]
        }),
    ));
    if !read_only && !s.internal {
        let _ = write!(
            body,
            "<h2>Danger zone</h2><button id=\"delete-topic\" class=\"danger\" data-delete-topic=\"{}\">Delete topic</button>",
            esc(&s.name)
        );
    }
    topic_html(s, body, read_only)
}

fn topic_html(s: &topics::TopicSummary, body: String, read_only: bool) -> Response {
    let mut page_body = format!("<div data-topic=\"{}\">", esc(&s.name));
    page_body.push_str(&body);
    page_body.push_str("</div>");
    html(
        &format!("Topic {}", s.name),
        "/topics",
        read_only,
        &page_body,
    )
}

async fn groups_page(Broker(b, caller): Broker) -> Response {
    let read_only = b.config.console.read_only;
    let list = groups::list(&b, &caller);
    let body = table(
        "groups",
        &["Group", "State", "Type", "Protocol type", "Members", "Lag"],
        list.iter().map(|g| {
            vec![
                format!(
                    "<a href=\"/groups/{}\">{}</a>",
                    url(&g.group_id),
                    esc(&g.group_id)
                ),
                esc(g.state),
                esc(g.group_type),
                esc(&g.protocol_type),
                g.members.to_string(),
                g.total_lag.to_string(),
            ]
        }),
    );
    html("Consumer groups", "/groups", read_only, &body)
}

async fn transactions_page(Broker(b, caller): Broker) -> Response {
    let read_only = b.config.console.read_only;
    let t = transactions::list(&b, &caller);
    let dash = |v: i64| {
        if v < 0 {
            "-".to_string()
        } else {
            v.to_string()
        }
    };
    let mut body = String::from("<h2>Transactional ids</h2>");
    body.push_str(&table(
        "transactions",
        &[
            "Transactional id",
            "State",
            "Producer id",
            "Epoch",
            "Timeout (ms)",
            "Started (ms)",
            "Partitions",
        ],
        t.transactions.iter().map(|x| {
            vec![
                esc(&x.transactional_id),
                esc(x.state),
                x.producer_id.to_string(),
                x.producer_epoch.to_string(),
                x.timeout_ms.to_string(),
                dash(x.start_time_ms),
                esc(&x.partitions.join(", ")),
            ]
        }),
    ));
    body.push_str("<h2>Producers</h2>");
    body.push_str(&table(
        "producers",
        &[
            "Topic",
            "Partition",
            "Producer id",
            "Epoch",
            "Last sequence",
            "Last timestamp",
            "Open transaction from",
        ],
        t.producers.iter().map(|p| {
            vec![
                format!(
                    "<a href=\"/topics/{}\">{}</a>",
                    url(&p.topic),
                    esc(&p.topic)
                ),
                p.partition.to_string(),
                p.producer_id.to_string(),
                p.producer_epoch.to_string(),
                p.last_sequence.to_string(),
                dash(p.last_timestamp),
                p.current_txn_start_offset
                    .map_or("-".to_string(), |o| o.to_string()),
            ]
        }),
    ));
    html("Transactions", "/transactions", read_only, &body)
}

async fn group_page(Broker(b, caller): Broker, Path(id): Path<String>) -> Response {
    let read_only = b.config.console.read_only;
    let g = match groups::detail(&b, &caller, &id) {
        Ok(g) => g,
        Err(e) => return error_page(e, "/groups", read_only),
    };
    let mut body = format!(
        "<dl class=\"facts\"><dt>State</dt><dd id=\"group-state\">{}</dd><dt>Protocol</dt><dd>{} {}</dd>\
<dt>Total lag</dt><dd id=\"total-lag\">{}</dd></dl>\
<figure><figcaption>Total lag</figcaption><canvas id=\"chart-lag\" data-group=\"{}\" width=\"480\" height=\"140\"></canvas></figure>\
<h2>Members</h2>",
        esc(g.state),
        esc(&g.protocol_type),
        esc(&g.protocol),
        g.total_lag,
        esc(&g.group_id)
    );
    body.push_str(&table(
        "members",
        &["Member", "Client id", "Host", "Assignment"],
        g.members.iter().map(|m| {
            let assignment: Vec<String> = m
                .assignment
                .iter()
                .map(|(t, ps)| {
                    let ps: Vec<String> = ps.iter().map(|p| p.to_string()).collect();
                    format!("{} [{}]", esc(t), ps.join(", "))
                })
                .collect();
            vec![
                esc(&m.member_id),
                esc(&m.client_id),
                esc(&m.client_host),
                assignment.join("<br>"),
            ]
        }),
    ));
    body.push_str("<h2>Offsets and lag</h2>");
    body.push_str(&table(
        "offsets",
        &["Topic", "Partition", "Committed", "Log end", "Lag"],
        g.offsets.iter().map(|o| {
            vec![
                format!(
                    "<a href=\"/topics/{}\">{}</a>",
                    url(&o.topic),
                    esc(&o.topic)
                ),
                o.partition.to_string(),
                o.committed_offset.to_string(),
                o.log_end_offset.map_or("-".into(), |e| e.to_string()),
                o.lag.map_or("-".into(), |l| l.to_string()),
            ]
        }),
    ));
    if !read_only && g.members.is_empty() {
        let _ = write!(
            body,
            "<h2>Reset offsets</h2><form id=\"reset-offsets\" data-form=\"reset\" data-group=\"{}\">\
<label>To <select name=\"to\"><option>earliest</option><option>latest</option><option>offset</option></select></label>\
<label>Offset <input name=\"offset\" type=\"number\"></label>\
<label>Topic <input name=\"topic\" placeholder=\"every committed partition\"></label>\
<button type=\"submit\">Reset</button></form>",
            esc(&g.group_id)
        );
    }
    html(
        &format!("Group {}", g.group_id),
        "/groups",
        read_only,
        &body,
    )
}
