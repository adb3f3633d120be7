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
use parquet::file::properties::WriterProperties;

use crate::config::FlushConfig;
use crate::error::{Result, StorageError};
use crate::manifest::{self, FileEntry, TEMP_SUFFIX};
use crate::metrics::table_label;
use crate::rollup::late_join;
use crate::{Storage, Table};

mod encoding;
mod gather;
mod row_order;
mod series;

pub use encoding::{writer_properties, writer_properties_with, zstd_level};

pub(crate) use gather::{gather, interleave, SeriesSources};
use series::{Holders, SeriesRows};

use row_order::NANOS_PER_HOUR;
pub use row_order::{row_order, HourRows};

/// Rows gathered into one slice handed to the Parquet writer: bounds the flush's transient
/// copy of the rows (the writer still cuts row groups at `row_group_rows`).
const WRITE_SLICE_ROWS: usize = 8192;
/// How often the background flusher checks size and age.
const TICK: Duration = Duration::from_secs(1);

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
