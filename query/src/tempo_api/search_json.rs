//! The JSON of Tempo's `/api/search`: `SearchResponse` of Tempo's
//! `pkg/tempopb/tempo.proto` (grafana/tempo), as gogo/jsonpb writes it: lowerCamel
//! field names, 64-bit integers as strings (`startTimeUnixNano`, `durationNanos`),
//! 32-bit ones as numbers (`durationMs`, `matched`), zero values left out.
//! Attributes are OTLP `KeyValue`s in OTLP/JSON (`{"key","value":{"intValue":"200"}}`).

use std::collections::BTreeMap;

use base64::Engine as _;
use osprey_storage::attributes::AttrValue;
use serde::Serialize;
use serde_json::{json, Value};

use crate::traceql::{MatchedSpan, Outcome, TraceMatch};

/// What Tempo puts in `rootServiceName` while a trace's root span is missing
/// (`RootSpanNotYetReceivedText`, grafana/tempo `pkg/search/util.go`).
pub const ROOT_NOT_YET_RECEIVED: &str = "<root span not yet received>";

#[derive(Serialize)]
pub struct SearchResponse {
    pub traces: Vec<TraceSearchMetadata>,
    pub metrics: SearchMetrics,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchMetrics {
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub inspected_traces: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub inspected_spans: String,
    pub completed_jobs: u32,
    pub total_jobs: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceSearchMetadata {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    pub root_service_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub root_trace_name: String,
    pub start_time_unix_nano: String,
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub duration_ms: u32,
    /// Deprecated upstream in favour of `spanSets`, still read by older Grafana: both are filled.
    pub span_set: SpanSet,
    pub span_sets: Vec<SpanSet>,
    pub service_stats: BTreeMap<String, ServiceStats>,
}

#[derive(Serialize, Clone)]
pub struct SpanSet {
    pub spans: Vec<Span>,
    pub matched: u32,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    #[serde(rename = "spanID")]
    pub span_id: String,
    pub name: String,
    pub start_time_unix_nano: String,
    pub duration_nanos: String,
    pub attributes: Vec<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStats {
    pub span_count: u32,
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub error_count: u32,
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

fn u32_of(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

pub fn response(outcome: &Outcome) -> SearchResponse {
    SearchResponse {
        traces: outcome.traces.iter().map(trace).collect(),
        metrics: SearchMetrics {
            inspected_traces: u32_of(outcome.inspected_traces),
            inspected_spans: match outcome.inspected_spans {
                0 => String::new(),
                n => n.to_string(),
            },
            completed_jobs: 1,
            total_jobs: 1,
        },
    }
}

fn trace(found: &TraceMatch) -> TraceSearchMetadata {
    let summary = &found.summary;
    let span_set = SpanSet { spans: found.spans.iter().map(span).collect(), matched: u32_of(found.matched) };
    TraceSearchMetadata {
        trace_id: summary.trace_id.clone(),
        root_service_name: summary.root_service.clone().unwrap_or_else(|| ROOT_NOT_YET_RECEIVED.to_string()),
        root_trace_name: summary.root_name.clone().unwrap_or_default(),
        start_time_unix_nano: summary.start_time_unix_nano.max(0).to_string(),
        duration_ms: u32::try_from(summary.duration_ns / 1_000_000).unwrap_or(u32::MAX),
        span_sets: vec![span_set.clone()],
        span_set,
        service_stats: summary
            .services
            .iter()
            .map(|s| {
                (s.name.clone(), ServiceStats { span_count: u32_of(s.span_count), error_count: u32_of(s.error_count) })
            })
            .collect(),
    }
}

fn span(s: &MatchedSpan) -> Span {
    Span {
        span_id: s.span_id.clone(),
        name: s.name.clone(),
        start_time_unix_nano: s.start_time_unix_nano.max(0).to_string(),
        duration_nanos: s.duration_ns.max(0).to_string(),
        attributes: s.attributes.iter().map(|(k, v)| json!({"key": k, "value": any_value(v)})).collect(),
    }
}

/// An OTLP `AnyValue` in OTLP/JSON: int64 as a string, bytes as base64,
/// non-finite doubles as `"NaN"`, `"Infinity"`, `"-Infinity"` (proto3 JSON).
pub fn any_value(value: &AttrValue) -> Value {
    match value {
        AttrValue::Empty => json!({}),
        AttrValue::Str(s) => json!({"stringValue": s}),
        AttrValue::Int(i) => json!({"intValue": i.to_string()}),
        AttrValue::Double(d) if d.is_finite() => json!({"doubleValue": d}),
        AttrValue::Double(d) if d.is_nan() => json!({"doubleValue": "NaN"}),
        AttrValue::Double(d) => json!({"doubleValue": if *d > 0.0 { "Infinity" } else { "-Infinity" }}),
        AttrValue::Bool(b) => json!({"boolValue": b}),
        AttrValue::Bytes(b) => json!({"bytesValue": base64::engine::general_purpose::STANDARD.encode(b)}),
        AttrValue::Array(items) => json!({"arrayValue": {"values": items.iter().map(any_value).collect::<Vec<_>>()}}),
        AttrValue::KvList(kvs) => json!({"kvlistValue": {"values": kvs
            .iter()
            .map(|(k, v)| json!({"key": k, "value": any_value(v)}))
            .collect::<Vec<_>>()}}),
    }
}
