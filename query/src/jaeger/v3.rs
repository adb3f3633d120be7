//! Jaeger's API v3 over HTTP (`/jaeger/api/v3/...`), as Jaeger's grpc-gateway style
//! handler serves it (`cmd/jaeger/internal/extension/jaegerquery/internal/apiv3/http_gateway.go`
//! and `query_parser.go`; messages in `internal/proto/api_v3/query_service.pb.go`) and as
//! Jaeger UI ≥ 2.15 (`packages/jaeger-ui/src/api/v3/client.ts`) and Grafana's Jaeger data
//! source (`pkg/tsdb/jaeger/grpc_client.go`) call it.
//!
//! Query parameters have canonical camelCase names (`query.serviceName`) and deprecated
//! snake_case aliases (`query.service_name`, which Grafana sends); both are read. Times are
//! RFC 3339; durations Go durations. Unlike Jaeger, `query.startTimeMin`/`Max` are optional
//! (the search core's default range applies). int64 fields are JSON strings and int32 ones
//! numbers, as proto3 JSON writes them.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::filter::{self, JaegerQuery, Summary};
use super::response::V3Error;
use super::{duration_param, listing, listing_window, span_kind, Operation, Params};
use crate::error::QueryError;
use crate::otlp_trace::{self, json::traces_data, OtlpTrace};
use crate::search::endpoint::now_ns;
use crate::search::params::{count_param, parse_time};
use crate::service::QueryService;
use crate::trace_id::TraceId;

type V3Result<T> = Result<T, V3Error>;

fn params(query: Result<Query<Vec<(String, String)>>, QueryRejection>) -> V3Result<Params> {
    Ok(Params::from_query(query)?)
}

/// `GET /jaeger/api/v3/services` → `{"services":[…]}`.
pub async fn services(State(service): State<QueryService>) -> V3Result<Json<Value>> {
    let names = listing::services(&service, listing_window(&service)).await?;
    Ok(Json(json!({ "services": names })))
}

/// `GET /jaeger/api/v3/operations?service=&spanKind=` → `{"operations":[{"name","spanKind"}]}`.
/// As Jaeger's gateway does, a kind the store does not know is reported as `internal`.
/// Without `service`, the operations of every service.
pub async fn operations(
    State(service): State<QueryService>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> V3Result<Json<Value>> {
    let params = params(query)?;
    let kind = span_kind("spanKind", params.get_any(&["spanKind", "span_kind"]))?;
    let ops = listing::operations(&service, listing_window(&service), params.get("service"), kind.as_deref()).await?;
    let ops: Vec<Operation> = ops
        .into_iter()
        .map(|o| Operation {
            name: o.name,
            span_kind: if o.kind == "unspecified" { "internal".into() } else { o.kind },
        })
        .collect();
    Ok(Json(json!({ "operations": ops })))
}

/// `GET /jaeger/api/v3/traces/{id}` → `{"result":{"resourceSpans":[…]}}` (OTLP JSON);
/// 404 `{"error":{"httpCode":404,"message":"No traces found"}}` when missing.
/// `startTime`/`endTime` (RFC 3339) and `rawTraces` are checked, not needed.
pub async fn trace(
    State(service): State<QueryService>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> V3Result<Response> {
    let Path(raw) = path.map_err(|e| QueryError::InvalidRequest(e.body_text()))?;
    let params = params(query)?;
    time_param("startTime", params.get_any(&["startTime", "start_time"]))?;
    time_param("endTime", params.get_any(&["endTime", "end_time"]))?;
    bool_param("rawTraces", params.get_any(&["rawTraces", "raw_traces"]))?;
    let id = TraceId::parse(&raw)?;
    let traces = otlp_trace::load(&service, std::slice::from_ref(&id)).await?;
    Ok(result(&traces))
}

/// `GET /jaeger/api/v3/traces?query.…` → every found trace's resource spans in one
/// `{"result":{"resourceSpans":[…]}}`, as Jaeger combines them; 404 when none.
pub async fn search(
    State(service): State<QueryService>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> V3Result<Response> {
    let params = params(query)?;
    let request = search_request(&service, &params)?;
    let traces = filter::find_traces(&service, &request).await?;
    Ok(result(&traces))
}

fn result(traces: &[OtlpTrace]) -> Response {
    if traces.is_empty() {
        return V3Error::no_traces();
    }
    let resource_spans: Vec<_> = traces.iter().flat_map(|t| t.resource_spans.iter().cloned()).collect();
    Json(json!({ "result": traces_data(&resource_spans) })).into_response()
}

/// `GET /jaeger/api/v3/trace-summaries?query.…` → `{"summaries":[…]}` newest first
/// (`FindTraceSummariesResponse`; an empty search is an empty list, not a 404).
pub async fn trace_summaries(
    State(service): State<QueryService>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> V3Result<Json<Value>> {
    let params = params(query)?;
    let request = search_request(&service, &params)?;
    let summaries = filter::find_summaries(&service, &request).await?;
    Ok(Json(json!({ "summaries": summaries.iter().map(summary_json).collect::<Vec<_>>() })))
}

/// One `TraceSummary` message. Root names are `""` when the root has not arrived (Jaeger
/// reports no root then either); services are sorted by name, as Jaeger's `summary.go` does.
pub fn summary_json(found: &Summary) -> Value {
    let s = &found.summary;
    let end = s.start_time_unix_nano.saturating_add(s.duration_ns);
    let mut services: Vec<&crate::search::ServiceCount> = s.services.iter().collect();
    services.sort_by(|a, b| a.name.cmp(&b.name));
    json!({
        "traceId": s.trace_id,
        "rootServiceName": s.root_service.clone().unwrap_or_default(),
        "rootOperationName": s.root_name.clone().unwrap_or_default(),
        "minStartTimeUnixNano": s.start_time_unix_nano.max(0).to_string(),
        "maxEndTimeUnixNano": end.max(0).to_string(),
        "spanCount": s.span_count,
        "errorSpanCount": s.error_count,
        "orphanSpanCount": found.orphan_spans,
        "services": services
            .iter()
            .map(|svc| json!({"name": svc.name, "spanCount": svc.span_count, "errorSpanCount": svc.error_count}))
            .collect::<Vec<_>>(),
    })
}

/// The search of `traces` and `trace-summaries` (`parseFindTracesQuery` in Jaeger).
fn search_request(service: &QueryService, params: &Params) -> Result<crate::search::SearchRequest, QueryError> {
    let mut query = JaegerQuery {
        service: params.get_any(&["query.serviceName", "query.service_name"]).map(str::to_string),
        operation: params.get_any(&["query.operationName", "query.operation_name"]).map(str::to_string),
        min_duration: duration_param(
            "query.durationMin",
            params.get_any(&["query.durationMin", "query.duration_min"]),
        )?,
        max_duration: duration_param(
            "query.durationMax",
            params.get_any(&["query.durationMax", "query.duration_max"]),
        )?,
        ..Default::default()
    };
    if let Some(attributes) = params.get("query.attributes") {
        let map: serde_json::Map<String, Value> =
            serde_json::from_str(attributes).map_err(|e| QueryError::InvalidParameter {
                name: "query.attributes",
                reason: format!("not a JSON object of strings: {e}"),
            })?;
        for (key, value) in &map {
            let value = value.as_str().ok_or_else(|| QueryError::InvalidParameter {
                name: "query.attributes",
                reason: format!("attribute {key:?} must have a string value"),
            })?;
            query.set_tag(key, value);
        }
    }
    let min = time_param("query.startTimeMin", params.get_any(&["query.startTimeMin", "query.start_time_min"]))?;
    let max = time_param("query.startTimeMax", params.get_any(&["query.startTimeMax", "query.start_time_max"]))?;
    let depth = params.get_any(&["query.searchDepth", "query.search_depth", "query.num_traces"]);
    let config = &service.config().search;
    let window = config.window(min, max, now_ns())?;
    let limit = config.limit(count_param("query.searchDepth", depth)?)?;
    filter::request(&query, window, limit, "query.durationMax")
}

/// An RFC 3339 time in ns. A `+` of an offset that arrived unescaped (Grafana appends its
/// times to the query string without encoding them) has become a space: put it back.
fn time_param(name: &'static str, text: Option<&str>) -> Result<Option<i64>, QueryError> {
    let Some(text) = text else { return Ok(None) };
    match chrono_time(name, text) {
        Ok(ns) => Ok(Some(ns)),
        Err(e) if text.contains(' ') => chrono_time(name, &text.replace(' ', "+")).map(Some).map_err(|_| e),
        Err(e) => Err(e),
    }
}

fn chrono_time(name: &'static str, text: &str) -> Result<i64, QueryError> {
    if text.parse::<f64>().is_ok() {
        return Err(QueryError::InvalidParameter { name, reason: format!("{text:?} is not an RFC 3339 time") });
    }
    parse_time(name, text)
}

fn bool_param(name: &'static str, text: Option<&str>) -> Result<Option<bool>, QueryError> {
    match text {
        None => Ok(None),
        Some("true" | "1" | "t" | "T" | "TRUE" | "True") => Ok(Some(true)),
        Some("false" | "0" | "f" | "F" | "FALSE" | "False") => Ok(Some(false)),
        Some(other) => Err(QueryError::InvalidParameter { name, reason: format!("{other:?} is not a boolean") }),
    }
}
