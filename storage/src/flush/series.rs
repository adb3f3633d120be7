//! A metrics flush copies each point's attributes from the first row of its series.
//!
//! A hipstershop point carries ~1 KB of attribute text (its own attributes and its resource's),
//! and a flush writes rows sorted by series and time, so consecutive rows come from different
//! batches: the gather copied each row's text from memory no cache held (BENCHMARKS.md, issue
//! 5). Every point of a series has the same attribute columns, so the flush first finds, batch by
//! batch in memory order, the first row of each series (the `series` hash, confirmed by comparing
//! the attribute columns themselves, so a hash collision cannot mix two series), and the gather
//! then copies those columns from that row: the same few rows over and over, from the cache.
//! Finding the first rows reads every row's attributes once, in memory order, and compares them
//! with rows the cache holds. Hipstershop through the server: 1.055× the points per CPU-second.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, MapArray, RecordBatch, StringArray, UInt64Array};

use crate::error::{Result, StorageError};
use crate::metric_points::col;

/// The columns every point of a series has in common (besides its metric name and service,
/// which are sort columns and cheap to copy).
pub(crate) const SERIES_COLUMNS: [&str; 4] =
    [col::ATTRIBUTES, col::ATTRIBUTE_TYPES, col::RESOURCE_ATTRIBUTES, col::RESOURCE_ATTRIBUTE_TYPES];

/// For each row of each batch, the `(batch, row)` address of the first row of its series.
pub(crate) struct SeriesRows {
    firsts: Vec<Vec<(usize, usize)>>,
}

impl SeriesRows {
    /// Finds the first row of each series among `batches` (metrics, physical schema).
    pub(crate) fn find(batches: &[RecordBatch]) -> Result<Self> {
        let views = batches.iter().map(SeriesView::of).collect::<Result<Vec<_>>>()?;
        let mut known: HashMap<u64, Vec<(usize, usize)>> = HashMap::new();
        let mut firsts = Vec::with_capacity(views.len());
        for (b, view) in views.iter().enumerate() {
            let mut rows = Vec::with_capacity(view.series.len());
            for (r, key) in view.series.values().iter().enumerate() {
                let candidates = known.entry(*key).or_default();
                let first =
                    candidates.iter().copied().find(|&(fb, fr)| views.get(fb).is_some_and(|v| v.same(fr, view, r)));
                let first = first.unwrap_or_else(|| {
                    candidates.push((b, r));
                    (b, r)
                });
                rows.push(first);
            }
            firsts.push(rows);
        }
        Ok(Self { firsts })
    }

    /// The first row of the series of the row at `(batch, row)`.
    pub(crate) fn first_of(&self, (batch, row): (usize, usize)) -> Result<(usize, usize)> {
        self.firsts
            .get(batch)
            .and_then(|rows| rows.get(row))
            .copied()
            .ok_or_else(|| StorageError::Internal(format!("series address ({batch}, {row}) out of range")))
    }
}

/// The columns of one batch that identify a series.
struct SeriesView<'a> {
    series: &'a UInt64Array,
    maps: [&'a MapArray; 2],
    types: [&'a StringArray; 2],
}

impl<'a> SeriesView<'a> {
    fn of(batch: &'a RecordBatch) -> Result<Self> {
        let column = |name: &str| {
            batch.column_by_name(name).ok_or_else(|| StorageError::Internal(format!("metrics batch has no {name}")))
        };
        let map = |name: &str| {
            column(name)?.as_map_opt().ok_or_else(|| StorageError::Internal(format!("{name} is not a map")))
        };
        let string = |name: &str| {
            column(name)?.as_string_opt::<i32>().ok_or_else(|| StorageError::Internal(format!("{name} is not text")))
        };
        let series = column(col::SERIES)?
            .as_primitive_opt()
            .ok_or_else(|| StorageError::Internal("series is not a u64".into()))?;
        Ok(Self {
            series,
            maps: [map(col::ATTRIBUTES)?, map(col::RESOURCE_ATTRIBUTES)?],
            types: [string(col::ATTRIBUTE_TYPES)?, string(col::RESOURCE_ATTRIBUTE_TYPES)?],
        })
    }

    /// Whether row `row` here and row `other_row` of `other` have equal series columns.
    fn same(&self, row: usize, other: &SeriesView<'_>, other_row: usize) -> bool {
        self.types.iter().zip(&other.types).all(|(a, b)| same_text(a, row, b, other_row))
            && self.maps.iter().zip(&other.maps).all(|(a, b)| same_map(a, row, b, other_row))
    }
}

fn same_text(a: &StringArray, i: usize, b: &StringArray, j: usize) -> bool {
    same_strings(a, i, b, j, 1)
}

/// Whether the `n` strings of `a` from `i` equal those of `b` from `j`: their bytes compared at once.
fn same_strings(a: &StringArray, i: usize, b: &StringArray, j: usize, n: usize) -> bool {
    let (Some(a_offsets), Some(b_offsets)) = (a.value_offsets().get(i..=i + n), b.value_offsets().get(j..=j + n))
    else {
        return false;
    };
    let (a0, b0) = (a_offsets[0], b_offsets[0]);
    let (a_bytes, b_bytes) =
        (a.values().get(a0 as usize..a_offsets[n] as usize), b.values().get(b0 as usize..b_offsets[n] as usize));
    a_offsets.iter().zip(b_offsets).all(|(x, y)| x - a0 == y - b0)
        && a_bytes.is_some()
        && a_bytes == b_bytes
        && ((a.null_count() == 0 && b.null_count() == 0) || (0..n).all(|k| a.is_valid(i + k) == b.is_valid(j + k)))
}

fn same_map(a: &MapArray, i: usize, b: &MapArray, j: usize) -> bool {
    let (Some(a_range), Some(b_range)) = (a.value_offsets().get(i..=i + 1), b.value_offsets().get(j..=j + 1)) else {
        return false;
    };
    let (start, n) = (a_range[0] as usize, (a_range[1] - a_range[0]) as usize);
    if a.is_valid(i) != b.is_valid(j) || b_range[1] - b_range[0] != a_range[1] - a_range[0] {
        return false;
    }
    let (a_entries, b_entries) = (a.entries(), b.entries());
    a_entries.num_columns() == b_entries.num_columns()
        && (0..a_entries.num_columns()).all(|c| {
            match (a_entries.column(c).as_string_opt::<i32>(), b_entries.column(c).as_string_opt::<i32>()) {
                (Some(x), Some(y)) => same_strings(x, start, y, b_range[0] as usize, n),
                _ => false,
            }
        })
}

#[cfg(test)]
mod tests;
