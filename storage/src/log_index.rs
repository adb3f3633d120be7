//! The full-text index of the `logs` table: one tantivy index per flushed Parquet file, in
//! `<data_dir>/log_index/<file ulid>/`, built at flush from the very batch written to the file.
//!
//! **Per file, not per partition**, because a Parquet file is immutable and published once:
//! its index is written once, never updated, and lives and dies with the file (no merges,
//! no locking against a writer, a rebuild touches one file). An hourly partition gets one
//! file per flush; compaction, when it merges files, builds the merged file's index the same way.
//!
//! The index holds no copy of the logs: no stored fields, only postings and two fast fields,
//! `row` (the row's number in its Parquet file) and `time` (for newest-first order and the
//! time range). Hits are row addresses; the rows themselves are read from Parquet.
//!
//! Fields (none with field norms: hits are ordered by time, never scored): `body` (the log
//! tokenizer; token positions unless `storage.flush.logs_index_positions` is off, see
//! [`phrase`] for how phrases are found without them), and raw lower-cased
//! `service`, `severity` (the text and the canonical name of the number), `trace_id`,
//! `span_id`, and `attribute` (`key\0value` for every log and resource attribute).
//!
//! It is derived data: built before the manifest publishes the file (a crash in between leaves
//! an orphan, removed on start with the file); missing or unreadable indexes are rebuilt from
//! Parquet in the background after start and, if a search needs one first, on demand; `osprey
//! index rebuild` recreates all. Unflushed logs are searched by [`matcher`] on the memtables.

pub mod matcher;
mod phrase;
pub mod predicate;
pub mod query;
pub mod rows;
pub mod search;
pub mod tokenizer;
mod translate;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use parking_lot::Mutex;
use tantivy::directory::MmapDirectory;
use tantivy::schema::{Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST};
use tantivy::tokenizer::{TextAnalyzer, TokenizerManager};
use tantivy::{Index, IndexReader, ReloadPolicy, SingleSegmentIndexWriter, TantivyDocument};

use crate::error::{Result, StorageError};
use crate::manifest::FileEntry;
use rows::LogRows;

/// Directory of the indexes, under the data directory.
pub const DIR: &str = "log_index";
/// Name of the body tokenizer in every index.
pub const BODY_TOKENIZER: &str = "osprey_log";
const TEMP_SUFFIX: &str = ".tmp";
/// What the index writer sizes its term table from (tantivy's minimum is 15 MB). The writer
/// builds one segment whatever its size (see [`IndexBuilder`]), so its memory grows with the
/// file's rows (+76 MB of peak RSS for a flush of 1M short lines), within what the flush holds in
/// the memory budget for its working memory (half of what it flushes).
const WRITER_MEMORY: usize = 32 * 1024 * 1024;

/// The fields of an index.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    pub body: Field,
    pub service: Field,
    pub severity: Field,
    pub trace_id: Field,
    pub span_id: Field,
    pub attribute: Field,
    pub time: Field,
    pub row: Field,
}

/// The schema of a new index; `positions`: record token positions in `body`.
fn schema(positions: bool) -> (Schema, Fields) {
    let mut builder = Schema::builder();
    // No field norms: nothing is ranked by relevance (hits are ordered by time), and they
    // would cost a byte per document and field.
    let indexed = |tokenizer: &str, record: IndexRecordOption| {
        let indexing =
            TextFieldIndexing::default().set_tokenizer(tokenizer).set_index_option(record).set_fieldnorms(false);
        TextOptions::default().set_indexing_options(indexing)
    };
    let raw = || indexed("raw", IndexRecordOption::Basic);
    let fields = Fields {
        body: builder.add_text_field("body", indexed(BODY_TOKENIZER, body_record(positions))),
        service: builder.add_text_field("service", raw()),
        severity: builder.add_text_field("severity", raw()),
        trace_id: builder.add_text_field("trace_id", raw()),
        span_id: builder.add_text_field("span_id", raw()),
        attribute: builder.add_text_field("attribute", raw()),
        time: builder.add_i64_field("time", FAST),
        row: builder.add_u64_field("row", FAST),
    };
    (builder.build(), fields)
}

/// `Basic` (document ids only) without positions: nothing is scored, so frequencies are not needed.
fn body_record(positions: bool) -> IndexRecordOption {
    if positions {
        IndexRecordOption::WithFreqsAndPositions
    } else {
        IndexRecordOption::Basic
    }
}

/// Whether an index's `body` field has positions (indexes are read whichever way they were built).
fn has_positions(schema: &Schema, body: Field) -> bool {
    match schema.get_field_entry(body).field_type() {
        tantivy::schema::FieldType::Str(options) => {
            options.get_indexing_options().is_some_and(|o| o.index_option().has_positions())
        }
        _ => false,
    }
}

fn fields_of(schema: &Schema) -> Result<Fields> {
    let get = |name: &str| schema.get_field(name).map_err(|e| index_error("schema", e));
    Ok(Fields {
        body: get("body")?,
        service: get("service")?,
        severity: get("severity")?,
        trace_id: get("trace_id")?,
        span_id: get("span_id")?,
        attribute: get("attribute")?,
        time: get("time")?,
        row: get("row")?,
    })
}

fn index_error(what: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Internal(format!("log index {what}: {e}"))
}

fn register_tokenizer(index: &Index) {
    index.tokenizers().register(BODY_TOKENIZER, TextAnalyzer::from(tokenizer::LogTokenizer));
}

/// tantivy's tokenizers plus the log tokenizer.
fn tokenizers() -> TokenizerManager {
    let manager = TokenizerManager::default();
    manager.register(BODY_TOKENIZER, TextAnalyzer::from(tokenizer::LogTokenizer));
    manager
}

/// `log_index/<ulid>` for the Parquet file at `file_path` (relative, as in the manifest).
pub fn index_dir(data_dir: &Path, file_path: &str) -> PathBuf {
    let stem = Path::new(file_path).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    data_dir.join(DIR).join(stem)
}

/// Builds the index of one Parquet file from `batches` (its rows in file order) and moves it
/// into place atomically (temp dir, rename, directory fsync). Replaces an existing one.
/// `positions`: record token positions (`storage.flush.logs_index_positions`).
pub fn build(data_dir: &Path, file_path: &str, batches: &[RecordBatch], positions: bool) -> Result<()> {
    let mut builder = IndexBuilder::new(data_dir, file_path, positions)?;
    for batch in batches {
        builder.add(batch)?;
    }
    builder.finish()
}

/// An index being built, batch by batch, in a temp directory beside its final place, so the
/// flush can index each slice of rows as it writes it to Parquet (no second copy of the file).
/// Dropped without [`IndexBuilder::finish`], it removes its temp directory.
///
/// One segment per file, indexed on the caller's thread: tantivy's `IndexWriter` hands
/// documents to an indexing thread over a channel (~7 % of a log ingest's CPU went to the
/// hand-off) and cuts a segment each time its memory budget fills: at 32 MiB, 8–12 segments a
/// file, each with its own term dictionary, where the lines' numbers and ids repeat (twice the
/// dictionary bytes). BENCHMARKS.md, issue 4, session 18.
pub struct IndexBuilder {
    target: PathBuf,
    temp: PathBuf,
    fields: Fields,
    writer: Option<SingleSegmentIndexWriter>,
    row: u64,
}

impl IndexBuilder {
    pub fn new(data_dir: &Path, file_path: &str, positions: bool) -> Result<Self> {
        let target = index_dir(data_dir, file_path);
        let temp = target.with_extension(TEMP_SUFFIX.trim_start_matches('.'));
        let _ = fs::remove_dir_all(&temp);
        fs::create_dir_all(&temp).map_err(|e| StorageError::io(&temp, e))?;
        let (schema, fields) = schema(positions);
        let mut builder = IndexBuilder { target, temp, fields, writer: None, row: 0 };
        let directory = MmapDirectory::open(&builder.temp).map_err(|e| index_error("directory", e))?;
        let writer = Index::builder()
            .schema(schema)
            .tokenizers(tokenizers())
            .single_segment_index_writer(directory, WRITER_MEMORY)
            .map_err(|e| index_error("writer", e))?;
        builder.writer = Some(writer);
        Ok(builder)
    }

    /// Indexes the rows of `batch`, numbered after the rows added before.
    pub fn add(&mut self, batch: &RecordBatch) -> Result<()> {
        let Some(writer) = self.writer.as_mut() else {
            return Err(index_error("add", "builder already finished"));
        };
        let rows = LogRows::new(batch)?;
        for r in 0..rows.len() {
            writer.add_document(document(&rows, r, self.row, &self.fields)).map_err(|e| index_error("add", e))?;
            self.row += 1;
        }
        Ok(())
    }

    /// Writes the segment and its metadata (synced) and moves the index into place.
    pub fn finish(mut self) -> Result<()> {
        let Some(writer) = self.writer.take() else {
            return Err(index_error("finish", "builder already finished"));
        };
        drop(writer.finalize().map_err(|e| index_error("finalize", e))?);
        if self.target.exists() {
            fs::remove_dir_all(&self.target).map_err(|e| StorageError::io(&self.target, e))?;
        }
        fs::rename(&self.temp, &self.target).map_err(|e| StorageError::io(&self.target, e))?;
        if let Some(parent) = self.target.parent() {
            crate::manifest::sync_dir(parent)?;
        }
        Ok(())
    }
}

impl Drop for IndexBuilder {
    fn drop(&mut self) {
        if self.writer.is_some() || self.temp.exists() {
            drop(self.writer.take());
            let _ = fs::remove_dir_all(&self.temp);
        }
    }
}

fn document(rows: &LogRows<'_>, r: usize, row: u64, f: &Fields) -> TantivyDocument {
    let mut doc = TantivyDocument::new();
    if let Some(body) = rows.body(r) {
        doc.add_text(f.body, body);
    }
    doc.add_text(f.service, rows.service(r));
    for severity in rows.severities(r) {
        doc.add_text(f.severity, severity);
    }
    if let Some(id) = rows.trace_id(r) {
        doc.add_text(f.trace_id, id);
    }
    if let Some(id) = rows.span_id(r) {
        doc.add_text(f.span_id, id);
    }
    rows.each_attribute_term(r, |term| doc.add_text(f.attribute, term));
    doc.add_i64(f.time, rows.time(r));
    doc.add_u64(f.row, row);
    doc
}

/// An opened index, ready to search.
pub struct OpenIndex {
    pub reader: IndexReader,
    pub fields: Fields,
    /// Whether `body` has token positions (phrases answered by the index alone).
    pub positions: bool,
}

fn open(dir: &Path) -> Result<OpenIndex> {
    let index = Index::open_in_dir(dir).map_err(|e| index_error("open", e))?;
    register_tokenizer(&index);
    let schema = index.schema();
    let fields = fields_of(&schema)?;
    let positions = has_positions(&schema, fields.body);
    let reader =
        index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(|e| index_error("reader", e))?;
    Ok(OpenIndex { reader, fields, positions })
}

/// The indexes of the live files, opened on first use and cached.
pub struct LogIndexes {
    open: Mutex<HashMap<String, Arc<OpenIndex>>>,
    /// One build at a time (a search and the start-up repair may want the same index).
    building: Mutex<()>,
    /// Whether rebuilt indexes record token positions.
    positions: bool,
}

impl LogIndexes {
    /// `positions`: whether indexes rebuilt from Parquet record token positions.
    pub fn new(positions: bool) -> Self {
        LogIndexes { open: Mutex::default(), building: Mutex::default(), positions }
    }

    /// The index of `file`, opened, or rebuilt from its Parquet file if missing or unreadable.
    pub fn get(&self, data_dir: &Path, file: &FileEntry) -> Result<Arc<OpenIndex>> {
        if let Some(index) = self.open.lock().get(&file.path) {
            return Ok(index.clone());
        }
        let _one = self.building.lock();
        if let Some(index) = self.open.lock().get(&file.path) {
            return Ok(index.clone());
        }
        let dir = index_dir(data_dir, &file.path);
        let index = match open(&dir) {
            Ok(index) => index,
            Err(e) => {
                tracing::warn!(file = %file.path, error = %e, "log index missing or unreadable; rebuilding from parquet");
                rebuild(data_dir, &file.path, self.positions)?;
                open(&dir)?
            }
        };
        let index = Arc::new(index);
        self.open.lock().insert(file.path.clone(), index.clone());
        Ok(index)
    }

    /// Forgets indexes of files no longer live (after compaction or retention).
    pub fn retain(&self, live: &dyn Fn(&str) -> bool) {
        self.open.lock().retain(|path, _| live(path));
    }
}

/// Rebuilds the index of one Parquet file from the file.
pub fn rebuild(data_dir: &Path, file_path: &str, positions: bool) -> Result<usize> {
    let path = data_dir.join(file_path);
    let file = fs::File::open(&path).map_err(|e| StorageError::io(&path, e))?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?;
    let mask = parquet::arrow::ProjectionMask::columns(builder.parquet_schema(), rows::COLUMNS.iter().copied());
    let reader = builder.with_projection(mask).build()?;
    let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
    build(data_dir, file_path, &batches, positions)?;
    Ok(batches.iter().map(RecordBatch::num_rows).sum())
}

/// Start-up housekeeping, part one (run before anything can build an index, so it never
/// races a build): removes temp and orphan index directories (no live file).
pub fn sweep(data_dir: &Path, live: &[FileEntry]) {
    let root = data_dir.join(DIR);
    let wanted: HashSet<PathBuf> = live.iter().map(|f| index_dir(data_dir, &f.path)).collect();
    if let Ok(entries) = fs::read_dir(&root) {
        for entry in entries.flatten() {
            let path = entry.path();
            if !wanted.contains(&path) {
                tracing::info!(path = %path.display(), "removing log index without a live file");
                let _ = fs::remove_dir_all(&path);
            }
        }
    }
}

/// Start-up housekeeping, part two (in the background): rebuilds the index of every live logs
/// file whose index does not open. Errors are logged, never returned: search rebuilds on demand
/// what this could not.
pub fn repair(data_dir: &Path, live: &[FileEntry], indexes: &LogIndexes) {
    let mut rebuilt = 0;
    for file in live {
        if open(&index_dir(data_dir, &file.path)).is_ok() {
            continue;
        }
        match indexes.get(data_dir, file) {
            Ok(_) => rebuilt += 1,
            Err(e) => tracing::error!(file = %file.path, error = %e, "could not rebuild log index"),
        }
    }
    if rebuilt > 0 {
        tracing::warn!(rebuilt, "log indexes rebuilt from parquet");
    }
}

/// `osprey index rebuild`: recreates the index of every live logs file of the data directory.
/// Holds the directory's lock, so it refuses to run beside a running Osprey. Returns (files, rows).
/// `positions`: record token positions (`storage.flush.logs_index_positions`).
pub fn rebuild_all(data_dir: &Path, positions: bool) -> Result<(usize, usize)> {
    if !data_dir.join(crate::manifest::DIR).is_dir() {
        return Err(StorageError::InvalidInput(format!(
            "{} is not an Osprey data directory (no manifest)",
            data_dir.display()
        )));
    }
    let _lock = crate::dir_lock::DirLock::acquire(data_dir)?;
    let manifest = crate::manifest::Manifest::open(data_dir)?;
    let live: Vec<FileEntry> =
        manifest.state().files.values().filter(|f| f.table == crate::Table::Logs.name()).cloned().collect();
    let root = data_dir.join(DIR);
    if root.exists() {
        fs::remove_dir_all(&root).map_err(|e| StorageError::io(&root, e))?;
    }
    let mut rows = 0;
    for file in &live {
        rows += rebuild(data_dir, &file.path, positions)?;
    }
    Ok((live.len(), rows))
}

#[cfg(test)]
mod tests;
