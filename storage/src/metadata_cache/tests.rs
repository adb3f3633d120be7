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

/// A session whose metadata cache holds `limit` bytes, over `storage`'s spans.
fn session(storage: &Arc<Storage>, limit: usize) -> SessionContext {
    let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
        .with_metadata_cache_limit(limit)
        .build_arc()
        .expect("runtime");
    let ctx = SessionContext::new_with_config_rt(Default::default(), runtime);
    ctx.register_table("spans", storage.table_provider(Table::Spans)).expect("register");
    ctx
}

async fn warm_session(ctx: &SessionContext, storage: &Storage) -> Warmed {
    let store = ctx.runtime_env().object_store(datafusion::execution::object_store::ObjectStoreUrl::local_filesystem());
    let cache = ctx.runtime_env().cache_manager.get_file_metadata_cache();
    warm(storage, store.expect("local store"), cache).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warming_loads_what_a_query_would_newest_first_within_the_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Arc::new(Storage::open(testdata::config(dir.path())).await.expect("open"));
    // Three files, an hour apart.
    for hour in 0..3 {
        storage.append(Table::Spans, testdata::many(1000, 100, T0 + hour * 3_600_000_000_000)).await.expect("append");
        storage.flush().await.expect("flush");
    }
    let mut files = storage.snapshot(Table::Spans).files;
    files.sort_by_key(|f| f.max_time_ns);
    assert_eq!(files.len(), 3);

    let ctx = session(&storage, 64 << 20);
    let warmed = warm_session(&ctx, &storage).await;
    // Every table's files: spans, and the service map's rollups derived from them.
    assert_eq!(warmed.files, storage.files().len());
    assert!(warmed.files > 3);
    for file in &files {
        let metadata = cached(&ctx, &storage, &file.path).expect("warmed");
        assert!(metadata.offset_index().is_some(), "with its page index");
    }
    assert_eq!(warm_session(&ctx, &storage).await, Warmed::default(), "nothing left to load");
    // The id bloom filters likewise: of the three span files (the rollups have none), once.
    assert_eq!(storage.warm_bloom_filters().await, 3);
    assert_eq!(storage.warm_bloom_filters().await, 0);
    // A query then uses the warmed entry rather than loading its own.
    let before = cached(&ctx, &storage, &files[2].path).expect("warmed");
    let q = format!("SELECT count(*) FROM spans WHERE trace_id = '{}'", trace_hex(7));
    ctx.sql(&q).await.expect("plan").collect().await.expect("run");
    assert!(Arc::ptr_eq(&before, &cached(&ctx, &storage, &files[2].path).expect("still cached")));

    // A cache with room (three quarters of it) for about a third of the entries gets the newest
    // hour's files, not the oldest.
    let small = session(&storage, warmed.bytes / 3 * 4 / 3);
    let some = warm_session(&small, &storage).await;
    assert!(some.files > 0 && some.files < warmed.files, "{some:?} of {warmed:?}");
    assert!(cached(&small, &storage, &files[2].path).is_some(), "the newest spans");
    assert!(cached(&small, &storage, &files[0].path).is_none(), "not the oldest");
}
