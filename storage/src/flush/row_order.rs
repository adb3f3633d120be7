//! The order a flush writes rows in — by hour partition, then by the table's sort columns —
//! computed without copying the rows themselves.
//!
//! Concatenating and `take`-sorting a frozen memtable costs two more copies of it while the
//! flush runs (a 256 MiB memtable became ~770 MiB of transient memory, over the memory budget;
//! see BENCHMARKS.md). Instead only the sort keys are gathered (the hour of each row and the
//! sort columns: ~60 bytes a span against ~1.2 kB for the row), sorted to a list of
//! `(batch, row)` addresses per hour, and the file writer gathers rows from the original
//! batches one slice at a time ([`arrow::compute::interleave_record_batch`]).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch};
use arrow::compute::{concat, lexsort_to_indices, SortColumn};
use arrow::datatypes::TimestampNanosecondType;

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
/// each sorted by the table's sort columns; ties keep arrival order (the sort is stable).
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
    let hours = Int64Array::from(hours);
    let mut keys = vec![SortColumn { values: Arc::new(hours.clone()) as ArrayRef, options: None }];
    for name in table.sort_columns() {
        let parts = batches
            .iter()
            .map(|b| {
                b.column_by_name(name)
                    .map(|c| c.as_ref())
                    .ok_or_else(|| StorageError::Internal(format!("sort column {name} missing")))
            })
            .collect::<Result<Vec<&dyn Array>>>()?;
        keys.push(SortColumn { values: concat(&parts)?, options: None });
    }
    let indices = lexsort_to_indices(&keys, None)?;
    drop(keys);

    let mut out: Vec<HourRows> = Vec::new();
    for index in indices.values() {
        let i = *index as usize;
        let (Some(hour), Some(address)) = (hours.values().get(i), addresses.get(i)) else {
            return Err(StorageError::Internal("sort index out of range".into()));
        };
        match out.last_mut() {
            Some(last) if last.hour == *hour => last.rows.push(*address),
            _ => out.push(HourRows { hour: *hour, rows: vec![*address] }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
