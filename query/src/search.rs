//! Trace search: which traces in a time window meet a condition, as summaries,
//! newest first. Used by the native `GET /api/v1/traces`, Tempo's `/api/search`
//! and Jaeger's trace search.
//!
//! A search is two DataFusion plans (see [`plan`]): *find* the matching trace ids
//! within the window (time-pruned scan, one aggregation per trace, limit), then
//! *fetch* those traces' spans by id to build [`TraceSummary`]s ([`summary`]).
//! Every search is bounded by [`SearchConfig`] (range, limit, spss) and by the
//! query timeout of [`crate::QueryConfig`].

use std::time::Instant;

use arrow::array::RecordBatch;

use crate::error::{QueryError, Result};
use crate::service::QueryService;

pub mod config;
pub mod endpoint;
pub mod params;
pub mod plan;
pub mod request;
pub mod summary;

pub use config::{SearchConfig, TimeWindow};
pub use request::{attribute_equals, SearchRequest, SpanFilter, TraceCondition};
pub use summary::{ServiceCount, TraceSummary};

/// The traces found, with the spans fetched for them.
pub struct Found {
    /// Newest first.
    pub traces: Vec<TraceSummary>,
    /// Every span of the found traces, with the columns asked for.
    pub spans: Vec<RecordBatch>,
}

/// Runs `request` under the query timeout, fetching [`summary::COLUMNS`].
pub async fn search(service: &QueryService, request: &SearchRequest) -> Result<Vec<TraceSummary>> {
    Ok(search_with_columns(service, request, &summary::COLUMNS).await?.traces)
}

/// Runs `request` under the query timeout; `columns` (a superset of
/// [`summary::COLUMNS`]) are fetched for the found traces, for callers that render
/// more than summaries (matched spans, attributes).
pub async fn search_with_columns(service: &QueryService, request: &SearchRequest, columns: &[&str]) -> Result<Found> {
    let timeout = service.config().timeout;
    tokio::time::timeout(timeout, run(service, request, columns)).await.map_err(|_| QueryError::Timeout(timeout))?
}

async fn run(service: &QueryService, request: &SearchRequest, columns: &[&str]) -> Result<Found> {
    let started = Instant::now();
    let ctx = service.context();
    let ids = plan::find_trace_ids(ctx, request.window, request.condition.as_ref(), request.limit).await?;
    let found = started.elapsed();
    let spans = plan::fetch_traces(ctx, &ids, columns).await?;
    let traces = summary::summarize(&spans)?;
    tracing::debug!(
        traces = traces.len(),
        spans = plan::row_count(&spans),
        find_ms = found.as_secs_f64() * 1e3,
        total_ms = started.elapsed().as_secs_f64() * 1e3,
        "search served"
    );
    Ok(Found { traces, spans })
}

#[cfg(test)]
mod tests;
