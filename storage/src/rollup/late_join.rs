//! Calls whose two sides land in different flushes: the **late join**.
//!
//! A flush derives the calls it holds both sides of (see [`super::edges`]). What it
//! cannot pair it writes as open sides: `caller` rows (client/producer spans with no
//! child in the flush) and `pending` rows (spans whose parent is not in the flush). This
//! module keeps the open sides of recent flushes in memory ([`LateJoin`]) and, at each
//! flush, pairs the new open sides with them:
//!
//! - a new `pending` child whose parent is a remembered caller (the parent came first);
//! - a new caller that a remembered `pending` child waits for (the child came first).
//!
//! Each pair becomes an `edge` row of the new flush (in the child's minute, the same
//! row an in-flush pair makes) plus a `joined` marker naming the caller, which cancels
//! the caller's provisional `peer` row. Queries then only sum `edge` rows and subtract
//! the joined peers: they never look spans up, however many open sides there are (in
//! the otel-demo recording 8 % of spans have a parent that never arrives).
//!
//! Scans join the memtables' open sides the same way, against each other and against
//! the state, under the catalog lock that also fixes which files they read, so a call
//! is counted once whichever side of a flush its spans are on.
//!
//! Bounds, and what they cost in exactness:
//! - Callers that got a child within their own flush are remembered in memory but not
//!   written (their `caller` rows are dropped by [`to_persist`]), so after a restart only
//!   the unpaired ones are reloaded: a *second* child of a caller whose first child was
//!   in its flush, arriving after a restart, is not paired.
//! - Only **client and producer** spans are remembered as callers: the calls OTel
//!   instrumentation describes (in the otel-demo recording every cross-service parent
//!   is a client span). A child whose parent is a server or internal span of another
//!   service is still counted when both are in one flush (or both in memtables).
//! - Open sides are remembered for `late_join_window` after their flush (default
//!   10 min) and at most `late_join_max_entries` of them (oldest go first, counted in
//!   `osprey_late_join_evicted_total`): a side arriving later than that is not paired.
//! - The state survives restarts: [`LateJoin::recover`] reloads the open sides of the
//!   `service_edges` files written within the window.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampNanosecondType};
use foldhash::fast::RandomState;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::edges::{edge_col, edge_kind, EdgeCells, Rows};
use crate::error::{Result, StorageError};
use crate::manifest::FileEntry;

/// A span's `span_key` ([`super::edges::span_key`]).
pub type SpanKey = i64;

/// The protocols a hint can name, as statics (states hold many hints).
fn protocol(hint: &str) -> Option<&'static str> {
    ["http", "grpc", "database", "messaging"].into_iter().find(|p| *p == hint)
}

/// A client/producer span with no child yet.
#[derive(Debug, Clone)]
pub struct Caller {
    pub service: Arc<str>,
    /// The protocol the caller names.
    pub hint: Option<&'static str>,
    pub bucket: i64,
}

/// A span whose parent has not been seen yet.
#[derive(Debug, Clone)]
pub struct Child {
    pub service: Arc<str>,
    /// The protocol the child names, as callee.
    pub hint: Option<&'static str>,
    pub bucket: i64,
    /// Its exact start (`None` in files written before `start_time` existed).
    pub start_ns: Option<i64>,
    pub duration_ns: i64,
    pub error: bool,
}

/// The open sides in some `service_edges` rows.
#[derive(Debug, Default)]
pub struct Open {
    pub callers: Vec<(SpanKey, Caller)>,
    /// Keyed by the *parent's* span key.
    pub children: Vec<(SpanKey, Child)>,
    /// Callers that got their child (from `joined` markers).
    pub joined: Vec<SpanKey>,
}

impl Open {
    /// Reads the `caller`, `pending` and `joined` rows of `batches` (`service_edges` schema).
    pub fn from_rows(batches: &[RecordBatch]) -> Result<Open> {
        let mut open = Open::default();
        let mut services: HashMap<String, Arc<str>> = HashMap::new();
        let mut intern = |s: &str| -> Arc<str> {
            if let Some(a) = services.get(s) {
                return a.clone();
            }
            let a: Arc<str> = Arc::from(s);
            services.insert(s.to_string(), a.clone());
            a
        };
        for batch in batches {
            let c = RowColumns::read(batch)?;
            for i in 0..batch.num_rows() {
                let bucket = c.bucket.value(i);
                let Some(k) = c.key.filter(|k| k.is_valid(i)).map(|k| k.value(i)) else { continue };
                match c.row_kind.value(i) {
                    "caller" => {
                        let hint = protocol(text(c.kind, i));
                        open.callers.push((k, Caller { service: intern(text(c.source, i)), hint, bucket }));
                    }
                    "pending" => {
                        let child = Child {
                            service: intern(text(c.target, i)),
                            hint: protocol(text(c.callee_hint, i)),
                            bucket,
                            start_ns: c.start.as_ref().filter(|s| s.is_valid(i)).map(|s| s.value(i)),
                            duration_ns: if c.duration.is_null(i) { 0 } else { c.duration.value(i) },
                            error: c.errors.value(i) > 0,
                        };
                        open.children.push((k, child));
                    }
                    "joined" => open.joined.push(k),
                    _ => {}
                }
            }
        }
        Ok(open)
    }

    pub fn is_empty(&self) -> bool {
        self.callers.is_empty() && self.children.is_empty() && self.joined.is_empty()
    }
}

fn text(array: &StringArray, i: usize) -> &str {
    if array.is_null(i) {
        ""
    } else {
        array.value(i)
    }
}

struct RowColumns<'a> {
    bucket: &'a arrow::array::TimestampNanosecondArray,
    row_kind: &'a StringArray,
    source: &'a StringArray,
    target: &'a StringArray,
    kind: &'a StringArray,
    errors: &'a arrow::array::Int64Array,
    duration: &'a arrow::array::Int64Array,
    /// Absent in files written before the column existed (they held the ids as text): their
    /// open sides are not reloaded.
    key: Option<&'a arrow::array::Int64Array>,
    callee_hint: &'a StringArray,
    /// In ns (files hold µs, or ns before 2026-12); absent in files written before the column existed.
    start: Option<arrow::array::TimestampNanosecondArray>,
}

impl<'a> RowColumns<'a> {
    fn read(batch: &'a RecordBatch) -> Result<RowColumns<'a>> {
        let column = |name: &str| {
            batch.column_by_name(name).ok_or_else(|| StorageError::Internal(format!("service_edges without {name}")))
        };
        let text = |name: &str| -> Result<&'a StringArray> {
            column(name)?.as_string_opt::<i32>().ok_or_else(|| StorageError::Internal(format!("{name} is not text")))
        };
        let int = |name: &str| -> Result<&'a arrow::array::Int64Array> {
            column(name)?
                .as_primitive_opt::<Int64Type>()
                .ok_or_else(|| StorageError::Internal(format!("{name} not i64")))
        };
        Ok(RowColumns {
            bucket: column(edge_col::BUCKET_START)?
                .as_primitive_opt::<TimestampNanosecondType>()
                .ok_or_else(|| StorageError::Internal("bucket_start is not a timestamp".into()))?,
            row_kind: text(edge_col::ROW_KIND)?,
            source: text(edge_col::SOURCE)?,
            target: text(edge_col::TARGET)?,
            kind: text(edge_col::KIND)?,
            errors: int(edge_col::ERROR_COUNT)?,
            duration: int(edge_col::DURATION_NS)?,
            key: batch.column_by_name(edge_col::SPAN_KEY).and_then(|a| a.as_primitive_opt::<Int64Type>()),
            callee_hint: text(edge_col::CALLEE_HINT)?,
            start: match batch.column_by_name(edge_col::START_TIME) {
                Some(a) => Some(cast(a, &DataType::Timestamp(TimeUnit::Nanosecond, None))?.as_primitive().clone()),
                None => None,
            },
        })
    }
}

/// What [`LateJoin::join`] paired.
#[derive(Debug, Default)]
pub struct Joined {
    /// `edge` and `joined` rows for the pairs; `None` when nothing paired.
    pub rows: Option<RecordBatch>,
    /// Indexes into `Open::children` of the new children that found their parent.
    pub(crate) children_paired: HashSet<usize>,
    /// Parent keys of remembered children that found their parent.
    pub(crate) waiting_paired: Vec<SpanKey>,
}

impl Joined {
    pub fn pairs(&self) -> usize {
        self.children_paired.len() + self.waiting_paired.len()
    }
}

/// The calls paired by one join, as rows to be.
#[derive(Default)]
struct Pairs<'a> {
    edges: EdgeCells<'a>,
    /// `call` rows: (bucket, start, source, target, kind, duration, error).
    calls: Vec<(i64, i64, &'a str, &'a str, &'static str, i64, bool)>,
    /// Callers that got a child: (their bucket, service, key).
    markers: BTreeSet<(i64, &'a str, SpanKey)>,
}

impl<'a> Pairs<'a> {
    fn add(&mut self, caller: &'a Caller, parent: SpanKey, child: &'a Child) {
        if caller.service != child.service {
            let kind = edge_kind(caller.hint, child.hint);
            let cell = self.edges.entry((child.bucket, &caller.service, &child.service, kind)).or_default();
            cell.add(child.duration_ns, child.error);
            if let Some(start) = child.start_ns {
                self.calls.push((
                    child.bucket,
                    start,
                    &caller.service,
                    &child.service,
                    kind,
                    child.duration_ns,
                    child.error,
                ));
            }
        }
        self.markers.insert((caller.bucket, &caller.service, parent));
    }

    fn rows(self) -> Result<Option<RecordBatch>> {
        if self.markers.is_empty() {
            return Ok(None);
        }
        let mut rows = Rows::default();
        rows.edges(self.edges);
        for (bucket, start, source, target, kind, duration, error) in self.calls {
            // The callee's request was counted by its `request` row when it was pending.
            rows.call(bucket, start, source, target, kind, (duration, error), None);
        }
        for (bucket, service, k) in self.markers {
            rows.joined(bucket, service, k);
        }
        rows.finish()
    }
}

/// Which map an entry of the expiry queue is in.
#[derive(Debug, Clone, Copy)]
enum Side {
    Caller,
    Child,
}

/// The open sides of recent flushes (see the module docs).
#[derive(Debug)]
pub struct LateJoin {
    window: Duration,
    max_entries: usize,
    callers: HashMap<SpanKey, Caller, RandomState>,
    waiting: HashMap<SpanKey, Vec<Child>, RandomState>,
    /// Insertion order, for expiry and eviction.
    order: VecDeque<(Instant, SpanKey, Side)>,
    /// Entries dropped because of `max_entries` before their window ended.
    pub evicted: u64,
}

impl Default for LateJoin {
    fn default() -> Self {
        LateJoin::new(Duration::from_secs(600), 1_000_000)
    }
}

impl LateJoin {
    pub fn new(window: Duration, max_entries: usize) -> Self {
        LateJoin {
            window,
            max_entries,
            callers: HashMap::default(),
            waiting: HashMap::default(),
            order: VecDeque::new(),
            evicted: 0,
        }
    }

    /// Bytes the state holds in memory (table slots and child lists, by capacity; the
    /// service names are shared).
    pub fn bytes(&self) -> usize {
        use std::mem::size_of;
        let children: usize = self.waiting.values().map(|c| c.capacity() * size_of::<Child>()).sum();
        self.callers.capacity() * (size_of::<(SpanKey, Caller)>() + 1)
            + self.waiting.capacity() * (size_of::<(SpanKey, Vec<Child>)>() + 1)
            + children
            + self.order.capacity() * size_of::<(Instant, SpanKey, Side)>()
    }

    /// Remembered open sides.
    pub fn len(&self) -> usize {
        self.callers.len() + self.waiting.values().map(Vec::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.callers.is_empty() && self.waiting.is_empty()
    }

    /// Pairs the open sides `open` (new rows: one flush's, or the memtables') with each
    /// other and with the remembered ones. Read-only: [`Self::absorb`] applies the result.
    pub fn join(&self, open: &Open) -> Result<Joined> {
        let new_callers: HashMap<SpanKey, &Caller, RandomState> = open.callers.iter().map(|(k, c)| (*k, c)).collect();
        let mut joined = Joined::default();
        let mut pairs = Pairs::default();
        // Children of new callers are paired in the derivation of their own rows, so new
        // children meet new callers only across units (memtable scans).
        for (i, (parent, child)) in open.children.iter().enumerate() {
            if let Some(caller) = new_callers.get(parent).copied().or_else(|| self.callers.get(parent)) {
                pairs.add(caller, *parent, child);
                joined.children_paired.insert(i);
            }
        }
        for (k, caller) in &open.callers {
            if let Some(children) = self.waiting.get(k) {
                for child in children {
                    pairs.add(caller, *k, child);
                }
                joined.waiting_paired.push(*k);
            }
        }
        joined.rows = pairs.rows()?;
        Ok(joined)
    }

    /// One flush's `service_edges` rows, late joins included, absorbed at once: for
    /// tools and tests that derive without a [`crate::Storage`] (which writes the rows
    /// before it absorbs).
    pub fn flush(&mut self, spans: &[RecordBatch]) -> Result<Vec<RecordBatch>> {
        let mut rows = super::edges::derive_edges(spans)?;
        let open = Open::from_rows(&rows)?;
        let joined = self.join(&open)?;
        rows.extend(joined.rows.clone());
        let now = Instant::now();
        self.absorb(open, &joined, now, now);
        to_persist(&rows)
    }

    /// Remembers the open sides of a published flush that stayed open, forgets the
    /// remembered children `joined` paired, and expires what is older than the window.
    /// `flushed` is when the flush was published (earlier for sides reloaded on start).
    pub fn absorb(&mut self, open: Open, joined: &Joined, flushed: Instant, now: Instant) {
        for k in joined.waiting_paired.iter().chain(&open.joined) {
            self.waiting.remove(k);
        }
        for (k, caller) in open.callers {
            self.order.push_back((flushed, k, Side::Caller));
            self.callers.insert(k, caller);
        }
        for (i, (k, child)) in open.children.into_iter().enumerate() {
            if !joined.children_paired.contains(&i) {
                self.order.push_back((flushed, k, Side::Child));
                // Nearly always one child per parent: a default `Vec` would reserve four.
                self.waiting.entry(k).or_insert_with(|| Vec::with_capacity(1)).push(child);
            }
        }
        self.expire(now);
    }

    fn expire(&mut self, now: Instant) {
        while let Some((at, k, side)) = self.order.front().copied() {
            let expired = now.saturating_duration_since(at) > self.window;
            if !expired && self.callers.len() + self.waiting.len() <= self.max_entries {
                break;
            }
            self.order.pop_front();
            let removed = match side {
                Side::Caller => self.callers.remove(&k).is_some(),
                Side::Child => self.waiting.remove(&k).is_some(),
            };
            if removed && !expired {
                self.evicted += 1;
            }
        }
    }
}

/// Reloads the open sides of the `service_edges` files written within the window (by
/// file modification time) after a restart. A file that cannot be read is skipped with a
/// warning: its open sides will not be paired.
pub fn recover(data_dir: &Path, files: &[FileEntry], late_join: &mut LateJoin) {
    let (now, wall) = (Instant::now(), SystemTime::now());
    let mut recent: Vec<(Duration, &FileEntry)> = files
        .iter()
        .filter(|f| f.table == crate::Table::ServiceEdges.name())
        .filter_map(|f| {
            let modified = std::fs::metadata(data_dir.join(&f.path)).and_then(|m| m.modified()).ok()?;
            let age = wall.duration_since(modified).unwrap_or_default();
            (age <= late_join.window).then_some((age, f))
        })
        .collect();
    // Oldest first, as they were absorbed.
    recent.sort_by_key(|(age, _)| std::cmp::Reverse(*age));
    let mut reloaded = 0;
    for (age, file) in recent {
        let open = read_open(&data_dir.join(&file.path));
        match open {
            Ok(open) => {
                reloaded += open.callers.len() + open.children.len();
                late_join.absorb(open, &Joined::default(), now.checked_sub(age).unwrap_or(now), now);
            }
            Err(e) => tracing::warn!(path = %file.path, error = %e, "late-join sides of this file not reloaded"),
        }
    }
    tracing::info!(reloaded, remembered = late_join.len(), "late-join state reloaded");
}

/// The rows of `rows` a flush writes: all but the `caller` rows of callers that have a
/// child in their flush (`call_count` 1). Those stay open in memory only: a retry or a
/// second consumer rarely follows, and writing one row per client span would cost disk.
pub fn to_persist(rows: &[RecordBatch]) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::with_capacity(rows.len());
    for batch in rows {
        let kinds = batch
            .column_by_name(edge_col::ROW_KIND)
            .and_then(|a| a.as_string_opt::<i32>())
            .ok_or_else(|| StorageError::Internal("service_edges without row_kind".into()))?;
        let calls = batch
            .column_by_name(edge_col::CALL_COUNT)
            .and_then(|a| a.as_primitive_opt::<Int64Type>())
            .ok_or_else(|| StorageError::Internal("service_edges without call_count".into()))?;
        let keep: Vec<bool> =
            (0..batch.num_rows()).map(|i| !(kinds.value(i) == "caller" && calls.value(i) > 0)).collect();
        // `derive_edges` puts them in a batch of their own: usually all or nothing.
        match keep.iter().filter(|k| **k).count() {
            0 => {}
            n if n == batch.num_rows() => out.push(batch.clone()),
            _ => out.push(arrow::compute::filter_record_batch(batch, &keep.into())?),
        }
    }
    Ok(out)
}

fn read_open(path: &Path) -> Result<Open> {
    let file = std::fs::File::open(path).map_err(|e| StorageError::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
    let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
    Open::from_rows(&batches)
}

#[cfg(test)]
mod tests;
