//! Reading one trace's rows from the `spans` table through DataFusion.

use arrow::array::RecordBatch;
use datafusion::prelude::{col, lit, SessionContext};
use osprey_storage::spans::col as spans_col;
use osprey_storage::Table;

use crate::error::Result;
use crate::span_rows::COLUMNS;
use crate::trace_id::TraceId;

/// `SELECT <waterfall columns> FROM spans WHERE trace_id = '<id>'`. The id is a
/// validated [`TraceId`] passed as a literal value (never spliced into SQL text);
/// the equality on the sorted `trace_id` column lets the provider prune files,
/// row groups and pages.
pub async fn fetch_trace(ctx: &SessionContext, trace_id: &TraceId) -> Result<Vec<RecordBatch>> {
    let batches = ctx
        .table(Table::Spans.name())
        .await?
        .filter(col(spans_col::TRACE_ID).eq(lit(trace_id.as_str())))?
        .select_columns(&COLUMNS)?
        .collect()
        .await?;
    Ok(batches)
}
