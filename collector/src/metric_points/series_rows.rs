//! Series rows kept across requests. The points of one series carry the same attributes in
//! every request (hipstershop: 66,816 points of 1,239 series a request), and reading, checking,
//! limiting, rendering and hashing them was the largest part of converting a point. A point
//! whose attribute fields lie together in its encoding ([`super::messages::PointFields`]) looks
//! its row up by those bytes and its scope's series prefix, and only a row not kept yet is made.
//!
//! A row is a pure function of what it is keyed by: the same bytes are read, checked and limited
//! the same way every time (a point's attributes are always at the same nesting depth), under the
//! same limits (a set of rows serves one `LimitsConfig`, and is emptied for another), and the
//! series key continues the prefix over the same attributes. So a kept row is exactly the row the
//! point would make, with the limit counts it would add (`equivalence` tests convert with rows
//! kept from earlier requests). Sets are pooled: a conversion takes one and gives it back, so
//! there are at most as many as conversions run at once, each bounded by [`MAX_ROWS`] and
//! [`MAX_BYTES`] (emptied past them), outside the memory budget.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;

use osprey_storage::metric_points::SeriesRow;

use crate::config::LimitsConfig;
use crate::limits::{LimitCounts, Limiter};
use crate::wire::WireError;

/// Rows a set keeps at most…
pub const MAX_ROWS: usize = 16 << 10;
/// …and bytes (keys and rows).
pub const MAX_BYTES: usize = 4 << 20;
/// Sets kept in the pool for the next conversions.
const POOLED: usize = 8;
/// Lookups a set counts its hits over; with fewer than a quarter of them hits (more series than
/// a set keeps, as a scrape of 50,000 series, or series that do not come back), it keeps nothing
/// for the next [`BYPASS`] points, which are converted directly, then starts afresh.
const WINDOW: u32 = 4096;
const BYPASS: u32 = 16 * WINDOW;

static POOL: Mutex<Vec<SeriesRows>> = Mutex::new(Vec::new());

/// Series rows made under one set of limits.
pub struct SeriesRows {
    limits: LimitsConfig,
    state: foldhash::fast::RandomState,
    /// By hash of (series prefix, encoded attributes).
    rows: HashMap<u64, Vec<Kept>, foldhash::fast::RandomState>,
    count: usize,
    bytes: usize,
    lookups: u32,
    hits: u32,
    /// Points left to convert directly.
    bypass: u32,
    /// Rows made (for the tests).
    made: u64,
}

struct Kept {
    prefix: u64,
    encoded: Box<[u8]>,
    row: SeriesRow,
    /// What limiting the attributes counted.
    counts: LimitCounts,
}

impl SeriesRows {
    pub(super) fn new(limits: &LimitsConfig) -> Self {
        Self {
            limits: limits.clone(),
            state: Default::default(),
            rows: Default::default(),
            count: 0,
            bytes: 0,
            lookups: 0,
            hits: 0,
            bypass: 0,
            made: 0,
        }
    }

    /// A set for conversions under `limits`, from the pool if one is there; given back when
    /// dropped.
    pub fn take(limits: &LimitsConfig) -> Pooled {
        let mut pool = POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let rows = match pool.iter().rposition(|r| r.limits == *limits) {
            Some(i) => pool.swap_remove(i),
            None => pool.pop().map(|r| r.reset(limits)).unwrap_or_else(|| Self::new(limits)),
        };
        Pooled(rows)
    }

    fn reset(mut self, limits: &LimitsConfig) -> Self {
        self.clear();
        self.limits = limits.clone();
        self
    }

    fn clear(&mut self) {
        self.rows.clear();
        (self.count, self.bytes) = (0, 0);
    }

    /// The row of a point whose attributes are `encoded` under a scope of series prefix
    /// `prefix`: kept, with its limit counts added to `limiter`'s, or made by `make` (which limits
    /// with `limiter`) and kept. `None`: the point is to be converted directly (its attributes do
    /// not lie together, or this set is keeping nothing for now).
    pub fn row<'r>(
        &'r mut self,
        prefix: u64,
        encoded: Option<&[u8]>,
        limiter: &mut Limiter<'_>,
        make: impl FnOnce(&mut Limiter<'_>) -> Result<SeriesRow, WireError>,
    ) -> Result<Option<&'r SeriesRow>, WireError> {
        let Some(encoded) = encoded else { return Ok(None) };
        if self.bypass > 0 {
            self.bypass -= 1;
            return Ok(None);
        }
        self.lookups += 1;
        if self.lookups == WINDOW {
            let rare = self.hits < WINDOW / 4;
            (self.lookups, self.hits) = (0, 0);
            if rare {
                self.clear();
                self.bypass = BYPASS;
                return Ok(None);
            }
        }
        let hash = self.state.hash_one((prefix, encoded));
        let found =
            self.rows.get(&hash).and_then(|b| b.iter().position(|k| k.prefix == prefix && *k.encoded == *encoded));
        if let Some(i) = found {
            self.hits += 1;
            let kept = &self.rows[&hash][i];
            limiter.counts += kept.counts;
            return Ok(Some(&kept.row));
        }
        let before = limiter.counts;
        let row = make(limiter)?;
        self.made += 1;
        let counts = limiter.counts.since(before);
        let bytes = encoded.len() + row.bytes() + std::mem::size_of::<Kept>();
        if self.count >= MAX_ROWS || self.bytes + bytes > MAX_BYTES {
            self.clear();
        }
        (self.count, self.bytes) = (self.count + 1, self.bytes + bytes);
        let bucket = self.rows.entry(hash).or_default();
        bucket.push(Kept { prefix, encoded: encoded.into(), row, counts });
        Ok(bucket.last().map(|kept| &kept.row))
    }
}

/// A set taken from the pool, given back when dropped.
pub struct Pooled(SeriesRows);

impl std::ops::Deref for Pooled {
    type Target = SeriesRows;

    fn deref(&self) -> &SeriesRows {
        &self.0
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut SeriesRows {
        &mut self.0
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let rows = std::mem::replace(&mut self.0, SeriesRows::new(&LimitsConfig::default()));
        let mut pool = POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if pool.len() < POOLED {
            pool.push(rows);
        }
    }
}

#[cfg(test)]
mod tests;
