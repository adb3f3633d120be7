//! The native HTTP API (`/api/v1`) of the query side.

use std::time::Instant;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::error::{QueryError, Result};
use crate::page::{Page, PageParams};
use crate::service::QueryService;
use crate::span_rows::SpanRows;
use crate::sql::endpoint::post_sql;
use crate::trace_fetch::fetch_trace;
use crate::trace_id::TraceId;
use crate::trace_response;

/// The routes of the native API, ready to be merged into the server's router:
/// - `GET /api/v1/traces`: search, see [`crate::search::endpoint::get_traces`];
/// - `GET /api/v1/traces/{trace_id}`: the waterfall, see [`get_trace`];
/// - `POST /api/v1/sql`: read-only SQL, see [`crate::sql::endpoint::post_sql`];
/// - the Tempo API at the root (`/api/search`, `/api/echo`, ...), see [`crate::tempo_api`].
/// - the service map, RED series and Jaeger's dependencies, see [`crate::service_map::api`];
/// - `GET /api/v1/logs`: full-text log search, see [`crate::log_search`];
/// - the Jaeger-compatible API under `/jaeger/api` and `/jaeger/api/v3`, see [`crate::jaeger`].
pub fn router(service: QueryService) -> Router {
    Router::new()
        .route("/api/v1/traces", get(crate::search::endpoint::get_traces))
        .route("/api/v1/traces/{trace_id}", get(get_trace))
        .route("/api/v1/sql", post(post_sql))
        .with_state(service.clone())
        .merge(crate::tempo_api::router(service.clone()))
        .merge(crate::log_search::router(service.clone()))
        .merge(crate::service_map::api::router(service.clone()))
        .merge(crate::jaeger::router(service))
}

/// `GET /api/v1/traces/{trace_id}[?depth=N][&offset=O][&limit=L]`
///
/// The waterfall as `api.md` specifies it, plus a `page` object
/// `{"offset", "limit", "depth", "total", "returned"}` where `total` counts the
/// spans passing the depth filter (before offset and limit) and `returned` those
/// in `spans`. The summary fields always describe the whole trace.
///
/// 400 for an id that is not 32 (or 16) hex characters or a paging value that
/// is not a non-negative integer; 404 when no span has the id.
pub async fn get_trace(
    State(service): State<QueryService>,
    trace_id: Result<Path<String>, PathRejection>,
    params: Result<Query<PageParams>, QueryRejection>,
) -> Result<Response> {
    let Path(raw_id) = trace_id.map_err(|e| QueryError::InvalidRequest(e.body_text()))?;
    let Query(params) = params.map_err(|e| QueryError::InvalidRequest(e.body_text()))?;
    let trace_id = TraceId::parse(&raw_id)?;
    let page = Page::from_params(&params)?;

    let started = Instant::now();
    let timeout = service.config().timeout;
    let batches = tokio::time::timeout(timeout, fetch_trace(service.context(), &trace_id))
        .await
        .map_err(|_| QueryError::Timeout(timeout))??;
    let fetched = started.elapsed();

    let rows = SpanRows::new(&batches)?;
    if rows.is_empty() {
        return Err(QueryError::TraceNotFound(trace_id.to_string()));
    }
    // Assembly is CPU work proportional to the trace: keep it off the async workers.
    let row_count = rows.len();
    let id = trace_id.clone();
    let storage = service.storage().cloned();
    let body = tokio::task::spawn_blocking(move || {
        let log_counts = match storage {
            Some(storage) => log_counts(&storage, &id, &rows)?,
            None => Default::default(),
        };
        trace_response::render(&id, &rows, &page, &log_counts)
    })
    .await
    .map_err(|e| QueryError::Task(e.to_string()))??;

    tracing::debug!(
        trace_id = %trace_id,
        rows = row_count,
        fetch_ms = fetched.as_secs_f64() * 1e3,
        total_ms = started.elapsed().as_secs_f64() * 1e3,
        bytes = body.len(),
        "trace served"
    );
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Logs per span of the trace, from logs stamped within an hour of the trace's spans (a log
/// is written while its span runs; the margin covers clock skew and late batch exports).
fn log_counts(
    storage: &osprey_storage::Storage,
    id: &TraceId,
    rows: &SpanRows,
) -> Result<std::collections::BTreeMap<String, u64>> {
    const MARGIN_NS: i64 = 3_600_000_000_000;
    let timings = rows.timings();
    let start = timings.iter().map(|t| t.start_unix_nano).min().unwrap_or(0);
    let end = timings.iter().map(|t| t.end_unix_nano).max().unwrap_or(0);
    Ok(storage.log_counts_by_span(id.as_str(), start.saturating_sub(MARGIN_NS), end.saturating_add(MARGIN_NS))?)
}

#[cfg(test)]
mod tests;
