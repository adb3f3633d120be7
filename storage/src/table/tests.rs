use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::util::pretty::pretty_format_batches;
use datafusion::logical_expr::{col, lit};
use datafusion::physical_plan::metrics::MetricValue;
use datafusion::physical_plan::{collect, ExecutionPlan};
use datafusion::prelude::SessionContext;

use super::*;
use crate::testdata::{self, trace_hex, Span, HOUR, T0};

fn ns(v: i64) -> Expr {
    lit(ScalarValue::TimestampNanosecond(Some(v), Some("UTC".into())))
}

#[test]
fn time_bounds_from_filters() {
    let c = || col("start_time");
    let b = TimeBounds::from_filters("start_time", &[c().gt_eq(ns(10)), c().lt(ns(20))]);
    assert_eq!(b, TimeBounds { lo: Some(10), hi: Some(19) });
    let b = TimeBounds::from_filters("start_time", &[ns(10).lt(c()).and(c().lt_eq(ns(30)))]);
    assert_eq!(b, TimeBounds { lo: Some(11), hi: Some(30) });
    let b = TimeBounds::from_filters("start_time", &[c().between(ns(5), ns(7)), c().gt(ns(6))]);
    assert_eq!(b, TimeBounds { lo: Some(7), hi: Some(7) });
    let b = TimeBounds::from_filters("start_time", &[c().eq(lit(ScalarValue::TimestampMillisecond(Some(3), None)))]);
    assert_eq!(b, TimeBounds { lo: Some(3_000_000), hi: Some(3_000_000) });
    // Other columns, ORs and NOT BETWEEN imply nothing.
    let none = TimeBounds::default();
    assert_eq!(TimeBounds::from_filters("start_time", &[col("end_time").gt(ns(1))]), none);
    assert_eq!(TimeBounds::from_filters("start_time", &[c().gt(ns(1)).or(c().lt(ns(0)))]), none);
    assert_eq!(TimeBounds::from_filters("start_time", &[c().not_between(ns(1), ns(2))]), none);

    let b = TimeBounds { lo: Some(10), hi: Some(20) };
    assert!(b.overlaps(0, 10) && b.overlaps(20, 30) && b.overlaps(12, 13) && b.overlaps(0, 100));
    assert!(!b.overlaps(0, 9) && !b.overlaps(21, 30));
    assert!(none.overlaps(i64::MIN, i64::MIN));
}

async fn open(dir: &std::path::Path, row_group_rows: usize) -> Arc<Storage> {
    let mut config = testdata::config(dir);
    config.flush.row_group_rows = row_group_rows;
    Storage::open(config).await.expect("open")
}

fn context(storage: &Arc<Storage>) -> SessionContext {
    let ctx = SessionContext::new();
    ctx.register_table("spans", storage.table_provider(Table::Spans)).expect("register");
    ctx
}

async fn sql(ctx: &SessionContext, query: &str) -> Vec<RecordBatch> {
    ctx.sql(query).await.expect("plan").collect().await.expect("run")
}

fn strings(batches: &[RecordBatch], column: usize) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for b in batches {
        let c = arrow::compute::cast(b.column(column), &arrow::datatypes::DataType::Utf8).expect("cast");
        let c = c.as_string::<i32>();
        out.extend((0..c.len()).map(|i| c.is_valid(i).then(|| c.value(i).to_string())));
    }
    out
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_straddling_a_flush_is_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = open(dir.path(), 1000).await;
    let part1 = [Span { trace: 42, span: 1, start_ns: T0 }, Span { trace: 42, span: 2, start_ns: T0 + 10 }];
    storage.append(Table::Spans, testdata::spans(&part1)).await.expect("append");
    storage.append(Table::Spans, testdata::many(50, 10, T0)).await.expect("append other traces");
    storage.flush().await.expect("flush");
    storage
        .append(Table::Spans, testdata::spans(&[Span { trace: 42, span: 3, start_ns: T0 + 20 }]))
        .await
        .expect("append");
    let snapshot = storage.snapshot(Table::Spans);
    assert_eq!(snapshot.files.len(), 1);
    assert_eq!(snapshot.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);

    let ctx = context(&storage);
    let q = format!("SELECT span_id FROM spans WHERE trace_id = '{}' ORDER BY start_time", trace_hex(42));
    let got = strings(&sql(&ctx, &q).await, 0);
    let expected: Vec<Option<String>> = [1u64, 2, 3].iter().map(|s| Some(format!("{s:016x}"))).collect();
    assert_eq!(got, expected);

    let total = sql(&ctx, "SELECT count(*) FROM spans").await;
    assert_eq!(strings(&total, 0), vec![Some("53".to_string())]);
    let all = sql(&ctx, "SELECT * FROM spans").await;
    assert_eq!(rows(&all), 53);
    assert_eq!(all[0].schema().fields(), Table::Spans.schema().fields());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attributes_map_is_queryable_as_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = open(dir.path(), 1000).await;
    storage.append(Table::Spans, testdata::many(5, 1, T0)).await.expect("append");
    storage.flush().await.expect("flush");
    storage.append(Table::Spans, testdata::spans(&[Span { trace: 9, span: 7, start_ns: T0 }])).await.expect("append");
    let ctx = context(&storage);
    let got =
        sql(&ctx, "SELECT attributes['http.route'] AS route, count(*) FROM spans GROUP BY route ORDER BY route").await;
    let text = pretty_format_batches(&got).expect("format").to_string();
    let routes = strings(&got, 0);
    // Spans 0..5 use routes 0..5; span 7 uses route 2 (/pay) again.
    assert_eq!(
        routes,
        ["/cart", "/checkout", "/items/{id}", "/pay", "/users/{id}"].map(|r| Some(r.to_string())).to_vec(),
        "{text}"
    );
    let counts = strings(&got, 1);
    assert_eq!(counts[3].as_deref(), Some("2"), "{text}");
    // A filter on the map is pushed into the Parquet scan and still answers right, over both sources.
    let pay = sql(&ctx, "SELECT span_id FROM spans WHERE attributes['http.route'] = '/pay' ORDER BY span_id").await;
    assert_eq!(strings(&pay, 0), vec![Some(format!("{:016x}", 2)), Some(format!("{:016x}", 7))]);
    let missing = sql(&ctx, "SELECT count(*) FROM spans WHERE attributes['no.such.key'] IS NULL").await;
    assert_eq!(strings(&missing, 0), vec![Some("6".to_string())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_filters_skip_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = open(dir.path(), 1000).await;
    storage.append(Table::Spans, testdata::many(10, 2, T0)).await.expect("append");
    storage.flush().await.expect("flush");
    storage.append(Table::Spans, testdata::many(4, 2, T0 + 3 * HOUR)).await.expect("append");
    storage.flush().await.expect("flush");
    assert_eq!(storage.snapshot(Table::Spans).files.len(), 2);

    let ctx = context(&storage);
    // T0 is 2023-11-14T22:13:20Z; the second file starts 3 hours later, after midnight.
    let filter = "start_time >= TIMESTAMP '2023-11-15T00:00:00Z'";
    let plan = sql(&ctx, &format!("EXPLAIN SELECT span_id FROM spans WHERE {filter}")).await;
    let plan = pretty_format_batches(&plan).expect("format").to_string();
    assert_eq!(plan.matches(".parquet").count(), 1, "one file after time pruning:\n{plan}");
    assert!(plan.contains("date=2023-11-15"), "{plan}");
    let got = sql(&ctx, &format!("SELECT span_id FROM spans WHERE {filter}")).await;
    assert_eq!(rows(&got), 4);

    let plan = sql(&ctx, "EXPLAIN SELECT span_id FROM spans WHERE start_time < TIMESTAMP '2023-11-14T00:00:00Z'").await;
    let plan = pretty_format_batches(&plan).expect("format").to_string();
    assert_eq!(plan.matches(".parquet").count(), 0, "no file can match:\n{plan}");
    let got = sql(&ctx, "SELECT count(*) FROM spans WHERE start_time BETWEEN TIMESTAMP '2023-11-14T22:00:00Z' AND TIMESTAMP '2023-11-14T23:00:00Z'").await;
    assert_eq!(strings(&got, 0), vec![Some("10".to_string())]);
}

/// Sums the pruning metrics of every node of an executed plan by name: (pruned, matched).
fn pruning(plan: &Arc<dyn ExecutionPlan>, out: &mut BTreeMap<String, (usize, usize)>) {
    if let Some(metrics) = plan.metrics() {
        for m in metrics.iter() {
            if let MetricValue::PruningMetrics { name, pruning_metrics } = m.value() {
                let e = out.entry(name.to_string()).or_default();
                e.0 += pruning_metrics.pruned();
                e.1 += pruning_metrics.matched();
            }
        }
    }
    for child in plan.children() {
        pruning(child, out);
    }
}

async fn run_and_prune(ctx: &SessionContext, query: &str) -> (usize, BTreeMap<String, (usize, usize)>) {
    let plan = ctx.sql(query).await.expect("plan").create_physical_plan().await.expect("physical");
    let batches = collect(plan.clone(), ctx.task_ctx()).await.expect("run");
    let mut metrics = BTreeMap::new();
    pruning(&plan, &mut metrics);
    (rows(&batches), metrics)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_lookups_prune_row_groups_by_statistics_and_bloom_filter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = open(dir.path(), 100).await;
    // 2000 spans of 200 traces (10 each) → sorted by trace_id, 20 row groups of 10 traces.
    storage.append(Table::Spans, testdata::many(2000, 200, T0)).await.expect("append");
    storage.flush().await.expect("flush");
    assert_eq!(storage.memtable_rows(Table::Spans), 0);
    let ctx = context(&storage);

    let (n, metrics) = run_and_prune(&ctx, &format!("SELECT * FROM spans WHERE trace_id = '{}'", trace_hex(77))).await;
    assert_eq!(n, 10);
    assert_eq!(metrics.get("row_groups_pruned_statistics"), Some(&(19, 1)), "{metrics:?}");

    // An absent id inside one row group's [min, max]: statistics would keep that group, but the
    // file's bloom filters (in memory, see `bloom_cache`) hold no such id, so the file is not opened.
    let mut present: Vec<String> = (0..200).map(trace_hex).collect();
    present.sort();
    let mut absent = present[55].clone();
    absent.replace_range(31..32, if absent.ends_with('0') { "1" } else { "0" });
    assert!(absent > present[50] && absent < present[59], "inside row group 5's range");
    assert!(!present.contains(&absent));
    let (n, metrics) = run_and_prune(&ctx, &format!("SELECT * FROM spans WHERE trace_id = '{absent}'")).await;
    assert_eq!(n, 0);
    assert_eq!(metrics.get("row_groups_pruned_statistics"), None, "no Parquet scan: {metrics:?}");

    // And EXPLAIN ANALYZE shows it.
    let text = sql(&ctx, &format!("EXPLAIN ANALYZE SELECT * FROM spans WHERE trace_id = '{}'", trace_hex(77))).await;
    let text = pretty_format_batches(&text).expect("format").to_string();
    assert!(text.contains("row_groups_pruned_statistics=20 total → 1 matched"), "{text}");
}

#[test]
fn scan_columns_read_the_inputs_of_virtual_columns() {
    let (logical, physical) = (Table::Spans.schema(), Table::Spans.physical_schema());
    let l = |name: &str| logical.index_of(name).expect("logical");
    let p = |name: &str| physical.index_of(name).expect("physical");
    let plan = |projection: Option<Vec<usize>>| {
        ScanColumns::new(Table::Spans, &logical, &physical, projection.as_ref()).expect("columns")
    };
    // Stored columns only: read as they are, in the asked order.
    let c = plan(Some(vec![l("span_id"), l("trace_id"), l("duration_ns")]));
    assert_eq!(c.physical, vec![p("span_id"), p("trace_id"), p("duration_ns")]);
    assert!(c.computed.is_none());
    let c = plan(Some(vec![]));
    assert!(c.physical.is_empty() && c.computed.is_none());
    // end_time alone reads start_time and duration_ns.
    let c = plan(Some(vec![l("end_time")]));
    assert_eq!(c.physical, vec![p("start_time"), p("duration_ns")]);
    let names: Vec<String> = c.computed.expect("computed").into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["end_time"]);
    // With its inputs asked for too, each is read once.
    let c = plan(Some(vec![l("duration_ns"), l("end_time"), l("start_time")]));
    assert_eq!(c.physical, vec![p("duration_ns"), p("start_time")]);
    assert_eq!(c.computed.map(|e| e.len()), Some(3));
    // Everything: all stored columns, and the logical schema's order.
    let c = plan(None);
    assert_eq!(c.physical.len(), physical.fields().len());
    let names: Vec<String> = c.computed.expect("computed").into_iter().map(|(_, n)| n).collect();
    let expected: Vec<String> = logical.fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names, expected);
}

/// Spans 0..10 (T0 + i ms, 1.5 ms long) in a file, 4 more an hour later in the memtable.
async fn file_and_memtable(dir: &std::path::Path) -> Arc<Storage> {
    let storage = open(dir, 1000).await;
    storage.append(Table::Spans, testdata::many(10, 2, T0)).await.expect("append");
    storage.flush().await.expect("flush");
    storage.append(Table::Spans, testdata::many(4, 2, T0 + HOUR)).await.expect("append");
    assert_eq!((storage.snapshot(Table::Spans).files.len(), storage.memtable_rows(Table::Spans)), (1, 4));
    storage
}

fn times(batches: &[RecordBatch], column: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for b in batches {
        let c = b.column_by_name(column).expect("column");
        assert_eq!(c.data_type(), Table::Spans.schema().field_with_name(column).expect("field").data_type());
        out.extend(c.as_primitive::<arrow::datatypes::TimestampNanosecondType>().values().iter().copied());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_time_is_computed_from_memtable_and_parquet() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = file_and_memtable(dir.path()).await;
    let ctx = context(&storage);
    let starts: Vec<i64> =
        (0..10).map(|i| T0 + i * 1_000_000).chain((0..4).map(|i| T0 + HOUR + i * 1_000_000)).collect();
    let ends: Vec<i64> = starts.iter().map(|s| s + 1_500_000).collect();

    let got = sql(&ctx, "SELECT end_time FROM spans ORDER BY end_time").await;
    assert_eq!(times(&got, "end_time"), ends);
    // SELECT *: the logical schema, end_time = start_time + duration_ns on every row.
    let all = sql(&ctx, "SELECT * FROM spans ORDER BY start_time").await;
    assert_eq!(all[0].schema().fields(), Table::Spans.schema().fields());
    assert_eq!(times(&all, "start_time"), starts);
    assert_eq!(times(&all, "end_time"), ends);
    // Mixed with its inputs, in any order.
    let got = sql(&ctx, "SELECT duration_ns, end_time, span_id, start_time FROM spans ORDER BY start_time").await;
    assert_eq!(times(&got, "end_time"), ends);
    assert_eq!(strings(&got, 0), vec![Some("1500000".to_string()); 14]);
    // Projections without end_time, count(*) and LIMIT.
    let got = sql(&ctx, "SELECT span_id, trace_id FROM spans").await;
    assert_eq!((rows(&got), got[0].num_columns()), (14, 2));
    assert_eq!(strings(&sql(&ctx, "SELECT count(*) FROM spans").await, 0), vec![Some("14".to_string())]);
    assert_eq!(rows(&sql(&ctx, "SELECT * FROM spans LIMIT 3").await), 3);
    assert_eq!(rows(&sql(&ctx, "SELECT end_time FROM spans LIMIT 5").await), 5);
    let got = sql(&ctx, "SELECT end_time - start_time AS d FROM spans WHERE end_time > start_time").await;
    assert_eq!(rows(&got), 14);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_time_filters_apply_above_the_scan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = file_and_memtable(dir.path()).await;
    let ctx = context(&storage);
    // File rows end at T0 + i ms + 1.5 ms: i >= 4 are past T0 + 5 ms; all 4 memtable rows are.
    let filter = "end_time > TIMESTAMP '2023-11-14T22:13:20.005Z'";
    let got = sql(&ctx, &format!("SELECT count(*) FROM spans WHERE {filter}")).await;
    assert_eq!(strings(&got, 0), vec![Some("10".to_string())]);
    let got = sql(&ctx, &format!("SELECT span_id FROM spans WHERE {filter} ORDER BY span_id")).await;
    let expected: Vec<Option<String>> = (4..10u64).chain(0..4).map(|s| Some(format!("{s:016x}"))).collect();
    let mut expected = expected;
    expected.sort();
    assert_eq!(strings(&got, 0), expected);
    let got = sql(&ctx, "SELECT * FROM spans WHERE end_time <= TIMESTAMP '2023-11-14T22:13:20.002Z'").await;
    assert_eq!(times(&got, "start_time"), vec![T0]);

    // Filters on stored columns still prune next to one on end_time.
    let q = format!("SELECT span_id FROM spans WHERE trace_id = '{}' AND {filter}", trace_hex(1));
    let (n, metrics) = run_and_prune(&ctx, &q).await;
    assert_eq!(n, 3 + 2, "odd spans 5, 7, 9 in the file and 1, 3 in the memtable");
    assert!(metrics.contains_key("row_groups_pruned_statistics"), "{metrics:?}");
    let plan = sql(
        &ctx,
        &format!("EXPLAIN SELECT span_id FROM spans WHERE start_time >= TIMESTAMP '2023-11-14T23:00:00Z' AND {filter}"),
    )
    .await;
    let plan = pretty_format_batches(&plan).expect("format").to_string();
    assert_eq!(plan.matches(".parquet").count(), 0, "start_time still prunes files:\n{plan}");
}

#[test]
fn late_materialization_only_when_other_columns_are_read() {
    let schema = Table::Logs.physical_schema();
    let index = |name: &str| schema.index_of(name).expect("column");
    let severity = col(crate::logs::col::SEVERITY_TEXT).eq(lit("ERROR"));
    let trace = col(crate::logs::col::TRACE_ID).eq(lit("5b8efff798038103d269b633813fc60c"));
    // count(*) WHERE severity_text = …: the scan reads only the filtered column.
    assert!(!super::late_materialization_pays(
        &schema,
        &[index(crate::logs::col::SEVERITY_TEXT)],
        std::slice::from_ref(&severity)
    ));
    // A lookup reading other columns skips decoding them for the rows that fail.
    let body_and_trace = [index(crate::logs::col::BODY), index(crate::logs::col::TRACE_ID)];
    assert!(super::late_materialization_pays(&schema, &body_and_trace, std::slice::from_ref(&trace)));
    assert!(super::late_materialization_pays(&schema, &body_and_trace, &[severity, trace]));
    // No filter yet: a `ORDER BY … LIMIT` may push a dynamic one into the scan later.
    assert!(super::late_materialization_pays(&schema, &body_and_trace, &[]));
    // Nothing projected (count(*) alone): nothing to skip.
    assert!(!super::late_materialization_pays(&schema, &[], &[]));
}

/// Whether the plan's Parquet scan reads the files' bloom filters (`None`: no Parquet scan).
fn reads_bloom_filters(plan: &Arc<dyn ExecutionPlan>) -> Option<bool> {
    use datafusion::datasource::physical_plan::FileScanConfig;
    if let Some(source) = plan.downcast_ref::<DataSourceExec>() {
        if let Some(parquet) = source
            .data_source()
            .downcast_ref::<FileScanConfig>()
            .and_then(|config| config.file_source().downcast_ref::<ParquetSource>())
        {
            return Some(parquet.table_parquet_options().global.bloom_filter_on_read);
        }
    }
    plan.children().into_iter().find_map(reads_bloom_filters)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bloom_filters_are_read_again_only_where_they_can_prune_row_groups() {
    let query = |trace: u64| format!("SELECT span_id FROM spans WHERE trace_id = '{}'", trace_hex(trace));
    let plan = |ctx: SessionContext, q: String| async move {
        ctx.sql(&q).await.expect("plan").create_physical_plan().await.expect("physical")
    };
    // One row group: the cache's answer for the file is all its filters can say.
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = open(dir.path(), 100_000).await;
    storage.append(Table::Spans, testdata::many(2000, 200, T0)).await.expect("append");
    storage.flush().await.expect("flush");
    assert_eq!(reads_bloom_filters(&plan(context(&storage), query(77)).await), Some(false));
    let held = storage.metrics().bloom_cache_bytes.get();
    assert!(held > 0 && held as usize == storage.blooms.bytes(), "osprey_bloom_cache_bytes = {held}");
    // No id in the query: the scan keeps the filters for whatever it can use them for.
    let no_id = "SELECT span_id FROM spans WHERE name = 'x'".to_string();
    assert_eq!(reads_bloom_filters(&plan(context(&storage), no_id).await), Some(true));

    // Twenty row groups of ten traces: nineteen are left for the filters to prune.
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = open(dir.path(), 100).await;
    storage.append(Table::Spans, testdata::many(2000, 200, T0)).await.expect("append");
    storage.flush().await.expect("flush");
    assert_eq!(reads_bloom_filters(&plan(context(&storage), query(77)).await), Some(true));
}

/// Rewrites the live spans files of `dir` as an Osprey before the dedicated columns wrote
/// them (same rows, no dedicated columns), replacing them in the manifest.
fn rewrite_without_dedicated_columns(dir: &std::path::Path) {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let mut manifest = crate::manifest::Manifest::open(dir).expect("manifest");
    let old_schema = crate::spans::physical::without_dedicated(&crate::spans::physical_schema());
    let entries: Vec<FileEntry> = manifest.state().files.values().filter(|f| f.table == "spans").cloned().collect();
    assert!(!entries.is_empty());
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    for entry in entries {
        let file = std::fs::File::open(dir.join(&entry.path)).expect("open");
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).expect("reader").build().expect("build");
        let path = entry.path.replace(".parquet", "-old.parquet");
        let out = std::fs::File::create(dir.join(&path)).expect("create");
        let props = crate::flush::writer_properties(Table::Spans, 1000).expect("props");
        let mut writer = parquet::arrow::ArrowWriter::try_new(out, old_schema.clone(), Some(props)).expect("writer");
        for batch in reader {
            let batch = batch.expect("batch");
            let columns = old_schema.fields().iter().map(|f| batch.column_by_name(f.name()).expect("col").clone());
            writer.write(&RecordBatch::try_new(old_schema.clone(), columns.collect()).expect("old")).expect("write");
        }
        writer.close().expect("close");
        let bytes = std::fs::metadata(dir.join(&path)).expect("stat").len();
        std::fs::remove_file(dir.join(&entry.path)).expect("remove");
        removed.push(entry.path.clone());
        added.push(FileEntry { path, bytes, ..entry });
    }
    let checkpoint = manifest.state().wal_checkpoint;
    manifest.publish(added, removed, checkpoint).expect("publish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_written_before_the_dedicated_columns_answer_from_the_attribute_map() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queries = [
        "SELECT count(*) FROM spans WHERE http_response_status_code = 200",
        "SELECT count(*) FROM spans WHERE http_response_status_code >= 500",
        "SELECT count(*) FROM spans WHERE http_route = '/cart' AND http_request_method = 'GET'",
        "SELECT span_id, http_route, http_response_status_code, http_status_code FROM spans ORDER BY span_id",
        "SELECT http_route, count(*) FROM spans WHERE http_route LIKE '/%s' GROUP BY http_route ORDER BY 1",
    ];
    let answers = |storage: Arc<Storage>| async move {
        let ctx = context(&storage);
        let mut out = Vec::new();
        for q in queries {
            out.push(pretty_format_batches(&sql(&ctx, q).await).expect("format").to_string());
        }
        out
    };
    let storage = open(dir.path(), 16).await;
    storage.append(Table::Spans, testdata::many(40, 4, T0)).await.expect("append");
    storage.flush().await.expect("flush");
    let current = answers(storage.clone()).await;
    assert!(current[0].contains("| 40 "), "{}", current[0]);
    assert!(current[2].contains("| 8 "), "{}", current[2]);
    storage.close().await.expect("close");
    drop(storage);

    rewrite_without_dedicated_columns(dir.path());
    let storage = open(dir.path(), 16).await;
    assert_eq!(answers(storage.clone()).await, current);
}
