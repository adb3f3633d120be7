//! `GET /api/traces/{id}` and `GET /api/v2/traces/{id}`.
//!
//! - v1 answers Tempo's `Trace` message (`repeated ResourceSpans resourceSpans = 1`,
//!   grafana/tempo `pkg/tempopb/tempo.proto`; on the wire the same as OTLP
//!   `TracesData`, which is how Grafana decodes it: `ptrace.ProtoUnmarshaler` in
//!   grafana/grafana `pkg/tsdb/tempo/trace.go`, sent with `Accept: application/protobuf`).
//! - v2 answers `TraceByIDResponse { Trace trace = 1; TraceByIDMetrics metrics = 2;
//!   PartialStatus status = 3; string message = 4; }`.
//!
//! Protobuf when `Accept` names `application/protobuf`, else OTLP/JSON
//! (`{"resourceSpans": …}`, v2 `{"trace": {"resourceSpans": …}, "metrics": {}}`).
//! Ids shorter than 32 hex characters are left-padded with zeros, as Tempo does;
//! `start`/`end` (Grafana sends them) are accepted and not needed: the lookup is by id.
//! A trace with no stored span is a 404.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use osprey_proto::trace::ResourceSpans;
use prost::Message as _;
use serde_json::json;

use crate::error::{QueryError, Result};
use crate::otlp_trace::{self, json::traces_data};
use crate::service::QueryService;
use crate::trace_id::TraceId;

/// Tempo's `Trace`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TempoTrace {
    #[prost(message, repeated, tag = "1")]
    pub resource_spans: Vec<ResourceSpans>,
}

/// Tempo's `TraceByIDMetrics` (only what we count).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TraceByIdMetrics {
    #[prost(uint64, tag = "1")]
    pub inspected_bytes: u64,
}

/// Tempo's `TraceByIDResponse`; `status` 0 is `COMPLETE`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    pub trace: Option<TempoTrace>,
    #[prost(message, optional, tag = "2")]
    pub metrics: Option<TraceByIdMetrics>,
    #[prost(int32, tag = "3")]
    pub status: i32,
    #[prost(string, tag = "4")]
    pub message: String,
}

pub const PROTOBUF: &str = "application/protobuf";

fn wants_protobuf(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().starts_with(PROTOBUF)))
}

/// A Tempo trace id: 1 to 32 hex characters, left-padded to 32.
pub fn parse_id(path: Result<Path<String>, PathRejection>) -> Result<TraceId> {
    let Path(raw) = path.map_err(|e| QueryError::InvalidRequest(e.body_text()))?;
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 32 || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        return TraceId::parse(raw);
    }
    TraceId::parse(&format!("{raw:0>32}"))
}

async fn load(service: &QueryService, id: &TraceId) -> Result<Vec<ResourceSpans>> {
    Ok(otlp_trace::load_one(service, id).await?.resource_spans)
}

pub async fn trace_v1(
    State(service): State<QueryService>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response> {
    let id = parse_id(path)?;
    let resource_spans = load(&service, &id).await?;
    if wants_protobuf(&headers) {
        let body = TempoTrace { resource_spans }.encode_to_vec();
        return Ok(([(header::CONTENT_TYPE, PROTOBUF)], body).into_response());
    }
    Ok(axum::Json(traces_data(&resource_spans)).into_response())
}

pub async fn trace_v2(
    State(service): State<QueryService>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response> {
    let id = parse_id(path)?;
    let resource_spans = load(&service, &id).await?;
    if wants_protobuf(&headers) {
        let response = TraceByIdResponse {
            trace: Some(TempoTrace { resource_spans }),
            metrics: Some(TraceByIdMetrics::default()),
            ..Default::default()
        };
        return Ok(([(header::CONTENT_TYPE, PROTOBUF)], response.encode_to_vec()).into_response());
    }
    Ok(axum::Json(json!({ "trace": traces_data(&resource_spans), "metrics": {} })).into_response())
}
