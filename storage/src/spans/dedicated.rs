//! Dedicated columns: copies of a few hot semantic-convention span attributes in
//! columns of their own, so that a predicate on one reads a single small column
//! (pruned by Parquet statistics and page indexes) instead of every span's
//! attribute map. Tempo does the same with its "well-known" and dedicated columns.
//!
//! The attribute map stays the truth (the OTLP form is rebuilt from it); a
//! dedicated column is derived from it, row by row, and defined so that it can
//! replace the map lookup in a predicate *without changing any answer*:
//!
//! - a **text** column holds `attributes[key]` exactly (the text form of
//!   [`crate::attributes`], NULL when the key is absent or its value empty), so
//!   `attributes[key] = 'GET'` and `http_request_method = 'GET'` select the same rows;
//! - a **number** column holds `TRY_CAST(attributes[key] AS DOUBLE)`, computed with
//!   the very cast kernel DataFusion evaluates `TRY_CAST` with, so a numeric
//!   comparison on the text gives the same rows as the same comparison on the column.
//!
//! When a span's map holds a key twice (invalid OTLP), the first entry counts, as
//! in DataFusion's map lookup. Files written before these columns existed do not
//! have them; the table provider computes them from the map for such files
//! (`table::legacy_columns`), and WAL frames of older versions get them on replay
//! ([`super::physical::to_physical`]).
//!
//! Which keys: the house plan's list of commonly used keys, minus those whose values
//! are long or nearly unique (`url.path`, `db.statement`), which would cost more bytes
//! on disk than a predicate on them saves. A column costs about the entropy of its
//! values (rows are sorted by trace id, so values come in random order): ~0.15 B/span
//! for a key on most spans, nothing measurable for an absent one. That left out
//! `rpc.service` and `rpc.method` (0.15 B/span each on the astronomy corpus), and of the
//! older (pre-1.21) HTTP conventions all but the status code, to keep the spans within
//! issue 3's bytes-per-span budget; `BENCHMARKS.md` has the figures.

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, MapArray, UInt32Array};
use arrow::datatypes::{DataType, Field};

use crate::error::StorageError;

/// How a dedicated column holds its attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `attributes[key]`, as text (`Utf8`).
    Text,
    /// `TRY_CAST(attributes[key] AS DOUBLE)` (`Float64`).
    Number,
}

impl Form {
    pub fn data_type(self) -> DataType {
        match self {
            Form::Text => DataType::Utf8,
            Form::Number => DataType::Float64,
        }
    }
}

/// One dedicated column: the span attribute it copies, its column name and form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dedicated {
    pub key: &'static str,
    pub column: &'static str,
    pub form: Form,
}

const fn number(key: &'static str, column: &'static str) -> Dedicated {
    Dedicated { key, column, form: Form::Number }
}

const fn text(key: &'static str, column: &'static str) -> Dedicated {
    Dedicated { key, column, form: Form::Text }
}

/// Every dedicated column, in schema order (after the map-based columns).
pub const DEDICATED: [Dedicated; 9] = [
    number("http.response.status_code", "http_response_status_code"),
    number("http.status_code", "http_status_code"),
    text("http.request.method", "http_request_method"),
    text("http.route", "http_route"),
    text("db.system", "db_system"),
    text("messaging.system", "messaging_system"),
    text("peer.service", "peer_service"),
    text("server.address", "server_address"),
    text("error.type", "error_type"),
];

/// The dedicated column of span attribute `key` in `form`, if there is one.
pub fn column_of(key: &str, form: Form) -> Option<&'static str> {
    DEDICATED.iter().find(|d| d.key == key && d.form == form).map(|d| d.column)
}

/// The dedicated column named `column`, if it is one.
pub fn by_column(column: &str) -> Option<&'static Dedicated> {
    DEDICATED.iter().find(|d| d.column == column)
}

/// The Arrow fields of the dedicated columns (all nullable).
pub fn fields() -> Vec<Field> {
    DEDICATED.iter().map(|d| Field::new(d.column, d.form.data_type(), true)).collect()
}

/// The dedicated columns of a batch, computed from its span `attributes` map. Each is
/// gathered from the map's values by index (`take`), so its buffers are exactly as
/// large as its contents: a key no span has costs one zeroed offsets buffer.
pub fn columns(attributes: &MapArray) -> Result<Vec<ArrayRef>, StorageError> {
    let layout = || StorageError::Internal("attribute map is not Map<Utf8, Utf8>".into());
    let keys = attributes.keys().as_string_opt::<i32>().ok_or_else(layout)?;
    let values = attributes.values();
    if values.as_string_opt::<i32>().is_none() {
        return Err(layout());
    }
    let offsets = attributes.value_offsets();
    let rows = attributes.len();
    // Per dedicated column, the map entry each row takes its value from.
    let mut entries: Vec<Vec<Option<u32>>> = Vec::new();
    let mut found: [Option<u32>; DEDICATED.len()] = [None; DEDICATED.len()];
    for row in 0..rows {
        found.fill(None);
        let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
        if !attributes.is_null(row) {
            for entry in start..end {
                if let Some(first) = slot_of(keys.value(entry)).and_then(|slot| found.get_mut(slot)) {
                    first.get_or_insert(entry as u32);
                }
            }
        }
        for (slot, entry) in found.iter().enumerate() {
            if let Some(entry) = entry {
                if entries.is_empty() {
                    entries = vec![Vec::new(); DEDICATED.len()];
                }
                if let Some(column) = entries.get_mut(slot) {
                    column.resize(row, None);
                    column.push(Some(*entry));
                }
            }
        }
    }
    DEDICATED
        .iter()
        .enumerate()
        .map(|(slot, d)| match entries.get_mut(slot).filter(|e| !e.is_empty()) {
            None => Ok(new_null_array(&d.form.data_type(), rows)),
            Some(column) => {
                column.resize(rows, None);
                let indices = UInt32Array::from(std::mem::take(column));
                finish(d.form, arrow::compute::take(values.as_ref(), &indices, None)?)
            }
        })
        .collect()
}

/// The index in [`DEDICATED`] of the column copying `key`.
fn slot_of(key: &str) -> Option<usize> {
    DEDICATED.iter().position(|d| d.key == key)
}

fn finish(form: Form, text: ArrayRef) -> Result<ArrayRef, StorageError> {
    match form {
        Form::Text => Ok(text),
        // `safe: true` is TRY_CAST: text that is not a number becomes NULL.
        Form::Number => Ok(arrow::compute::cast(&text, &DataType::Float64)?),
    }
}

#[cfg(test)]
mod tests;
