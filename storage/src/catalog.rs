//! What a query can see, behind one lock so that a reader always gets a
//! consistent cut: the active memtables, the frozen memtables being flushed,
//! and the Parquet files published in the manifest. A flush publishes its files
//! and drops its frozen memtables in one write-locked step, so no reader sees a
//! row twice (frozen + Parquet) or not at all.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;

use crate::manifest::FileEntry;
use crate::memtable::MemtableSet;
use crate::metrics::{table_label, StorageMetrics};
use crate::rollup::late_join::LateJoin;
use crate::Table;

/// Memtables frozen by one flush attempt, waiting to be published.
#[derive(Debug)]
pub struct Frozen {
    /// Increasing number, to drop exactly the published ones.
    pub seq: u64,
    /// The first WAL segment holding none of these rows.
    pub checkpoint: u64,
    pub tables: MemtableSet,
}

#[derive(Debug, Default)]
pub struct Catalog {
    pub active: MemtableSet,
    pub frozen: Vec<Arc<Frozen>>,
    /// Live Parquet files by path relative to the data directory.
    pub files: BTreeMap<String, FileEntry>,
    /// Open sides of recent flushes' calls (`rollup::late_join`); changes only with `publish`.
    pub late_join: LateJoin,
    /// Bumped by every publish: a reader that let go of the lock can tell whether its cut
    /// still holds.
    pub version: u64,
    next_frozen_seq: u64,
}

/// What a scan of one table reads.
#[derive(Debug, Clone, Default)]
pub struct TableSnapshot {
    pub batches: Vec<RecordBatch>,
    pub files: Vec<FileEntry>,
}

impl Catalog {
    pub fn with_files(files: BTreeMap<String, FileEntry>) -> Self {
        Self { files, ..Default::default() }
    }

    /// Moves the active memtables to the frozen list; `None` when they are empty.
    pub fn freeze(&mut self, checkpoint: u64) -> Option<Arc<Frozen>> {
        if self.active.is_empty() {
            return None;
        }
        let tables = std::mem::take(&mut self.active);
        let frozen = Arc::new(Frozen { seq: self.next_frozen_seq, checkpoint, tables });
        self.next_frozen_seq += 1;
        self.frozen.push(frozen.clone());
        Some(frozen)
    }

    /// Publishes flushed files and drops the frozen memtables they came from.
    pub fn publish(&mut self, added: Vec<FileEntry>, flushed_seqs: &[u64]) {
        for file in added {
            self.files.insert(file.path.clone(), file);
        }
        self.frozen.retain(|f| !flushed_seqs.contains(&f.seq));
        self.version += 1;
    }

    pub fn snapshot(&self, table: Table) -> TableSnapshot {
        let mut batches = Vec::new();
        for frozen in &self.frozen {
            if let Some(m) = frozen.tables.get(table) {
                batches.extend_from_slice(m.batches());
            }
        }
        if let Some(m) = self.active.get(table) {
            batches.extend_from_slice(m.batches());
        }
        let files = self.files.values().filter(|f| f.table == table.name()).cloned().collect();
        TableSnapshot { batches, files }
    }

    /// Every live Parquet file, of every table.
    pub fn files(&self) -> Vec<FileEntry> {
        self.files.values().cloned().collect()
    }

    /// Rows of `table` in memory (active + frozen).
    pub fn memtable_rows(&self, table: Table) -> usize {
        self.active.rows(table) + self.frozen.iter().map(|f| f.tables.rows(table)).sum::<usize>()
    }

    /// Bytes of `table` in memory (active + frozen).
    pub fn memtable_bytes(&self, table: Table) -> usize {
        let bytes = |set: &MemtableSet| set.get(table).map_or(0, |m| m.bytes());
        bytes(&self.active) + self.frozen.iter().map(|f| bytes(&f.tables)).sum::<usize>()
    }

    /// Sets the `osprey_memtable_rows` / `osprey_memtable_bytes` gauges.
    pub fn export_gauges(&self, metrics: &StorageMetrics) {
        for table in Table::ALL {
            let labels = table_label(table);
            metrics.memtable_rows.get_or_create(&labels).set(self.memtable_rows(table) as i64);
            metrics.memtable_bytes.get_or_create(&labels).set(self.memtable_bytes(table) as i64);
        }
    }

    /// When the oldest row still in memory arrived.
    pub fn oldest_insert(&self) -> Option<Instant> {
        self.frozen.iter().filter_map(|f| f.tables.oldest_insert()).chain(self.active.oldest_insert()).min()
    }
}
