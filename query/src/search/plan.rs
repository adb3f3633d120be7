//! The two DataFusion plans of a search.
//!
//! 1. **Find**: over the spans whose start lies in the window (the provider prunes
//!    memtables, files, row groups and pages by `start_time`), the trace ids that
//!    meet the condition, newest first, at most `limit`:
//!    `SELECT trace_id, min(start_time) AS trace_start [, bool_or(<leaf i>) AS m<i> ...]
//!     FROM spans WHERE start_time BETWEEN .. AND (<leaf 0> OR <leaf 1> ...)
//!     GROUP BY trace_id [HAVING <condition over m<i>>] ORDER BY trace_start DESC, trace_id LIMIT n`.
//!    The `OR` of the leaves goes into the scan's predicate, so Parquet statistics and
//!    page indexes skip what no leaf can match. It is tried first on the traces of the
//!    newest matching spans only ([`find_among_newest_spans`]), which usually decides it.
//! 2. **Fetch**: every span of those traces (`trace_id IN (...)`, pruned by trace-id
//!    statistics and bloom filters), *not* bounded by the window, so a summary
//!    describes the whole trace even when it straddles the window's edges.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type};
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
    if let Some(found) = find_among_newest_spans(ctx, window, condition, limit).await? {
        return Ok(found);
    }
    let found = find_plan(ctx, window, condition, limit, None).await?.collect().await?;
    Ok(ranked(&found)?.into_iter().map(|(id, _)| id).collect())
}

/// How many of the newest matching spans [`find_among_newest_spans`] looks at, per trace asked for.
const NEWEST_SPANS_PER_TRACE: usize = 10;
/// Above this `limit` the shortcut is not tried (its candidate list would grow long).
const NEWEST_MAX_LIMIT: usize = 100;

/// The answer of step 1 from the newest matching spans alone, when they decide it.
///
/// The `M = limit × 10` newest spans meeting the condition in the window are cheap to find:
/// a top-k by `start_time`, whose dynamic filter lets the scan skip every row group (and,
/// with files read newest first, nearly every file) older than the k-th span found so far.
/// Their traces are the candidates; the find plan restricted to them ranks them exactly. If
/// `T` is the start of the M-th newest span, a trace that is not a candidate has all its
/// matching spans at or before `T`, so its rank time (its earliest matching start) is `≤ T`.
/// Hence when the `limit` best candidates all rank after `T`, no other trace can beat them and
/// they are the answer; when fewer than M spans match, every matching trace is a candidate.
/// Otherwise (`None`) the full find plan runs. In a busy hour this turns a `GROUP BY trace_id`
/// over millions of matching spans into one over a few hundred.
pub(crate) async fn find_among_newest_spans(
    ctx: &SessionContext,
    window: TimeWindow,
    condition: Option<&TraceCondition>,
    limit: usize,
) -> Result<Option<Vec<String>>> {
    if limit == 0 || limit > NEWEST_MAX_LIMIT {
        return Ok(None);
    }
    let newest_wanted = limit * NEWEST_SPANS_PER_TRACE;
    let newest = ctx
        .table(Table::Spans.name())
        .await?
        .filter(scan_predicate(window, condition))?
        .sort(vec![col(spans_col::START_TIME).sort(false, true)])?
        .limit(0, Some(newest_wanted))?
        .select_columns(&[spans_col::TRACE_ID, spans_col::START_TIME])?
        .collect()
        .await?;
    let newest = ranked(&newest)?;
    if newest.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let threshold = (newest.len() >= newest_wanted).then(|| newest.iter().map(|(_, t)| *t).min()).flatten();
    let mut candidates: Vec<String> = newest.into_iter().map(|(id, _)| id).collect();
    candidates.sort_unstable();
    candidates.dedup();
    let found = find_plan(ctx, window, condition, limit, Some(&candidates)).await?.collect().await?;
    let found = ranked(&found)?;
    let decided = match threshold {
        None => true,
        Some(t) => found.len() == limit && found.iter().all(|(_, start)| *start > t),
    };
    Ok(decided.then(|| found.into_iter().map(|(id, _)| id).collect()))
}

/// `(trace_id, time)` pairs from batches whose first two columns are a trace id and a time.
fn ranked(batches: &[RecordBatch]) -> Result<Vec<(String, i64)>> {
    let mut out = Vec::new();
    for batch in batches {
        let (Some(ids), Some(times)) = (batch.columns().first(), batch.columns().get(1)) else {
            return Err(QueryError::Layout("expected trace_id and a time column".into()));
        };
        let ids = arrow::compute::cast(ids, &DataType::Utf8)?;
        let ids = ids.as_string_opt::<i32>().ok_or_else(|| QueryError::Layout("trace_id is not text".into()))?;
        let times = arrow::compute::cast(times, &DataType::Int64)?;
        let times =
            times.as_primitive_opt::<Int64Type>().ok_or_else(|| QueryError::Layout("time is not int".into()))?;
        for (id, time) in ids.iter().zip(times.iter()) {
            if let (Some(id), Some(time)) = (id, time) {
                out.push((id.to_string(), time));
            }
        }
    }
    Ok(out)
}

/// The window and the `OR` of the condition's spanset filters: what a span must meet to count.
fn scan_predicate(window: TimeWindow, condition: Option<&TraceCondition>) -> Expr {
    let leaves = condition.map(TraceCondition::leaves).unwrap_or_default();
    let predicate = in_window(window);
    match leaves.iter().map(|e| (*e).clone()).reduce(Expr::or) {
        Some(any) => predicate.and(any),
        None => predicate,
    }
}

/// The plan of step 1: `trace_id` and its rank time `trace_start`, best first; `only`
/// restricts it to the given traces.
pub async fn find_plan(
    ctx: &SessionContext,
    window: TimeWindow,
    condition: Option<&TraceCondition>,
    limit: usize,
    only: Option<&[String]>,
) -> Result<DataFrame> {
    let leaves = condition.map(TraceCondition::leaves).unwrap_or_default();
    let mut predicate = scan_predicate(window, condition);
    if let Some(ids) = only {
        predicate =
            predicate.and(col(spans_col::TRACE_ID).in_list(ids.iter().map(|id| lit(id.as_str())).collect(), false));
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
        .select_columns(&[spans_col::TRACE_ID, TRACE_START])?)
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
