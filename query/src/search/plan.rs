//! The two DataFusion plans of a search.
//!
//! 1. **Find**: over the spans whose start lies in the window (the provider prunes
//!    memtables, files, row groups and pages by `start_time`), the trace ids that
//!    meet the condition, newest first, at most `limit`:
//!    `SELECT trace_id, min(start_time) AS trace_start [, bool_or(<leaf i>) AS m<i> ...]
//!     FROM spans WHERE start_time BETWEEN .. AND (<leaf 0> OR <leaf 1> ...)
//!     GROUP BY trace_id [HAVING <condition over m<i>>] ORDER BY trace_start DESC, trace_id LIMIT n`.
//!    The `OR` of the leaves goes into the scan's predicate, so Parquet statistics and
//!    page indexes skip what no leaf can match.
//! 2. **Fetch**: every span of those traces (`trace_id IN (...)`, pruned by trace-id
//!    statistics and bloom filters), *not* bounded by the window, so a summary
//!    describes the whole trace even when it straddles the window's edges.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::functions_aggregate::expr_fn::{bool_or, min};
use datafusion::prelude::{col, lit, Expr, SessionContext};
use osprey_storage::spans::col as spans_col;
use osprey_storage::Table;

use super::config::TimeWindow;
use super::request::TraceCondition;
use crate::error::{QueryError, Result};

const TRACE_START: &str = "trace_start";

/// A `Timestamp(ns, UTC)` literal, the type of `start_time` (what the provider's
/// time pruning recognises).
pub fn timestamp(ns: i64) -> Expr {
    lit(ScalarValue::TimestampNanosecond(Some(ns), Some("UTC".into())))
}

/// `start_time BETWEEN start AND end` as two comparisons.
pub fn in_window(window: TimeWindow) -> Expr {
    col(spans_col::START_TIME)
        .gt_eq(timestamp(window.start_ns))
        .and(col(spans_col::START_TIME).lt_eq(timestamp(window.end_ns)))
}

/// Step 1: the ids of the newest traces (by their earliest span start in the
/// window) meeting `condition`, at most `limit`.
pub async fn find_trace_ids(
    ctx: &SessionContext,
    window: TimeWindow,
    condition: Option<&TraceCondition>,
    limit: usize,
) -> Result<Vec<String>> {
    let batches = find_plan(ctx, window, condition, limit).await?.collect().await?;
    let mut ids = Vec::new();
    for batch in &batches {
        let first = batch.columns().first().ok_or_else(|| QueryError::Layout("no trace_id column".into()))?;
        let column = arrow::compute::cast(first, &DataType::Utf8)?;
        let column =
            column.as_string_opt::<i32>().ok_or_else(|| QueryError::Layout("trace_id is not text".to_string()))?;
        ids.extend(column.iter().flatten().map(str::to_string));
    }
    Ok(ids)
}

/// The plan of step 1 (one `trace_id` column).
pub async fn find_plan(
    ctx: &SessionContext,
    window: TimeWindow,
    condition: Option<&TraceCondition>,
    limit: usize,
) -> Result<DataFrame> {
    let leaves = condition.map(TraceCondition::leaves).unwrap_or_default();
    let mut predicate = in_window(window);
    if let Some(any) = leaves.iter().map(|e| (*e).clone()).reduce(Expr::or) {
        predicate = predicate.and(any);
    }
    let mut aggregates = vec![min(col(spans_col::START_TIME)).alias(TRACE_START)];
    // One leaf needs no per-trace flag: the WHERE clause already decides it.
    let flagged = leaves.len() > 1;
    if flagged {
        aggregates.extend(leaves.iter().enumerate().map(|(i, e)| bool_or((*e).clone()).alias(flag(i))));
    }
    let mut df = ctx
        .table(Table::Spans.name())
        .await?
        .filter(predicate)?
        .aggregate(vec![col(spans_col::TRACE_ID)], aggregates)?;
    if let (true, Some(condition)) = (flagged, condition) {
        // bool_or over only-NULL inputs is NULL: a NULL flag means "no span matched".
        df = df.filter(condition.having(&|i| col(flag(i)).is_true()))?;
    }
    Ok(df
        .sort(vec![col(TRACE_START).sort(false, true), col(spans_col::TRACE_ID).sort(true, true)])?
        .limit(0, Some(limit))?
        .select_columns(&[spans_col::TRACE_ID])?)
}

fn flag(i: usize) -> String {
    format!("m{i}")
}

/// Step 2: every span of the given traces, the given columns.
pub async fn fetch_traces(ctx: &SessionContext, trace_ids: &[String], columns: &[&str]) -> Result<Vec<RecordBatch>> {
    if trace_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = trace_ids.iter().map(|id| lit(id.as_str())).collect();
    let batches = ctx
        .table(Table::Spans.name())
        .await?
        .filter(col(spans_col::TRACE_ID).in_list(ids, false))?
        .select_columns(columns)?
        .collect()
        .await?;
    Ok(batches.into_iter().filter(|b| b.num_rows() > 0).collect())
}

/// How many rows the batches hold.
pub fn row_count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

/// A column of `batch` cast to `to` (Parquet may hand back `Utf8View` for `Utf8`).
pub fn column_as(batch: &RecordBatch, name: &str, to: &DataType) -> Result<arrow::array::ArrayRef> {
    let array = batch.column_by_name(name).ok_or_else(|| QueryError::Layout(format!("column {name} missing")))?;
    if array.data_type() == to {
        return Ok(array.clone());
    }
    Ok(arrow::compute::cast(array, to)?)
}
