//! The ingest path's stages, one by one, over the astronomy corpus: together
//! they give this machine's ceiling in spans/s per core.
//!
//!   cargo bench -p osprey-benches --bench ingest
//!
//! - decode: OTLP protobuf → prost messages
//! - convert: OTLP → Arrow `spans` batch (validation, limits, typed attributes)
//! - wal: append + fsync through the real storage engine (sequential, and 32 in flight to show group commit)
//! - parquet: sort + encode one flush's worth of spans (zstd, bloom filters, page index)
//! - rollups: derive `service_red` and `service_edges` from the same spans, late-join them and
//!   encode them as Parquet, as each flush does (issue 7: its cost against the whole ingest
//!   path's CPU per span)

use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use osprey_benches::corpus::{read_records, span_count};
use osprey_collector::config::LimitsConfig;
use osprey_collector::convert::convert;
use osprey_collector::limits::TraceTable;
use osprey_proto::ExportTraceServiceRequest;
use osprey_storage::rollup::late_join::LateJoin;
use osprey_storage::{flush, Storage, StorageConfig, Table};
use parquet::arrow::ArrowWriter;
use prost::Message;

fn corpus_path() -> PathBuf {
    std::env::var_os("OSPREY_OTEL_DEMO_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/otel-demo"))
        .join("astronomy-oteltraces.zst")
}

/// Sorts `batches` and encodes them as a flush writes `table` (its zstd level for the
/// configured `zstd`); the Parquet bytes.
fn parquet_bytes(table: Table, batches: &[arrow::array::RecordBatch], zstd: i32) -> usize {
    let sorted = flush::sort_batches(table, batches).expect("sort");
    let rows = StorageConfig::default().flush.row_group_rows;
    let props = flush::writer_properties_with(table, rows, flush::zstd_level(table, zstd)).expect("props");
    let mut out = Vec::with_capacity(8 << 20);
    let mut writer = ArrowWriter::try_new(&mut out, sorted.schema(), Some(props)).expect("writer");
    writer.write(&sorted).expect("write");
    writer.close().expect("close");
    out.len()
}

fn stages(c: &mut Criterion) {
    let records = read_records(&corpus_path()).expect("read the astronomy corpus");
    let requests: Vec<ExportTraceServiceRequest> =
        records.iter().map(|r| ExportTraceServiceRequest::decode(r.as_slice()).expect("decode")).collect();
    let spans: usize = requests.iter().map(span_count).sum();
    let limits = LimitsConfig { max_spans_per_trace: u32::MAX, ..LimitsConfig::default() };
    let batches: Vec<_> = requests
        .iter()
        .filter_map(|r| convert(r, &limits, &TraceTable::new(u32::MAX, 1 << 20)).expect("convert").batch)
        .collect();

    let mut group = c.benchmark_group("ingest");
    group.sample_size(10);
    group.throughput(Throughput::Elements(spans as u64));

    group.bench_function("decode", |b| {
        b.iter(|| {
            for r in &records {
                std::hint::black_box(ExportTraceServiceRequest::decode(r.as_slice()).expect("decode"));
            }
        })
    });

    group.bench_function("convert", |b| {
        b.iter(|| {
            let traces = TraceTable::new(u32::MAX, 1 << 20);
            for r in &requests {
                std::hint::black_box(convert(r, &limits, &traces).expect("convert"));
            }
        })
    });

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    for in_flight in [1usize, 32] {
        group.bench_function(format!("wal_append_fsync/in_flight={in_flight}"), |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let config = StorageConfig {
                        data_dir: dir.path().to_path_buf(),
                        disk_reserve_bytes: 0,
                        memory_budget_bytes: 8 << 30,
                        flush: osprey_storage::config::FlushConfig {
                            max_bytes: 4 << 30,
                            max_age: std::time::Duration::from_secs(3600),
                            ..Default::default()
                        },
                        ..StorageConfig::default()
                    };
                    let storage = rt.block_on(Storage::open(config)).expect("open");
                    (dir, storage)
                },
                |(dir, storage): (tempfile::TempDir, Arc<Storage>)| {
                    rt.block_on(async {
                        let sem = Arc::new(tokio::sync::Semaphore::new(in_flight));
                        let mut tasks = Vec::with_capacity(batches.len());
                        for batch in &batches {
                            let permit = sem.clone().acquire_owned().await.expect("semaphore");
                            let (storage, batch) = (storage.clone(), batch.clone());
                            tasks.push(tokio::spawn(async move {
                                let r = storage.append(Table::Spans, batch).await;
                                drop(permit);
                                r
                            }));
                        }
                        for t in tasks {
                            t.await.expect("join").expect("append");
                        }
                    });
                    drop(storage);
                    drop(dir);
                },
                criterion::BatchSize::PerIteration,
            )
        });
    }

    let default_zstd = osprey_storage::config::FlushConfig::default().zstd_level;
    group.bench_function("parquet_encode", |b| {
        b.iter(|| std::hint::black_box(parquet_bytes(Table::Spans, &batches, default_zstd)))
    });
    // Derivation alone (as in session 3's figure), to split the cost below.
    group.bench_function("rollups_derive", |b| {
        b.iter(|| {
            let red = Table::ServiceRed.derive(&batches).expect("service_red");
            let edges = Table::ServiceEdges.derive(&batches).expect("service_edges");
            std::hint::black_box((red.len(), edges.len()))
        })
    });
    // Everything a flush does for the rollups: derive both tables, late-join the open call
    // sides (`service_edges`), sort and encode the derived rows as Parquet at the level a
    // flush uses for them.
    let rollups = |zstd: i32| -> usize {
        let red = Table::ServiceRed.derive(&batches).expect("service_red");
        let edges = LateJoin::default().flush(&batches).expect("service_edges");
        parquet_bytes(Table::ServiceRed, &red, zstd) + parquet_bytes(Table::ServiceEdges, &edges, zstd)
    };
    let spans_bytes = parquet_bytes(Table::Spans, &batches, default_zstd);
    let derived = rollups(default_zstd);
    eprintln!(
        "derived tables: {derived} bytes of Parquet beside {spans_bytes} of spans ({:.1} %)",
        100.0 * derived as f64 / spans_bytes as f64
    );
    group.bench_function("rollups_derive_join_encode", |b| b.iter(|| std::hint::black_box(rollups(default_zstd))));
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
