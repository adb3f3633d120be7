//! The series of a metrics flush, and where each file stores their columns.
//!
//! A hipstershop point carries ~1 KB of attribute text (its own attributes and its resource's),
//! the same for every point of its series. A file stores it once per series
//! ([`crate::metric_points::file_schema`]): on the series' first row in the file, its *holder*
//! ([`Holders`]). The flush first finds, batch by batch in memory order, the first row of each
//! series (the `series` hash, confirmed by comparing the attribute columns themselves, so a
//! hash collision cannot mix two series: [`SeriesRows`]); a holder's columns are copied from
//! that row. Before, every row's text was copied (session 14 made that copy come from the
//! series' first row, which the cache holds: 1.055×), and the Parquet writer hashed ~40 strings
//! a point for its dictionaries; storing it once made hipstershop ~1.3× (BENCHMARKS.md, issue 5,
//! session 17).

use std::collections::hash_map::Entry;

use arrow::array::{Array, AsArray, MapArray, RecordBatch, StringArray, UInt32Array, UInt64Array};
use foldhash::HashMap;

use crate::error::{Result, StorageError};
use crate::metric_points::col;

/// For each row of each batch, the `(batch, row)` address of the first row of its series.
pub(crate) struct SeriesRows {
    firsts: Vec<Vec<(usize, usize)>>,
}

impl SeriesRows {
    /// Finds the first row of each series among `batches` (metrics, physical schema).
    pub(crate) fn find(batches: &[RecordBatch]) -> Result<Self> {
        let views = batches.iter().map(SeriesView::of).collect::<Result<Vec<_>>>()?;
        let mut known: HashMap<u64, Vec<(usize, usize)>> = HashMap::default();
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

/// Where a file being written puts the series columns: on the first row of each series in the
/// file (its *holder*), NULL on the series' other rows, every row naming its holder in
/// `series_row` ([`crate::metric_points::file_schema`]).
#[derive(Debug, Default)]
pub(crate) struct Holders {
    /// The file row holding each series, by the address of the series' first row in memory.
    rows: HashMap<(usize, usize), u32>,
    /// Rows of the file placed so far.
    placed: u32,
}

/// The next slice of a file's rows, placed.
#[derive(Debug)]
pub(crate) struct Placement {
    /// For each row, the address to copy the series columns from if the row holds them.
    pub(crate) holders: Vec<Option<(usize, usize)>>,
    /// For each row, the file row holding its series columns.
    pub(crate) series_row: UInt32Array,
}

impl Holders {
    /// Places the next `slice` of the file's rows (addresses in memory), given their series.
    pub(crate) fn place(&mut self, series: &SeriesRows, slice: &[(usize, usize)]) -> Result<Placement> {
        let mut holders = Vec::with_capacity(slice.len());
        let mut rows = Vec::with_capacity(slice.len());
        for &address in slice {
            let first = series.first_of(address)?;
            let row = self.placed;
            self.placed = row
                .checked_add(1)
                .ok_or_else(|| StorageError::Internal("a metrics file of more than 2^32 rows".into()))?;
            match self.rows.entry(first) {
                Entry::Occupied(holder) => {
                    rows.push(*holder.get());
                    holders.push(None);
                }
                Entry::Vacant(vacant) => {
                    vacant.insert(row);
                    rows.push(row);
                    holders.push(Some(first));
                }
            }
        }
        Ok(Placement { holders, series_row: UInt32Array::from(rows) })
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
