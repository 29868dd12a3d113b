//! The console's pages, rendered on the server. Forms post JSON to /api/
//! through assets/console.js; in read-only mode the forms are left out.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use super::codec::{from_base64, hex_dump};
use super::error::ApiError;
use super::html::{bytes, esc, page, table, url};
use super::records::{Data, RecordsQuery};
use super::{Broker, groups, overview, records, topics};
use crate::http::HttpState;

const JS: &str = include_str!("assets/console.js");
const CSS: &str = include_str!("assets/console.css");

pub fn routes() -> Router<Arc<HttpState>> {
    Router::new()
        .route("/", get(overview_page))
        .route("/topics", get(topics_page))
        .route("/topics/{name}", get(topic_page))
        .route("/topics/{name}/messages", get(messages_page))
        .route("/groups", get(groups_page))
        .route("/groups/{id}", get(group_page))
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

fn html(title: &str, active: &str, read_only: bool, body: &str) -> Response {
    Html(page(title, active, read_only, body)).into_response()
}

fn error_page(e: ApiError, active: &str, read_only: bool) -> Response {
    let body = format!(
        "<p class=\"error\">{}: {}</p>",
        esc(&e.error),
        esc(&e.message)
    );
    (e.status, Html(page("Error", active, read_only, &body))).into_response()
}

async fn overview_page(Broker(b): Broker) -> Response {
    let o = overview::overview(&b);
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
    let config = serde_json::to_string_pretty(&o.config).unwrap_or_default();
    let _ = write!(
        body,
        "<h2>Effective configuration</h2><pre class=\"config\">{}</pre>",
        esc(&config)
    );
    html("Overview", "/", o.read_only, &body)
}

async fn topics_page(Broker(b): Broker) -> Response {
    let read_only = b.config.console.read_only;
    let list = topics::list(&b);
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

async fn topic_page(Broker(b): Broker, Path(name): Path<String>) -> Response {
    let read_only = b.config.console.read_only;
    let t = match topics::detail(&b, &name) {
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
    body.push_str(&table(
        "configs",
        &["Name", "Value", "Source"],
        t.configs.iter().map(|c| {
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

/// The message browser's query: form fields arrive as strings, empty when unset.
fn messages_query(q: &HashMap<String, String>) -> Result<RecordsQuery, ApiError> {
    fn field<T: std::str::FromStr>(
        q: &HashMap<String, String>,
        k: &str,
    ) -> Result<Option<T>, ApiError> {
        match q.get(k).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("`{k}` is not a number: {v}"))),
        }
    }
    Ok(RecordsQuery {
        partition: field(q, "partition")?,
        offset: field(q, "offset")?,
        timestamp: field(q, "timestamp")?,
        limit: field(q, "limit")?,
        max_value_bytes: None,
    })
}

/// How the browser shows a value: `auto` is pretty JSON, text or hex, whichever fits.
fn render_data(d: &Data, view: &str) -> String {
    let raw = if d.encoding == "base64" {
        from_base64(&d.data).unwrap_or_default()
    } else {
        d.data.clone().into_bytes()
    };
    let json = (d.encoding == "text" && !d.truncated)
        .then(|| serde_json::from_str::<serde_json::Value>(&d.data).ok())
        .flatten()
        .filter(|v| v.is_object() || v.is_array());
    let (class, text) = match (view, d.encoding, json) {
        ("hex", _, _) | (_, "base64", _) => ("hex", hex_dump(&raw)),
        ("json" | "auto", _, Some(v)) => {
            ("json", serde_json::to_string_pretty(&v).unwrap_or_default())
        }
        _ => ("text", d.data.clone()),
    };
    format!("<pre class=\"value {class}\">{}</pre>", esc(&text))
}

async fn messages_page(
    Broker(b): Broker,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let read_only = b.config.console.read_only;
    let view = q.get("view").map(String::as_str).unwrap_or("auto");
    let view = if matches!(view, "auto" | "text" | "json" | "hex") {
        view
    } else {
        "auto"
    };
    let page_data =
        messages_query(&q).and_then(|rq| records::browse(&b, &name, &rq).map(|p| (rq, p)));
    let (rq, p) = match page_data {
        Ok(v) => v,
        Err(e) => return error_page(e, "/topics", read_only),
    };
    let limit = rq
        .limit
        .unwrap_or(records::DEFAULT_LIMIT)
        .clamp(1, records::MAX_LIMIT);
    let topic = url(&p.topic);
    let mut body = format!(
        "<p><a href=\"/topics/{topic}\">← topic {}</a> · partition {} · offsets {}..{}</p>\
<form method=\"get\" class=\"query\">\
<label>Partition <input name=\"partition\" type=\"number\" min=\"0\" value=\"{}\"></label>\
<label>Offset <input name=\"offset\" type=\"number\" placeholder=\"newest\"></label>\
<label>Timestamp (ms) <input name=\"timestamp\" type=\"number\"></label>\
<label>Limit <input name=\"limit\" type=\"number\" min=\"1\" max=\"{}\" value=\"{limit}\"></label>\
<label>View <select name=\"view\">",
        esc(&p.topic),
        p.partition,
        p.log_start_offset,
        p.log_end_offset,
        p.partition,
        records::MAX_LIMIT,
    );
    for v in ["auto", "text", "json", "hex"] {
        let selected = if v == view { " selected" } else { "" };
        let _ = write!(body, "<option{selected}>{v}</option>");
    }
    body.push_str("</select></label><button type=\"submit\">Show</button></form>\
<p><input id=\"filter\" type=\"search\" placeholder=\"Filter shown records\" aria-label=\"Filter\"></p>");
    let link = |offset: i64| {
        format!(
            "/topics/{topic}/messages?partition={}&offset={offset}&limit={limit}&view={view}",
            p.partition
        )
    };
    let older = (p.from_offset - limit as i64).max(p.log_start_offset);
    let mut paging = String::from("<p class=\"paging\">");
    if p.from_offset > p.log_start_offset {
        let _ = write!(
            paging,
            "<a id=\"older\" href=\"{}\">← older</a> ",
            link(older)
        );
    }
    if p.next_offset < p.log_end_offset {
        let _ = write!(
            paging,
            "<a id=\"newer\" href=\"{}\">newer →</a>",
            link(p.next_offset)
        );
    }
    paging.push_str("</p>");
    body.push_str(&paging);
    let rows = p.records.iter().map(|r| {
        let show = |d: &Option<Data>| d.as_ref().map_or_else(|| "<em>null</em>".to_string(), |d| render_data(d, view));
        let mut value = show(&r.value);
        if let Some(d) = r.value.as_ref().filter(|d| d.truncated) {
            let _ = write!(
                value,
                "<a class=\"show-all\" href=\"/api/topics/{topic}/partitions/{}/records/{}/value\">show all ({})</a>",
                r.partition,
                r.offset,
                bytes(d.size as u64)
            );
        }
        let headers: Vec<String> = r
            .headers
            .iter()
            .map(|h| {
                let v = h.value.as_ref().map_or("null".to_string(), |d| d.data.clone());
                format!("{}={}", esc(&h.key), esc(&v))
            })
            .collect();
        vec![
            r.offset.to_string(),
            format!("<time data-ts=\"{0}\">{0}</time>", r.timestamp),
            show(&r.key),
            headers.join("<br>"),
            value,
            r.size.to_string(),
        ]
    });
    body.push_str(&table(
        "records",
        &["Offset", "Timestamp", "Key", "Headers", "Value", "Size"],
        rows,
    ));
    if p.records.is_empty() {
        body.push_str("<p class=\"empty\">No records here.</p>");
    }
    if !read_only {
        let _ = write!(
            body,
            "<h2>Produce a test record</h2><form id=\"produce\" data-form=\"produce\" data-topic=\"{}\">\
<label>Partition <input name=\"partition\" type=\"number\" min=\"0\" value=\"{}\"></label>\
<label>Key <input name=\"key\"></label>\
<label>Value <textarea name=\"value\" rows=\"3\"></textarea></label>\
<label>Headers <textarea name=\"headers\" rows=\"2\" placeholder=\"name=value\"></textarea></label>\
<button type=\"submit\">Produce</button></form>",
            esc(&p.topic),
            p.partition
        );
    }
    html(
        &format!("Messages of {}", p.topic),
        "/topics",
        read_only,
        &body,
    )
}

async fn groups_page(Broker(b): Broker) -> Response {
    let read_only = b.config.console.read_only;
    let list = groups::list(&b);
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

async fn group_page(Broker(b): Broker, Path(id): Path<String>) -> Response {
    let read_only = b.config.console.read_only;
    let g = match groups::detail(&b, &id) {
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
