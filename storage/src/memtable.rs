//! Memtables: the rows acknowledged since the last flush, per table, as the
//! `RecordBatch`es they arrived in. The WAL writer inserts into the *active* set
//! right after the fsync; a flush *freezes* it (swaps in an empty set) and drops
//! the frozen set once its rows are published in Parquet. Readers snapshot the
//! batches (cheap: `RecordBatch` columns are `Arc`s).

use std::collections::BTreeMap;
use std::time::Instant;

use arrow::array::{Array, AsArray, RecordBatch, RecordBatchOptions};
use arrow::datatypes::TimestampNanosecondType;

use crate::Table;

/// Batches of fewer rows than this are small: a run of them is coalesced…
const SMALL_BATCH_ROWS: usize = 1024;
/// …into one batch once the run holds this many rows.
const COALESCED_ROWS: usize = 8192;

/// The rows of one table.
#[derive(Debug, Default, Clone)]
pub struct Memtable {
    batches: Vec<RecordBatch>,
    rows: usize,
    bytes: usize,
    min_time_ns: Option<i64>,
    max_time_ns: Option<i64>,
    oldest_insert: Option<Instant>,
    /// The small batches at the end of `batches`, not coalesced yet.
    small_run: SmallRun,
}

/// Where the trailing run of small batches starts, and its rows and bytes.
#[derive(Debug, Default, Clone, Copy)]
struct SmallRun {
    start: usize,
    rows: usize,
    bytes: usize,
}

impl SmallRun {
    /// An empty run starting after `batches`.
    fn after(batches: &[RecordBatch]) -> Self {
        Self { start: batches.len(), rows: 0, bytes: 0 }
    }
}

impl Memtable {
    /// Adds a batch (already in `table`'s schema) that holds `bytes` of memory
    /// (see [`MemtableSet::insert`]).
    ///
    /// Small batches (a metrics request holds ~150 points) of a table nothing is derived from
    /// are coalesced, 8,192 rows at a time: the flush gathers its sorted rows from every
    /// batch it holds, and arrow's gather costs about as much per *source* batch as per row
    /// (each slice checks every source's types and builds state for every source), so
    /// thousands of tiny batches made it the largest cost of a metrics flush. Tables with
    /// derived tables keep their batches as they came: the derived rows of the memtables are
    /// memoized per batch (`rollup::memo`).
    pub fn insert(&mut self, table: Table, batch: RecordBatch, bytes: usize) {
        if batch.num_rows() == 0 {
            return;
        }
        if let Some((lo, hi)) = time_range(table, &batch) {
            self.min_time_ns = Some(self.min_time_ns.map_or(lo, |m| m.min(lo)));
            self.max_time_ns = Some(self.max_time_ns.map_or(hi, |m| m.max(hi)));
        }
        let rows = batch.num_rows();
        self.rows += rows;
        self.bytes += bytes;
        self.oldest_insert.get_or_insert_with(Instant::now);
        self.batches.push(batch);
        if !will_coalesce(table, rows) {
            self.small_run = SmallRun::after(&self.batches);
            return;
        }
        self.small_run.rows += rows;
        self.small_run.bytes += bytes;
        if self.small_run.rows >= COALESCED_ROWS {
            self.coalesce_small_run(table);
        }
    }

    /// Replaces the trailing run of small batches by one batch of their rows, in the order a
    /// flush writes them (hour, then the table's sort columns). The flush then finds each
    /// coalesced batch's rows of one series (or service) side by side, and copies them as
    /// slices instead of row by row (`flush::gather`).
    fn coalesce_small_run(&mut self, table: Table) {
        let run = self.small_run;
        let small = &self.batches[run.start.min(self.batches.len())..];
        let sorted = crate::flush::row_order(table, small).and_then(|hours| {
            let rows: Vec<(usize, usize)> = hours.into_iter().flat_map(|h| h.rows).collect();
            let sources: Vec<&RecordBatch> = small.iter().collect();
            crate::flush::interleave(&sources, &rows)
        });
        match sorted {
            Ok(one) => {
                let bytes = one.get_array_memory_size();
                self.batches.truncate(run.start);
                self.batches.push(one);
                self.bytes = self.bytes - run.bytes + bytes;
            }
            // Only batches of different schemas could get here; they stay as they are.
            Err(e) => tracing::warn!(error = %e, "memtable batches not coalesced"),
        }
        self.small_run = SmallRun::after(&self.batches);
    }

    pub fn batches(&self) -> &[RecordBatch] {
        &self.batches
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Smallest and largest value of the table's time column.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        self.min_time_ns.zip(self.max_time_ns)
    }

    /// When the first batch still held was inserted.
    pub fn oldest_insert(&self) -> Option<Instant> {
        self.oldest_insert
    }
}

/// The batch with every buffer it owns alone cut down to its length. Builders grow by
/// doubling and start at 1,024 items, so a batch of one small request (tens of rows)
/// carries several times its size in spare capacity, which the memtable would hold, and
/// count, until the flush (astronomy through the server: 3,360 → 1,252 B a span in
/// memtables, BENCHMARKS.md, session 10). Buffers shared with another array (a caller still
/// holding the batch) are left as they are, so callers hand the batch over, not a clone.
pub fn shrink_to_fit(batch: RecordBatch) -> Result<RecordBatch, crate::error::StorageError> {
    let rows = batch.num_rows();
    let (schema, mut columns, _) = batch.into_parts();
    for column in &mut columns {
        column.shrink_to_fit();
    }
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(schema, columns, &options)?)
}

/// Whether a batch of `rows` rows of `table` will be copied into a coalesced batch on insert
/// (so right-sizing its buffers before would be wasted work).
pub(crate) fn will_coalesce(table: Table, rows: usize) -> bool {
    rows < SMALL_BATCH_ROWS && coalesces(table)
}

/// Whether `table`'s memtable coalesces small batches: no table is derived from it.
fn coalesces(table: Table) -> bool {
    !Table::ALL.iter().any(|t| t.derived_from() == Some(table))
}

/// Min and max of the table's time column in a batch.
pub fn time_range(table: Table, batch: &RecordBatch) -> Option<(i64, i64)> {
    let column = batch.column_by_name(table.time_column())?;
    let times = column.as_primitive_opt::<TimestampNanosecondType>()?;
    let lo = arrow::compute::min(times)?;
    let hi = arrow::compute::max(times)?;
    Some((lo, hi))
}

/// One memtable per table.
#[derive(Debug, Default, Clone)]
pub struct MemtableSet {
    tables: BTreeMap<Table, Memtable>,
}

impl MemtableSet {
    /// Adds a batch holding `bytes` of memory: `get_array_memory_size()` for
    /// batches with their own buffers; for batches decoded from the WAL, whose
    /// columns all share one IPC message buffer (which `get_array_memory_size`
    /// would count once per column), the payload length.
    pub fn insert(&mut self, table: Table, batch: RecordBatch, bytes: usize) {
        self.tables.entry(table).or_default().insert(table, batch, bytes);
    }

    pub fn get(&self, table: Table) -> Option<&Memtable> {
        self.tables.get(&table)
    }

    pub fn iter(&self) -> impl Iterator<Item = (Table, &Memtable)> {
        self.tables.iter().map(|(t, m)| (*t, m))
    }

    pub fn rows(&self, table: Table) -> usize {
        self.get(table).map_or(0, Memtable::rows)
    }

    pub fn bytes(&self) -> usize {
        self.tables.values().map(Memtable::bytes).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.tables.values().all(Memtable::is_empty)
    }

    pub fn oldest_insert(&self) -> Option<Instant> {
        self.tables.values().filter_map(Memtable::oldest_insert).min()
    }
}

#[cfg(test)]
mod tests;
