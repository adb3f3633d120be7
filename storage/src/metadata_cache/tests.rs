use super::*;
use datafusion::datasource::physical_plan::parquet::metadata::CachedParquetMetaData;
use datafusion::prelude::SessionContext;

use crate::testdata::{self, trace_hex, T0};
use crate::{Storage, Table};

/// The cached metadata of `file` (a path relative to the data dir), if any.
fn cached(ctx: &SessionContext, storage: &Storage, file: &str) -> Option<Arc<ParquetMetaData>> {
    let path = storage.data_dir().join(file);
    let key = object_store::path::Path::from(path.to_string_lossy().as_ref());
    let entry = ctx.runtime_env().cache_manager.get_file_metadata_cache().get(&key)?;
    let cached = entry.file_metadata.as_any().downcast_ref::<CachedParquetMetaData>()?;
    Some(Arc::clone(cached.parquet_metadata()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_leaves_footer_and_page_index_in_the_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = testdata::config(dir.path());
    config.flush.row_group_rows = 100;
    let storage = Storage::open(config).await.expect("open");
    storage.append(Table::Spans, testdata::many(1000, 100, T0)).await.expect("append");
    storage.flush().await.expect("flush");
    let files = storage.snapshot(Table::Spans).files;
    assert_eq!(files.len(), 1);

    let ctx = SessionContext::new();
    ctx.register_table("spans", storage.table_provider(Table::Spans)).expect("register");
    assert!(cached(&ctx, &storage, &files[0].path).is_none(), "nothing cached before the first query");

    // DataFusion's opener asks for the footer alone and loads the page index through byte ranges,
    // around the cache; the readers of `PageIndexedReaderFactory` fetch both, so both are kept.
    let q = format!("SELECT span_id FROM spans WHERE trace_id = '{}'", trace_hex(7));
    let rows: usize = ctx.sql(&q).await.expect("plan").collect().await.expect("run").iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 10);
    let metadata = cached(&ctx, &storage, &files[0].path).expect("cached after the query");
    assert_eq!(metadata.num_row_groups(), 10);
    assert!(metadata.column_index().is_some(), "column index cached");
    assert!(metadata.offset_index().is_some(), "offset index cached");

    // The next query finds it there: the same metadata, not a reload.
    ctx.sql(&q).await.expect("plan").collect().await.expect("run");
    let again = cached(&ctx, &storage, &files[0].path).expect("still cached");
    assert!(Arc::ptr_eq(&metadata, &again), "the cached entry was reused, not replaced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_in_place_are_counted_in_bytes_scanned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(testdata::config(dir.path())).await.expect("open");
    storage.append(Table::Spans, testdata::many(1000, 100, T0)).await.expect("append");
    storage.flush().await.expect("flush");
    let ctx = SessionContext::new();
    ctx.register_table("spans", storage.table_provider(Table::Spans)).expect("register");
    let q = format!("EXPLAIN ANALYZE SELECT span_id FROM spans WHERE trace_id = '{}'", trace_hex(7));
    let batches = ctx.sql(&q).await.expect("plan").collect().await.expect("run");
    let text = arrow::util::pretty::pretty_format_batches(&batches).expect("format").to_string();
    let scanned = text.split("bytes_scanned=").nth(1).expect("a bytes_scanned metric").split([',', ' ']).next();
    assert!(scanned.is_some_and(|v| v != "0" && !v.is_empty()), "{text}");
}
