//! Log search over one consistent cut of the `logs` table: the tantivy index of every Parquet
//! file in the time range, plus the memtable batches through [`super::matcher`]. Every hit is a
//! row address with its time; a search counts every match exactly (`total`) but keeps only the
//! newest `keep` hits (a page's `offset + limit`), so [`Storage::read_log_rows`] reads only the
//! rows of the page.
//!
//! Files are visited newest first. In each, tantivy counts the matches (a single term's count
//! is its document frequency: no postings are read) and, unless the hits kept so far are all
//! newer than anything in the file, collects its newest `keep` matches by the `time` fast
//! field, plus every match tied with the last of them, so the order (time descending, then
//! address) is exact across files and stable across pages. A file only partly inside the time
//! range gets a range clause on `time`.

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::compute::interleave_record_batch;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::file::metadata::PageIndexPolicy;
use tantivy::collector::{Count, DocSetCollector, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery};
use tantivy::schema::Field;
use tantivy::{DocAddress, Order, Searcher, Term};

use super::matcher::matching_rows;
use super::phrase;
use super::query::LogQuery;
use super::rows::LogRows;
use super::translate::to_tantivy;
use super::{index_error, OpenIndex};
use crate::error::{Result, StorageError};
use crate::manifest::FileEntry;
use crate::{Storage, Table};

/// Where a hit's row is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// The n-th memtable batch of the search's snapshot.
    Memtable(usize),
    /// A Parquet file (path relative to the data directory).
    File(Arc<str>),
}

/// One matching log: its time and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogHit {
    pub time_ns: i64,
    pub source: Source,
    pub row: usize,
}

/// The result of a search: how many logs matched, the newest `keep` of them (newest first, ties
/// by address, so paging is stable), and the memtable batches the memtable hits point into.
#[derive(Debug, Default)]
pub struct LogSearch {
    pub total: usize,
    pub hits: Vec<LogHit>,
    batches: Vec<RecordBatch>,
}

/// Newest first; equal times by address.
fn newest_first(a: &LogHit, b: &LogHit) -> std::cmp::Ordering {
    b.time_ns.cmp(&a.time_ns).then_with(|| a.source.cmp(&b.source)).then(a.row.cmp(&b.row))
}

/// Sorts `hits` newest first and keeps the first `keep`.
fn keep_newest(hits: &mut Vec<LogHit>, keep: usize) {
    hits.sort_unstable_by(newest_first);
    hits.truncate(keep);
}

impl Storage {
    /// Counts the logs matching `query` with `start_ns <= time <= end_ns` and keeps the newest
    /// `keep` (`usize::MAX`: all). Blocking (index and file reads): call it from a blocking thread.
    pub fn search_logs(&self, query: &LogQuery, start_ns: i64, end_ns: i64, keep: usize) -> Result<LogSearch> {
        let snapshot = self.snapshot(Table::Logs);
        let mut hits = Vec::new();
        for (i, batch) in snapshot.batches.iter().enumerate() {
            let rows = LogRows::new(batch)?;
            for row in matching_rows(&rows, query, (start_ns, end_ns)) {
                hits.push(LogHit { time_ns: rows.time(row), source: Source::Memtable(i), row });
            }
        }
        let mut total = hits.len();
        keep_newest(&mut hits, keep);
        let mut files: Vec<&FileEntry> =
            snapshot.files.iter().filter(|f| f.max_time_ns >= start_ns && f.min_time_ns <= end_ns).collect();
        files.sort_by_key(|f| std::cmp::Reverse(f.max_time_ns));
        for file in files {
            let index = self.log_indexes.get(&self.data_dir, file)?;
            // Only the count is needed once `keep` hits are all newer than the file's newest log.
            let wanted = match hits.last() {
                Some(last) if hits.len() >= keep && last.time_ns > file.max_time_ns => 0,
                _ => keep,
            };
            total += search_file(&self.data_dir, &index, file, query, (start_ns, end_ns), wanted, &mut hits)?;
            keep_newest(&mut hits, keep);
        }
        Ok(LogSearch { total, hits, batches: snapshot.batches })
    }

    /// The rows of `hits` (from one [`LogSearch`]), in the order given, in the `logs` schema, or
    /// only its `columns` (in the schema's order; `None`: all). A page of hits reads one page of
    /// each column read from every file it has a hit in (the API shows 10 of 27 Parquet
    /// columns), and the files are read on up to [`READ_THREADS`] threads.
    pub fn read_log_rows(&self, search: &LogSearch, hits: &[LogHit], columns: Option<&[&str]>) -> Result<RecordBatch> {
        let schema = crate::logs::schema();
        let projection: Vec<usize> = match columns {
            None => (0..schema.fields().len()).collect(),
            Some(names) => {
                for name in names {
                    schema.index_of(name).map_err(|_| StorageError::InvalidInput(format!("no log column {name:?}")))?;
                }
                (0..schema.fields().len()).filter(|&i| names.contains(&schema.field(i).name().as_str())).collect()
            }
        };
        let names: Vec<&str> = projection.iter().map(|&i| schema.field(i).name().as_str()).collect();
        let mut sources: Vec<RecordBatch> = Vec::new();
        let mut slot: BTreeMap<Source, usize> = BTreeMap::new();
        for (i, batch) in search.batches.iter().enumerate() {
            slot.insert(Source::Memtable(i), sources.len());
            sources.push(batch.project(&projection)?);
        }
        let file_rows = rows_by_file(hits);
        let batches = self.read_files(&file_rows, &names)?;
        // A file's rows come back in file order: remember where each landed.
        let mut file_pos: BTreeMap<(Arc<str>, usize), usize> = BTreeMap::new();
        for ((path, rows), batch) in file_rows.into_iter().zip(batches) {
            for (k, row) in rows.iter().enumerate() {
                file_pos.insert((path.clone(), *row), k);
            }
            slot.insert(Source::File(path), sources.len());
            sources.push(batch);
        }
        let mut indices = Vec::with_capacity(hits.len());
        for hit in hits {
            let batch = slot.get(&hit.source).copied().ok_or_else(|| StorageError::Internal("hit source".into()))?;
            let row = match &hit.source {
                Source::Memtable(_) => hit.row,
                Source::File(path) => file_pos
                    .get(&(path.clone(), hit.row))
                    .copied()
                    .ok_or_else(|| StorageError::Internal("hit row".into()))?,
            };
            indices.push((batch, row));
        }
        if sources.is_empty() {
            return Ok(RecordBatch::new_empty(Arc::new(schema.project(&projection)?)));
        }
        let refs: Vec<&RecordBatch> = sources.iter().collect();
        Ok(interleave_record_batch(&refs, &indices)?)
    }

    /// The `rows` of each file (paths relative to the data directory), only `columns`, in order:
    /// files are taken in turn by up to [`READ_THREADS`] threads.
    fn read_files(&self, files: &[(Arc<str>, Vec<usize>)], columns: &[&str]) -> Result<Vec<RecordBatch>> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = READ_THREADS.min(cores).min(files.len());
        if threads <= 1 {
            return files
                .iter()
                .map(|(path, rows)| read_rows_of(&self.data_dir.join(&**path), rows, columns))
                .collect();
        }
        // Each file is taken by one thread (the counter), which keeps its index to put it back in order.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let workers = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some((path, rows)) = files.get(i) else { break mine };
                            mine.push((i, read_rows_of(&self.data_dir.join(&**path), rows, columns)));
                        }
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join()).collect::<Vec<_>>()
        });
        let mut read = Vec::with_capacity(files.len());
        for worker in workers {
            read.extend(worker.map_err(|_| StorageError::Internal("a log row reader panicked".into()))?);
        }
        read.sort_unstable_by_key(|(i, _)| *i);
        read.into_iter().map(|(_, batch)| batch).collect()
    }

    /// How many logs each span of a trace emitted (`span_id` hex → count; logs without a span
    /// id are not counted), from logs with `start_ns <= time <= end_ns`. For the waterfall's
    /// `log_count`: an index term lookup per file, then only the `span_id` column of the hits.
    pub fn log_counts_by_span(&self, trace_id_hex: &str, start_ns: i64, end_ns: i64) -> Result<BTreeMap<String, u64>> {
        let query = super::query::parse(&format!("trace_id:{trace_id_hex}"))
            .map_err(|e| StorageError::InvalidInput(format!("trace id {trace_id_hex:?}: {e}")))?;
        let found = self.search_logs(&query, start_ns, end_ns, usize::MAX)?;
        let mut counts = BTreeMap::new();
        let mut count = |span: Option<&str>| {
            if let Some(span) = span.filter(|s| !s.is_empty()) {
                *counts.entry(span.to_string()).or_insert(0u64) += 1;
            }
        };
        for hit in &found.hits {
            if let Source::Memtable(i) = &hit.source {
                let batch = found.batches.get(*i).ok_or_else(|| StorageError::Internal("hit batch".into()))?;
                count(LogRows::new(batch)?.span_id(hit.row));
            }
        }
        for batch in self.read_files(&rows_by_file(&found.hits), &[crate::logs::col::SPAN_ID])? {
            let column = batch.columns().first().ok_or_else(|| StorageError::Internal("span_id not read".into()))?;
            let spans = arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8)?;
            let spans =
                spans.as_string_opt::<i32>().ok_or_else(|| StorageError::Internal("span_id is not text".into()))?;
            for span in spans.iter() {
                count(span);
            }
        }
        Ok(counts)
    }
}

/// The rows of `hits` in each file (sorted, distinct), by file path.
fn rows_by_file(hits: &[LogHit]) -> Vec<(Arc<str>, Vec<usize>)> {
    let mut files: BTreeMap<Arc<str>, Vec<usize>> = BTreeMap::new();
    for hit in hits {
        if let Source::File(path) = &hit.source {
            files.entry(path.clone()).or_default().push(hit.row);
        }
    }
    for rows in files.values_mut() {
        rows.sort_unstable();
        rows.dedup();
    }
    files.into_iter().collect()
}

/// Counts the matches of `query` in one file's index within `start..=end` and appends its
/// newest `wanted` (with every match tied with the last of them) to `hits`. Returns the count.
/// `data_dir`: where the file is, for the bodies of phrase candidates (index without positions).
pub(crate) fn search_file(
    data_dir: &std::path::Path,
    index: &OpenIndex,
    file: &FileEntry,
    query: &LogQuery,
    (start, end): (i64, i64),
    wanted: usize,
    hits: &mut Vec<LogHit>,
) -> Result<usize> {
    let searcher = index.reader.searcher();
    let in_range = file.min_time_ns >= start && file.max_time_ns <= end;
    let restrict = |query: Box<dyn Query>| if in_range { query } else { within(query, index.fields.time, start, end) };
    let phrases = phrase::find(&searcher, index, &data_dir.join(&file.path), query, restrict)?;
    let query = restrict(to_tantivy(query, &index.fields, &phrases));
    let source = Source::File(Arc::from(file.path.as_str()));
    if wanted == usize::MAX {
        // Every hit is kept: collecting them counts them (no separate counting pass).
        let docs = searcher.search(&*query, &DocSetCollector).map_err(|e| index_error("search", e))?;
        let count = docs.len();
        push_hits(&searcher, docs, &source, hits)?;
        return Ok(count);
    }
    let count = searcher.search(&*query, &Count).map_err(|e| index_error("count", e))?;
    if wanted == 0 || count == 0 {
        return Ok(count);
    }
    if count <= wanted {
        let docs = searcher.search(&*query, &DocSetCollector).map_err(|e| index_error("search", e))?;
        push_hits(&searcher, docs, &source, hits)?;
        return Ok(count);
    }
    let newest = TopDocs::with_limit(wanted).order_by_fast_field::<i64>(TIME_FIELD, Order::Desc);
    let top = searcher.search(&*query, &newest).map_err(|e| index_error("top", e))?;
    let cutoff = top.last().and_then(|(time, _)| *time);
    let mut docs: HashSet<DocAddress> = top.into_iter().map(|(_, doc)| doc).collect();
    if let Some(cutoff) = cutoff {
        // Matches as old as the last one kept: which of them come first is decided by address.
        let ties = within(query, index.fields.time, cutoff, cutoff);
        docs.extend(searcher.search(&*ties, &DocSetCollector).map_err(|e| index_error("ties", e))?);
    }
    push_hits(&searcher, docs, &source, hits)?;
    Ok(count)
}

const TIME_FIELD: &str = "time";

/// `query` restricted to `start <= time <= end` (a range over the `time` fast field).
fn within(query: Box<dyn Query>, time: Field, start: i64, end: i64) -> Box<dyn Query> {
    let range = RangeQuery::new(
        Bound::Included(Term::from_field_i64(time, start)),
        Bound::Included(Term::from_field_i64(time, end)),
    );
    Box::new(BooleanQuery::new(vec![(Occur::Must, query), (Occur::Must, Box::new(range))]))
}

/// Appends the hits of `docs`, reading each one's time and row from the fast fields.
fn push_hits(
    searcher: &Searcher,
    docs: impl IntoIterator<Item = DocAddress>,
    source: &Source,
    hits: &mut Vec<LogHit>,
) -> Result<()> {
    let mut by_segment: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for doc in docs {
        by_segment.entry(doc.segment_ord).or_default().push(doc.doc_id);
    }
    for (segment, docs) in by_segment {
        let fast = searcher.segment_reader(segment).fast_fields();
        let times = fast.i64(TIME_FIELD).map_err(|e| index_error("time column", e))?;
        let rows = fast.u64("row").map_err(|e| index_error("row column", e))?;
        for doc in docs {
            let (Some(time), Some(row)) = (times.first(doc), rows.first(doc)) else { continue };
            hits.push(LogHit { time_ns: time, source: source.clone(), row: row as usize });
        }
    }
    Ok(())
}

/// At most this many threads read the rows of a page of hits (no more than the machine's
/// cores): a rare word's hits are spread over many files (58 hits in 38 files at 10M lines),
/// each a few pages to decompress.
const READ_THREADS: usize = 4;

/// The selected rows (sorted, distinct) of a logs Parquet file, only `columns` (empty: all), in
/// order. Only the offset index is read (where pages start: the reader skips to the pages of
/// the rows); the column index (pages' minimum and maximum) is of no use here.
pub(super) fn read_rows_of(path: &std::path::Path, rows: &[usize], columns: &[&str]) -> Result<RecordBatch> {
    let file = std::fs::File::open(path).map_err(|e| StorageError::io(path, e))?;
    let options = ArrowReaderOptions::new()
        .with_offset_index_policy(PageIndexPolicy::Optional)
        .with_column_index_policy(PageIndexPolicy::Skip);
    let mut builder = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)?;
    if !columns.is_empty() {
        let mask = parquet::arrow::ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
        builder = builder.with_projection(mask);
    }
    let reader = builder.with_row_selection(super::predicate::selection(rows, 0)).build()?;
    // The reader's schema is the projected one (the builder's is the whole file's).
    let schema = arrow::record_batch::RecordBatchReader::schema(&reader);
    let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(arrow::compute::concat_batches(&schema, &batches)?)
}

#[cfg(test)]
pub(crate) fn search_file_for_tests(
    data_dir: &std::path::Path,
    index: &OpenIndex,
    file: &FileEntry,
    query: &LogQuery,
    hits: &mut Vec<LogHit>,
) {
    search_file(data_dir, index, file, query, (i64::MIN, i64::MAX), usize::MAX, hits).expect("search");
}
