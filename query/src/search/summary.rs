//! Trace summaries, built in one pass over the fetched spans of the found traces.
//!
//! **A trace whose root has not arrived** (no span without a parent, e.g. the
//! root's service has not exported yet, or the trace is still in flight) is still
//! returned: its `root_service` and `root_name` are `null` and `root_missing` is
//! `true`. Nothing is invented: we do not promote the earliest orphan to root.
//! When several spans lack a parent, the earliest (then lowest span id) is the root.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampNanosecondType};
use osprey_storage::spans::col;
use serde::Serialize;

use super::plan::column_as;
use crate::error::{QueryError, Result};
use crate::span_tree::real_parent;

/// The columns [`summarize`] reads.
pub const COLUMNS: [&str; 8] = [
    col::TRACE_ID,
    col::SPAN_ID,
    col::PARENT_SPAN_ID,
    col::SERVICE_NAME,
    col::NAME,
    col::START_TIME,
    col::DURATION_NS,
    col::STATUS_CODE,
];

/// One hit of a search (`api.md`, `GET /api/v1/traces`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceSummary {
    pub trace_id: String,
    /// `None` when the root span has not arrived (see the module doc).
    pub root_service: Option<String>,
    pub root_name: Option<String>,
    pub root_missing: bool,
    /// Earliest span start of the whole trace.
    pub start_time_unix_nano: i64,
    /// Latest span end minus the earliest start.
    pub duration_ns: i64,
    pub span_count: usize,
    pub error_count: usize,
    /// In order of each service's first span start.
    pub services: Vec<ServiceCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceCount {
    pub name: String,
    pub span_count: usize,
    pub error_count: usize,
}

#[derive(Default)]
struct Acc {
    start: i64,
    end: i64,
    spans: usize,
    errors: usize,
    /// (start, span id, service, name) of the earliest parentless span.
    root: Option<(i64, String, String, String)>,
    /// name → (first start, spans, errors)
    services: HashMap<String, (i64, usize, usize)>,
}

/// Summaries of every trace in `batches` (which hold [`COLUMNS`]), newest first
/// (by start time, then trace id).
pub fn summarize(batches: &[RecordBatch]) -> Result<Vec<TraceSummary>> {
    let mut traces: HashMap<String, Acc> = HashMap::new();
    let ts = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
    for batch in batches {
        let text = |name: &str| -> Result<arrow::array::ArrayRef> { column_as(batch, name, &DataType::Utf8) };
        let (trace_id, span_id, parent, service, name, status) = (
            text(col::TRACE_ID)?,
            text(col::SPAN_ID)?,
            text(col::PARENT_SPAN_ID)?,
            text(col::SERVICE_NAME)?,
            text(col::NAME)?,
            text(col::STATUS_CODE)?,
        );
        let (trace_id, span_id, parent, service, name, status) = (
            strings(&trace_id)?,
            strings(&span_id)?,
            strings(&parent)?,
            strings(&service)?,
            strings(&name)?,
            strings(&status)?,
        );
        let start = column_as(batch, col::START_TIME, &ts)?;
        let start = start
            .as_primitive_opt::<TimestampNanosecondType>()
            .ok_or_else(|| QueryError::Layout("start_time is not a timestamp".into()))?;
        let duration = column_as(batch, col::DURATION_NS, &DataType::Int64)?;
        let duration = duration
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| QueryError::Layout("duration_ns is not an int64".into()))?;
        for row in 0..batch.num_rows() {
            let begin = start.value(row);
            let end = begin.saturating_add(duration.value(row).max(0));
            let is_error = status.value(row) == "error";
            let acc = traces.entry(trace_id.value(row).to_string()).or_insert_with(|| Acc {
                start: begin,
                end,
                ..Default::default()
            });
            acc.start = acc.start.min(begin);
            acc.end = acc.end.max(end);
            acc.spans += 1;
            acc.errors += usize::from(is_error);
            let svc = acc.services.entry(service.value(row).to_string()).or_insert((begin, 0, 0));
            svc.0 = svc.0.min(begin);
            svc.1 += 1;
            svc.2 += usize::from(is_error);
            let parent = (!parent.is_null(row)).then(|| parent.value(row));
            if real_parent(parent).is_none() {
                let id = span_id.value(row);
                let earlier = acc.root.as_ref().is_none_or(|(s, i, ..)| (begin, id) < (*s, i.as_str()));
                if earlier {
                    acc.root =
                        Some((begin, id.to_string(), service.value(row).to_string(), name.value(row).to_string()));
                }
            }
        }
    }
    let mut out: Vec<TraceSummary> = traces.into_iter().map(|(id, acc)| finish(id, acc)).collect();
    out.sort_by(|a, b| b.start_time_unix_nano.cmp(&a.start_time_unix_nano).then_with(|| a.trace_id.cmp(&b.trace_id)));
    Ok(out)
}

fn finish(trace_id: String, acc: Acc) -> TraceSummary {
    let mut services: Vec<(String, (i64, usize, usize))> = acc.services.into_iter().collect();
    services.sort_by(|a, b| a.1 .0.cmp(&b.1 .0).then_with(|| a.0.cmp(&b.0)));
    let (root_service, root_name) = match acc.root {
        Some((_, _, service, name)) => (Some(service), Some(name)),
        None => (None, None),
    };
    TraceSummary {
        trace_id,
        root_missing: root_service.is_none(),
        root_service,
        root_name,
        start_time_unix_nano: acc.start,
        duration_ns: acc.end.saturating_sub(acc.start).max(0),
        span_count: acc.spans,
        error_count: acc.errors,
        services: services
            .into_iter()
            .map(|(name, (_, span_count, error_count))| ServiceCount { name, span_count, error_count })
            .collect(),
    }
}

fn strings(array: &arrow::array::ArrayRef) -> Result<&arrow::array::StringArray> {
    array.as_string_opt::<i32>().ok_or_else(|| QueryError::Layout("expected a text column".into()))
}
