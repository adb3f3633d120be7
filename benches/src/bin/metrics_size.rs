//! The `metrics` table on real data: replays otel-demo metric recordings (a zstd stream of
//! 4-byte big-endian length + `MetricsData`, wire-identical to `ExportMetricsServiceRequest`)
//! through the collector's conversion into a real `Storage`, flushes once, and reports data
//! points converted per second (one core) and Parquet bytes per point — for all points and for
//! gauges and sums alone (the ≤ 8 B/point target of issue 5).
//!
//! cargo run --release -p osprey-benches --bin metrics_size -- \
//!   /work/shared/data/otel-demo/hostandcollector-otelmetrics.zst /work/shared/data/otel-demo/hipstershop-otelmetrics.zst
//!
//! It also times the storage path alone: the converted batches, shifted forward an hour per
//! pass as a series moves on in time, appended through the WAL (no fsync), coalesced in the
//! memtable and flushed to Parquet — CPU-seconds of the whole process per point, all threads.
//!
//! Sizes do not depend on the build profile; the rate does (use `--release`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch, TimestampNanosecondArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::TimestampNanosecondType;
use clap::Parser;
use osprey_benches::corpus::read_records;
use osprey_benches::process::cpu_seconds;
use osprey_collector::config::LimitsConfig;
use osprey_collector::metric_points::convert_protobuf;
use osprey_storage::{Storage, StorageConfig, Table};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The server's allocator and its options (`src/main.rs`), so the storage path costs here what
/// it costs there.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8; 59] = b"dirty_decay_ms:100,muzzy_decay_ms:0,background_thread:true\0";

#[derive(Debug, Parser)]
struct Args {
    /// Corpus files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Passes over each corpus for the storage-path timing.
    #[arg(long, default_value_t = 5)]
    store_passes: i64,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = Args::parse();
    for file in &args.files {
        let requests = read_records(file)?;
        let limits = LimitsConfig::default();
        let started = Instant::now();
        let mut batches = Vec::new();
        let (mut received, mut rejected) = (0, 0);
        for request in &requests {
            let c = convert_protobuf(request, &limits, 0).map_err(|f| format!("{f:?}"))?;
            received += c.received;
            rejected += c.rejected();
            batches.extend(c.batch);
        }
        let convert_time = started.elapsed();
        let points: usize = batches.iter().map(RecordBatch::num_rows).sum();
        println!("== {}: {} requests, {received} points ({rejected} rejected)", file.display(), requests.len());
        println!(
            "   conversion from protobuf: {:.0} points/s on one core ({:.2} µs/point)",
            points as f64 / convert_time.as_secs_f64(),
            convert_time.as_secs_f64() * 1e6 / points.max(1) as f64
        );
        let (store_points, cpu) = storage_path_cpu(&batches, args.store_passes).await?;
        println!(
            "   storage path: {store_points} points in {cpu:.2} CPU-s, {:.2} µs/point (WAL without fsync, memtable, flush)",
            cpu * 1e6 / store_points.max(1) as f64
        );
        let all = stored_bytes(&batches).await?;
        println!("   all points:      {points} points, {all} bytes, {:.2} B/point", all as f64 / points.max(1) as f64);
        let numbers: Vec<RecordBatch> = batches.iter().map(gauges_and_sums).collect::<Result<_, _>>()?;
        let n: usize = numbers.iter().map(RecordBatch::num_rows).sum();
        let bytes = stored_bytes(&numbers).await?;
        println!("   gauges and sums: {n} points, {bytes} bytes, {:.2} B/point", bytes as f64 / n.max(1) as f64);
    }
    Ok(())
}

fn gauges_and_sums(batch: &RecordBatch) -> Result<RecordBatch, Error> {
    let types = batch.column_by_name("metric_type").ok_or("metric_type")?.as_string::<i32>();
    let keep: BooleanArray = types.iter().map(|t| Some(matches!(t, Some("gauge" | "sum")))).collect();
    Ok(filter_record_batch(batch, &keep)?)
}

/// CPU-seconds of this process (all threads) to append `passes` copies of `batches`, each an
/// hour later than the one before, to a fresh storage and flush them; and the points appended.
async fn storage_path_cpu(batches: &[RecordBatch], passes: i64) -> Result<(usize, f64), Error> {
    let mut shifted = Vec::new();
    for pass in 0..passes {
        for batch in batches {
            shifted.push(shift_hours(batch, pass)?);
        }
    }
    let points = shifted.iter().map(RecordBatch::num_rows).sum();
    let temp = tempfile::tempdir()?;
    let storage = open(temp.path()).await?;
    let before = cpu_seconds(std::process::id())?;
    for batch in shifted {
        storage.append(Table::Metrics, batch).await?;
    }
    storage.flush().await?;
    let cpu = cpu_seconds(std::process::id())? - before;
    storage.close().await?;
    Ok((points, cpu))
}

/// `batch` with `time` and `start_time` moved `hours` later.
fn shift_hours(batch: &RecordBatch, hours: i64) -> Result<RecordBatch, Error> {
    let schema = batch.schema();
    let mut columns = batch.columns().to_vec();
    for name in ["time", "start_time"] {
        let i = schema.index_of(name)?;
        let times = columns[i].as_primitive::<TimestampNanosecondType>();
        let moved: TimestampNanosecondArray = times.unary(|t| t + hours * 3_600_000_000_000);
        columns[i] = Arc::new(moved.with_data_type(times.data_type().clone()));
    }
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// Appends `batches` to a fresh storage, flushes, and returns the Parquet bytes.
async fn stored_bytes(batches: &[RecordBatch]) -> Result<u64, Error> {
    let temp = tempfile::tempdir()?;
    let storage = open(temp.path()).await?;
    for batch in batches {
        storage.append(Table::Metrics, batch.clone()).await?;
    }
    storage.flush().await?;
    let files = storage.snapshot(Table::Metrics).files;
    let bytes = files.iter().map(|f| f.bytes).sum();
    println!("   ({} Parquet files: one per hour partition and per flush)", files.len());
    storage.close().await?;
    Ok(bytes)
}

async fn open(dir: &Path) -> Result<std::sync::Arc<Storage>, Error> {
    let mut config = StorageConfig { data_dir: dir.to_path_buf(), disk_reserve_bytes: 0, ..Default::default() };
    config.wal.fsync = false;
    config.flush.max_age = Duration::from_secs(3600);
    Ok(Storage::open(config).await?)
}
