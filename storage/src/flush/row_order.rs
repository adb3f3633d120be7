//! The order a flush writes rows in — by hour partition, then by the table's sort columns —
//! computed without copying the rows themselves.
//!
//! Concatenating and `take`-sorting a frozen memtable costs two more copies of it while the
//! flush runs (a 256 MiB memtable became ~770 MiB of transient memory, over the memory budget;
//! see BENCHMARKS.md). Instead only the sort keys are gathered, sorted to a list of
//! `(batch, row)` addresses per hour, and the file writer gathers rows from the original
//! batches one slice at a time ([`arrow::compute::interleave_record_batch`]).
//!
//! Each key column becomes one order-preserving `u64` per row ([`ordinals`]): integers and
//! times by value, strings by their rank among the column's distinct values. The rows are then
//! sorted as fixed-size arrays of those numbers, with the arrival position last, so ties keep
//! arrival order. Comparing strings through arrow's dynamic comparator was 7 % of the server's
//! CPU in a metrics ingest (BENCHMARKS.md, issue 5); a string column there has a few dozen
//! distinct values, ranked once. A key column this cannot encode (one with nulls, or of
//! another type) falls back to arrow's comparators.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch};
use arrow::compute::{concat, LexicographicalComparator, SortColumn};
use arrow::datatypes::{DataType, Int32Type, Int64Type, TimeUnit, TimestampNanosecondType, UInt32Type, UInt64Type};

use crate::error::{Result, StorageError};
use crate::Table;

pub(crate) const NANOS_PER_HOUR: i64 = 3_600_000_000_000;

/// The rows of one hour partition, in write order, as `(batch index, row index)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourRows {
    /// Hours since the epoch.
    pub hour: i64,
    pub rows: Vec<(usize, usize)>,
}

/// The write order of `batches` (all in `table`'s physical schema): hour partitions ascending,
/// each sorted by the table's sort columns; ties keep arrival order.
pub fn row_order(table: Table, batches: &[RecordBatch]) -> Result<Vec<HourRows>> {
    let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if total == 0 {
        return Ok(Vec::new());
    }
    let mut hours = Vec::with_capacity(total);
    let mut addresses = Vec::with_capacity(total);
    for (b, batch) in batches.iter().enumerate() {
        let times = batch
            .column_by_name(table.time_column())
            .and_then(|c| c.as_primitive_opt::<TimestampNanosecondType>())
            .ok_or_else(|| StorageError::Internal(format!("{} batch has no time column", table.name())))?;
        hours.extend(times.values().iter().map(|t| t.div_euclid(NANOS_PER_HOUR)));
        addresses.extend((0..batch.num_rows()).map(|r| (b, r)));
    }
    let mut columns = Vec::with_capacity(table.sort_columns().len());
    for name in table.sort_columns() {
        let parts = batches
            .iter()
            .map(|b| {
                b.column_by_name(name)
                    .map(|c| c.as_ref())
                    .ok_or_else(|| StorageError::Internal(format!("sort column {name} missing")))
            })
            .collect::<Result<Vec<&dyn Array>>>()?;
        columns.push(parts);
    }
    let indices = match packed_order(&hours, &columns) {
        Some(indices) => indices,
        None => lexsorted(&hours, &columns)?,
    };

    let mut out: Vec<HourRows> = Vec::new();
    for i in indices {
        let (Some(hour), Some(address)) = (hours.get(i), addresses.get(i)) else {
            return Err(StorageError::Internal("sort index out of range".into()));
        };
        match out.last_mut() {
            Some(last) if last.hour == *hour => last.rows.push(*address),
            _ => out.push(HourRows { hour: *hour, rows: vec![*address] }),
        }
    }
    Ok(out)
}

/// Row positions sorted by `(hour, columns…, position)`, if every column has an ordinal form.
fn packed_order(hours: &[i64], columns: &[Vec<&dyn Array>]) -> Option<Vec<usize>> {
    let mut keys = vec![hours.iter().map(|h| signed(*h)).collect::<Vec<u64>>()];
    for parts in columns {
        keys.push(ordinals(parts)?);
    }
    match keys.len() {
        1 => Some(sorted::<1>(&keys)),
        2 => Some(sorted::<2>(&keys)),
        3 => Some(sorted::<3>(&keys)),
        4 => Some(sorted::<4>(&keys)),
        5 => Some(sorted::<5>(&keys)),
        _ => None,
    }
}

/// Sorts positions by `N` key columns, then by position (so the sort is stable).
fn sorted<const N: usize>(keys: &[Vec<u64>]) -> Vec<usize> {
    let rows = keys.first().map_or(0, Vec::len);
    let mut packed: Vec<([u64; N], usize)> = (0..rows)
        .map(|i| {
            let mut key = [0u64; N];
            for (slot, column) in key.iter_mut().zip(keys) {
                *slot = column.get(i).copied().unwrap_or_default();
            }
            (key, i)
        })
        .collect();
    packed.sort_unstable();
    packed.into_iter().map(|(_, i)| i).collect()
}

/// An order-preserving `u64` per row of a column split in parts, or `None` for a column with
/// nulls or of a type without one.
fn ordinals(parts: &[&dyn Array]) -> Option<Vec<u64>> {
    if parts.iter().any(|p| p.null_count() > 0) {
        return None;
    }
    let data_type = parts.first()?.data_type().clone();
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    match data_type {
        DataType::Utf8 => return string_ranks(parts),
        DataType::Int64 | DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            for p in parts {
                let values: &[i64] = match p.data_type() {
                    DataType::Int64 => p.as_primitive_opt::<Int64Type>()?.values(),
                    _ => p.as_primitive_opt::<TimestampNanosecondType>()?.values(),
                };
                out.extend(values.iter().map(|v| signed(*v)));
            }
        }
        DataType::Int32 => {
            for p in parts {
                out.extend(p.as_primitive_opt::<Int32Type>()?.values().iter().map(|v| signed(i64::from(*v))));
            }
        }
        DataType::UInt64 => {
            for p in parts {
                out.extend_from_slice(p.as_primitive_opt::<UInt64Type>()?.values());
            }
        }
        DataType::UInt32 => {
            for p in parts {
                out.extend(p.as_primitive_opt::<UInt32Type>()?.values().iter().map(|v| u64::from(*v)));
            }
        }
        _ => return None,
    }
    Some(out)
}

/// `v` with its sign bit flipped: unsigned order equals signed order.
fn signed(v: i64) -> u64 {
    (v as u64) ^ (1 << 63)
}

/// Each string's rank among the distinct values (byte order, as arrow compares strings).
fn string_ranks(parts: &[&dyn Array]) -> Option<Vec<u64>> {
    let mut ids: HashMap<&str, u32, foldhash::fast::RandomState> = HashMap::default();
    let mut distinct: Vec<&str> = Vec::new();
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        let strings = p.as_string_opt::<i32>()?;
        let mut last: Option<(&str, u64)> = None;
        for value in strings.iter() {
            let value = value?;
            let id = match last {
                // Rows of one request often repeat a value: skip the hash for a run.
                Some((previous, id)) if previous == value => id,
                _ => {
                    let next = u32::try_from(distinct.len()).ok()?;
                    let id = *ids.entry(value).or_insert_with(|| {
                        distinct.push(value);
                        next
                    });
                    u64::from(id)
                }
            };
            last = Some((value, id));
            out.push(id);
        }
    }
    let mut by_value: Vec<u32> = (0..u32::try_from(distinct.len()).ok()?).collect();
    by_value.sort_unstable_by_key(|id| distinct.get(*id as usize).copied().unwrap_or_default());
    let mut rank = vec![0u64; distinct.len()];
    for (r, id) in by_value.iter().enumerate() {
        if let Some(slot) = rank.get_mut(*id as usize) {
            *slot = r as u64;
        }
    }
    for id in out.iter_mut() {
        *id = rank.get(*id as usize).copied().unwrap_or_default();
    }
    Some(out)
}

/// Row positions sorted by arrow's comparators (any column type), ties in arrival order.
fn lexsorted(hours: &[i64], columns: &[Vec<&dyn Array>]) -> Result<Vec<usize>> {
    let mut keys = vec![SortColumn { values: Arc::new(Int64Array::from(hours.to_vec())) as ArrayRef, options: None }];
    for parts in columns {
        keys.push(SortColumn { values: concat(parts)?, options: None });
    }
    let comparator = LexicographicalComparator::try_new(&keys)?;
    let mut indices: Vec<usize> = (0..hours.len()).collect();
    indices.sort_by(|a, b| comparator.compare(*a, *b));
    Ok(indices)
}

#[cfg(test)]
mod tests;
