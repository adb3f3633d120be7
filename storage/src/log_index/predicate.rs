//! `matches(body, '<query>')` in SQL: the log search language as a `WHERE` predicate on the
//! `logs` table, answered by the index instead of by reading every body.
//!
//! The function is a marker the `logs` table provider takes over: `supports_filters_pushdown`
//! claims it as `Exact`, and the scan keeps only the rows it matches — memtable batches through
//! [`super::matcher`], Parquet files through their tantivy index, which drops files without a
//! hit and hands the rest to the Parquet reader as a row selection (an access plan), so only
//! matching rows are decoded. Its query sees every field of the log (`service:`, `severity:`,
//! attributes), which a row-by-row scalar function given only `body` could not; so outside a
//! filter on `logs` (a projection, a join's output) calling it is an error that says where it
//! works, rather than a silently different answer.

use std::collections::BTreeMap;

use arrow::datatypes::DataType;
use datafusion::common::{plan_err, Result as DfResult, ScalarValue};
use datafusion::datasource::physical_plan::parquet::ParquetRowSelection;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};

use super::query::{parse, LogQuery};
use crate::error::{Result, StorageError};

/// The SQL name.
pub const NAME: &str = "matches";

/// `matches(text, text) → boolean`, to register in a session.
pub fn udf() -> ScalarUDF {
    ScalarUDF::from(Matches {
        signature: Signature::exact(vec![DataType::Utf8, DataType::Utf8], Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Matches {
    signature: Signature,
}

impl ScalarUDFImpl for Matches {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        plan_err!(
            "matches(body, '<query>') is a full-text filter on the logs table: use it in the WHERE clause of a \
             query on logs (e.g. SELECT ... FROM logs WHERE matches(body, 'card_expired AND service:payment'))"
        )
    }
}

/// The log query of a `matches(body, '<literal>')` filter, `None` if `expr` is not one.
/// A query that does not parse is an error naming its position.
pub fn query_of(expr: &Expr) -> Option<Result<LogQuery>> {
    let Expr::ScalarFunction(call) = expr else { return None };
    if call.func.name() != NAME {
        return None;
    }
    let [Expr::Column(column), Expr::Literal(ScalarValue::Utf8(Some(text)) | ScalarValue::Utf8View(Some(text)), _)] =
        call.args.as_slice()
    else {
        return Some(Err(StorageError::InvalidInput(
            "matches() takes the body column and a text literal: matches(body, '<query>')".into(),
        )));
    };
    if column.name != crate::logs::col::BODY {
        return Some(Err(StorageError::InvalidInput(format!(
            "matches() searches the log; its first argument is the body column, not {}",
            column.name
        ))));
    }
    Some(parse(text).map_err(|e| StorageError::InvalidInput(format!("matches() query: {e}"))))
}

/// The `matches` filters among `filters`, as one query (their AND); `None` if there are none.
pub fn combined(filters: &[Expr]) -> Result<Option<LogQuery>> {
    let mut queries = Vec::new();
    for filter in filters {
        if let Some(query) = query_of(filter) {
            queries.push(query?);
        }
    }
    Ok(match queries.len() {
        0 => None,
        1 => queries.pop(),
        _ => Some(LogQuery::And(queries)),
    })
}

/// A selection of exactly `rows` (sorted, distinct), neighbours merged, skipping to `count`
/// rows at the end (0: no trailing skip).
pub(crate) fn selection(rows: &[usize], count: usize) -> RowSelection {
    let mut selectors: Vec<RowSelector> = Vec::new();
    let mut next = 0;
    for &row in rows {
        if row > next {
            selectors.push(RowSelector::skip(row - next));
        }
        match selectors.last_mut() {
            Some(last) if !last.skip && row == next => last.row_count += 1,
            _ => selectors.push(RowSelector::select(1)),
        }
        next = row + 1;
    }
    if count > next {
        selectors.push(RowSelector::skip(count - next));
    }
    RowSelection::from(selectors)
}

/// For the scan: the row selection of each file `query` matches, by file path (files without
/// a hit are absent), through the files' indexes. Blocking (index reads).
pub fn file_selections(
    storage: &crate::Storage,
    files: &[crate::manifest::FileEntry],
    query: &LogQuery,
) -> Result<BTreeMap<String, ParquetRowSelection>> {
    let mut out = BTreeMap::new();
    for file in files {
        let index = storage.log_indexes.get(storage.data_dir(), file)?;
        let mut hits = Vec::new();
        super::search::search_file(
            storage.data_dir(),
            &index,
            file,
            query,
            (i64::MIN, i64::MAX),
            usize::MAX,
            &mut hits,
        )?;
        if !hits.is_empty() {
            let mut rows: Vec<usize> = hits.iter().map(|h| h.row).collect();
            rows.sort_unstable();
            rows.dedup();
            let total = usize::try_from(file.rows).unwrap_or(usize::MAX);
            out.insert(file.path.clone(), ParquetRowSelection::new(selection(&rows, total)));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selections_cover_the_file_and_merge_neighbours() {
        let got = selection(&[1, 2, 5], 8);
        let want = vec![
            RowSelector::skip(1),
            RowSelector::select(2),
            RowSelector::skip(2),
            RowSelector::select(1),
            RowSelector::skip(2),
        ];
        assert_eq!(Vec::<RowSelector>::from(got), want);
        assert_eq!(Vec::<RowSelector>::from(selection(&[0], 1)), vec![RowSelector::select(1)]);
    }
}
