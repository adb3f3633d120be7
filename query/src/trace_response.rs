//! The JSON body of `GET /api/v1/traces/{trace_id}`: the waterfall summary of
//! the whole trace, the `page` it returns, and that page's spans with their
//! attributes, events and links.

use serde::Serialize;

use crate::attribute_json::AttributeMap;
use crate::error::{QueryError, Result};
use crate::page::{Page, PageInfo};
use crate::span_rows::{Attributes, SpanRows};
use crate::span_tree::real_parent;
use crate::trace_id::TraceId;
use crate::waterfall::{ServiceSummary, Waterfall};

#[derive(Serialize)]
struct TraceJson<'a> {
    trace_id: &'a str,
    root_service: Option<&'a str>,
    root_name: Option<&'a str>,
    start_time_unix_nano: i64,
    duration_ns: i64,
    span_count: usize,
    services: &'a [ServiceSummary<'a>],
    critical_path: Vec<&'a str>,
    warnings: &'a [String],
    page: PageInfo,
    spans: Vec<SpanJson<'a>>,
}

#[derive(Serialize)]
struct SpanJson<'a> {
    span_id: &'a str,
    parent_span_id: Option<&'a str>,
    service: &'a str,
    name: &'a str,
    kind: &'a str,
    status: &'a str,
    status_message: Option<&'a str>,
    start_offset_ns: i64,
    duration_ns: i64,
    self_time_ns: i64,
    depth: u32,
    /// Logs this span emitted (`GET /api/v1/logs?q=trace_id:<id>` lists them).
    log_count: u64,
    #[serde(serialize_with = "attributes")]
    attributes: Attributes,
    #[serde(serialize_with = "attributes")]
    resource_attributes: Attributes,
    events: Vec<EventJson<'a>>,
    links: Vec<LinkJson<'a>>,
}

#[derive(Serialize)]
struct EventJson<'a> {
    time_unix_nano: i64,
    name: &'a str,
    #[serde(serialize_with = "attributes")]
    attributes: Attributes,
}

#[derive(Serialize)]
struct LinkJson<'a> {
    trace_id: &'a str,
    span_id: &'a str,
    trace_state: Option<&'a str>,
    #[serde(serialize_with = "attributes")]
    attributes: Attributes,
}

fn attributes<S: serde::Serializer>(attrs: &Attributes, serializer: S) -> Result<S::Ok, S::Error> {
    AttributeMap(attrs).serialize(serializer)
}

/// Assembles the trace in `rows` and renders the requested page as JSON, with each span's
/// `log_count` from `log_counts` (span id → logs). `rows` must not be empty (a missing trace
/// is a 404 before this).
pub fn render(
    trace_id: &TraceId,
    rows: &SpanRows,
    page: &Page,
    log_counts: &std::collections::BTreeMap<String, u64>,
) -> Result<Vec<u8>> {
    let timings = rows.timings();
    let waterfall = Waterfall::build(&timings);
    let (selected, page_info) = page.select(&waterfall.spans);

    let mut spans = Vec::with_capacity(selected.len());
    for placed in selected {
        let row = placed.index;
        let timing = &timings[row];
        spans.push(SpanJson {
            span_id: timing.span_id,
            parent_span_id: real_parent(timing.parent_span_id),
            service: timing.service,
            name: rows.name(row),
            kind: rows.kind(row),
            status: rows.status(row),
            status_message: rows.status_message(row),
            start_offset_ns: timing.start_unix_nano.saturating_sub(waterfall.start_time_unix_nano),
            duration_ns: timing.duration_ns(),
            self_time_ns: placed.self_time_ns,
            depth: placed.depth,
            log_count: log_counts.get(timing.span_id).copied().unwrap_or(0),
            attributes: rows.attributes(row)?,
            resource_attributes: rows.resource_attributes(row)?,
            events: rows
                .events(row)?
                .into_iter()
                .map(|e| EventJson { time_unix_nano: e.time_unix_nano, name: e.name, attributes: e.attributes })
                .collect(),
            links: rows
                .links(row)?
                .into_iter()
                .map(|l| LinkJson {
                    trace_id: l.trace_id,
                    span_id: l.span_id,
                    trace_state: l.trace_state,
                    attributes: l.attributes,
                })
                .collect(),
        });
    }

    let body = TraceJson {
        trace_id: trace_id.as_str(),
        root_service: waterfall.root.map(|r| timings[r].service),
        root_name: waterfall.root.map(|r| rows.name(r)),
        start_time_unix_nano: waterfall.start_time_unix_nano,
        duration_ns: waterfall.duration_ns,
        span_count: waterfall.spans.len(),
        services: &waterfall.services,
        critical_path: waterfall.critical_path.iter().map(|&i| timings[i].span_id).collect(),
        warnings: &waterfall.warnings,
        page: page_info,
        spans,
    };
    serde_json::to_vec(&body).map_err(|e| QueryError::Task(format!("serializing the trace: {e}")))
}
