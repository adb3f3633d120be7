//! A Jaeger search (v1 `traces`, v3 `traces` and `trace-summaries`) on the shared search
//! core: the criteria become one span-level condition (Jaeger matches service, operation,
//! tags and duration on the same span), the core finds the newest matching traces in the
//! window, and the found traces come back whole, as OTLP ([`find_traces`]) or as summaries
//! with Jaeger's orphan count ([`find_summaries`]).
//!
//! Tags Jaeger derives from OTLP fields are searched on those fields, so a search by a tag
//! the trace view shows finds the trace: `error=true|false` (status error or not),
//! `span.kind`, `otel.status_code` (`OK`, `ERROR`, `UNSET`), `otel.status_description`,
//! `otel.scope.name`, `otel.scope.version`, `w3c.tracestate`. Any other tag matches a span
//! attribute or a resource (process) attribute, compared as text (an int `500` matches
//! `"500"`). Event (log) fields are not searched.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use datafusion::prelude::{col, lit, Expr};
use osprey_storage::spans::col as spans_col;

use crate::error::{QueryError, Result};
use crate::otlp_trace::{self, OtlpTrace};
use crate::search::plan::column_as;
use crate::search::summary::COLUMNS as SUMMARY_COLUMNS;
use crate::search::{
    attribute_equals, search_with_columns, SearchRequest, SpanFilter, TimeWindow, TraceCondition, TraceSummary,
};
use crate::service::QueryService;
use crate::span_tree::real_parent;

/// What a Jaeger search asks for, before the window and limit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JaegerQuery {
    pub service: Option<String>,
    pub operation: Option<String>,
    /// In request order; a later duplicate key replaces an earlier one, as in Jaeger.
    pub tags: Vec<(String, String)>,
    pub min_duration: Option<Duration>,
    pub max_duration: Option<Duration>,
}

impl JaegerQuery {
    /// Adds a tag, replacing an earlier value of the same key.
    pub fn set_tag(&mut self, key: &str, value: &str) {
        self.tags.retain(|(k, _)| k != key);
        self.tags.push((key.to_string(), value.to_string()));
    }

    /// Checks what Jaeger checks (`maxDuration` not below `minDuration`) and builds the
    /// span-level condition; `None` when nothing is asked.
    pub fn condition(&self, max_name: &'static str) -> Result<Option<TraceCondition>> {
        if let (Some(min), Some(max)) = (self.min_duration, self.max_duration) {
            if max < min {
                return Err(QueryError::InvalidParameter {
                    name: max_name,
                    reason: format!("{max:?} is less than the minimum duration {min:?}"),
                });
            }
        }
        let base = SpanFilter {
            service: self.service.clone(),
            operation: self.operation.clone(),
            tags: Vec::new(),
            min_duration: self.min_duration,
            max_duration: self.max_duration,
            error: false,
        };
        let parts = base.to_expr().into_iter().chain(self.tags.iter().map(|(k, v)| tag_expr(k, v)));
        Ok(parts.reduce(Expr::and).map(TraceCondition::Span))
    }
}

/// The span-level expression for one Jaeger tag (see the module doc).
fn tag_expr(key: &str, value: &str) -> Expr {
    let text = |column: &str| col(column).eq(lit(value.to_string()));
    match (key, value) {
        ("error", "true") => col(spans_col::STATUS_CODE).eq(lit("error")),
        ("error", "false") => col(spans_col::STATUS_CODE).not_eq(lit("error")),
        ("span.kind", kind) => col(spans_col::KIND).eq(lit(kind.to_ascii_lowercase())),
        ("otel.status_code", code) => col(spans_col::STATUS_CODE).eq(lit(code.to_ascii_lowercase())),
        ("otel.status_description", _) => text(spans_col::STATUS_MESSAGE),
        ("otel.scope.name", _) => text(spans_col::SCOPE_NAME),
        ("otel.scope.version", _) => text(spans_col::SCOPE_VERSION),
        ("w3c.tracestate", _) => text(spans_col::TRACE_STATE),
        _ => attribute_equals(key, value),
    }
}

/// The search request for `query` within `window`, at most `limit` traces.
pub fn request(query: &JaegerQuery, window: TimeWindow, limit: usize, max_name: &'static str) -> Result<SearchRequest> {
    Ok(SearchRequest { window, limit, condition: query.condition(max_name)? })
}

/// The matching traces, whole, newest first.
pub async fn find_traces(service: &QueryService, request: &SearchRequest) -> Result<Vec<OtlpTrace>> {
    let mut columns: Vec<&str> = otlp_trace::COLUMNS.to_vec();
    columns.extend(SUMMARY_COLUMNS.iter().filter(|c| !otlp_trace::COLUMNS.contains(c)));
    let found = search_with_columns(service, request, &columns).await?;
    let order: Vec<String> = found.traces.into_iter().map(|t| t.trace_id).collect();
    let spans = found.spans;
    let mut traces: HashMap<String, OtlpTrace> = tokio::task::spawn_blocking(move || otlp_trace::by_trace(&spans))
        .await
        .map_err(|e| QueryError::Task(e.to_string()))??
        .into_iter()
        .map(|t| (t.trace_id.clone(), t))
        .collect();
    Ok(order.iter().filter_map(|id| traces.remove(id)).collect())
}

/// A found trace's summary with the number of its spans whose parent is not in the trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub summary: TraceSummary,
    pub orphan_spans: usize,
}

/// Summaries of the matching traces, newest first.
pub async fn find_summaries(service: &QueryService, request: &SearchRequest) -> Result<Vec<Summary>> {
    let found = search_with_columns(service, request, &SUMMARY_COLUMNS).await?;
    let orphans = orphan_counts(&found.spans)?;
    Ok(found
        .traces
        .into_iter()
        .map(|summary| {
            let orphan_spans = orphans.get(&summary.trace_id).copied().unwrap_or(0);
            Summary { summary, orphan_spans }
        })
        .collect())
}

/// Per trace, the spans whose (real) parent id is not a span of the trace.
fn orphan_counts(batches: &[arrow::array::RecordBatch]) -> Result<HashMap<String, usize>> {
    let mut spans: HashMap<String, (HashSet<String>, Vec<String>)> = HashMap::new();
    for batch in batches {
        let text = |name: &str| column_as(batch, name, &DataType::Utf8);
        let (trace, span, parent) =
            (text(spans_col::TRACE_ID)?, text(spans_col::SPAN_ID)?, text(spans_col::PARENT_SPAN_ID)?);
        let strings = |a: &arrow::array::ArrayRef| {
            a.as_string_opt::<i32>().cloned().ok_or_else(|| QueryError::Layout("expected a text column".into()))
        };
        let (trace, span, parent) = (strings(&trace)?, strings(&span)?, strings(&parent)?);
        for row in 0..batch.num_rows() {
            let entry = spans.entry(trace.value(row).to_string()).or_default();
            entry.0.insert(span.value(row).to_string());
            let parent = (!parent.is_null(row)).then(|| parent.value(row));
            if let Some(p) = real_parent(parent) {
                entry.1.push(p.to_string());
            }
        }
    }
    Ok(spans
        .into_iter()
        .map(|(id, (ids, parents))| (id, parents.iter().filter(|p| !ids.contains(*p)).count()))
        .collect())
}
