//! Rows gathered from many batches into one, by `(batch, row)` address: how a flush builds each
//! slice it hands the Parquet writer, and how a memtable coalesces small batches.
//!
//! arrow's `interleave` copies a map column entry by entry: it lists every entry of every row
//! as an address of its own, then copies each key and each value string with its own call (~34
//! calls for a hipstershop metrics point, ~20 for a span). A row's entries are side by side in
//! its batch, so [`interleave`] copies a map of strings a row at a time: one copy of the row's
//! key bytes, one of its value bytes, and its offsets shifted. Every other column goes through
//! arrow's `interleave`. Spans ingest went 1.06–1.09× faster; a hipstershop metrics flush, whose
//! gather waits on memory (each row comes from another batch) more than on calls, did not
//! measurably change (BENCHMARKS.md, issue 5, session 13). What did: a metrics file stores the
//! attribute columns once per series ([`SeriesSources`]), so they are copied from the first row
//! of each series only (module `series`), and are NULL elsewhere. A column whose every source holds only nulls or only empty lists (a gauge
//! leaves the 14 columns of the other point types null and has no exemplars) is built at once:
//! hipstershop metrics 1.045× the points per CPU-second, spans 1.025× (session 15).

use std::sync::Arc;

use arrow::array::{
    new_empty_array, new_null_array, Array, ArrayRef, AsArray, BooleanBufferBuilder, ListArray, MapArray, RecordBatch,
    StringArray, StructArray, UInt32Array,
};
use arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::compute::{concat_batches, take};
use arrow::datatypes::{DataType, FieldRef, Fields};

use super::series::Placement;
use crate::error::{Result, StorageError};
use crate::metric_points::{col, SERIES_COLUMNS};

/// Runs at least this long on average are copied as slices ([`gather`]).
const MIN_MEAN_RUN_ROWS: usize = 8;

/// Rows gathered from `sources` by `(batch, row)` address. Where the rows come in runs of
/// consecutive rows of one batch (the memtable coalesces small batches in sorted order, so a
/// series' rows of one coalesced batch are side by side), the runs are copied as slices;
/// otherwise row by row ([`interleave`]).
pub(crate) fn gather(sources: &[&RecordBatch], rows: &[(usize, usize)]) -> Result<RecordBatch> {
    let mut runs: Vec<(usize, usize, usize)> = Vec::new();
    for &(batch, row) in rows {
        if sources.get(batch).is_none_or(|b| row >= b.num_rows()) {
            return Err(StorageError::Internal(format!("gather address ({batch}, {row}) out of range")));
        }
        match runs.last_mut() {
            Some((b, start, len)) if *b == batch && *start + *len == row => *len += 1,
            _ => runs.push((batch, row, 1)),
        }
    }
    let (Some(first), true) = (sources.first(), rows.len() >= MIN_MEAN_RUN_ROWS * runs.len()) else {
        // Every address was checked above.
        return interleave_checked(sources, rows);
    };
    let mut slices = Vec::with_capacity(runs.len());
    for (batch, start, len) in runs {
        if let Some(source) = sources.get(batch) {
            slices.push(source.slice(start, len));
        }
    }
    Ok(concat_batches(first.schema_ref(), &slices)?)
}

/// A metrics flush's batches, split into the columns a file stores on every row and the
/// [`SERIES_COLUMNS`], which it stores once per series.
pub(crate) struct SeriesSources {
    own: Vec<RecordBatch>,
    shared: Vec<RecordBatch>,
}

impl SeriesSources {
    /// `sources` in the physical schema of `metrics`.
    pub(crate) fn split(sources: &[&RecordBatch]) -> Result<Self> {
        let schema = crate::metric_points::schema();
        let (shared, own): (Vec<usize>, Vec<usize>) =
            (0..schema.fields().len()).partition(|&i| SERIES_COLUMNS.contains(&schema.field(i).name().as_str()));
        let project = |indices: &[usize]| -> Result<Vec<RecordBatch>> {
            Ok(sources.iter().map(|b| b.project(indices)).collect::<std::result::Result<_, _>>()?)
        };
        Ok(Self { own: project(&own)?, shared: project(&shared)? })
    }

    /// The rows at `rows` in the file schema of `metrics`: the series columns only on the rows
    /// `placement` makes holders (copied from the address it gives), NULL on the others.
    pub(crate) fn gather(&self, rows: &[(usize, usize)], placement: &Placement) -> Result<RecordBatch> {
        if placement.holders.len() != rows.len() || placement.series_row.len() != rows.len() {
            return Err(StorageError::Internal("a placement of another slice".into()));
        }
        let own = gather(&self.own.iter().collect::<Vec<_>>(), rows)?;
        let holders: Vec<(usize, usize)> = placement.holders.iter().flatten().copied().collect();
        let held = interleave(&self.shared.iter().collect::<Vec<_>>(), &holders)?;
        let mut next = 0u32;
        let picks: UInt32Array = placement
            .holders
            .iter()
            .map(|holder| {
                holder.map(|_| {
                    next += 1;
                    next - 1
                })
            })
            .collect();
        let schema = crate::metric_points::file_schema();
        let mut columns = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let name = field.name().as_str();
            let column = match (held.column_by_name(name), own.column_by_name(name)) {
                _ if name == col::SERIES_ROW => Arc::new(placement.series_row.clone()) as ArrayRef,
                (Some(held), _) => take(held, &picks, None)?,
                (None, Some(own)) => Arc::clone(own),
                (None, None) => return Err(StorageError::Internal(format!("gather: no column {name}"))),
            };
            columns.push(column);
        }
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}

/// Rows gathered from `sources` (all of one schema) row by row, in the order of `rows`: what
/// arrow's `interleave_record_batch` gives, with maps of strings copied a row at a time.
pub(crate) fn interleave(sources: &[&RecordBatch], rows: &[(usize, usize)]) -> Result<RecordBatch> {
    if let Some(&(b, row)) = rows.iter().find(|&&(b, row)| sources.get(b).is_none_or(|s| row >= s.num_rows())) {
        return Err(StorageError::Internal(format!("gather address ({b}, {row}) out of range")));
    }
    interleave_checked(sources, rows)
}

/// [`interleave`] of addresses already checked to be in range.
fn interleave_checked(sources: &[&RecordBatch], rows: &[(usize, usize)]) -> Result<RecordBatch> {
    let Some(first) = sources.first() else {
        return Err(StorageError::Internal("gather from no batches".into()));
    };
    let schema = first.schema();
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (i, field) in schema.fields().iter().enumerate() {
        let arrays =
            sources.iter().map(|b| b.columns().get(i).map(|c| c.as_ref())).collect::<Option<Vec<&dyn Array>>>();
        let Some(arrays) = arrays else {
            return Err(StorageError::Internal(format!("gather: a batch has no column {}", field.name())));
        };
        let column = if let Some(column) = uniform(field.data_type(), &arrays, rows.len()) {
            column
        } else if let Some((entries, ordered, maps)) = string_maps(field.data_type(), &arrays) {
            interleave_string_maps(&maps, rows, entries, ordered)?
        } else {
            arrow::compute::interleave(&arrays, rows)?
        };
        columns.push(column);
    }
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// `rows` rows of a column whose every source holds only nulls, or only empty lists and no
/// null: every row gathered is the same, so the column is built at once instead of row by row.
/// A metrics point leaves the 14 columns of the other point types null and most have no
/// exemplars; most spans have no links, and many no events.
fn uniform(data_type: &DataType, arrays: &[&dyn Array], rows: usize) -> Option<ArrayRef> {
    if arrays.iter().all(|a| a.null_count() == a.len()) {
        return Some(new_null_array(data_type, rows));
    }
    let DataType::List(item) = data_type else {
        return None;
    };
    let empty = |a: &&dyn Array| a.null_count() == 0 && a.as_list_opt::<i32>().is_some_and(|l| l.values().is_empty());
    arrays.iter().all(empty).then(|| {
        let lists =
            ListArray::new(Arc::clone(item), OffsetBuffer::new_zeroed(rows), new_empty_array(item.data_type()), None);
        Arc::new(lists) as ArrayRef
    })
}

/// The arrays as maps, when they are maps of `Utf8` keys to `Utf8` values without null entries
/// (the shape of every attributes column): the entries field, whether keys are sorted, and the maps.
fn string_maps<'a>(data_type: &DataType, arrays: &[&'a dyn Array]) -> Option<(&'a FieldRef, bool, Vec<&'a MapArray>)> {
    let DataType::Map(_, ordered) = data_type else {
        return None;
    };
    let maps = arrays.iter().map(|a| a.as_map_opt()).collect::<Option<Vec<&MapArray>>>()?;
    let first: &'a MapArray = maps.first()?;
    let DataType::Map(entries, _) = first.data_type() else {
        return None;
    };
    let strings = |entries: &StructArray| {
        entries.nulls().is_none()
            && entries.num_columns() == 2
            && entries.columns().iter().all(|c| c.data_type() == &DataType::Utf8)
            && entries.column(0).null_count() == 0
    };
    maps.iter().all(|m| strings(m.entries())).then_some((entries, *ordered, maps))
}

/// The map rows at `rows`, copying each row's key bytes and value bytes at once.
fn interleave_string_maps(
    maps: &[&MapArray],
    rows: &[(usize, usize)],
    entries_field: &FieldRef,
    ordered: bool,
) -> Result<ArrayRef> {
    // The output's sizes first, so its buffers are allocated once instead of grown (and copied).
    let mut ranges = Vec::with_capacity(rows.len());
    let (mut entries, mut key_bytes, mut value_bytes) = (0usize, 0usize, 0usize);
    for &(b, row) in rows {
        let Some(map) = maps.get(b).filter(|m| row < m.len()) else {
            return Err(StorageError::Internal(format!("gather address ({b}, {row}) out of range")));
        };
        let offsets = map.value_offsets();
        let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
        let bytes = |column: usize| {
            let o = map.entries().column(column).as_string::<i32>().value_offsets();
            o.get(end).zip(o.get(start)).map_or(0, |(e, s)| (e - s) as usize)
        };
        (entries, key_bytes, value_bytes) = (entries + end - start, key_bytes + bytes(0), value_bytes + bytes(1));
        ranges.push((map, row, start, end));
    }
    let mut map_offsets = Vec::with_capacity(rows.len() + 1);
    map_offsets.push(0i32);
    let mut map_valid = maps.iter().any(|m| m.nulls().is_some()).then(|| BooleanBufferBuilder::new(rows.len()));
    let mut keys = StringsOut::with_capacity(entries, key_bytes);
    let mut values = StringsOut::with_capacity(entries, value_bytes);
    if maps.iter().any(|m| m.entries().column(1).null_count() > 0) {
        values.valid = Some(BooleanBufferBuilder::new(entries));
    }
    for (map, row, start, end) in ranges {
        keys.extend(map.entries().column(0).as_string::<i32>(), start, end)?;
        values.extend(map.entries().column(1).as_string::<i32>(), start, end)?;
        map_offsets.push(offset(keys.offsets.len() - 1)?);
        if let Some(valid) = map_valid.as_mut() {
            valid.append(map.is_valid(row));
        }
    }
    let DataType::Struct(fields) = entries_field.data_type() else {
        return Err(StorageError::Internal("map entries are not a struct".into()));
    };
    let entries = StructArray::try_new(Fields::clone(fields), vec![keys.finish()?, values.finish()?], None)?;
    let nulls = map_valid.map(|mut v| NullBuffer::new(v.finish()));
    let map = MapArray::try_new(
        Arc::clone(entries_field),
        OffsetBuffer::new(ScalarBuffer::from(map_offsets)),
        entries,
        nulls,
        ordered,
    )?;
    Ok(Arc::new(map))
}

/// A string column being built from ranges of other string columns.
struct StringsOut {
    offsets: Vec<i32>,
    bytes: Vec<u8>,
    valid: Option<BooleanBufferBuilder>,
}

impl StringsOut {
    fn with_capacity(strings: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(strings + 1);
        offsets.push(0);
        Self { offsets, bytes: Vec::with_capacity(bytes), valid: None }
    }

    /// Appends the strings `start..end` of `from`: their bytes in one copy.
    fn extend(&mut self, from: &StringArray, start: usize, end: usize) -> Result<()> {
        let offsets = from.value_offsets();
        let (Some(&first), Some(&last)) = (offsets.get(start), offsets.get(end)) else {
            return Err(StorageError::Internal(format!("map entries {start}..{end} out of range")));
        };
        let base = offset(self.bytes.len())?;
        let (first_byte, last_byte) = (first as usize, last as usize);
        let Some(bytes) = from.values().get(first_byte..last_byte) else {
            return Err(StorageError::Internal("string offsets past their buffer".into()));
        };
        self.bytes.extend_from_slice(bytes);
        offset(self.bytes.len())?;
        self.offsets.extend(offsets[start + 1..=end].iter().map(|o| o - first + base));
        if let Some(valid) = self.valid.as_mut() {
            match from.nulls() {
                Some(nulls) => (start..end).for_each(|i| valid.append(nulls.is_valid(i))),
                None => valid.append_n(end - start, true),
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<ArrayRef> {
        let nulls = self.valid.map(|mut v| NullBuffer::new(v.finish()));
        let offsets = OffsetBuffer::new(ScalarBuffer::from(self.offsets));
        Ok(Arc::new(StringArray::try_new(offsets, Buffer::from_vec(self.bytes), nulls)?))
    }
}

/// `n` as an Arrow `i32` offset.
fn offset(n: usize) -> Result<i32> {
    i32::try_from(n).map_err(|_| StorageError::Internal(format!("gathered column of {n} bytes overflows i32 offsets")))
}

#[cfg(test)]
mod tests;
