//! Flush: memtable → Parquet → manifest → WAL truncation.
//!
//! Order (see the durability contract in `ARCHITECTURE.md`):
//! freeze (WAL writer: rotate segment + swap memtable) → concat and sort →
//! split by hour → write each file to a temp name, fsync, rename, fsync dir →
//! publish one manifest delta → drop the frozen memtables → delete the WAL
//! segments below the checkpoint. A failure before the publish leaves the frozen
//! memtables queryable and in the WAL; the next flush retries them.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch, UInt32Array, UInt64Array};
use arrow::compute::{concat_batches, take_record_batch, LexicographicalComparator, SortColumn};
use arrow::datatypes::TimestampNanosecondType;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::config::FlushConfig;
use crate::error::{Result, StorageError};
use crate::manifest::{self, FileEntry, TEMP_SUFFIX};
use crate::metrics::table_label;
use crate::rollup::late_join;
use crate::{Storage, Table};

mod gather;
mod row_order;
mod series;

pub(crate) use gather::{gather, interleave, SeriesSources};
use series::{Holders, SeriesRows};

use row_order::NANOS_PER_HOUR;
pub use row_order::{row_order, HourRows};

/// Rows gathered into one slice handed to the Parquet writer: bounds the flush's transient
/// copy of the rows (the writer still cuts row groups at `row_group_rows`).
const WRITE_SLICE_ROWS: usize = 8192;
/// How often the background flusher checks size and age.
const TICK: Duration = Duration::from_secs(1);

/// Parquet writer settings of Osprey's tables, with the default zstd levels.
pub fn writer_properties(table: Table, row_group_rows: usize) -> Result<WriterProperties> {
    writer_properties_with(table, row_group_rows, FlushConfig::default().zstd_level_of(table))
}

/// The zstd level a flush writes `table` at: the configured one, except for the derived
/// tables (`rollup`), written at level 1. They are ~15 % of the span bytes, and encoding
/// them at level 6 cost a tenth of all the CPU ingest spends on them (BENCHMARKS.md).
pub fn zstd_level(table: Table, configured: i32) -> i32 {
    match table.derived_from() {
        Some(_) => configured.min(1),
        None => configured,
    }
}

/// Parquet writer settings of Osprey's tables (see "Parquet files" in `ARCHITECTURE.md`
/// for the measurements behind them).
pub fn writer_properties_with(table: Table, row_group_rows: usize, zstd_level: i32) -> Result<WriterProperties> {
    let zstd = ZstdLevel::try_new(zstd_level)?;
    let schema = table.file_schema();
    let sorting = table
        .sort_columns()
        .iter()
        .map(|name| {
            let idx = schema.index_of(name)?;
            Ok(SortingColumn { column_idx: idx as i32, descending: false, nulls_first: false })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(zstd))
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(row_group_rows.max(1)))
        .set_sorting_columns(Some(sorting));
    for column in small_page_columns(table) {
        builder = builder.set_column_data_page_size_limit(column_path(column), SMALL_PAGE_BYTES);
    }
    for column in table.bloom_filter_columns() {
        builder = builder
            .set_column_bloom_filter_enabled(ColumnPath::from(*column), true)
            .set_column_bloom_filter_fpp(ColumnPath::from(*column), bloom_fpp(column));
    }
    for column in unpruned_strings(table)? {
        builder = builder.set_column_statistics_enabled(column, EnabledStatistics::None);
    }
    for (column, encoding) in column_encodings(table) {
        builder = builder
            .set_column_dictionary_enabled(column_path(column), false)
            .set_column_encoding(column_path(column), *encoding);
    }
    if let Some(rows) = page_rows(table) {
        builder = builder.set_data_page_row_count_limit(rows);
    }
    Ok(builder.build())
}

/// String leaves no query prunes by, written without min/max statistics: the leaves of maps
/// and lists (DataFusion prunes by top-level columns only), the `*_types` signatures, and the
/// descriptive columns below. parquet-rs compares every value of a string column to keep its
/// page minimum and maximum; in a metrics ingest that was 4 % of the server's CPU, nearly all of
/// it on these columns (BENCHMARKS.md, issue 5).
fn unpruned_strings(table: Table) -> Result<Vec<ColumnPath>> {
    let descriptive: &[&str] = match table {
        Table::Metrics => {
            use crate::metric_points::col;
            &[col::DESCRIPTION, col::UNIT, col::SCOPE_NAME, col::SCOPE_VERSION]
        }
        Table::Logs => {
            use crate::logs::col;
            &[
                col::BODY,
                col::BODY_TYPE,
                col::SCOPE_NAME,
                col::SCOPE_VERSION,
                col::RESOURCE_SCHEMA_URL,
                col::SCOPE_SCHEMA_URL,
            ]
        }
        Table::Spans | Table::ServiceRed | Table::ServiceEdges => &[],
    };
    let schema = parquet::arrow::ArrowSchemaConverter::new().convert(&table.file_schema())?;
    Ok(schema
        .columns()
        .iter()
        .filter(|leaf| leaf.physical_type() == parquet::basic::Type::BYTE_ARRAY)
        .map(|leaf| leaf.path().clone())
        .filter(|path| match path.parts() {
            [top] => top.ends_with("_types") || descriptive.contains(&top.as_str()),
            _ => true,
        })
        .collect())
}

/// False-positive rate of a column's bloom filter. A trace lookup checks the `trace_id` filter
/// of every file (`bloom_cache`): at 1 % a lookup over ~110 files opened one file in vain on
/// average, at 0.1 % one in ten lookups does (−18 % CPU per lookup, +0.3 B/span: a filter holds
/// one entry per trace, not per span). A `span_id` filter holds one entry per span, and parquet-rs sizes filters in powers of two:
/// 3 % lets a full row group's filter fold to 8 bits per span instead of 16 (−1.0 B/span on
/// astronomy, `disk_size`), at the price of opening 3 % of row groups in vain on a lookup by
/// span id alone, which no API makes.
fn bloom_fpp(column: &str) -> f64 {
    match column {
        crate::spans::col::SPAN_ID => 0.03,
        crate::spans::col::TRACE_ID => 0.001,
        _ => 0.01,
    }
}

/// Data page size of the columns a point lookup decodes (Parquet's default: 1 MiB, at most 20,000
/// rows). A trace lookup decompresses the page holding its rows and decodes it up to them; a smaller
/// page makes that ~16× less work. Ids are random, so small pages compress as well as large ones
/// and only add page headers and index entries: +0.7 B/span (astronomy). Durations are written
/// byte-stream split without a dictionary, whose page (up to 1 MiB) every lookup decoded whole.
/// Together: 40 % less CPU for a trace lookup through SQL (BENCHMARKS.md, issue 6).
const SMALL_PAGE_BYTES: usize = 16 << 10;

/// Rows per data page of every column of `table`, when not Parquet's default (20,000; a page
/// also ends at 1 MiB). A log search reads the rows of its page of hits from every file they
/// are in, a few rows per file for a rare word: each costs a page per column decompressed and
/// decoded up to the row. 4096-row pages took a rare word's newest 100 at 10M lines from 89 to
/// 36 ms, and are no larger: zstd finds the same repeats in a 600 KB page of bodies as in a 1 MiB
/// one (1024-row pages cost 11 % more bytes). BENCHMARKS.md, issue 4, session 19.
fn page_rows(table: Table) -> Option<usize> {
    match table {
        Table::Logs => Some(4096),
        _ => None,
    }
}

fn small_page_columns(table: Table) -> &'static [&'static str] {
    use crate::spans::col;
    match table {
        Table::Spans => &[col::TRACE_ID, col::SPAN_ID, col::PARENT_SPAN_ID, col::DURATION_NS],
        _ => &[],
    }
}

/// Columns written without a dictionary, in a specific encoding (paths of
/// nested leaves are dotted: `events.list.item.time`).
fn column_encodings(table: Table) -> &'static [(&'static str, Encoding)] {
    use crate::spans::col;
    match table {
        // Ids are random: a dictionary only adds an index per row. Sorted trace ids share
        // their prefix with the previous row (delta strings); span ids only their length.
        // Times: byte-stream split puts the high bytes, nearly constant within a file, side
        // by side for zstd (the low bytes are noise either way).
        Table::Spans => &[
            (col::TRACE_ID, Encoding::DELTA_BYTE_ARRAY),
            (col::SPAN_ID, Encoding::DELTA_LENGTH_BYTE_ARRAY),
            (col::PARENT_SPAN_ID, Encoding::DELTA_LENGTH_BYTE_ARRAY),
            (col::START_TIME, Encoding::BYTE_STREAM_SPLIT),
            (col::DURATION_NS, Encoding::BYTE_STREAM_SPLIT),
            ("events.list.item.time", Encoding::BYTE_STREAM_SPLIT),
        ],
        // Rows are sorted by series, then time: times of a series step by the scrape or export
        // interval (delta packing makes that ~1 byte), values are floats (byte-stream split
        // groups their sign/exponent bytes, which repeat within a series).
        Table::Metrics => {
            use crate::metric_points::col as m;
            &[
                (m::TIME, Encoding::DELTA_BINARY_PACKED),
                (m::START_TIME, Encoding::DELTA_BINARY_PACKED),
                (m::VALUE, Encoding::BYTE_STREAM_SPLIT),
                (m::SUM, Encoding::BYTE_STREAM_SPLIT),
                // Runs of one value (a series' rows name one holder): deltas of 0.
                (m::SERIES_ROW, Encoding::DELTA_BINARY_PACKED),
            ]
        }
        Table::ServiceRed => &[],
        // `span_key` is a hash: a dictionary only adds an index per row (−0.17 B/span).
        Table::ServiceEdges => {
            use crate::rollup::edges::edge_col;
            &[(edge_col::START_TIME, Encoding::DELTA_BINARY_PACKED), (edge_col::SPAN_KEY, Encoding::PLAIN)]
        }
        // A page of log hits reads a few rows from each of many files, and every column with a
        // dictionary has its whole dictionary page decompressed for them. Bodies are nearly all
        // distinct (a 1 MiB dictionary page, then the fallback to plain); the ids repeat only
        // for the lines of one span (a ~500 KB dictionary page per row group): without a
        // dictionary, in 4096-row pages, they are smaller too (0.025× → 0.019× the raw bytes).
        // BENCHMARKS.md, issue 4, sessions 18 and 19. Times as for spans.
        Table::Logs => {
            use crate::logs::col;
            &[
                (col::TIME, Encoding::BYTE_STREAM_SPLIT),
                (col::OBSERVED_TIME, Encoding::BYTE_STREAM_SPLIT),
                (col::BODY, Encoding::PLAIN),
                (col::TRACE_ID, Encoding::DELTA_LENGTH_BYTE_ARRAY),
                (col::SPAN_ID, Encoding::DELTA_LENGTH_BYTE_ARRAY),
            ]
        }
    }
}

fn column_path(dotted: &str) -> ColumnPath {
    ColumnPath::new(dotted.split('.').map(str::to_string).collect())
}

/// Concatenates and sorts `batches` (logical or physical) by the table's sort
/// columns (ties in arrival order), into one batch in the physical schema. (Flushes use
/// [`row_order`], which does not copy the rows; this is the simple form for benchmarks,
/// tools and tests.)
pub fn sort_batches(table: Table, batches: &[RecordBatch]) -> Result<RecordBatch> {
    let physical = batches.iter().map(|b| table.to_physical(b)).collect::<Result<Vec<_>>>()?;
    let all = concat_batches(&table.physical_schema(), &physical)?;
    let columns = table
        .sort_columns()
        .iter()
        .map(|name| {
            let values = all
                .column_by_name(name)
                .ok_or_else(|| StorageError::Internal(format!("sort column {name} missing")))?
                .clone();
            Ok(SortColumn { values, options: None })
        })
        .collect::<Result<Vec<_>>>()?;
    let comparator = LexicographicalComparator::try_new(&columns)?;
    let mut indices: Vec<usize> = (0..all.num_rows()).collect();
    indices.sort_by(|a, b| comparator.compare(*a, *b));
    Ok(take_record_batch(&all, &UInt64Array::from_iter_values(indices.into_iter().map(|i| i as u64)))?)
}

/// Splits a batch by the hour of the table's time column, keeping row order.
pub fn split_by_hour(table: Table, batch: &RecordBatch) -> Result<BTreeMap<i64, RecordBatch>> {
    let times = batch
        .column_by_name(table.time_column())
        .and_then(|c| c.as_primitive_opt::<TimestampNanosecondType>())
        .ok_or_else(|| StorageError::Internal(format!("{} has no timestamp column", table.name())))?;
    let mut rows: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
    for (i, t) in times.values().iter().enumerate() {
        rows.entry(t.div_euclid(NANOS_PER_HOUR)).or_default().push(i as u32);
    }
    if rows.len() == 1 {
        return Ok(rows.into_keys().map(|h| (h, batch.clone())).collect());
    }
    rows.into_iter().map(|(hour, idx)| Ok((hour, take_record_batch(batch, &UInt32Array::from(idx))?))).collect()
}

/// `(year, month, day)` of a day number counted from 1970-01-01 (proleptic Gregorian).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `<table>/tenant=<t>/date=YYYY-MM-DD/hour=HH`, relative to the data directory.
pub fn partition_dir(table: Table, tenant: &str, hour: i64) -> String {
    let (y, m, d) = civil_from_days(hour.div_euclid(24));
    format!("{}/tenant={tenant}/date={y:04}-{m:02}-{d:02}/hour={:02}", table.name(), hour.rem_euclid(24))
}

/// Writes `batches` of `table` as sorted Parquet files, one per hour. Every
/// file is complete and durable (fsynced, renamed, directory fsynced) when this
/// returns; none is published yet. On error, files written so far are removed.
pub fn write_table(
    data_dir: &Path,
    tenant: &str,
    table: Table,
    batches: &[RecordBatch],
    config: &FlushConfig,
) -> Result<Vec<FileEntry>> {
    let physical =
        batches.iter().filter(|b| b.num_rows() > 0).map(|b| table.to_physical(b)).collect::<Result<Vec<_>>>()?;
    let order = row_order(table, &physical)?;
    let series = match table {
        Table::Metrics => Some(SeriesRows::find(&physical)?),
        _ => None,
    };
    let props = writer_properties_with(table, config.row_group_rows, config.zstd_level_of(table))?;
    let mut written: Vec<FileEntry> = Vec::new();
    for hour_rows in order {
        let rows = Rows { batches: &physical, hour: &hour_rows, series: series.as_ref() };
        match write_file(data_dir, tenant, table, rows, props.clone(), config.logs_index_positions) {
            Ok(entry) => written.push(entry),
            Err(e) => {
                for entry in &written {
                    let _ = fs::remove_file(data_dir.join(&entry.path));
                }
                return Err(e);
            }
        }
    }
    Ok(written)
}

/// One hour's rows of a flush: where they are, and (metrics) the first row of each series.
struct Rows<'a> {
    batches: &'a [RecordBatch],
    hour: &'a HourRows,
    series: Option<&'a SeriesRows>,
}

/// Writes one hour's rows, gathered from their batches a slice at a time, as a Parquet file.
fn write_file(
    data_dir: &Path,
    tenant: &str,
    table: Table,
    rows: Rows<'_>,
    props: WriterProperties,
    index_positions: bool,
) -> Result<FileEntry> {
    let hour_rows = rows.hour;
    let hour = hour_rows.hour;
    let sources: Vec<&RecordBatch> = rows.batches.iter().collect();
    let mut time_range: Option<(i64, i64)> = None;
    let rel_dir = partition_dir(table, tenant, hour);
    let dir = data_dir.join(&rel_dir);
    if !dir.exists() {
        fs::create_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
        // Make the new directory entries durable, from the hour dir up to the data dir.
        let mut d = dir.as_path();
        while let Some(parent) = d.parent() {
            manifest::sync_dir(parent)?;
            if parent == data_dir {
                break;
            }
            d = parent;
        }
    }
    let name = format!("{}.parquet", ulid::Ulid::new());
    let temp = dir.join(format!("{name}{TEMP_SUFFIX}"));
    let target = dir.join(&name);
    // The log index is derived data: if it cannot be built, the file is still written, and
    // the index is rebuilt from Parquet on the next start or the first search that needs it.
    let mut log_index = match table {
        Table::Logs => crate::log_index::IndexBuilder::new(data_dir, &format!("{rel_dir}/{name}"), index_positions)
            .map_err(|e| tracing::warn!(error = %e, "log index not started; it will be rebuilt from parquet"))
            .ok(),
        _ => None,
    };
    let result = (|| -> Result<u64> {
        let file = File::create(&temp).map_err(|e| StorageError::io(&temp, e))?;
        let mut writer = ArrowWriter::try_new(file, table.file_schema(), Some(props))?;
        // Metrics: each series' attribute columns on its first row in the file only.
        let mut series = match rows.series {
            Some(series) => Some((series, SeriesSources::split(&sources)?, Holders::default())),
            None => None,
        };
        for slice in hour_rows.rows.chunks(WRITE_SLICE_ROWS) {
            let batch = match series.as_mut() {
                Some((series, sources, holders)) => sources.gather(slice, &holders.place(series, slice)?)?,
                None => gather(&sources, slice)?,
            };
            if let Some((lo, hi)) = crate::memtable::time_range(table, &batch) {
                time_range = Some(time_range.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
            }
            if let Some(Err(e)) = log_index.as_mut().map(|index| index.add(&batch)) {
                tracing::warn!(error = %e, "log index abandoned; it will be rebuilt from parquet");
                log_index = None;
            }
            writer.write(&batch)?;
        }
        let file = writer.into_inner()?;
        file.sync_all().map_err(|e| StorageError::io(&temp, e))?;
        let bytes = file.metadata().map_err(|e| StorageError::io(&temp, e))?.len();
        fs::rename(&temp, &target).map_err(|e| StorageError::io(&target, e))?;
        manifest::sync_dir(&dir)?;
        Ok(bytes)
    })();
    let bytes = match result {
        Ok(bytes) => bytes,
        Err(e) => {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
    };
    let (min_time_ns, max_time_ns) = time_range.unwrap_or((0, 0));
    let entry = FileEntry {
        path: format!("{rel_dir}/{name}"),
        table: table.name().to_string(),
        tenant: tenant.to_string(),
        partition_hour_unix: hour * 3600,
        min_time_ns,
        max_time_ns,
        rows: hour_rows.rows.len() as u64,
        bytes,
    };
    tracing::debug!(path = %entry.path, rows = entry.rows, bytes, "parquet file written");
    if let Some(Err(e)) = log_index.map(|index| index.finish()) {
        tracing::warn!(path = %entry.path, error = %e, "log index not built; it will be rebuilt from parquet");
    }
    Ok(entry)
}

impl Storage {
    /// One flush: freezes the active memtables and persists every frozen one
    /// (including those a failed earlier flush left behind).
    pub(crate) async fn flush_frozen(&self) -> Result<()> {
        let _one_at_a_time = self.flush_lock.lock().await;
        let started = Instant::now();
        self.wal.freeze().await?;
        let frozen = self.catalog.read().frozen.clone();
        let Some(last) = frozen.last() else {
            return Ok(());
        };
        let checkpoint = last.checkpoint;
        let frozen_bytes: usize = frozen.iter().map(|f| f.tables.bytes()).sum();
        let _working = self.budget.hold_for_flush(frozen_bytes / FLUSH_WORKING_DIVISOR);
        let result = self.persist(&frozen, checkpoint).await;
        self.metrics.flush_seconds.observe(started.elapsed().as_secs_f64());
        match &result {
            Ok(rows) => {
                self.metrics.flush_outcome("ok");
                tracing::info!(rows, checkpoint, elapsed_ms = started.elapsed().as_millis() as u64, "flush done");
            }
            Err(e) => {
                self.metrics.flush_outcome("error");
                tracing::error!(error = %e, checkpoint, "flush failed; rows stay in memory and in the WAL");
            }
        }
        result.map(|_| ())
    }

    async fn persist(&self, frozen: &[Arc<crate::catalog::Frozen>], checkpoint: u64) -> Result<u64> {
        let data_dir = self.data_dir.clone();
        let tenant = self.config.tenant.clone();
        let flush_config = self.config.flush.clone();
        let sources: Vec<(Table, Vec<RecordBatch>)> = Table::ALL
            .iter()
            .filter(|t| t.derived_from().is_none())
            .map(|t| (*t, frozen.iter().filter_map(|f| f.tables.get(*t)).flat_map(|m| m.batches().to_vec()).collect()))
            .collect();
        let manifest = self.manifest.clone();
        let catalog = self.catalog.clone();
        // Everything CPU-bound runs on the blocking pool, the rollups' derivation included
        // (it ran on an async worker and stalled the requests queued behind it).
        let (published, open, joined) = tokio::task::spawn_blocking(move || -> Result<_> {
            // Derived tables (`rollup`) get their rows from the source batches of this very
            // flush and are published in the same manifest delta.
            let mut per_table = Vec::with_capacity(Table::ALL.len());
            for table in Table::ALL {
                match table.derived_from() {
                    None => continue,
                    Some(source) => {
                        let batches = sources.iter().filter(|(t, _)| *t == source).flat_map(|(_, b)| b.iter());
                        per_table.push((table, table.derive(&batches.cloned().collect::<Vec<_>>())?));
                    }
                }
            }
            // Calls whose other side was in an earlier flush (`rollup::late_join`). Only
            // flushes change the state, one at a time, so it cannot move under this read.
            let mut open = late_join::Open::default();
            let mut joined = late_join::Joined::default();
            if let Some((_, edges)) = per_table.iter_mut().find(|(t, _)| *t == Table::ServiceEdges) {
                open = late_join::Open::from_rows(edges)?;
                joined = catalog.read().late_join.join(&open)?;
                edges.extend(joined.rows.clone());
                *edges = late_join::to_persist(edges)?;
            }
            let mut added = Vec::new();
            for (table, batches) in sources.iter().chain(per_table.iter()) {
                match write_table(&data_dir, &tenant, *table, batches, &flush_config) {
                    Ok(files) => added.extend(files),
                    Err(e) => {
                        remove_files(&data_dir, &added);
                        return Err(e);
                    }
                }
            }
            // On a publish error the files stay: the delta may have become durable
            // (e.g. the rename happened but the directory fsync failed), and then
            // they are live. If it did not, the next open removes them as orphans.
            manifest.lock().publish(added.clone(), Vec::new(), checkpoint)?;
            Ok((added, open, joined))
        })
        .await
        .map_err(|e| StorageError::Internal(format!("flush task: {e}")))??;

        let seqs: Vec<u64> = frozen.iter().map(|f| f.seq).collect();
        let bytes: usize = frozen.iter().map(|f| f.tables.bytes()).sum();
        {
            let mut catalog = self.catalog.write();
            catalog.publish(published.clone(), &seqs);
            let now = Instant::now();
            self.metrics.late_joined.inc_by(joined.pairs() as u64);
            catalog.late_join.absorb(open, &joined, now, now);
            self.metrics.late_join_entries.set(catalog.late_join.len() as i64);
            self.budget.set_derived(catalog.late_join.bytes());
            let evicted = catalog.late_join.evicted.saturating_sub(self.metrics.late_join_evicted.get());
            self.metrics.late_join_evicted.inc_by(evicted);
            // The memtable batches the memo knows are gone (or about to be).
            self.derived_memo.clear();
            self.budget.sub_memtable(bytes);
            catalog.export_gauges(&self.metrics);
        }
        let mut rows = 0;
        for file in &published {
            // Derived rows were never appended: counting them would break
            // `appended + replayed = persisted + memtable rows`.
            if let Some(table) = Table::from_name(&file.table).filter(|t| t.derived_from().is_none()) {
                self.metrics.rows_persisted.get_or_create(&table_label(table)).inc_by(file.rows);
                rows += file.rows;
            }
        }
        let wal_dir = self.data_dir.join(crate::wal::DIR);
        match tokio::task::spawn_blocking(move || crate::wal::delete_segments_below(&wal_dir, checkpoint)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, checkpoint, "could not delete flushed wal segments; next start will")
            }
            Err(e) => tracing::warn!(error = %e, "wal cleanup task failed"),
        }
        Ok(rows)
    }

    /// Whether size or age calls for a flush.
    fn flush_due(&self) -> bool {
        if self.budget.memtable() >= self.flush_threshold() {
            return true;
        }
        let oldest = self.catalog.read().oldest_insert();
        oldest.is_some_and(|t| t.elapsed() >= self.config.flush.max_age)
    }

    fn flush_threshold(&self) -> usize {
        flush_threshold(&self.config)
    }
}

/// A flush holds this fraction (1 / divisor) of the frozen memtables' bytes in the memory budget
/// while it runs, for its working memory: the row order, the write slices, the Parquet writer's
/// row group, the derived tables' rows, and the allocator's pages freed and not yet returned.
/// Uncounted, RSS passed a 1 GiB budget by 12 % under overload once the memtables were counted
/// at their real size (BENCHMARKS.md, session 10).
const FLUSH_WORKING_DIVISOR: usize = 2;

/// Flush when the memtables hold this many bytes: `flush.max_bytes`, but at
/// most half the admission limit so requests still fit while a flush runs.
pub(crate) fn flush_threshold(config: &crate::StorageConfig) -> usize {
    config.flush.max_bytes.min(config.admission_limit() / 2).max(1)
}

fn remove_files(data_dir: &Path, files: &[FileEntry]) {
    for file in files {
        let path = data_dir.join(&file.path);
        if let Err(e) = fs::remove_file(&path) {
            tracing::warn!(path = %path.display(), error = %e, "could not remove unpublished parquet file");
        }
    }
}

/// The background flusher: every second, or when woken, flushes if due. Holds
/// only a weak reference, so dropping the last `Arc<Storage>` ends it.
pub(crate) async fn run_flusher(storage: Weak<Storage>, wake: Arc<tokio::sync::Notify>) {
    loop {
        let _ = tokio::time::timeout(TICK, wake.notified()).await;
        let Some(storage) = storage.upgrade() else {
            return;
        };
        if storage.is_closing() {
            return;
        }
        if storage.flush_due() {
            // Errors are logged and counted inside; the next tick retries.
            let _ = storage.flush_frozen().await;
        }
    }
}

#[cfg(test)]
mod tests;
