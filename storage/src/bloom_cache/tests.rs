use datafusion::prelude::{col, lit};

use super::*;
use crate::flush::write_table;
use crate::testdata::{self, rows_per_group, trace_hex};
use prometheus_client::metrics::gauge::Gauge;

const T0: i64 = 1_700_000_000_000_000_000;
const HOUR: i64 = 3_600_000_000_000;

#[test]
fn id_values_from_equalities_in_lists_and_ors() {
    let eq = col("trace_id").eq(lit("a"));
    assert_eq!(id_values("trace_id", std::slice::from_ref(&eq)), Some(vec!["a".to_string()]));
    let flipped = lit("b").eq(col("trace_id"));
    assert_eq!(id_values("trace_id", &[flipped]), Some(vec!["b".to_string()]));
    let list = col("trace_id").in_list(vec![lit("a"), lit("c")], false);
    assert_eq!(id_values("trace_id", &[list]), Some(vec!["a".to_string(), "c".to_string()]));
    let or = col("trace_id").eq(lit("a")).or(col("trace_id").eq(lit("d")));
    assert_eq!(id_values("trace_id", &[or]), Some(vec!["a".to_string(), "d".to_string()]));
    let and = col("name").eq(lit("x")).and(col("trace_id").eq(lit("e")));
    assert_eq!(id_values("trace_id", &[and]), Some(vec!["e".to_string()]));
    // Not constraining: another column, a negated list, an OR with a non-id branch, a non-literal.
    assert_eq!(id_values("trace_id", &[col("span_id").eq(lit("a"))]), None);
    assert_eq!(id_values("trace_id", &[col("trace_id").in_list(vec![lit("a")], true)]), None);
    assert_eq!(id_values("trace_id", &[col("trace_id").eq(lit("a")).or(col("name").eq(lit("x")))]), None);
    assert_eq!(id_values("trace_id", &[col("trace_id").eq(col("span_id"))]), None);
}

/// Three files with disjoint traces: a lookup keeps only the file holding the trace; an absent
/// trace keeps none (bloom false positives aside: 1 %, and these ids are fixed); no id keeps all.
#[tokio::test]
async fn prunes_files_that_cannot_hold_the_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = three_files(dir.path());
    let cache = BloomCache::default();
    let lookup = |trace: u64| vec![col("trace_id").eq(lit(trace_hex(trace)))];
    let kept = cache.prune(dir.path(), Table::Spans, files.clone(), &lookup(120)).await;
    assert_eq!(kept.files, vec![files[1].clone()]);
    // Its 300 rows, sorted by trace, are 3 row groups: the trace's 6 spans are in one of them,
    // so the scan still has row groups to prune with the filters.
    assert!(!kept.row_group_filters_redundant);
    let kept = cache.prune(dir.path(), Table::Spans, files.clone(), &lookup(9_999)).await;
    assert!(kept.files.is_empty(), "{kept:?}");
    let list = vec![col("trace_id").in_list(vec![lit(trace_hex(3)), lit(trace_hex(249))], false)];
    let kept = cache.prune(dir.path(), Table::Spans, files.clone(), &list).await;
    assert_eq!(kept.files, vec![files[0].clone(), files[2].clone()]);
    let kept = cache.prune(dir.path(), Table::Spans, files.clone(), &[col("name").eq(lit("x"))]).await;
    assert_eq!(kept.files, files);
    assert!(!kept.row_group_filters_redundant, "no id constrained: the scan checks what it can");
    // A file that cannot be read is kept, not lost.
    let mut gone = files[0].clone();
    gone.path = "spans/missing.parquet".into();
    let kept = cache.prune(dir.path(), Table::Spans, vec![gone.clone()], &lookup(120)).await;
    assert_eq!(kept.files, vec![gone]);
    assert!(!kept.row_group_filters_redundant, "the scan must read that file's filters itself");
}

/// A file of one row group that may hold the id: the file-level answer is all the filters can
/// give, so the scan need not read them again.
#[tokio::test]
async fn filters_of_single_row_group_files_are_not_read_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let specs: Vec<testdata::Span> =
        (0..300).map(|s| testdata::Span { trace: s % 50, span: s, start_ns: T0 + s as i64 }).collect();
    let batch = Table::Spans.to_physical(&testdata::spans(&specs)).expect("physical");
    let files = write_table(dir.path(), "default", Table::Spans, &[batch], &rows_per_group(1000)).expect("write");
    let cache = BloomCache::default();
    let kept = cache.prune(dir.path(), Table::Spans, files.clone(), &[col("trace_id").eq(lit(trace_hex(7)))]).await;
    assert_eq!(kept.files, files);
    assert!(kept.row_group_filters_redundant);
}

/// Three files, one an hour, of 300 spans each: traces 0–49, 100–149 and 200–249, in row
/// groups of 100 rows.
fn three_files(dir: &std::path::Path) -> Vec<FileEntry> {
    let mut files = Vec::new();
    for (i, first_trace) in [0u64, 100, 200].into_iter().enumerate() {
        let specs: Vec<testdata::Span> = (0..300)
            .map(|s| testdata::Span {
                trace: first_trace + s % 50,
                span: s + 1000 * first_trace,
                start_ns: T0 + i as i64 * HOUR + s as i64,
            })
            .collect();
        let batch = Table::Spans.to_physical(&testdata::spans(&specs)).expect("physical");
        files.extend(write_table(dir, "default", Table::Spans, &[batch], &rows_per_group(100)).expect("write"));
    }
    assert_eq!(files.len(), 3);
    files
}

/// A cache too small for every file keeps what fits, least recently used out first; a file whose
/// filters it does not hold is kept by `prune` (never lost); warming fills it newest first and
/// stops at three quarters.
#[tokio::test]
async fn the_cache_holds_what_fits_and_never_loses_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = three_files(dir.path());
    let lookup = |trace: u64| vec![col("trace_id").eq(lit(trace_hex(trace)))];
    let unbounded = BloomCache::new(usize::MAX, Gauge::default());
    unbounded.load_missing(dir.path(), Table::Spans, &files[..1]).await;
    let one_file = unbounded.bytes();
    assert!(one_file > 0);

    // Room for two files' filters, not three.
    let cache = BloomCache::new(one_file * 2 + one_file / 2, Gauge::default());
    let kept = cache.prune(dir.path(), Table::Spans, files.clone(), &lookup(120)).await;
    assert!(cache.bytes() <= one_file * 2 + one_file / 2, "{} bytes held", cache.bytes());
    assert!(kept.files.contains(&files[1]), "the file holding the trace is kept: {kept:?}");
    assert!(kept.files.len() < 3, "the filters still held prune: {kept:?}");
    assert!(!kept.row_group_filters_redundant);
    // The file looked at last stays; the others come and go, and every answer keeps the right file.
    for trace in [10, 220, 130, 20, 240, 120] {
        let kept = cache.prune(dir.path(), Table::Spans, files.clone(), &lookup(trace)).await;
        let holder = &files[(trace / 100) as usize];
        assert!(kept.files.contains(holder), "trace {trace}: {kept:?}");
        assert!(cache.bytes() <= one_file * 2 + one_file / 2);
    }
    let only_newest = cache.prune(dir.path(), Table::Spans, vec![files[1].clone()], &lookup(120)).await;
    assert_eq!(only_newest.files, vec![files[1].clone()]);

    // Warming stops at 3/4 of the limit, newest first.
    let small = BloomCache::new(one_file * 2, Gauge::default());
    assert_eq!(small.warm(dir.path(), Table::Spans, &files).await, 2);
    let held = |cache: &BloomCache, file: &FileEntry| cache.cached.lock().files.contains_key(&file.path);
    assert!(held(&small, &files[2]) && held(&small, &files[1]) && !held(&small, &files[0]));
    let warm_cache = BloomCache::new(one_file * 4, Gauge::default());
    let loaded = warm_cache.warm(dir.path(), Table::Spans, &files).await;
    assert_eq!(loaded, 3);
    assert_eq!(warm_cache.warm(dir.path(), Table::Spans, &files).await, 0, "nothing left to read");
}
