//! Storage's self-metrics (Prometheus). Counters are registered without the
//! `_total` suffix; the exposition format adds it.
//!
//! Equation per table that must hold at any time:
//! `osprey_rows_appended_total + osprey_wal_replayed_rows_total = osprey_rows_persisted_total + osprey_memtable_rows`
//! (rows appended in this process plus rows replayed from the WAL at start are
//! either published in Parquet or still in a memtable).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Label set of a metric family: `[(name, value)]`.
pub type Labels = Vec<(&'static str, &'static str)>;

/// The label set `{table="<name>"}`.
pub fn table_label(table: crate::Table) -> Labels {
    vec![("table", table.name())]
}

#[derive(Debug)]
pub struct StorageMetrics {
    pub wal_bytes: Counter,
    pub wal_frames: Counter,
    pub wal_fsyncs: Counter,
    pub wal_fsync_seconds: Histogram,
    pub wal_corrupt_frames: Counter,
    pub wal_replayed_rows: Family<Labels, Counter>,
    pub rows_appended: Family<Labels, Counter>,
    pub memtable_rows: Family<Labels, Gauge>,
    pub memtable_bytes: Family<Labels, Gauge>,
    pub rows_persisted: Family<Labels, Counter>,
    pub flushes: Family<Labels, Counter>,
    pub flush_seconds: Histogram,
    pub admission_rejected: Family<Labels, Counter>,
    /// Calls whose sides met across flushes (`rollup::late_join`).
    pub late_joined: Counter,
    pub late_join_entries: Gauge,
    pub late_join_evicted: Counter,
    /// Bytes of id bloom filters held by `bloom_cache` (bounded by `storage.bloom_cache_bytes`).
    pub bloom_cache_bytes: Gauge,
    /// Bytes of metrics files' series tables held (bounded by `storage.series_cache_bytes`).
    pub series_cache_bytes: Gauge,
}

impl Default for StorageMetrics {
    fn default() -> Self {
        Self {
            wal_bytes: Counter::default(),
            wal_frames: Counter::default(),
            wal_fsyncs: Counter::default(),
            // 50µs .. ~1.6s
            wal_fsync_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            wal_corrupt_frames: Counter::default(),
            wal_replayed_rows: Family::default(),
            rows_appended: Family::default(),
            memtable_rows: Family::default(),
            memtable_bytes: Family::default(),
            rows_persisted: Family::default(),
            flushes: Family::default(),
            // 10ms .. ~5.5min
            flush_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 16)),
            admission_rejected: Family::default(),
            late_joined: Counter::default(),
            late_join_entries: Gauge::default(),
            late_join_evicted: Counter::default(),
            bloom_cache_bytes: Gauge::default(),
            series_cache_bytes: Gauge::default(),
        }
    }
}

impl StorageMetrics {
    /// Counts a flush with `outcome` = `ok` | `error`.
    pub fn flush_outcome(&self, outcome: &'static str) {
        self.flushes.get_or_create(&vec![("outcome", outcome)]).inc();
    }

    /// Counts a refused admission with `reason` = `memory` | `disk` | `shutting_down`.
    pub fn admission_rejected(&self, reason: &'static str) {
        self.admission_rejected.get_or_create(&vec![("reason", reason)]).inc();
    }

    pub fn register(&self, registry: &mut Registry) {
        registry.register("osprey_wal_bytes", "Bytes of frames written to the WAL", self.wal_bytes.clone());
        registry.register("osprey_wal_frames", "Frames written to the WAL", self.wal_frames.clone());
        registry.register(
            "osprey_wal_fsyncs",
            "fsyncs of WAL segments (one per commit group)",
            self.wal_fsyncs.clone(),
        );
        registry.register("osprey_wal_fsync_seconds", "Duration of WAL fsyncs", self.wal_fsync_seconds.clone());
        registry.register(
            "osprey_wal_corrupt_frames",
            "Corrupt WAL frames found on replay (the rest of their segment is skipped)",
            self.wal_corrupt_frames.clone(),
        );
        registry.register(
            "osprey_wal_replayed_rows",
            "Rows replayed from the WAL into memtables on start",
            self.wal_replayed_rows.clone(),
        );
        registry.register(
            "osprey_rows_appended",
            "Rows appended (durable in the WAL) by this process",
            self.rows_appended.clone(),
        );
        registry.register("osprey_memtable_rows", "Rows in memtables (active and frozen)", self.memtable_rows.clone());
        registry.register(
            "osprey_memtable_bytes",
            "Bytes in memtables (active and frozen)",
            self.memtable_bytes.clone(),
        );
        registry.register(
            "osprey_rows_persisted",
            "Rows published in Parquet files listed by the manifest",
            self.rows_persisted.clone(),
        );
        registry.register("osprey_flushes", "Memtable flushes by outcome", self.flushes.clone());
        registry.register("osprey_flush_seconds", "Duration of memtable flushes", self.flush_seconds.clone());
        registry.register(
            "osprey_admission_rejected",
            "Requests refused at admission, by reason",
            self.admission_rejected.clone(),
        );
        registry.register(
            "osprey_late_joined",
            "Service-map calls whose caller and callee spans were paired across flushes",
            self.late_joined.clone(),
        );
        registry.register(
            "osprey_bloom_cache_bytes",
            "Bytes of Parquet id bloom filters held in memory (bounded by storage.bloom_cache_bytes)",
            self.bloom_cache_bytes.clone(),
        );
        registry.register(
            "osprey_series_cache_bytes",
            "Bytes of metrics files' series tables held in memory (bounded by storage.series_cache_bytes)",
            self.series_cache_bytes.clone(),
        );
        registry.register(
            "osprey_late_join_entries",
            "Open call sides (callers without child, children without parent) remembered for late joins",
            self.late_join_entries.clone(),
        );
        registry.register(
            "osprey_late_join_evicted",
            "Open call sides dropped before their window ended because late_join_max_entries was reached",
            self.late_join_evicted.clone(),
        );
    }
}
