//! `GET /api/v1/logs?q=&start=&end=&limit=&offset=` — full-text log search (contract in
//! `api.md`): `{"total": N, "hits": [...]}`, newest first, `total` exact.
//!
//! The search itself is storage's ([`osprey_storage::log_index`]): the tantivy index of every
//! Parquet file in the window plus the memtables, hits as row addresses ordered newest first
//! (ties by address, so pages never overlap or skip). Only the rows of the requested page are
//! then read from Parquet. Both steps are blocking I/O and CPU, so they run on the blocking pool.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int32Type, TimestampNanosecondType};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use osprey_storage::attributes::{read_row, AttrValue};
use osprey_storage::log_index::query::parse;
use osprey_storage::logs::col;
use osprey_storage::Storage;
use serde::{Deserialize, Serialize};

use crate::attribute_json::AttributeMap;
use crate::error::{QueryError, Result};
use crate::search::plan::column_as;
use crate::service::QueryService;
use crate::service_map::Window;

/// Hits per page when `limit` is not given, and the most a page may hold.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

pub fn router(service: QueryService) -> Router {
    Router::new().route("/api/v1/logs", get(get_logs)).with_state(service)
}

#[derive(Debug, Default, Deserialize)]
pub struct LogParams {
    q: Option<String>,
    start: Option<String>,
    end: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

/// The response body.
#[derive(Debug, Serialize)]
pub struct LogsResponse {
    pub total: usize,
    pub hits: Vec<LogHitJson>,
}

/// One log as the API shows it: ids as hex (null when the log has none), `time` in unix ns as
/// a string (a JSON number loses nanoseconds), attributes typed as in the waterfall.
#[derive(Debug, Serialize)]
pub struct LogHitJson {
    pub time: String,
    pub severity_text: String,
    pub severity_number: i32,
    pub service_name: String,
    pub body: Option<String>,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub attributes: AttributesJson,
}

/// Attributes, serialized through [`AttributeMap`].
#[derive(Debug)]
pub struct AttributesJson(Vec<(String, AttrValue)>);

impl Serialize for AttributesJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        AttributeMap(&self.0).serialize(serializer)
    }
}

async fn get_logs(
    State(service): State<QueryService>,
    raw: std::result::Result<Query<LogParams>, QueryRejection>,
) -> Result<Json<LogsResponse>> {
    let Query(p) = raw.map_err(|e| QueryError::InvalidRequest(e.body_text()))?;
    let query = parse(p.q.as_deref().unwrap_or("").trim())
        .map_err(|e| QueryError::InvalidParameter { name: "q", reason: e.to_string() })?;
    let window = Window::from_params(p.start.as_deref(), p.end.as_deref())?;
    let limit = count("limit", p.limit.as_deref(), DEFAULT_LIMIT)?;
    if limit == 0 || limit > MAX_LIMIT {
        return Err(QueryError::InvalidParameter { name: "limit", reason: format!("must be in 1..={MAX_LIMIT}") });
    }
    let offset = count("offset", p.offset.as_deref(), 0)?;
    let storage = service.storage().cloned().ok_or(QueryError::NoStorage("log search"))?;
    let timeout = service.config().timeout;
    let work = tokio::task::spawn_blocking(move || search(&storage, &query, window, offset, limit));
    let response = tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| QueryError::Timeout(timeout))?
        .map_err(|e| QueryError::Task(e.to_string()))??;
    Ok(Json(response))
}

fn count(name: &'static str, raw: Option<&str>, default: usize) -> Result<usize> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(default),
        Some(r) => r
            .parse::<usize>()
            .map_err(|_| QueryError::InvalidParameter { name, reason: format!("{r:?} is not a non-negative integer") }),
    }
}

/// Searches the window (half-open, like every window of the API) and reads one page of rows.
pub fn search(
    storage: &Arc<Storage>,
    query: &osprey_storage::log_index::query::LogQuery,
    window: Window,
    offset: usize,
    limit: usize,
) -> Result<LogsResponse> {
    let keep = offset.saturating_add(limit);
    let found = storage.search_logs(query, window.start_ns, window.end_ns.saturating_sub(1), keep)?;
    let total = found.total;
    let page = found.hits.get(offset.min(found.hits.len())..).unwrap_or(&[]);
    let rows = storage.read_log_rows(&found, page, Some(HIT_COLUMNS))?;
    Ok(LogsResponse { total, hits: hits_json(&rows)? })
}

/// The columns a hit shows.
const HIT_COLUMNS: &[&str] = &[
    col::TIME,
    col::SEVERITY_TEXT,
    col::SEVERITY_NUMBER,
    col::SERVICE_NAME,
    col::BODY,
    col::TRACE_ID,
    col::SPAN_ID,
    col::ATTRIBUTES,
    col::ATTRIBUTE_TYPES,
];

fn hits_json(batch: &RecordBatch) -> Result<Vec<LogHitJson>> {
    let text = |name: &str| -> Result<arrow::array::StringArray> {
        let array = column_as(batch, name, &DataType::Utf8)?;
        Ok(array.as_string_opt::<i32>().ok_or_else(|| QueryError::Layout(format!("{name} is not text")))?.clone())
    };
    let (severity_text, service, body, trace_id, span_id) = (
        text(col::SEVERITY_TEXT)?,
        text(col::SERVICE_NAME)?,
        text(col::BODY)?,
        text(col::TRACE_ID)?,
        text(col::SPAN_ID)?,
    );
    let attribute_types = text(col::ATTRIBUTE_TYPES)?;
    let time = column_as(batch, col::TIME, &DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, None))?;
    let time = time.as_primitive_opt::<TimestampNanosecondType>().ok_or_else(|| QueryError::Layout("time".into()))?;
    let severity = column_as(batch, col::SEVERITY_NUMBER, &DataType::Int32)?;
    let severity = severity.as_primitive_opt::<Int32Type>().ok_or_else(|| QueryError::Layout("severity".into()))?;
    let attributes = batch
        .column_by_name(col::ATTRIBUTES)
        .and_then(|a| a.as_map_opt())
        .ok_or_else(|| QueryError::Layout("attributes is not a map".into()))?;
    let opt = |a: &arrow::array::StringArray, i: usize| {
        (a.is_valid(i) && !a.value(i).is_empty()).then(|| a.value(i).to_string())
    };
    (0..batch.num_rows())
        .map(|i| {
            Ok(LogHitJson {
                time: time.value(i).to_string(),
                severity_text: opt(&severity_text, i).unwrap_or_default(),
                severity_number: severity.value(i),
                service_name: opt(&service, i).unwrap_or_default(),
                body: opt(&body, i),
                trace_id: opt(&trace_id, i),
                span_id: opt(&span_id, i),
                attributes: AttributesJson(read_row(attributes, &attribute_types, i)?),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
