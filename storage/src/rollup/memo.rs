//! Memo of the derived rows of the memtables, so repeated scans of a derived table do
//! not roll up the whole memtable again.
//!
//! Memtable batches are immutable and only ever appended (freezing keeps their order;
//! only a flush removes some), so the batches a scan sees usually extend those of the
//! previous scan. The memo keeps the previous scan's batches (by identity: it holds
//! their first column, so the memory cannot be reused while compared) and derived rows;
//! a scan whose batches extend them derives only the new ones, as a separate unit.
//! Deriving in units is still exact: a child whose parent is in another unit becomes a
//! `pending` row, which the reader resolves like one from another flush. A flush clears
//! the memo.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use parking_lot::Mutex;

use crate::error::Result;
use crate::Table;

#[derive(Default)]
struct Entry {
    sources: Vec<ArrayRef>,
    derived: Vec<RecordBatch>,
}

#[derive(Default)]
pub struct DerivedMemo {
    entries: Mutex<HashMap<Table, Entry>>,
}

impl std::fmt::Debug for DerivedMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DerivedMemo").finish_non_exhaustive()
    }
}

fn identity(batch: &RecordBatch) -> Option<ArrayRef> {
    batch.columns().first().cloned()
}

impl DerivedMemo {
    /// The rows of derived `table` for the memtable batches `source` (of its source table).
    pub fn derive(&self, table: Table, source: &[RecordBatch]) -> Result<Vec<RecordBatch>> {
        let keys: Vec<ArrayRef> = source.iter().filter_map(identity).collect();
        if keys.len() != source.len() {
            return table.derive(source);
        }
        let (reused, mut derived) = {
            let entries = self.entries.lock();
            match entries.get(&table) {
                Some(e)
                    if e.sources.len() <= keys.len() && e.sources.iter().zip(&keys).all(|(a, b)| Arc::ptr_eq(a, b)) =>
                {
                    (e.sources.len(), e.derived.clone())
                }
                _ => (0, Vec::new()),
            }
        };
        if reused < source.len() {
            derived.extend(table.derive(source.get(reused..).unwrap_or_default())?);
        }
        self.entries.lock().insert(table, Entry { sources: keys, derived: derived.clone() });
        Ok(derived)
    }

    /// Forgets everything (after a flush removed memtable batches).
    pub fn clear(&self) {
        self.entries.lock().clear();
    }
}
