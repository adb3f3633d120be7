//! The `sqllogictest` suite: every `.slt` file under `query/tests/slt/` runs
//! against the real [`crate::sql::SqlEngine`] (guard, limits and all) over the
//! fixed [`dataset`](super::dataset), as DataFusion runs its own suite.
//!
//! Values are printed with Arrow's display formatting; `NULL` for nulls and
//! `(empty)` for empty strings (as DataFusion's runner does), so columns stay
//! separable. Set `OSPREY_SLT_COMPLETE=1` to rewrite the expected results from
//! what the engine answers (then review the diff).

use std::path::{Path, PathBuf};

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use sqllogictest::{DBOutput, DefaultColumnType, Runner};

use super::dataset::Fixture;
use crate::error::QueryError;
use crate::QueryService;

/// One connection of the runner: the query service over the dataset.
struct OspreyDb {
    service: QueryService,
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for OspreyDb {
    type Error = QueryError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, QueryError> {
        let result = self.service.sql().run(sql.to_string()).await?;
        let types = result.schema.fields().iter().map(|f| column_type(f.data_type())).collect();
        let mut rows = Vec::new();
        for batch in &result.batches {
            rows.extend(text_rows(batch)?);
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "osprey"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }
}

fn column_type(t: &DataType) -> DefaultColumnType {
    match t {
        t if t.is_integer() => DefaultColumnType::Integer,
        t if t.is_floating() || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) => {
            DefaultColumnType::FloatingPoint
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DefaultColumnType::Text,
        _ => DefaultColumnType::Any,
    }
}

fn text_rows(batch: &RecordBatch) -> Result<Vec<Vec<String>>, QueryError> {
    let options = FormatOptions::default().with_null("NULL");
    let formatters =
        batch.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options)).collect::<Result<Vec<_>, _>>()?;
    let mut rows = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let row = formatters
            .iter()
            .zip(batch.columns())
            .map(|(f, c)| match f.value(i).to_string() {
                s if s.is_empty() && !c.is_null(i) => "(empty)".to_string(),
                s => s,
            })
            .collect();
        rows.push(row);
    }
    Ok(rows)
}

fn slt_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictest_suite() {
    let fixture = Fixture::open().await;
    let files = slt_files();
    assert!(files.len() >= 3, "the suite is missing files: {files:?}");
    let complete = std::env::var_os("OSPREY_SLT_COMPLETE").is_some();
    let mut failures = Vec::new();
    for file in &files {
        let service = fixture.service.clone();
        let mut runner = Runner::new(move || {
            let service = service.clone();
            async move { Ok::<_, QueryError>(OspreyDb { service }) }
        });
        if complete {
            runner
                .update_test_file(
                    file,
                    " ",
                    sqllogictest::default_validator,
                    sqllogictest::default_normalizer,
                    sqllogictest::default_column_validator,
                )
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        } else if let Err(e) = runner.run_file_async(file).await {
            failures.push(format!("{}: {}", file.display(), e.display(false)));
        }
    }
    assert!(failures.is_empty(), "sqllogictest failures:\n{}", failures.join("\n\n"));
}
