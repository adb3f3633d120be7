//! Osprey's storage: the data contract (Arrow schemas of the tables), the
//! write-ahead log, the memtables, Parquet files, the manifest that catalogs
//! them, and DataFusion table providers over memtable + Parquet.
//!
//! Depends on no other Osprey crate. See `ARCHITECTURE.md` for the data flow and
//! the durability contract.

pub mod attributes;
pub mod config;
pub mod error;
pub mod spans;

use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::catalog::TableProvider;

pub use config::StorageConfig;
pub use error::{ErrorClass, Result, StorageError};

/// The tables Osprey stores. `logs` and `metrics` arrive with their issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Spans,
}

impl Table {
    pub const ALL: [Table; 1] = [Table::Spans];

    /// The SQL name and directory name of the table.
    pub fn name(self) -> &'static str {
        match self {
            Table::Spans => "spans",
        }
    }

    pub fn schema(self) -> arrow::datatypes::SchemaRef {
        match self {
            Table::Spans => spans::schema(),
        }
    }
}

/// The storage engine of one Osprey process. Cheap to share (`Arc`).
pub struct Storage {
    _private: (),
}

/// Bytes of the global memory budget held by one in-flight request; released on drop.
pub struct MemoryPermit {
    _private: (),
}

impl Storage {
    /// Opens (or creates) the data directory: folds the manifest, removes orphan
    /// files, replays the WAL into the memtables and starts the background flusher.
    pub async fn open(_config: StorageConfig) -> Result<Arc<Storage>> {
        todo!("storage helper")
    }

    /// Reserves `bytes` of the memory budget for a request being decoded.
    /// Fails with a retryable [`StorageError::MemoryBudget`] or [`StorageError::DiskFull`].
    pub fn admit(&self, _bytes: usize) -> Result<MemoryPermit> {
        todo!("storage helper")
    }

    /// Appends a batch (in `table`'s schema). Returns once it is durable (fsynced
    /// in the WAL) and visible to queries.
    pub async fn append(&self, _table: Table, _batch: RecordBatch) -> Result<()> {
        todo!("storage helper")
    }

    /// A DataFusion table over the memtables and the Parquet files of `table`.
    pub fn table_provider(self: &Arc<Self>, _table: Table) -> Arc<dyn TableProvider> {
        todo!("storage helper")
    }

    /// Flushes everything in the memtables to Parquet now.
    pub async fn flush(&self) -> Result<()> {
        todo!("storage helper")
    }

    /// Stops accepting writes, waits for in-flight appends, and flushes.
    pub async fn close(&self) -> Result<()> {
        todo!("storage helper")
    }

    /// Whether replay is done and writes are accepted.
    pub fn is_ready(&self) -> bool {
        todo!("storage helper")
    }

    /// Registers storage's counters and gauges.
    pub fn register_metrics(&self, _registry: &mut prometheus_client::registry::Registry) {
        todo!("storage helper")
    }
}
