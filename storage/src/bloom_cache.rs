//! File pruning by id: the Parquet bloom filters of the id columns (`trace_id`, `span_id`), read
//! once per file and kept in memory, so a lookup like `WHERE trace_id = '<hex>'` opens only the
//! files that may hold the id.
//!
//! Files are partitioned by hour, and random ids spread over every file, so neither the manifest's
//! time bounds nor a file's min/max statistics narrow an id lookup without a time range: before
//! this, a trace lookup over 10M spans (117 files) opened every file and read its row-group bloom
//! filters from disk, on every query (p99 63 ms; BENCHMARKS.md). The filters are small (~2 bytes
//! per distinct trace id at 0.1 % false positives), and files are immutable, so caching them is exact.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use datafusion::common::ScalarValue;
use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
use parking_lot::Mutex;
use parquet::bloom_filter::Sbbf;
use parquet::file::properties::ReaderProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::serialized_reader::ReadOptionsBuilder;
use prometheus_client::metrics::gauge::Gauge;

use crate::error::{Result, StorageError};
use crate::manifest::FileEntry;
use crate::Table;

/// The bloom filters of one file's id columns, per row group (`None`: that row group has none).
#[derive(Debug, Default)]
struct FileBlooms {
    columns: HashMap<&'static str, Vec<Option<Sbbf>>>,
}

impl FileBlooms {
    /// Memory held: the filters' 32-byte blocks, and a little per row group.
    fn bytes(&self) -> usize {
        self.columns
            .values()
            .flatten()
            .map(|bloom| 16 + bloom.as_ref().map_or(0, |b| b.num_blocks() * 32))
            .sum::<usize>()
            + 64
    }

    /// Which row groups may hold a row whose columns each equal one of their `wanted` values
    /// (true when unknown); empty when no column of `wanted` has filters in this file.
    fn row_groups(&self, wanted: &[(&str, Vec<String>)]) -> Vec<bool> {
        let mut groups: Vec<bool> = Vec::new();
        for (column, values) in wanted {
            let Some(blooms) = self.columns.get(column) else { continue };
            groups.resize(blooms.len(), true);
            for (keep, bloom) in groups.iter_mut().zip(blooms) {
                *keep &= bloom.as_ref().is_none_or(|bloom| values.iter().any(|v| bloom.check(v.as_str())));
            }
        }
        groups
    }
}

/// What [`BloomCache::prune`] keeps.
#[derive(Debug, Default)]
pub struct Pruned {
    /// The files that may hold matching rows, in the order given.
    pub files: Vec<FileEntry>,
    /// Whether reading the kept files' bloom filters again, row group by row group, could prune
    /// nothing more: the filters constrain an id column, the cache answered for every kept file,
    /// and every row group of each may hold the ids (the usual case: a file of one row group). A
    /// trace lookup then skips those reads. Otherwise the scan reads them, and `EXPLAIN ANALYZE`
    /// shows the row groups they prune.
    pub row_group_filters_redundant: bool,
}

/// Bloom filters of live files, by path relative to the data directory, within a byte limit:
/// past it the files least recently looked at are dropped (they are read from disk again when
/// a lookup needs them, and a file whose filters are not held is simply kept by [`Self::prune`]).
#[derive(Debug)]
pub struct BloomCache {
    limit_bytes: usize,
    cached: Mutex<Cached>,
    /// `osprey_bloom_cache_bytes`: set whenever `cached.bytes` changes.
    held: Gauge,
}

#[derive(Debug, Default)]
struct Cached {
    files: HashMap<String, Entry>,
    bytes: usize,
    /// Bumped by every use: an entry's `used` orders the least recently used first.
    clock: u64,
}

#[derive(Debug)]
struct Entry {
    blooms: Arc<FileBlooms>,
    bytes: usize,
    used: u64,
}

impl Cached {
    fn get(&mut self, path: &str) -> Option<Arc<FileBlooms>> {
        self.clock += 1;
        let entry = self.files.get_mut(path)?;
        entry.used = self.clock;
        Some(entry.blooms.clone())
    }

    fn insert(&mut self, path: String, blooms: FileBlooms, limit: usize) {
        let bytes = blooms.bytes();
        if bytes > limit {
            return;
        }
        self.clock += 1;
        let entry = Entry { blooms: Arc::new(blooms), bytes, used: self.clock };
        if let Some(old) = self.files.insert(path, entry) {
            self.bytes -= old.bytes;
        }
        self.bytes += bytes;
        if self.bytes > limit {
            // Down to 7/8 of the limit at once, so that a full cache does not sort on every insert.
            let mut by_use: Vec<(u64, String)> = self.files.iter().map(|(p, e)| (e.used, p.clone())).collect();
            by_use.sort_unstable();
            for (_, path) in by_use {
                if self.bytes <= limit - limit / 8 {
                    break;
                }
                if let Some(old) = self.files.remove(&path) {
                    self.bytes -= old.bytes;
                }
            }
        }
    }

    fn remove(&mut self, path: &str) {
        if let Some(old) = self.files.remove(path) {
            self.bytes -= old.bytes;
        }
    }
}

impl Default for BloomCache {
    fn default() -> Self {
        Self::new(crate::StorageConfig::default().bloom_cache_bytes, Gauge::default())
    }
}

impl BloomCache {
    /// A cache of at most `limit_bytes`, reporting what it holds in `held`.
    pub fn new(limit_bytes: usize, held: Gauge) -> Self {
        Self { limit_bytes, cached: Mutex::new(Cached::default()), held }
    }

    /// Bytes of filters held.
    pub fn bytes(&self) -> usize {
        self.cached.lock().bytes
    }

    /// The files of `table` that may hold rows matching the id equalities in `filters`, and
    /// which of their row groups may; all of them when the filters constrain no id column. A
    /// file whose filters cannot be read, or are not held, is kept (the scan then reads them).
    pub async fn prune(&self, data_dir: &Path, table: Table, files: Vec<FileEntry>, filters: &[Expr]) -> Pruned {
        let wanted: Vec<(&'static str, Vec<String>)> = table
            .bloom_filter_columns()
            .iter()
            .filter_map(|column| id_values(column, filters).map(|values| (*column, values)))
            .collect();
        if wanted.is_empty() || files.is_empty() {
            return Pruned { files, row_group_filters_redundant: false };
        }
        self.load_missing(data_dir, table, &files).await;
        let mut cached = self.cached.lock();
        let mut pruned = Pruned { files: Vec::new(), row_group_filters_redundant: true };
        for file in files {
            let Some(blooms) = cached.get(&file.path) else {
                pruned.row_group_filters_redundant = false;
                pruned.files.push(file);
                continue;
            };
            let groups = blooms.row_groups(&wanted);
            if groups.is_empty() || groups.iter().any(|may| *may) {
                pruned.row_group_filters_redundant &= !groups.is_empty() && groups.iter().all(|may| *may);
                pruned.files.push(file);
            }
        }
        pruned.row_group_filters_redundant &= !pruned.files.is_empty();
        pruned
    }

    /// Reads the filters of those of `files` (all of `table`) not held yet; returns how many
    /// files it read. Lookups call it for the files they consider.
    pub async fn load_missing(&self, data_dir: &Path, table: Table, files: &[FileEntry]) -> usize {
        if table.bloom_filter_columns().is_empty() {
            return 0;
        }
        let missing: Vec<String> = {
            let cached = self.cached.lock();
            files.iter().filter(|f| !cached.files.contains_key(&f.path)).map(|f| f.path.clone()).collect()
        };
        if missing.is_empty() {
            return 0;
        }
        let dir = data_dir.to_path_buf();
        let loaded = tokio::task::spawn_blocking(move || {
            missing.into_iter().filter_map(|path| load(&dir, &path, table).ok().map(|b| (path, b))).collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        let mut cached = self.cached.lock();
        let n = loaded.len();
        for (path, blooms) in loaded {
            cached.insert(path, blooms, self.limit_bytes);
        }
        self.held.set(cached.bytes as i64);
        n
    }

    /// Reads the filters of `files` (all of `table`) not held yet, newest first, while the cache
    /// is under 3/4 of its limit (the rest is left to lookups of older files, so that warming
    /// does not keep evicting what it loaded); returns how many files it read. The query service
    /// calls it for every live file in the background, so no lookup waits for it after a start.
    pub async fn warm(&self, data_dir: &Path, table: Table, files: &[FileEntry]) -> usize {
        let mut newest_first: Vec<FileEntry> = files.to_vec();
        newest_first.sort_by_key(|f| std::cmp::Reverse((f.max_time_ns, f.min_time_ns)));
        let mut loaded = 0;
        for file in &newest_first {
            if self.bytes() >= self.limit_bytes / 4 * 3 {
                break;
            }
            loaded += self.load_missing(data_dir, table, std::slice::from_ref(file)).await;
        }
        loaded
    }

    /// Forgets files no longer live (after compaction or retention removed them).
    pub fn forget(&self, paths: &[String]) {
        let mut cached = self.cached.lock();
        for path in paths {
            cached.remove(path);
        }
        self.held.set(cached.bytes as i64);
    }
}

fn load(data_dir: &Path, relative: &str, table: Table) -> Result<FileBlooms> {
    let path = data_dir.join(relative);
    let file = File::open(&path).map_err(|e| StorageError::io(&path, e))?;
    let options = ReadOptionsBuilder::new()
        .with_reader_properties(ReaderProperties::builder().set_read_bloom_filter(true).build())
        .build();
    let reader = SerializedFileReader::new_with_options(file, options)?;
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let mut blooms = FileBlooms::default();
    for column in table.bloom_filter_columns() {
        let Some(index) = (0..schema.num_columns()).find(|i| schema.column(*i).path().string() == *column) else {
            continue;
        };
        let mut groups = Vec::with_capacity(reader.num_row_groups());
        for rg in 0..reader.num_row_groups() {
            groups.push(reader.get_row_group(rg)?.get_column_bloom_filter(index).cloned());
        }
        blooms.columns.insert(column, groups);
    }
    Ok(blooms)
}

/// The string values `column` must equal for a row to pass `filters` (which are ANDed):
/// `column = 'v'`, `column IN ('v', ...)`, or an OR of those; `None` when no filter says so.
pub fn id_values(column: &str, filters: &[Expr]) -> Option<Vec<String>> {
    filters.iter().find_map(|f| values_of(column, f))
}

fn values_of(column: &str, expr: &Expr) -> Option<Vec<String>> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right }) => {
            values_of(column, left).or_else(|| values_of(column, right))
        }
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Or, right }) => {
            let mut values = values_of(column, left)?;
            values.extend(values_of(column, right)?);
            Some(values)
        }
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Eq, right }) => match (left.as_ref(), right.as_ref()) {
            (Expr::Column(c), value) | (value, Expr::Column(c)) if c.name == column => text(value).map(|v| vec![v]),
            _ => None,
        },
        Expr::InList(InList { expr, list, negated: false }) if matches!(expr.as_ref(), Expr::Column(c) if c.name == column) => {
            list.iter().map(text).collect()
        }
        _ => None,
    }
}

fn text(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Literal(
            ScalarValue::Utf8(Some(v)) | ScalarValue::LargeUtf8(Some(v)) | ScalarValue::Utf8View(Some(v)),
            _,
        ) => Some(v.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
