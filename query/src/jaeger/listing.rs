//! Service and operation names, as the Jaeger search forms list them: distinct values of
//! `spans.service_name` and `(name, kind)` within a bounded window (see
//! [`super::listing_window`]), sorted, at most [`MAX_NAMES`] of them, under the query timeout.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use datafusion::prelude::{col, lit, Expr};
use osprey_storage::spans::col as spans_col;
use osprey_storage::Table;

use crate::error::{QueryError, Result};
use crate::search::plan::{column_as, in_window};
use crate::search::TimeWindow;
use crate::service::QueryService;

/// Most names one listing returns: a form's drop-down, not an export; a store with more
/// distinct span names than this has a cardinality problem the UI cannot show anyway.
pub const MAX_NAMES: usize = 10_000;

/// An operation (span name) with its span kind as stored (`server`, …, `unspecified`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub name: String,
    pub kind: String,
}

/// Service names with a span starting in `window`, sorted.
pub async fn services(service: &QueryService, window: TimeWindow) -> Result<Vec<String>> {
    let rows = distinct(service, in_window(window), &[spans_col::SERVICE_NAME]).await?;
    Ok(rows.into_iter().filter_map(|mut r| r.pop()).collect())
}

/// The operations of `service_name` (of every service when `None`; of one span kind if
/// given) with a span starting in `window`, sorted by name, then kind.
pub async fn operations(
    service: &QueryService,
    window: TimeWindow,
    service_name: Option<&str>,
    kind: Option<&str>,
) -> Result<Vec<Operation>> {
    let mut filter = in_window(window);
    if let Some(name) = service_name {
        filter = filter.and(col(spans_col::SERVICE_NAME).eq(lit(name)));
    }
    if let Some(kind) = kind {
        filter = filter.and(col(spans_col::KIND).eq(lit(kind)));
    }
    let rows = distinct(service, filter, &[spans_col::NAME, spans_col::KIND]).await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| match <[String; 2]>::try_from(r) {
            Ok([name, kind]) => Some(Operation { name, kind }),
            Err(_) => None,
        })
        .collect())
}

/// `SELECT DISTINCT <columns> FROM spans WHERE <filter> ORDER BY <columns> LIMIT <cap>`.
async fn distinct(service: &QueryService, filter: Expr, columns: &[&str]) -> Result<Vec<Vec<String>>> {
    let cap = MAX_NAMES;
    let timeout = service.config().timeout;
    let run = async {
        let group: Vec<Expr> = columns.iter().map(|c| col(*c)).collect();
        let order = columns.iter().map(|c| col(*c).sort(true, true)).collect();
        let batches = service
            .context()
            .table(Table::Spans.name())
            .await?
            .filter(filter)?
            .aggregate(group, vec![])?
            .sort(order)?
            .limit(0, Some(cap))?
            .collect()
            .await?;
        rows(&batches, columns)
    };
    tokio::time::timeout(timeout, run).await.map_err(|_| QueryError::Timeout(timeout))?
}

fn rows(batches: &[RecordBatch], columns: &[&str]) -> Result<Vec<Vec<String>>> {
    let mut out = Vec::new();
    for batch in batches {
        let arrays = columns.iter().map(|c| column_as(batch, c, &DataType::Utf8)).collect::<Result<Vec<_>>>()?;
        let texts = arrays
            .iter()
            .map(|a| a.as_string_opt::<i32>().ok_or_else(|| QueryError::Layout("expected a text column".into())))
            .collect::<Result<Vec<_>>>()?;
        for row in 0..batch.num_rows() {
            out.push(
                texts.iter().map(|t| if t.is_null(row) { String::new() } else { t.value(row).to_string() }).collect(),
            );
        }
    }
    Ok(out)
}
