//! Osprey's storage: the data contract (Arrow schemas of the tables), the
//! write-ahead log, the memtables, Parquet files, the manifest that catalogs
//! them, and DataFusion table providers over memtable + Parquet.
//!
//! Depends on no other Osprey crate. See `ARCHITECTURE.md` for the data flow and
//! the durability contract.

pub mod attributes;
pub mod bloom_cache;
pub mod budget;
pub mod catalog;
pub mod config;
pub mod dir_lock;
pub mod disk;
pub mod error;
pub mod flush;
pub mod log_index;
pub mod logs;
pub mod manifest;
pub mod memtable;
pub mod metadata_cache;
pub mod metric_points;
pub mod metrics;
pub mod rollup;
pub mod spans;
pub mod table;
mod tables;
#[cfg(test)]
pub(crate) mod testdata;
pub mod wal;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow::array::RecordBatch;
use bytes::Bytes;
use datafusion::catalog::TableProvider;
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;

pub use budget::MemoryPermit;
pub use config::StorageConfig;
pub use error::{ErrorClass, Result, StorageError};
pub use tables::Table;
pub use wal::SourceDecoder;

use crate::budget::Budget;
use crate::catalog::{Catalog, TableSnapshot};
use crate::disk::DiskSpace;
use crate::manifest::Manifest;
use crate::metrics::StorageMetrics;
use crate::wal::writer::{Shared, WalWriter};

/// The storage engine of one Osprey process. Cheap to share (`Arc`).
///
/// Call [`Storage::close`] on shutdown. Dropping the last handle without it is
/// like a crash, and as safe: the WAL writer thread and the background flusher
/// end, nothing is flushed, and acknowledged rows are replayed on the next open.
pub struct Storage {
    pub(crate) config: StorageConfig,
    /// Absolute, so Parquet paths work with the local object store.
    pub(crate) data_dir: PathBuf,
    pub(crate) catalog: Arc<RwLock<Catalog>>,
    pub(crate) manifest: Arc<Mutex<Manifest>>,
    pub(crate) wal: WalWriter,
    pub(crate) budget: Arc<Budget>,
    pub(crate) disk: DiskSpace,
    pub(crate) metrics: Arc<StorageMetrics>,
    /// One flush at a time.
    pub(crate) flush_lock: tokio::sync::Mutex<()>,
    flush_wanted: Arc<Notify>,
    closing: AtomicBool,
    /// Derived rows of the memtables, reused between scans (`rollup::memo`).
    pub(crate) derived_memo: rollup::memo::DerivedMemo,
    /// Id-column bloom filters of live files, for pruning id lookups (see [`bloom_cache`]).
    pub(crate) blooms: bloom_cache::BloomCache,
    /// Series tables of `metrics` files, for putting their attribute columns back on every row.
    pub(crate) series_tables: Arc<table::series_columns::SeriesTables>,
    /// The opened tantivy indexes of the `logs` files (see [`log_index`]).
    pub(crate) log_indexes: Arc<log_index::LogIndexes>,
    /// This process's claim on the data directory (see [`dir_lock`]).
    _lock: dir_lock::DirLock,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").field("data_dir", &self.data_dir).finish_non_exhaustive()
    }
}

impl Storage {
    /// Opens (or creates) the data directory: folds the manifest, removes orphan
    /// files, replays the WAL into the memtables and starts the background flusher.
    /// A WAL holding source frames ([`Storage::prepare_from_source`]) needs [`Storage::open_with`].
    pub async fn open(config: StorageConfig) -> Result<Arc<Storage>> {
        Self::open_with(config, None).await
    }

    /// [`Storage::open`], replaying source frames with `decoder`.
    pub async fn open_with(config: StorageConfig, decoder: Option<Arc<dyn SourceDecoder>>) -> Result<Arc<Storage>> {
        validate(&config)?;
        let metrics = Arc::new(StorageMetrics::default());
        let recovery_metrics = metrics.clone();
        let recovery_config = config.clone();
        let recovered =
            tokio::task::spawn_blocking(move || recover(&recovery_config, &recovery_metrics, decoder.as_deref()))
                .await
                .map_err(|e| StorageError::Internal(format!("recovery task: {e}")))??;
        let Recovered { lock, data_dir, manifest, catalog, next_segment } = recovered;

        let budget = Arc::new(Budget::new(config.admission_limit()));
        budget.add_memtable(catalog.active.bytes());
        budget.set_derived(catalog.late_join.bytes());
        catalog.export_gauges(&metrics);
        let catalog = Arc::new(RwLock::new(catalog));
        let flush_wanted = Arc::new(Notify::new());
        let shared = Shared {
            catalog: catalog.clone(),
            budget: budget.clone(),
            metrics: metrics.clone(),
            flush_wanted: flush_wanted.clone(),
            flush_threshold: flush::flush_threshold(&config),
        };
        let wal = WalWriter::start(&data_dir.join(wal::DIR), next_segment, config.wal.clone(), shared)?;
        let blooms = bloom_cache::BloomCache::new(config.bloom_cache_bytes, metrics.bloom_cache_bytes.clone());
        let series_tables = Arc::new(table::series_columns::SeriesTables::new(
            config.series_cache_bytes,
            metrics.series_cache_bytes.clone(),
        ));
        let log_indexes = Arc::new(log_index::LogIndexes::new(config.flush.logs_index_positions));
        let storage = Arc::new(Storage {
            disk: DiskSpace::new(data_dir.clone(), config.disk_reserve_bytes),
            config,
            data_dir,
            catalog,
            manifest: Arc::new(Mutex::new(manifest)),
            wal,
            budget,
            metrics,
            flush_lock: tokio::sync::Mutex::new(()),
            flush_wanted: flush_wanted.clone(),
            closing: AtomicBool::new(false),
            derived_memo: rollup::memo::DerivedMemo::default(),
            blooms,
            series_tables,
            log_indexes,
            _lock: lock,
        });
        // The log index is derived data: orphans are swept before the flusher can build one,
        // and missing indexes are rebuilt after start, never blocking it.
        let (dir, indexes) = (storage.data_dir.clone(), storage.log_indexes.clone());
        let live = storage.snapshot(Table::Logs).files;
        log_index::sweep(&dir, &live);
        tokio::spawn(flush::run_flusher(Arc::downgrade(&storage), flush_wanted));
        tokio::task::spawn_blocking(move || log_index::repair(&dir, &live, &indexes));
        tracing::info!(data_dir = %storage.data_dir.display(), "storage open");
        Ok(storage)
    }

    /// Reserves `bytes` of the memory budget for a request being decoded.
    /// Fails with a retryable [`StorageError::MemoryBudget`] or [`StorageError::DiskFull`].
    pub fn admit(&self, bytes: usize) -> Result<MemoryPermit> {
        if self.is_closing() {
            self.metrics.admission_rejected("shutting_down");
            return Err(StorageError::ShuttingDown);
        }
        if let Err(e) = self.disk.check() {
            self.metrics.admission_rejected("disk");
            return Err(e);
        }
        self.budget.reserve(bytes).inspect_err(|_| {
            self.metrics.admission_rejected("memory");
            // Memory is tight: make sure a flush is on its way.
            self.flush_wanted.notify_one();
        })
    }

    /// Appends a batch (in `table`'s logical or physical schema; it is stored in
    /// the physical one). Returns once it is durable (fsynced in the WAL) and
    /// visible to queries.
    pub async fn append(&self, table: Table, batch: RecordBatch) -> Result<()> {
        let frame = Self::prepare(table, batch)?;
        self.append_frames(frame.into_iter().collect()).await
    }

    /// The CPU-bound half of an append, for the caller to run where it likes (the collector
    /// runs it on the blocking pool, in parallel for the parts of a large request): converts
    /// `batch` to `table`'s physical schema, right-sizes its buffers for the memtable (unless
    /// the memtable will copy it into a coalesced batch), and encodes its WAL frame. `None` for an empty batch.
    pub fn prepare(table: Table, batch: RecordBatch) -> Result<Option<wal::Encoded>> {
        match Self::prepare_batch(table, batch)? {
            Some(batch) => wal::Encoded::new(table, batch).map(Some),
            None => Ok(None),
        }
    }

    /// `batch` in `table`'s physical schema with right-sized buffers; `None` if empty.
    fn prepare_batch(table: Table, batch: RecordBatch) -> Result<Option<RecordBatch>> {
        if table.derived_from().is_some() {
            return Err(StorageError::InvalidInput(format!("{} is derived from other tables", table.name())));
        }
        let physical = table
            .to_physical(&batch)
            .map_err(|_| StorageError::InvalidInput(format!("batch does not match the {} schema", table.name())))?;
        drop(batch);
        if physical.num_rows() == 0 {
            return Ok(None);
        }
        // A small batch the memtable will coalesce is copied there into right-sized buffers.
        match memtable::will_coalesce(table, physical.num_rows()) {
            true => Ok(Some(physical)),
            false => memtable::shrink_to_fit(physical).map(Some),
        }
    }

    /// [`Storage::prepare`] for a batch converted from `head` then `source` (the bytes of a
    /// request as received, written without a copy): the WAL frame holds those bytes instead of
    /// the batch, and replay converts them again with `codec` of the [`SourceDecoder`] given to
    /// [`Storage::open_with`], which must give back exactly `batch`.
    pub fn prepare_from_source(
        table: Table,
        batch: RecordBatch,
        codec: u8,
        head: &[u8],
        source: Bytes,
    ) -> Result<Option<wal::Encoded>> {
        let Some(prepared) = Self::prepare_batch(table, batch)? else {
            return Ok(None);
        };
        wal::Encoded::from_source(table, prepared, codec, head, source).map(Some)
    }

    /// Appends prepared frames (see [`Storage::prepare`]) as one unit: returns once all are
    /// durable and visible to queries, none visible before.
    pub async fn append_frames(&self, frames: Vec<wal::Encoded>) -> Result<()> {
        if self.is_closing() {
            return Err(StorageError::ShuttingDown);
        }
        if frames.is_empty() {
            return Ok(());
        }
        self.wal.append(frames).await
    }

    /// A DataFusion table over the memtables and the Parquet files of `table`.
    pub fn table_provider(self: &Arc<Self>, table: Table) -> Arc<dyn TableProvider> {
        Arc::new(table::StorageTable::new(self.clone(), table))
    }

    /// Flushes everything in the memtables to Parquet now.
    pub async fn flush(&self) -> Result<()> {
        self.flush_frozen().await
    }

    /// Stops accepting writes, waits for in-flight appends, and flushes.
    pub async fn close(&self) -> Result<()> {
        self.closing.store(true, Ordering::Release);
        self.flush_wanted.notify_one();
        self.wal.drain().await?;
        let flushed = self.flush_frozen().await;
        self.wal.stop();
        tracing::info!(ok = flushed.is_ok(), "storage closed");
        flushed
    }

    /// Whether replay is done and writes are accepted.
    pub fn is_ready(&self) -> bool {
        !self.is_closing()
    }

    /// Registers storage's counters and gauges, and the memory budget's.
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.metrics.register(registry);
        registry.register_collector(Box::new(self.budget.clone()));
    }

    /// Storage's metrics, for tests and health reporting.
    pub fn metrics(&self) -> &StorageMetrics {
        &self.metrics
    }

    /// The (absolute) data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Every live Parquet file, of every table.
    pub fn files(&self) -> Vec<manifest::FileEntry> {
        self.catalog.read().files()
    }

    /// Reads the id-column bloom filters of live files not held in memory yet, newest first, while
    /// the cache has room (see [`bloom_cache::BloomCache::warm`]); returns how many files it read.
    pub async fn warm_bloom_filters(&self) -> usize {
        let files = self.files();
        let mut loaded = 0;
        for table in Table::ALL {
            let of_table: Vec<_> = files.iter().filter(|f| f.table == table.name()).cloned().collect();
            loaded += self.blooms.warm(&self.data_dir, table, &of_table).await;
        }
        loaded
    }

    /// The memtable batches (in the physical schema) and Parquet files a scan of
    /// `table` reads, as one consistent cut.
    ///
    /// For a derived table, the memtable part is derived from the source table's
    /// memtables, taken in the same cut as the derived files (outside the lock).
    pub fn snapshot(&self, table: Table) -> TableSnapshot {
        let Some(source) = table.derived_from() else {
            return self.catalog.read().snapshot(table);
        };
        let derive = |source_batches: &[RecordBatch]| {
            self.derived_memo.derive(table, source_batches).unwrap_or_else(|e| {
                // Only a schema bug can get here: serve the files rather than fail the query.
                tracing::error!(table = table.name(), error = %e, "deriving rows from memtables failed");
                Vec::new()
            })
        };
        // The memtables' open call sides join each other and the late-join state as of the
        // same cut as the files (`rollup::late_join`): derive outside the lock, then join
        // under it if no flush published meanwhile (else try again; the last try holds the
        // lock throughout).
        const TRIES: usize = 3;
        for attempt in 1..=TRIES {
            let cut = self.catalog.read();
            let (source_batches, files, version) =
                (cut.snapshot(source).batches, cut.snapshot(table).files, cut.version);
            let cut = if attempt < TRIES {
                drop(cut);
                None
            } else {
                Some(cut)
            };
            let mut batches = derive(&source_batches);
            if table != Table::ServiceEdges {
                return TableSnapshot { batches, files };
            }
            let open = rollup::late_join::Open::from_rows(&batches);
            let catalog = match cut {
                Some(held) => held,
                None => self.catalog.read(),
            };
            if catalog.version != version {
                continue;
            }
            match open.and_then(|open| catalog.late_join.join(&open)) {
                Ok(joined) => batches.extend(joined.rows),
                Err(e) => tracing::error!(error = %e, "late join of memtable rows failed"),
            }
            return TableSnapshot { batches, files };
        }
        TableSnapshot::default()
    }

    /// Rows of `table` in memtables (active and frozen).
    pub fn memtable_rows(&self, table: Table) -> usize {
        self.catalog.read().memtable_rows(table)
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }
}

fn validate(config: &StorageConfig) -> Result<()> {
    let bad = |what: &str| Err(StorageError::InvalidInput(format!("storage config: {what}")));
    if config.flush.row_group_rows == 0 {
        return bad("flush.row_group_rows must be > 0");
    }
    if !(1..=22).contains(&config.flush.logs_zstd_level) {
        return bad("flush.logs_zstd_level must be in 1..=22");
    }
    if !(1..=22).contains(&config.flush.zstd_level) {
        return bad("flush.zstd_level must be in 1..=22");
    }
    if config.wal.segment_bytes == 0 {
        return bad("wal.segment_bytes must be > 0");
    }
    if config.memory_budget_bytes == 0 {
        return bad("memory_budget_bytes must be > 0");
    }
    if config.tenant.is_empty() || config.tenant.contains(['/', '\\', '=']) || config.tenant.starts_with('.') {
        return bad("tenant must be a non-empty name without '/', '\\' or '='");
    }
    Ok(())
}

struct Recovered {
    lock: dir_lock::DirLock,
    data_dir: PathBuf,
    manifest: Manifest,
    catalog: Catalog,
    next_segment: u64,
}

/// Start-up recovery, in the order the durability contract needs: fold the
/// manifest, remove unpublished files, drop WAL segments already in Parquet,
/// replay the rest.
fn recover(config: &StorageConfig, metrics: &StorageMetrics, decoder: Option<&dyn SourceDecoder>) -> Result<Recovered> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| StorageError::io(&config.data_dir, e))?;
    let data_dir = std::fs::canonicalize(&config.data_dir).map_err(|e| StorageError::io(&config.data_dir, e))?;
    let lock = dir_lock::DirLock::acquire(&data_dir)?;
    let manifest = Manifest::open(&data_dir)?;
    let tables: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
    let orphans = manifest::remove_orphans(&data_dir, &tables, &manifest.state().files)?;
    if orphans > 0 {
        tracing::warn!(orphans, "removed parquet files the manifest does not list");
    }
    let mut catalog = Catalog::with_files(manifest.state().files.clone());
    let checkpoint = manifest.state().wal_checkpoint;
    let replayed = wal::replay(&data_dir.join(wal::DIR), checkpoint, metrics, decoder, |frame| {
        catalog.active.insert(frame.table, frame.batch, frame.bytes)
    })?;
    tracing::info!(
        rows = replayed.rows,
        frames = replayed.frames,
        corrupt_frames = replayed.corrupt_frames,
        next_segment = replayed.next_segment,
        "wal replayed"
    );
    let rollup = &config.rollup;
    catalog.late_join = rollup::late_join::LateJoin::new(rollup.late_join_window, rollup.late_join_max_entries);
    let files: Vec<_> = catalog.files.values().cloned().collect();
    rollup::late_join::recover(&data_dir, &files, &mut catalog.late_join);
    Ok(Recovered { lock, data_dir, manifest, catalog, next_segment: replayed.next_segment })
}

#[cfg(test)]
mod tests;
