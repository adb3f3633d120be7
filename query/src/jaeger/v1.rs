//! Jaeger's v1 query API (`/jaeger/api/...`), as Jaeger's `http_handler.go` and
//! `query_parser.go` define it (jaegertracing/jaeger, before the v1 search was removed in
//! 639eefe04) and as Jaeger UI 2.14 (`packages/jaeger-ui/src/api/jaeger.ts`,
//! `SearchTracePage/SearchForm.jsx`) and Grafana's Jaeger data source
//! (`pkg/tsdb/jaeger/client.go`) call it.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};

use super::filter::{self, JaegerQuery};
use super::model::{self, trace_id_text, Trace};
use super::response::{Envelope, EnvelopeError, V1Error, TRACE_NOT_FOUND};
use super::{duration_param, listing, listing_window, micros_param, span_kind, Operation, Params};
use crate::error::QueryError;
use crate::otlp_trace;
use crate::search::endpoint::now_ns;
use crate::search::params::count_param;
use crate::service::QueryService;
use crate::trace_id::TraceId;

type V1Result<T> = Result<T, V1Error>;

fn params(query: Result<Query<Vec<(String, String)>>, QueryRejection>) -> V1Result<Params> {
    Ok(Params::from_query(query)?)
}

/// `GET /jaeger/api/services` → `{"data":["svc",…],"total":N,…}`.
pub async fn services(State(service): State<QueryService>) -> V1Result<Envelope<Vec<String>>> {
    let names = listing::services(&service, listing_window(&service)).await?;
    let total = names.len();
    Ok(Envelope::new(names, total))
}

/// `GET /jaeger/api/services/{service}/operations` → `{"data":["op",…]}`: names of every kind,
/// each once.
pub async fn service_operations(
    State(service): State<QueryService>,
    path: Result<Path<String>, PathRejection>,
) -> V1Result<Envelope<Vec<String>>> {
    let Path(name) = path.map_err(|e| QueryError::InvalidRequest(e.body_text()))?;
    let ops = listing::operations(&service, listing_window(&service), Some(&name), None).await?;
    let mut names: Vec<String> = ops.into_iter().map(|o| o.name).collect();
    names.dedup();
    let total = names.len();
    Ok(Envelope::new(names, total))
}

/// `GET /jaeger/api/operations?service=&spanKind=` → `{"data":[{"name","spanKind"}]}`;
/// `service` is required (as in Jaeger); an unspecified kind is `""`.
pub async fn operations(
    State(service): State<QueryService>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> V1Result<Envelope<Vec<Operation>>> {
    let params = params(query)?;
    let name = params.get("service").ok_or_else(|| QueryError::InvalidParameter {
        name: "service",
        reason: "parameter 'service' is required".into(),
    })?;
    let kind = span_kind("spanKind", params.get("spanKind"))?;
    let ops = listing::operations(&service, listing_window(&service), Some(name), kind.as_deref()).await?;
    let data: Vec<Operation> = ops
        .into_iter()
        .map(|o| Operation { name: o.name, span_kind: if o.kind == "unspecified" { String::new() } else { o.kind } })
        .collect();
    let total = data.len();
    Ok(Envelope::new(data, total))
}

/// `GET /jaeger/api/traces/{id}` → `{"data":[trace],…}`; a missing trace is a 404 with
/// `errors:[{"code":404,"msg":"trace not found"}]`. `start`/`end` (µs, sent by Grafana when
/// "time parameters" are on) are checked but not needed: a trace is found by id alone.
pub async fn trace(
    State(service): State<QueryService>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> V1Result<Envelope<Vec<Trace>>> {
    let Path(raw) = path.map_err(|e| QueryError::InvalidRequest(e.body_text()))?;
    let params = params(query)?;
    micros_param("start", params.get("start"))?;
    micros_param("end", params.get("end"))?;
    let id = TraceId::parse(&raw)?;
    let trace = otlp_trace::load_one(&service, &id).await?;
    Ok(Envelope::new(vec![model::trace(&trace)], 0))
}

/// `GET /jaeger/api/traces?…`: the search, or a lookup when `traceID` is given.
///
/// Search parameters: `service`, `operation`, `tags` (JSON map, repeatable), `tag=k:v`
/// (repeatable), `start`/`end` (µs; default: the search core's default range ending now),
/// `minDuration`/`maxDuration` (Go durations; empty means absent), `limit` (default and
/// maximum from `query.search`). `lookback` (sent by Jaeger UI, already applied to
/// `start`) and unknown parameters are ignored. With `traceID=…` (repeatable) those traces
/// are returned instead, a missing one as an `errors` entry `{"msg","traceID"}`, as Jaeger does.
pub async fn search(
    State(service): State<QueryService>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, V1Error> {
    let params = params(query)?;
    let jaeger = jaeger_query(&params)?;
    let config = &service.config().search;
    let window = config.window(
        micros_param("start", params.get("start"))?,
        micros_param("end", params.get("end"))?,
        now_ns(),
    )?;
    let limit = config.limit(count_param("limit", params.get("limit"))?)?;
    let ids = params.all("traceID").map(TraceId::parse).collect::<Result<Vec<_>, _>>()?;
    if !ids.is_empty() {
        return Ok(by_ids(&service, &ids).await?.into_response());
    }
    let request = filter::request(&jaeger, window, limit, "maxDuration")?;
    let traces = filter::find_traces(&service, &request).await?;
    let data: Vec<Trace> = traces.iter().map(model::trace).collect();
    Ok(Envelope::new(data, 0).into_response())
}

async fn by_ids(service: &QueryService, ids: &[TraceId]) -> Result<Envelope<Vec<Trace>>, QueryError> {
    let found = otlp_trace::load(service, ids).await?;
    let mut errors = Vec::new();
    for id in ids {
        if !found.iter().any(|t| t.trace_id == id.as_str()) {
            let bytes = hex::decode(id.as_str()).unwrap_or_default();
            errors.push(EnvelopeError {
                code: None,
                msg: TRACE_NOT_FOUND.into(),
                trace_id: Some(trace_id_text(&bytes)),
            });
        }
    }
    let mut envelope = Envelope::new(found.iter().map(model::trace).collect(), 0);
    envelope.errors = (!errors.is_empty()).then_some(errors);
    Ok(envelope)
}

/// The criteria of a v1 search (`parseTraceQueryParams` / `parseTags` in Jaeger).
pub fn jaeger_query(params: &Params) -> Result<JaegerQuery, QueryError> {
    let mut query = JaegerQuery {
        service: params.get("service").map(str::to_string),
        operation: params.get("operation").map(str::to_string),
        min_duration: duration_param("minDuration", params.get("minDuration"))?,
        max_duration: duration_param("maxDuration", params.get("maxDuration"))?,
        ..Default::default()
    };
    for tag in params.all("tag") {
        let (key, value) = tag.split_once(':').ok_or_else(|| QueryError::InvalidParameter {
            name: "tag",
            reason: format!("malformed 'tag' parameter, expecting key:value, received: {tag}"),
        })?;
        query.set_tag(key, value);
    }
    for tags in params.all("tags") {
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(tags).map_err(|e| QueryError::InvalidParameter {
                name: "tags",
                reason: format!("malformed 'tags' parameter, cannot unmarshal JSON: {e}"),
            })?;
        for (key, value) in &map {
            let value = value.as_str().ok_or_else(|| QueryError::InvalidParameter {
                name: "tags",
                reason: format!("tag {key:?} must have a string value"),
            })?;
            query.set_tag(key, value);
        }
    }
    Ok(query)
}
