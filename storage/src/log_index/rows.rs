//! A typed view of the columns of a `logs` batch that search reads: the same values feed the
//! tantivy documents ([`super::build`]) and the memtable matcher ([`super::matcher`]), so
//! both see a log the same way.

use arrow::array::{Array, AsArray, Int32Array, MapArray, RecordBatch, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{Int32Type, TimestampNanosecondType};

use crate::error::StorageError;
use crate::logs::{col, severity_name};

/// The searchable columns of one batch (a projection with at least these columns works).
pub struct LogRows<'a> {
    pub time: &'a TimestampNanosecondArray,
    body: &'a StringArray,
    service: &'a StringArray,
    severity_text: &'a StringArray,
    severity_number: &'a Int32Array,
    trace_id: &'a StringArray,
    span_id: &'a StringArray,
    attributes: [&'a MapArray; 2],
}

/// The columns [`LogRows`] needs.
pub const COLUMNS: [&str; 9] = [
    col::TIME,
    col::BODY,
    col::SERVICE_NAME,
    col::SEVERITY_TEXT,
    col::SEVERITY_NUMBER,
    col::TRACE_ID,
    col::SPAN_ID,
    col::ATTRIBUTES,
    col::RESOURCE_ATTRIBUTES,
];

fn missing(name: &str) -> StorageError {
    StorageError::Internal(format!("logs batch has no usable {name} column"))
}

fn strings<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a StringArray, StorageError> {
    batch.column_by_name(name).and_then(|c| c.as_string_opt::<i32>()).ok_or_else(|| missing(name))
}

fn map<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a MapArray, StorageError> {
    batch.column_by_name(name).and_then(|c| c.as_map_opt()).ok_or_else(|| missing(name))
}

impl<'a> LogRows<'a> {
    pub fn new(batch: &'a RecordBatch) -> Result<Self, StorageError> {
        Ok(Self {
            time: batch
                .column_by_name(col::TIME)
                .and_then(|c| c.as_primitive_opt::<TimestampNanosecondType>())
                .ok_or_else(|| missing(col::TIME))?,
            body: strings(batch, col::BODY)?,
            service: strings(batch, col::SERVICE_NAME)?,
            severity_text: strings(batch, col::SEVERITY_TEXT)?,
            severity_number: batch
                .column_by_name(col::SEVERITY_NUMBER)
                .and_then(|c| c.as_primitive_opt::<Int32Type>())
                .ok_or_else(|| missing(col::SEVERITY_NUMBER))?,
            trace_id: strings(batch, col::TRACE_ID)?,
            span_id: strings(batch, col::SPAN_ID)?,
            attributes: [map(batch, col::ATTRIBUTES)?, map(batch, col::RESOURCE_ATTRIBUTES)?],
        })
    }

    pub fn len(&self) -> usize {
        self.time.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn time(&self, row: usize) -> i64 {
        self.time.value(row)
    }

    pub fn body(&self, row: usize) -> Option<&'a str> {
        opt(self.body, row)
    }

    /// Lower-cased service name.
    pub fn service(&self, row: usize) -> String {
        opt(self.service, row).unwrap_or_default().to_lowercase()
    }

    /// Lower-cased severity text and the canonical name of the severity number (each if any).
    pub fn severities(&self, row: usize) -> Vec<String> {
        let mut out: Vec<String> = opt(self.severity_text, row).map(str::to_lowercase).into_iter().collect();
        if let Some(name) = severity_name(self.severity_number.value(row)) {
            if !out.iter().any(|s| s == name) {
                out.push(name.to_string());
            }
        }
        out
    }

    pub fn trace_id(&self, row: usize) -> Option<&'a str> {
        opt(self.trace_id, row)
    }

    pub fn span_id(&self, row: usize) -> Option<&'a str> {
        opt(self.span_id, row)
    }

    /// `key\0value`, lower-cased, of every log and resource attribute with a text value.
    pub fn attribute_terms(&self, row: usize) -> Vec<String> {
        let mut out = Vec::new();
        self.each_attribute_term(row, |term| out.push(term.to_string()));
        out
    }

    /// Calls `f` with each of [`LogRows::attribute_terms`], built in one reused buffer (the index
    /// builder copies them into its document: no string per term).
    pub fn each_attribute_term(&self, row: usize, mut f: impl FnMut(&str)) {
        let mut term = String::new();
        for map in self.attributes {
            if map.is_null(row) {
                continue;
            }
            let offsets = map.value_offsets();
            let (Some(start), Some(end)) = (offsets.get(row), offsets.get(row + 1)) else { continue };
            let (Some(keys), Some(values)) = (map.keys().as_string_opt::<i32>(), map.values().as_string_opt::<i32>())
            else {
                continue;
            };
            for i in *start as usize..*end as usize {
                if !values.is_null(i) {
                    term.clear();
                    push_attribute_term(&mut term, keys.value(i), values.value(i));
                    f(&term);
                }
            }
        }
    }
}

/// The indexed form of an attribute `key:value` (lower-cased, NUL-separated).
pub fn attribute_term(key: &str, value: &str) -> String {
    let mut term = String::with_capacity(key.len() + value.len() + 1);
    push_attribute_term(&mut term, key, value);
    term
}

fn push_attribute_term(out: &mut String, key: &str, value: &str) {
    push_lowercase(out, key);
    out.push('\0');
    push_lowercase(out, value);
}

fn push_lowercase(out: &mut String, text: &str) {
    if text.is_ascii() {
        let start = out.len();
        out.push_str(text);
        if let Some(added) = out.get_mut(start..) {
            added.make_ascii_lowercase();
        }
    } else {
        out.push_str(&text.to_lowercase());
    }
}

fn opt(array: &StringArray, row: usize) -> Option<&str> {
    (!array.is_null(row)).then(|| array.value(row))
}
