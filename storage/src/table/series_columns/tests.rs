use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{new_null_array, ArrayRef, RecordBatch, UInt32Array};
use arrow::datatypes::Schema;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::collect;
use datafusion::prelude::SessionContext;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::*;
use crate::attributes::AttrRef;
use crate::metric_points::{MetricInfo, Number, PointData, PointRecord, PointScope, PointsBuilder};
use crate::testdata::{self, T0};
use crate::{Storage, Table};

const SECOND: i64 = 1_000_000_000;

/// The points at `t` of 3 services × 2 metrics × 4 attribute sets (24 series, the metric name
/// counted), a value per series.
fn points_at(t: i64) -> RecordBatch {
    let mut builder = PointsBuilder::new();
    for service in ["cart", "checkout", "payment"] {
        let resource = [("service.name", AttrRef::Str(service)), ("host.name", AttrRef::Str("web-1"))];
        let scope = PointScope::new(service, &resource, Some("lib"), None);
        let sets: [Vec<(&str, AttrRef<'_>)>; 4] = [
            vec![],
            vec![("code", AttrRef::Int(5))],
            vec![("code", AttrRef::Str("5"))],
            vec![("code", AttrRef::Str("7")), ("route", AttrRef::Str("/ü"))],
        ];
        for (m, name) in ["requests", "latency"].into_iter().enumerate() {
            for (i, attributes) in sets.iter().enumerate() {
                let point = PointRecord {
                    time_unix_nano: T0 + t * SECOND,
                    start_time_unix_nano: T0,
                    attributes: attributes.clone(),
                    flags: 0,
                    data: PointData::Gauge(Number::Double((t * 100 + m as i64 * 10 + i as i64) as f64)),
                    exemplars: vec![],
                };
                builder.append(&scope, &MetricInfo { name, description: "", unit: "" }, &point).expect("append");
            }
        }
    }
    builder.finish().expect("finish")
}

async fn sql(storage: &Arc<Storage>, query: &str) -> Vec<Vec<String>> {
    let ctx = SessionContext::new();
    ctx.register_table("metrics", storage.table_provider(Table::Metrics)).expect("register");
    let batches = ctx.sql(query).await.expect("plan").collect().await.expect("run");
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters: Vec<_> =
            batch.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("fmt")).collect();
        rows.extend((0..batch.num_rows()).map(|r| formatters.iter().map(|f| f.value(r).to_string()).collect()));
    }
    rows
}

const ALL_ROWS: &str = "SELECT metric_name, service_name, time, value, attributes, attribute_types, \
                        resource_attributes, resource_attribute_types, scope_name FROM metrics \
                        ORDER BY metric_name, service_name, time, value";
const FILTERED: &str = "SELECT count(*), sum(value) FROM metrics \
                        WHERE attributes['code'] = '5' AND service_name <> 'cart' AND time > '2023-11-14T22:13:21Z'";

/// The rows of every file, read as Parquet (not through the table).
fn raw_files(storage: &Storage) -> Vec<RecordBatch> {
    let mut files = Vec::new();
    for entry in storage.snapshot(Table::Metrics).files {
        let file = std::fs::File::open(storage.data_dir().join(&entry.path)).expect("open");
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).expect("reader").build().expect("build");
        let batches: Vec<RecordBatch> = reader.map(|b| b.expect("batch")).collect();
        files.push(concat_batches(&crate::metric_points::file_schema(), &batches).expect("concat"));
    }
    files
}

/// Files hold each series' columns once; through the table every row reads whole, the same
/// before any flush, with part of the points flushed, and with all of them flushed into
/// several files; filters on attributes give the same answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_read_whole_from_files_that_hold_each_series_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(testdata::config(dir.path())).await.expect("open");
    for t in 0..6 {
        storage.append(Table::Metrics, points_at(t)).await.expect("append");
    }
    let (before, filtered) = (sql(&storage, ALL_ROWS).await, sql(&storage, FILTERED).await);
    assert_eq!(before.len(), 144);
    assert_eq!(filtered, [["32", "11408.0"]], "4 times × 2 services × 2 metrics × 2 sets (code 5 as int and text)");
    storage.flush().await.expect("flush");
    for t in 6..9 {
        storage.append(Table::Metrics, points_at(t)).await.expect("append");
    }
    let mut all = sql(&storage, ALL_ROWS).await;
    all.retain(|row| !before.contains(row));
    assert_eq!(all.len(), 72, "the memtable's rows beside the file's");
    let (both, filtered_both) = (sql(&storage, ALL_ROWS).await, sql(&storage, FILTERED).await);
    storage.flush().await.expect("flush");
    assert_eq!(storage.memtable_rows(Table::Metrics), 0);
    assert_eq!(sql(&storage, ALL_ROWS).await, both, "two files read as the memtables did");
    assert_eq!(sql(&storage, FILTERED).await, filtered_both);

    let files = raw_files(&storage);
    assert_eq!(files.len(), 2);
    for file in files {
        let attributes = file.column_by_name(col::ATTRIBUTES).expect("attributes");
        let series_row = file.column_by_name(col::SERIES_ROW).expect("series_row").as_primitive::<UInt32Type>();
        let distinct: HashSet<u64> = file
            .column_by_name(col::SERIES)
            .expect("series")
            .as_primitive::<arrow::datatypes::UInt64Type>()
            .values()
            .iter()
            .copied()
            .collect();
        assert_eq!(distinct.len(), 12, "3 services × 4 attribute sets: the metric name is no part of a series");
        assert_eq!(attributes.len() - attributes.null_count(), 12, "one holder per series");
        assert_eq!(series_row.null_count(), 0);
        assert!((0..file.num_rows()).all(|r| attributes.is_valid(series_row.value(r) as usize)));
    }
    let held = storage.metrics().series_cache_bytes.get();
    assert!(held > 0 && held as usize == storage.series_tables.bytes(), "osprey_series_cache_bytes = {held}");
}

/// The scan reads series columns only when asked for them, and filters that name none still
/// reach the Parquet reader while filters on attributes stay above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_filters_without_series_columns_reach_the_parquet_reader() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(testdata::config(dir.path())).await.expect("open");
    for t in 0..3 {
        storage.append(Table::Metrics, points_at(t)).await.expect("append");
    }
    storage.flush().await.expect("flush");
    let physical = physical_plan(&storage, FILTERED).await;
    assert!(physical.contains("SeriesColumnsExec"), "{physical}");
    let scan = physical.lines().find(|l| l.contains("DataSourceExec") && l.contains("parquet")).expect("scan");
    let predicate = scan.split("predicate=").nth(1).expect("a predicate in the scan");
    assert!(predicate.contains("service_name") && predicate.contains("time"), "{scan}");
    assert!(!predicate.contains("attributes"), "{scan}");
    let physical = physical_plan(&storage, "SELECT sum(value) FROM metrics WHERE time > '2023-11-14T22:13:21Z'").await;
    assert!(!physical.contains("SeriesColumnsExec"), "no series column read: {physical}");
}

/// The physical plan `EXPLAIN` gives for `query`.
async fn physical_plan(storage: &Arc<Storage>, query: &str) -> String {
    let rows = sql(storage, &format!("EXPLAIN {query}")).await;
    rows.iter().find(|r| r[0] == "physical_plan").map(|r| r[1].clone()).expect("physical plan")
}

/// A batch as [`SeriesColumnsExec`]'s input yields it: `columns`, then `series_row`, then the file.
fn input(columns: Vec<ArrayRef>, names: &[&str], series_row: ArrayRef) -> Arc<dyn ExecutionPlan> {
    let schema = crate::metric_points::schema();
    let mut fields: Vec<Field> = names.iter().map(|n| schema.field_with_name(n).expect("field").clone()).collect();
    fields.push(Field::new(col::SERIES_ROW, DataType::UInt32, true));
    fields.push(file_field());
    let rows = series_row.len();
    let mut all = columns;
    all.extend([series_row, Arc::new(UInt32Array::from(vec![0u32; rows])) as ArrayRef]);
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), all).expect("batch");
    let source = MemorySourceConfig::try_new(&[vec![batch.clone()]], batch.schema(), None).expect("memory");
    DataSourceExec::from_data_source(source)
}

/// Rows of files written before `series_row` (NULL) keep their own columns; a `series_row`
/// naming a row without series columns is an error, not a panic or a wrong row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_files_pass_unchanged_and_a_bad_series_row_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(testdata::config(dir.path())).await.expect("open");
    storage.append(Table::Metrics, points_at(0)).await.expect("append");
    storage.flush().await.expect("flush");
    let path = storage.data_dir().join(&storage.snapshot(Table::Metrics).files[0].path);
    let points = points_at(0);
    let names = [col::VALUE, col::ATTRIBUTES];
    let columns: Vec<ArrayRef> = names.iter().map(|n| points.column_by_name(n).expect("column").clone()).collect();
    let indices: Vec<usize> = names.iter().map(|n| points.schema().index_of(n).expect("index")).collect();
    let schema = Arc::new(points.schema().project(&indices).expect("project"));
    let tables = Arc::new(SeriesTables::new(1, Gauge::default()));
    let ctx = SessionContext::new().task_ctx();

    let old = input(columns.clone(), &names, new_null_array(&DataType::UInt32, points.num_rows()));
    let exec = SeriesColumnsExec::new(old, schema.clone(), vec![path.clone()], tables.clone()).expect("exec");
    let out = collect(Arc::new(exec), ctx.clone()).await.expect("old rows");
    assert_eq!(out[0].columns(), &columns[..]);

    let holders = SeriesTable::load(&path).expect("load").holders;
    let not_a_holder = (0..).find(|r| !holders.contains(r)).expect("a row that holds nothing");
    let bad = input(columns.clone(), &names, Arc::new(UInt32Array::from(vec![not_a_holder; points.num_rows()])));
    let exec = SeriesColumnsExec::new(bad, schema, vec![path], tables.clone()).expect("exec");
    let error = collect(Arc::new(exec), ctx).await.expect_err("a row without series columns");
    assert!(error.to_string().contains("names a row without series columns"), "{error}");
    assert_eq!(tables.bytes(), 0, "nothing is kept past the limit");
}
