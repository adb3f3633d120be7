//! Storage settings (the `storage:` section of `osprey.yaml`).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Root of everything on disk.
    pub data_dir: PathBuf,
    /// Tenant written into partition paths (multi-tenancy arrives later).
    pub tenant: String,
    /// One budget for in-flight requests plus memtables, in bytes.
    pub memory_budget_bytes: usize,
    /// Writes are refused while the data directory's filesystem has less free space than this.
    pub disk_reserve_bytes: u64,
    pub wal: WalConfig,
    pub flush: FlushConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalConfig {
    /// fsync before acknowledging. `false` is unsafe: acknowledged data can be lost on power loss or kill -9.
    pub fsync: bool,
    /// How long the WAL writer waits to gather more frames into one fsync.
    #[serde(with = "humantime_serde")]
    pub group_commit_window: Duration,
    /// A segment is closed and a new one started past this size.
    pub segment_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlushConfig {
    /// Flush when the memtables hold this many bytes.
    pub max_bytes: usize,
    /// Flush when the oldest row in the memtables is this old.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./osprey-data"),
            tenant: "default".into(),
            memory_budget_bytes: 1 << 30,
            disk_reserve_bytes: 512 << 20,
            wal: WalConfig::default(),
            flush: FlushConfig::default(),
        }
    }
}

impl Default for WalConfig {
    fn default() -> Self {
        Self { fsync: true, group_commit_window: Duration::from_millis(2), segment_bytes: 64 << 20 }
    }
}

impl Default for FlushConfig {
    fn default() -> Self {
        Self { max_bytes: 256 << 20, max_age: Duration::from_secs(300), row_group_rows: 65_536 }
    }
}
