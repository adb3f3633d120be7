//! Storage settings (the `storage:` section of `osprey.yaml`).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Root of everything on disk (`wal/`, `manifest/`, `spans/`). Created if missing. Default `./osprey-data`.
    pub data_dir: PathBuf,
    /// Tenant written into partition paths (multi-tenancy arrives later). A plain name: no `/`, `\` or `=`.
    /// Default `default`.
    pub tenant: String,
    /// The process's memory budget, in bytes. In-flight requests (admission permits) plus memtables may use
    /// it minus a headroom ([`StorageConfig::admission_limit`]); past that, admission refuses with a retryable
    /// error. The headroom (a quarter of the budget, at least 64 MiB) is for what is not accounted per byte: the
    /// flush's sort keys and write slices, decoding transients, allocator slack and the runtime. A flush starts
    /// once memtables reach half the admission limit at the latest. Default 1 GiB.
    pub memory_budget_bytes: usize,
    /// Writes are refused while the data directory's filesystem has less free space than this
    /// (checked with `statvfs`, at most once a second). `0` disables the check. Default 512 MiB.
    pub disk_reserve_bytes: u64,
    /// Memory for the id bloom filters of Parquet files (`trace_id`, `span_id`; ~1.5 bytes a span) that lookups
    /// by id check before opening a file. Past it, the filters of the files least recently looked at are dropped
    /// and read from disk again when needed. Outside the memory budget, like the query's metadata cache.
    /// Default 64 MiB (~40M spans).
    pub bloom_cache_bytes: usize,
    /// Memory for the series tables of `metrics` files (each series' attributes, which a file stores once
    /// per series), read when a query first needs a file's attributes. Past it, the tables least recently
    /// used are dropped and read again when needed. Outside the memory budget. Default 64 MiB.
    pub series_cache_bytes: usize,
    /// The write-ahead log.
    pub wal: WalConfig,
    /// When and how memtables become Parquet files.
    pub flush: FlushConfig,
    /// The service-map rollups (`service_red`, `service_edges`).
    pub rollup: RollupConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RollupConfig {
    /// How long after its flush a call's open side (a client/producer span with no child yet, or a span whose
    /// parent has not arrived) waits for the other side in a later flush. Sides that meet later than this are
    /// not joined into `service_edges`. Default `10m`.
    #[serde(with = "humantime_serde")]
    pub late_join_window: Duration,
    /// At most this many open sides are remembered (~100 bytes each); past it the oldest go first, counted in
    /// `osprey_late_join_evicted_total`. Default 1,000,000.
    pub late_join_max_entries: usize,
}

impl Default for RollupConfig {
    fn default() -> Self {
        Self { late_join_window: Duration::from_secs(600), late_join_max_entries: 1_000_000 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalConfig {
    /// fsync before acknowledging. `false` is unsafe: acknowledged data can be lost on power loss (and on
    /// kill -9 until the OS writes the page cache back). Default `true`.
    pub fsync: bool,
    /// How long the WAL writer waits to gather more frames into one fsync (group commit). Adds up to this much
    /// latency to an append; `0s` commits whatever is queued at once. Default `2ms`.
    #[serde(with = "humantime_serde")]
    pub group_commit_window: Duration,
    /// A segment is closed and a new one started past this size (segments are deleted whole once their rows
    /// are in Parquet). Must be > 0. Default 64 MiB.
    pub segment_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlushConfig {
    /// Flush when the memtables hold this many bytes (capped at half of `memory_budget_bytes`). Default 256 MiB.
    pub max_bytes: usize,
    /// Flush when the oldest row in the memtables is this old; bounds WAL replay time and how long rows wait
    /// for the faster Parquet path. Default `5m`.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// Rows per Parquet row group. Must be > 0. Larger groups compress better (131072 against 65536: −1.1
    /// B/span); trace lookups prune by the page index inside a group, so they cost the same either way
    /// (BENCHMARKS.md). Default 131072.
    pub row_group_rows: usize,
    /// zstd level of Parquet pages, 1..=22. Higher levels make smaller files and cost more flush CPU (the
    /// flush runs off the acknowledgement path but competes with ingest for cores). Measured on the otel-demo
    /// recordings (`disk_size` bench, release): level 3 → 6 saves ~3–4% of bytes for ~+0.8 µs/span of
    /// Parquet encoding (2.5 → 3.3 µs/span); 9 saves ~1% more for another ~0.5 µs; 12 and up cost 2–5×.
    /// Default 6. The derived tables (`service_red`, `service_edges`) are written at level 1.
    pub zstd_level: i32,
    /// zstd level of the `logs` table's pages, 1..=22. Log bodies are most of what a log ingest writes, and
    /// level 6 made their Parquet encoding a fifth of the server's CPU: level 3 ingests 1M short lines at
    /// 13.3 MB/s per CPU-second instead of 11.4–12.5, for 9 % more Parquet bytes (0.25× → 0.27× the raw
    /// lines; the full-text index beside it is 0.53×). BENCHMARKS.md, issue 4. Default 3.
    pub logs_zstd_level: i32,
    /// Record where each token is in a log body in the full-text index, so phrases (`"connection reset by
    /// peer"`, and words that split into several tokens: `ORD-00010`, `10.1.2.3`, `card_expired`,
    /// `PSQLException`) are answered by the index alone. Without positions the index of 1M short lines is 0.25×
    /// the raw lines instead of 0.40× and builds ~20 % faster, but a phrase is looked up as its tokens'
    /// intersection and each candidate's body is read from Parquet and checked: at 10M lines a search for
    /// `PSQLException` (200k hits) took 3.2 s instead of 68 ms. So positions are kept unless phrases are rare
    /// and storage matters more (BENCHMARKS.md, issue 4, session 18). Applies to indexes built from then on;
    /// either kind is searched correctly, and `osprey index rebuild` rebuilds all. Default `true`.
    pub logs_index_positions: bool,
}

impl FlushConfig {
    /// The zstd level `table`'s files are written at.
    pub fn zstd_level_of(&self, table: crate::Table) -> i32 {
        match table {
            crate::Table::Logs => self.logs_zstd_level,
            _ => crate::flush::zstd_level(table, self.zstd_level),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./osprey-data"),
            tenant: "default".into(),
            memory_budget_bytes: 1 << 30,
            disk_reserve_bytes: 512 << 20,
            bloom_cache_bytes: 64 << 20,
            series_cache_bytes: 64 << 20,
            wal: WalConfig::default(),
            flush: FlushConfig::default(),
            rollup: RollupConfig::default(),
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
        Self {
            max_bytes: 256 << 20,
            max_age: Duration::from_secs(300),
            row_group_rows: 131_072,
            zstd_level: 6,
            logs_zstd_level: 3,
            logs_index_positions: true,
        }
    }
}

impl StorageConfig {
    /// Bytes in-flight requests plus memtables may hold: the budget minus its headroom (a quarter,
    /// at least 64 MiB, at most half). Measured (BENCHMARKS.md): with memtables at the full budget,
    /// RSS under 2× overload was ~170–210 MB above it; with a fifth as headroom peak RSS came within
    /// 2 % of the default 1 GiB, and once 0.3 % over it, so the headroom is a quarter.
    pub fn admission_limit(&self) -> usize {
        let budget = self.memory_budget_bytes;
        let headroom = (budget / 4).max(64 << 20).min(budget / 2);
        budget - headroom
    }
}
