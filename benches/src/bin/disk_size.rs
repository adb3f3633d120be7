//! On-disk size of the `spans` table: replays otel-demo corpora through the real
//! storage engine (`Storage::open` on a temp dir, `append` every batch, one
//! `flush`) and reports Parquet bytes per span, per column and per kind of
//! overhead, plus the flush's wall time per span.
//!
//! cargo run --release -p osprey-benches --bin disk_size -- \
//!   /work/shared/data/otel-demo/astronomy-oteltraces.zst /work/shared/data/otel-demo/hipstershop-oteltraces.zst
//!
//! `--passes N` (default 4) replays each corpus N times with fresh ids
//! (`corpus::Rewriter`, times unchanged) so one flush holds a realistic number
//! of spans (the astronomy corpus alone is ~64k). `--zstd-level` overrides
//! `storage.flush.zstd_level`; `--variants` also writes the same sorted rows
//! in memory with alternative writer settings (encodings, levels, page sizes)
//! and prints bytes/span and encode time of each. Sizes do not depend on the
//! build profile; times do (use `--release` for CPU figures).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use clap::Parser;
use osprey_benches::corpus::{min_start, read_requests, Rewriter};
use osprey_collector::config::LimitsConfig;
use osprey_collector::convert::convert;
use osprey_collector::limits::TraceTable;
use osprey_storage::config::FlushConfig;
use osprey_storage::{flush, Storage, StorageConfig, Table};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Encoding, ZstdLevel};
use parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::schema::types::ColumnPath;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Parser)]
struct Args {
    /// Corpus files (zstd stream of 4-byte big-endian length + ExportTraceServiceRequest).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Replays of each corpus (fresh ids each) in the one flush.
    #[arg(long, default_value_t = 4)]
    passes: u64,
    /// zstd level of the flush (default: the storage default).
    #[arg(long)]
    zstd_level: Option<i32>,
    /// Rows per row group (default: the storage default).
    #[arg(long)]
    row_group_rows: Option<usize>,
    /// Also measure alternative writer settings on the same rows (in memory).
    #[arg(long)]
    variants: bool,
    /// Keep the data directories here (`<dir>/<corpus file stem>`, must not exist) instead of in a temp dir.
    #[arg(long)]
    keep: Option<PathBuf>,
    /// Per-column lines to print (largest first).
    #[arg(long, default_value_t = 40)]
    top: usize,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = Args::parse();
    let mut flush_config = FlushConfig::default();
    if let Some(level) = args.zstd_level {
        flush_config.zstd_level = level;
    }
    if let Some(rows) = args.row_group_rows {
        flush_config.row_group_rows = rows;
    }
    for file in &args.files {
        let batches = corpus_batches(file, args.passes)?;
        let spans: usize = batches.iter().map(RecordBatch::num_rows).sum();
        println!(
            "== {} : {spans} spans ({} passes), zstd {}, {} rows/group",
            file.display(),
            args.passes,
            flush_config.zstd_level,
            flush_config.row_group_rows
        );
        let temp = tempfile::tempdir()?;
        let dir = match &args.keep {
            Some(keep) => keep.join(file.file_stem().unwrap_or(file.as_os_str())),
            None => temp.path().to_path_buf(),
        };
        let elapsed = flush_once(&dir, &batches, &flush_config).await?;
        report_files(&dir, spans, args.top)?;
        println!(
            "flush: {:.2} s wall, {:.2} µs/span (sort + encode + fsync, one thread)",
            elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1e6 / spans as f64
        );
        if args.variants {
            variants(&batches, spans, &flush_config)?;
        }
    }
    Ok(())
}

/// Every request of the corpus, `passes` times with fresh ids, as `spans` batches.
fn corpus_batches(file: &Path, passes: u64) -> Result<Vec<RecordBatch>, Error> {
    let requests = read_requests(file)?;
    let start = min_start(&requests);
    let limits = LimitsConfig { max_spans_per_trace: u32::MAX, ..LimitsConfig::default() };
    let mut batches = Vec::new();
    for pass in 0..passes {
        let rewriter = Rewriter::new(pass, start, start);
        let traces = TraceTable::new(u32::MAX, 1 << 20);
        for request in &requests {
            let mut request = request.clone();
            rewriter.apply(&mut request);
            if let Some(batch) = convert(&request, &limits, &traces)?.batch {
                batches.push(batch);
            }
        }
    }
    Ok(batches)
}

/// Appends everything to a fresh storage in `dir` and flushes once; the flush time.
async fn flush_once(dir: &Path, batches: &[RecordBatch], flush: &FlushConfig) -> Result<Duration, Error> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        return Err(format!("{} is not empty", dir.display()).into());
    }
    let mut config = StorageConfig {
        data_dir: dir.to_path_buf(),
        disk_reserve_bytes: 0,
        memory_budget_bytes: 64 << 30,
        flush: FlushConfig { max_bytes: 32 << 30, max_age: Duration::from_secs(24 * 3600), ..flush.clone() },
        ..StorageConfig::default()
    };
    config.wal.fsync = false;
    config.wal.group_commit_window = Duration::ZERO;
    let storage = Storage::open(config).await?;
    for batch in batches {
        storage.append(Table::Spans, batch.clone()).await?;
    }
    let started = Instant::now();
    storage.flush().await?;
    let elapsed = started.elapsed();
    storage.close().await?;
    Ok(elapsed)
}

fn parquet_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            parquet_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
    Ok(())
}

/// Where the bytes of a set of Parquet files go.
#[derive(Debug, Default)]
struct Breakdown {
    files: usize,
    row_groups: usize,
    total: u64,
    /// Column chunk bytes (pages, dictionary included) by leaf column path.
    columns: BTreeMap<String, u64>,
    bloom_filters: u64,
    page_index: u64,
}

impl Breakdown {
    fn add_file(&mut self, bytes: u64, reader: &SerializedFileReader<File>) {
        self.add(bytes, reader.metadata())
    }

    fn add(&mut self, bytes: u64, meta: &parquet::file::metadata::ParquetMetaData) {
        self.files += 1;
        self.total += bytes;
        for rg in meta.row_groups() {
            self.row_groups += 1;
            for c in rg.columns() {
                *self.columns.entry(c.column_path().string()).or_default() += c.compressed_size() as u64;
                self.bloom_filters += c.bloom_filter_length().unwrap_or(0).max(0) as u64;
                self.page_index += (c.column_index_length().unwrap_or(0) + c.offset_index_length().unwrap_or(0)) as u64;
            }
        }
    }

    fn print(&self, spans: usize, top: usize) {
        let per = |b: u64| b as f64 / spans as f64;
        let data: u64 = self.columns.values().sum();
        let footer = self.total.saturating_sub(data + self.bloom_filters + self.page_index);
        println!(
            "TOTAL {:.2} B/span ({} bytes, {} files, {} row groups): column data {:.2}, bloom filters {:.2}, \
             page index {:.2}, footer+rest {:.2}",
            per(self.total),
            self.total,
            self.files,
            self.row_groups,
            per(data),
            per(self.bloom_filters),
            per(self.page_index),
            per(footer)
        );
        let mut by_top: BTreeMap<&str, u64> = BTreeMap::new();
        for (path, bytes) in &self.columns {
            *by_top.entry(path.split('.').next().unwrap_or(path)).or_default() += bytes;
        }
        let mut top_level: Vec<_> = by_top.into_iter().collect();
        top_level.sort_by_key(|(_, bytes)| std::cmp::Reverse(*bytes));
        println!("by column:");
        for (name, bytes) in top_level.iter().take(top) {
            println!("  {:>7.2}  {name}", per(*bytes));
        }
        let mut leaves: Vec<_> = self.columns.iter().collect();
        leaves.sort_by_key(|(_, bytes)| std::cmp::Reverse(**bytes));
        println!("by leaf column:");
        for (name, bytes) in leaves.iter().take(top) {
            println!("  {:>7.2}  {name}", per(**bytes));
        }
    }
}

fn report_files(dir: &Path, spans: usize, top: usize) -> Result<(), Error> {
    let mut files = Vec::new();
    parquet_files(dir, &mut files)?;
    let mut breakdown = Breakdown::default();
    for path in &files {
        let bytes = std::fs::metadata(path)?.len();
        breakdown.add_file(bytes, &SerializedFileReader::new(File::open(path)?)?);
    }
    breakdown.print(spans, top);
    Ok(())
}

type Tweak = fn(WriterPropertiesBuilder) -> WriterPropertiesBuilder;

fn path(dotted: &str) -> ColumnPath {
    ColumnPath::new(dotted.split('.').map(str::to_string).collect())
}

fn col(b: WriterPropertiesBuilder, dotted: &str, encoding: Encoding) -> WriterPropertiesBuilder {
    b.set_column_dictionary_enabled(path(dotted), false).set_column_encoding(path(dotted), encoding)
}

fn no_dict(b: WriterPropertiesBuilder, dotted: &str) -> WriterPropertiesBuilder {
    b.set_column_dictionary_enabled(path(dotted), false)
}

fn level(b: WriterPropertiesBuilder, level: i32) -> WriterPropertiesBuilder {
    b.set_compression(parquet::basic::Compression::ZSTD(ZstdLevel::try_new(level).unwrap_or_default()))
}

/// Alternatives to the flush's writer settings, each applied alone on top of them.
const VARIANTS: &[(&str, Tweak)] = &[
    ("current", |b| b),
    ("zstd 1", |b| level(b, 1)),
    ("zstd 3", |b| level(b, 3)),
    ("zstd 6", |b| level(b, 6)),
    ("zstd 9", |b| level(b, 9)),
    ("zstd 12", |b| level(b, 12)),
    ("zstd 15", |b| level(b, 15)),
    ("ids with dictionary (before)", |b| {
        let b = b.set_column_dictionary_enabled("trace_id".into(), true);
        let b = b.set_column_dictionary_enabled("span_id".into(), true);
        b.set_column_dictionary_enabled("parent_span_id".into(), true)
    }),
    ("times with dictionary (before)", |b| {
        let b = b.set_column_dictionary_enabled("start_time".into(), true);
        b.set_column_dictionary_enabled(path("events.list.item.time"), true)
    }),
    ("start_time DELTA_BINARY_PACKED", |b| col(b, "start_time", Encoding::DELTA_BINARY_PACKED)),
    ("duration_ns DELTA_BINARY_PACKED", |b| col(b, "duration_ns", Encoding::DELTA_BINARY_PACKED)),
    ("duration_ns BYTE_STREAM_SPLIT", |b| col(b, "duration_ns", Encoding::BYTE_STREAM_SPLIT)),
    ("events.time DELTA_BINARY_PACKED", |b| col(b, "events.list.item.time", Encoding::DELTA_BINARY_PACKED)),
    ("attributes values no dict", |b| no_dict(b, "attributes.entries.values")),
    ("attributes values DELTA_LENGTH", |b| col(b, "attributes.entries.values", Encoding::DELTA_LENGTH_BYTE_ARRAY)),
    ("all dictionaries off", |b| b.set_dictionary_enabled(false)),
    ("dictionary page 4 MiB", |b| b.set_dictionary_page_size_limit(4 << 20)),
    ("data page 4 MiB", |b| b.set_data_page_size_limit(4 << 20)),
    ("data page 64 KiB", |b| b.set_data_page_size_limit(64 << 10)),
    ("span_id bloom filter off", |b| b.set_column_bloom_filter_enabled("span_id".into(), false)),
    ("row groups 32k", |b| b.set_max_row_group_row_count(Some(32 << 10))),
    ("row groups 128k", |b| b.set_max_row_group_row_count(Some(128 << 10))),
    ("row groups 256k", |b| b.set_max_row_group_row_count(Some(256 << 10))),
];

/// Writes the sorted rows (split by hour, as a flush does) with each variant, in memory.
fn variants(batches: &[RecordBatch], spans: usize, config: &FlushConfig) -> Result<(), Error> {
    let sorted = flush::sort_batches(Table::Spans, batches)?;
    let hours = flush::split_by_hour(Table::Spans, &sorted)?;
    let base = flush::writer_properties_with(Table::Spans, config.row_group_rows, config.zstd_level)?;
    println!("variants (each alone on top of the flush's settings):");
    for (name, tweak) in VARIANTS {
        let props = tweak(base.clone().into_builder()).build();
        let (bytes, elapsed) = write_in_memory(&hours, props)?;
        println!(
            "  {:>7.2} B/span  {:>6.2} µs/span  {name}",
            bytes as f64 / spans as f64,
            elapsed.as_secs_f64() * 1e6 / spans as f64
        );
    }
    Ok(())
}

fn write_in_memory(hours: &BTreeMap<i64, RecordBatch>, props: WriterProperties) -> Result<(u64, Duration), Error> {
    let started = Instant::now();
    let mut bytes = 0;
    for batch in hours.values() {
        let mut out = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(props.clone()))?;
        writer.write(batch)?;
        writer.close()?;
        bytes += out.len() as u64;
    }
    Ok((bytes, started.elapsed()))
}
