//! Pruning as `EXPLAIN ANALYZE` shows it, through the SQL engine over the fixed
//! dataset (three Parquet files, seven row groups of at most 2 rows):
//! - `trace_id = '<hex>'` prunes row groups by min/max statistics (files are
//!   sorted by trace id) and then by the bloom filter;
//! - a time predicate leaves files out by the manifest's time bounds before the
//!   scan is planned, so they are not in the `DataSourceExec` at all.
//!
//! Asserts on the metric values of the Parquet `DataSourceExec`, never on timings.

use arrow::array::AsArray;

use super::dataset::{trace_id, Fixture};

/// The Parquet scan of `EXPLAIN ANALYZE sql`, and what the whole query returned.
struct Scan {
    /// The `DataSourceExec` line over Parquet files, with its metrics.
    line: String,
}

impl Scan {
    /// Files handed to the scan (after the manifest's time pruning).
    fn files(&self) -> usize {
        self.line.matches(".parquet").count()
    }

    /// A plain count metric, `name=N`.
    fn count(&self, name: &str) -> usize {
        let value = self.value(name);
        value.parse().unwrap_or_else(|_| panic!("{name}={value} is not a count in {}", self.line))
    }

    /// A pruning metric, `name=T total → M matched[ -> F fully matched]`: (total, matched).
    fn pruning(&self, name: &str) -> (usize, usize) {
        let value = self.value(name);
        let mut words = value.split_whitespace();
        let total = words.next().and_then(|w| w.parse().ok());
        let matched = words.nth(2).and_then(|w| w.parse().ok());
        match (total, matched) {
            (Some(t), Some(m)) => (t, m),
            _ => panic!("{name}={value} is not a pruning metric in {}", self.line),
        }
    }

    fn value(&self, name: &str) -> &str {
        let metrics = self.line.split_once("metrics=[").map_or("", |(_, m)| m);
        let key = format!("{name}=");
        let start = metrics
            .match_indices(&key)
            .find(|(i, _)| *i == 0 || metrics[..*i].ends_with(' '))
            .unwrap_or_else(|| panic!("no {name} in {}", self.line))
            .0;
        let rest = &metrics[start + key.len()..];
        &rest[..rest.find([',', ']']).unwrap_or(rest.len())]
    }
}

async fn parquet_scan(fixture: &Fixture, sql: &str) -> Scan {
    let line = parquet_scan_line(fixture, sql).await;
    Scan { line: line.unwrap_or_else(|| panic!("no Parquet scan for {sql}")) }
}

/// The Parquet scan line of `EXPLAIN ANALYZE sql`; `None` when no file is read at all.
async fn parquet_scan_line(fixture: &Fixture, sql: &str) -> Option<String> {
    let result = fixture.service.sql().run(format!("EXPLAIN ANALYZE {sql}")).await.expect("explain analyze");
    let mut plan = String::new();
    for b in &result.batches {
        let text = b.column(1).as_string::<i32>();
        for i in 0..b.num_rows() {
            plan.push_str(text.value(i));
        }
    }
    plan.lines().find(|l| l.contains("DataSourceExec") && l.contains("file_type=parquet")).map(str::to_string)
}

async fn count(fixture: &Fixture, sql: &str) -> i64 {
    let result = fixture.service.sql().run(sql.to_string()).await.expect("count");
    result.batches[0].column(0).as_primitive::<arrow::datatypes::Int64Type>().value(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_id_prunes_row_groups_by_statistics_then_bloom_filter() {
    let fixture = Fixture::open().await;

    // Trace D: in the third file only, in 2 of its 3 row groups ([C,C] [C,D] [D]). The files'
    // bloom filters (held in memory by storage) leave only that file; inside it, statistics
    // prune the [C,C] row group.
    let d = format!("SELECT * FROM spans WHERE trace_id = '{}'", trace_id(4));
    let scan = parquet_scan(&fixture, &d).await;
    assert_eq!(scan.files(), 1, "only the file whose bloom filter may hold D: {}", scan.line);
    assert_eq!(scan.pruning("row_groups_pruned_statistics"), (3, 2), "{}", scan.line);
    assert_eq!(scan.pruning("row_groups_pruned_bloom_filter"), (2, 2), "{}", scan.line);
    assert_eq!(scan.count("output_rows"), 2);
    // The filter reaches the scan once: DataFusion pushes it down, and the table adds no copy.
    let predicate = scan.line.split(" predicate=").nth(1).and_then(|p| p.split(", pruning_predicate").next());
    assert_eq!(predicate, Some(format!("trace_id@0 = {}", trace_id(4)).as_str()), "{}", scan.line);
    // The same id through hex(unhex(…)) (how a pasted upper-case id is normalised) is
    // constant-folded into a literal, so it prunes alike.
    let pasted = format!("SELECT * FROM spans WHERE trace_id = hex(unhex('{}'))", trace_id(4));
    let scan = parquet_scan(&fixture, &pasted).await;
    assert_eq!(scan.files(), 1, "{}", scan.line);
    assert_eq!(scan.pruning("row_groups_pruned_statistics"), (3, 2), "{}", scan.line);

    // An id between C and D: inside the [C,D] row group's min/max, so statistics alone would keep
    // it; no file's bloom filter holds it, so no file is opened at all.
    let absent = "SELECT count(*) FROM spans WHERE trace_id = '3fffffffffffffffffffffffffffffff'";
    assert_eq!(parquet_scan_line(&fixture, absent).await, None);
    assert_eq!(count(&fixture, absent).await, 0);

    // Trace E lives in the memtable: no file is read, the rows still come back.
    let e = format!("SELECT count(*) FROM spans WHERE trace_id = '{}'", trace_id(5));
    assert_eq!(parquet_scan_line(&fixture, &e).await, None);
    assert_eq!(count(&fixture, &e).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_predicates_prune_files_by_the_manifest_bounds() {
    let fixture = Fixture::open().await;
    let all = parquet_scan(&fixture, "SELECT count(*) FROM spans WHERE duration_ns > 0").await;
    assert_eq!(all.files(), 3);

    // Hour 23: only trace B's file (trace E is in the memtable).
    let late = "SELECT count(*) FROM spans WHERE start_time >= TIMESTAMP '2023-11-14T23:00:00Z'";
    let scan = parquet_scan(&fixture, late).await;
    assert_eq!(scan.files(), 1, "{}", scan.line);
    assert_eq!(scan.count("files_opened"), 1);
    assert_eq!(scan.count("output_rows"), 3);
    assert_eq!(count(&fixture, late).await, 7);

    // A minute of hour 22 (trace C's spans): one file of the two in that hour, and
    // inside it the row group of trace D's later spans is pruned by statistics.
    let minute = "SELECT count(*) FROM spans \
                  WHERE start_time BETWEEN TIMESTAMP '2023-11-14T22:23:00Z' AND TIMESTAMP '2023-11-14T22:24:00Z'";
    let scan = parquet_scan(&fixture, minute).await;
    assert_eq!(scan.files(), 1, "{}", scan.line);
    assert_eq!(scan.pruning("row_groups_pruned_statistics"), (3, 2), "{}", scan.line);
    assert_eq!(count(&fixture, minute).await, 3);

    // Before any data: no file at all, so no Parquet scan in the plan.
    let early = "SELECT count(*) FROM spans WHERE start_time < TIMESTAMP '2023-11-14T00:00:00Z'";
    let result = fixture.service.sql().run(format!("EXPLAIN ANALYZE {early}")).await.expect("explain analyze");
    let plan: String = result.batches.iter().map(|b| b.column(1).as_string::<i32>().value(0).to_string()).collect();
    assert!(!plan.contains("file_type=parquet"), "{plan}");
    assert_eq!(count(&fixture, early).await, 0);
    assert_eq!(fixture.storage.snapshot(osprey_storage::Table::Spans).files.len(), 3);
}
