//! The plans over real storage: the `start_time` bounds reach the table provider, so
//! Parquet files outside the (padded) window are never read.

use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::util::pretty::pretty_format_batches;
use osprey_storage::{Storage, StorageConfig, Table};

use super::{ts, EDGES};
use crate::service_map::Window;
use crate::test_support::{batch, span, T0};
use crate::{QueryConfig, QueryService};

const HOUR: i64 = 3_600_000_000_000;

async fn explain(service: &QueryService, window: Window) -> String {
    let padded = window.padded();
    let params = vec![ts(window.start_ns), ts(window.end_ns), ts(padded.start_ns), ts(padded.end_ns)];
    let frame = service.context().sql(EDGES).await.expect("plan").with_param_values(params).expect("bind");
    let batches: Vec<RecordBatch> = frame.explain(false, false).expect("explain").collect().await.expect("run");
    pretty_format_batches(&batches).expect("format").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_prune_parquet_files_by_start_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = StorageConfig { data_dir: dir.path().to_path_buf(), disk_reserve_bytes: 0, ..Default::default() };
    config.flush.max_age = Duration::from_secs(3600);
    config.wal.group_commit_window = Duration::from_millis(1);
    let storage = Storage::open(config).await.expect("open");
    let a = "0af7651916cd43dd8448eb211c80319c";
    let b = "1bf7651916cd43dd8448eb211c80319c";
    storage.append(Table::Spans, batch(a, &[span("00000000000000a1", "", "x", 0, 10)])).await.expect("append");
    storage
        .append(Table::Spans, batch(b, &[span("00000000000000b1", "", "y", 5 * HOUR, 5 * HOUR + 10)]))
        .await
        .expect("append");
    storage.flush().await.expect("flush");
    let service = QueryService::for_storage(storage.clone(), QueryConfig::default()).expect("service");

    let near_first = explain(&service, Window::new(T0, T0 + 1_000_000_000).expect("window")).await;
    let near_second = explain(&service, Window::new(T0 + 5 * HOUR, T0 + 5 * HOUR + 1).expect("window")).await;
    let everything = explain(&service, Window::new(T0 - HOUR, T0 + 6 * HOUR).expect("window")).await;
    let files = |plan: &str| plan.matches(".parquet").count();
    assert!(files(&everything) >= 2, "{everything}");
    // Each side of the join reads only the hour its padded window touches.
    assert!(files(&near_first) < files(&everything), "{near_first}");
    assert!(files(&near_second) < files(&everything), "{near_second}");
    assert!(near_first.contains("hour=22") && !near_first.contains("hour=03"), "{near_first}");
    storage.close().await.expect("close");
}
