//! The global memory budget: one limit for request bytes in flight (held by
//! [`MemoryPermit`]s), the bytes in memtables, the bytes of derived state kept
//! between flushes (the service map's late-join sides) and the working memory of the
//! flush running now ([`FlushHold`]). Admission refuses what would go past it, so the
//! memtables never outgrow it when flushing falls behind.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::error::{Result, StorageError};
use crate::metrics::Labels;

#[derive(Debug)]
pub struct Budget {
    limit: usize,
    in_flight: AtomicUsize,
    memtable: AtomicUsize,
    derived: AtomicUsize,
    flushing: AtomicUsize,
}

impl Budget {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            in_flight: AtomicUsize::new(0),
            memtable: AtomicUsize::new(0),
            derived: AtomicUsize::new(0),
            flushing: AtomicUsize::new(0),
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes held by permits.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Bytes in memtables (active and frozen).
    pub fn memtable(&self) -> usize {
        self.memtable.load(Ordering::Acquire)
    }

    /// Bytes of derived state kept in memory between flushes (set after each flush).
    pub fn set_derived(&self, bytes: usize) {
        self.derived.store(bytes, Ordering::Release);
    }

    pub fn derived(&self) -> usize {
        self.derived.load(Ordering::Acquire)
    }

    /// Bytes held for the working memory of the flush running now.
    pub fn flushing(&self) -> usize {
        self.flushing.load(Ordering::Acquire)
    }

    /// Holds `bytes` for a flush's working memory until the hold is dropped. Never refused: the
    /// flush is what frees memory; requests are refused instead while it runs.
    pub fn hold_for_flush(self: &Arc<Self>, bytes: usize) -> FlushHold {
        self.flushing.fetch_add(bytes, Ordering::AcqRel);
        FlushHold { budget: self.clone(), bytes }
    }

    pub fn add_memtable(&self, bytes: usize) {
        self.memtable.fetch_add(bytes, Ordering::AcqRel);
    }

    pub fn sub_memtable(&self, bytes: usize) {
        // Saturating: never wrap even if accounting were off by a batch.
        let _ = self.memtable.fetch_update(Ordering::AcqRel, Ordering::Acquire, |m| Some(m.saturating_sub(bytes)));
    }

    /// Reserves `bytes` for a request, or fails with [`StorageError::MemoryBudget`].
    pub fn reserve(self: &Arc<Self>, bytes: usize) -> Result<MemoryPermit> {
        let mut current = self.in_flight.load(Ordering::Acquire);
        loop {
            let in_use =
                current.saturating_add(self.memtable()).saturating_add(self.derived()).saturating_add(self.flushing());
            if in_use.saturating_add(bytes) > self.limit {
                return Err(StorageError::MemoryBudget { in_use, budget: self.limit });
            }
            match self.in_flight.compare_exchange_weak(current, current + bytes, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(MemoryPermit { budget: self.clone(), bytes }),
                Err(actual) => current = actual,
            }
        }
    }
}

/// Bytes of the global memory budget held by one in-flight request; released on drop.
#[derive(Debug)]
pub struct MemoryPermit {
    budget: Arc<Budget>,
    bytes: usize,
}

impl MemoryPermit {
    /// Bytes this permit holds.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for MemoryPermit {
    fn drop(&mut self) {
        self.budget.in_flight.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// A flush's working memory, held in the budget while it runs.
#[derive(Debug)]
pub struct FlushHold {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Drop for FlushHold {
    fn drop(&mut self) {
        self.budget.flushing.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// The budget on `/metrics`, read at each scrape: `osprey_memory_admission_limit_bytes` (the
/// limit) and `osprey_memory_accounted_bytes{part}`, so that the process's resident memory can be
/// held against what the budget accounts for.
impl Collector for Budget {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let limit = encoder.encode_descriptor(
            "osprey_memory_admission_limit_bytes",
            "Bytes the parts of osprey_memory_accounted_bytes may hold together: storage.memory_budget_bytes \
             minus its headroom",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(i64::try_from(self.limit).unwrap_or(i64::MAX)).encode(limit)?;
        let mut used = encoder.encode_descriptor(
            "osprey_memory_accounted_bytes",
            "Bytes held in the memory budget: requests in flight, memtables, derived state kept between \
             flushes, the running flush's working memory",
            None,
            MetricType::Gauge,
        )?;
        let parts = [
            ("requests", self.in_flight()),
            ("memtables", self.memtable()),
            ("derived", self.derived()),
            ("flush", self.flushing()),
        ];
        for (part, bytes) in parts {
            let labels: Labels = vec![("part", part)];
            ConstGauge::new(i64::try_from(bytes).unwrap_or(i64::MAX)).encode(used.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
