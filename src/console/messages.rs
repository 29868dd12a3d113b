//! The message browser page: a few records of one partition (or the newest of
//! every partition), shown as pretty JSON, text or hex, with paging links, a
//! filter box and a produce form.

use std::collections::HashMap;
use std::fmt::Write;

use axum::extract::{Path, Query};
use axum::response::Response;

use super::Broker;
use super::codec::{from_base64, hex_dump};
use super::error::ApiError;
use super::html::{bytes, esc, table, url};
use super::pages::{error_page, html};
use super::records::{self, Data, RecordView, RecordsQuery};
use crate::api::RequestContext;
use crate::broker::BrokerState;

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

pub async fn page(
    Broker(b, caller): Broker,
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
    if q.get("partition").map(String::as_str) == Some("all") {
        let view = view.to_string();
        return newest_page(&b, &caller, &name, q.clone(), &view);
    }
    let page_data =
        messages_query(&q).and_then(|rq| records::browse(&b, &caller, &name, &rq).map(|p| (rq, p)));
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
        "<p><a href=\"/topics/{topic}\">← topic {}</a> · partition {} · offsets {}..{} · \
<a id=\"all-partitions\" href=\"/topics/{topic}/messages?partition=all\">newest of every partition</a></p>\
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
    body.push_str(&records_table(&topic, &p.records, view));
    if !read_only {
        body.push_str(&produce_form(&p.topic, p.partition));
    }
    html(
        &format!("Messages of {}", p.topic),
        "/topics",
        read_only,
        &body,
    )
}

/// The newest records of every partition together (no paging: a snapshot).
fn newest_page(
    b: &BrokerState,
    caller: &RequestContext,
    name: &str,
    mut q: HashMap<String, String>,
    view: &str,
) -> Response {
    let read_only = b.config.console.read_only;
    q.remove("partition");
    let newest = messages_query(&q).and_then(|rq| records::newest(b, caller, name, &rq));
    let page = match newest {
        Ok(page) => page,
        Err(e) => return error_page(e, "/topics", read_only),
    };
    let topic = url(&page.topic);
    let mut body = format!(
        "<p><a href=\"/topics/{topic}\">← topic {}</a> · the newest records of every partition, \
oldest first · <a href=\"/topics/{topic}/messages\">one partition</a></p>\
<p><input id=\"filter\" type=\"search\" placeholder=\"Filter shown records\" aria-label=\"Filter\"></p>",
        esc(&page.topic)
    );
    body.push_str(&records_table(&topic, &page.records, view));
    if !read_only {
        body.push_str(&produce_form(&page.topic, 0));
    }
    html(
        &format!("Messages of {}", page.topic),
        "/topics",
        read_only,
        &body,
    )
}

/// The records as a table; `topic` is already URL-escaped.
fn records_table(topic: &str, records: &[RecordView], view: &str) -> String {
    let rows = records.iter().map(|r| {
        let show = |d: &Option<Data>| {
            d.as_ref()
                .map_or_else(|| "<em>null</em>".to_string(), |d| render_data(d, view))
        };
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
            r.partition.to_string(),
            r.offset.to_string(),
            format!("<time data-ts=\"{0}\">{0}</time>", r.timestamp),
            show(&r.key),
            headers.join("<br>"),
            value,
            r.size.to_string(),
        ]
    });
    let mut out = table(
        "records",
        &[
            "Partition",
            "Offset",
            "Timestamp",
            "Key",
            "Headers",
            "Value",
            "Size",
        ],
        rows,
    );
    if records.is_empty() {
        out.push_str("<p class=\"empty\">No records here.</p>");
    }
    out
}

fn produce_form(topic: &str, partition: i32) -> String {
    format!(
        "<h2>Produce a test record</h2><form id=\"produce\" data-form=\"produce\" data-topic=\"{}\">\
<label>Partition <input name=\"partition\" type=\"number\" min=\"0\" value=\"{partition}\"></label>\
<label>Key <input name=\"key\"></label>\
<label>Value <textarea name=\"value\" rows=\"3\"></textarea></label>\
<label>Headers <textarea name=\"headers\" rows=\"2\" placeholder=\"name=value\"></textarea></label>\
<button type=\"submit\">Produce</button></form>",
        esc(topic)
    )
}
