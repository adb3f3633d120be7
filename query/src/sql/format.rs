//! The SQL API's answers by `Accept`: JSON (the default), CSV, Arrow IPC stream.
//!
//! JSON: `{"columns":[{"name","type"}],"rows":[[…]],"row_count","elapsed_ms"}`.
//! `type` is Arrow's name of the column type (`Int64`, `Utf8`, `Timestamp(ns, "UTC")`).
//! Values: integers and floats as JSON numbers (non-finite floats as `null`),
//! strings as strings, booleans, timestamps as RFC 3339 text with nanoseconds
//! and the offset (`2026-11-22T10:00:00.000000000+00:00`), maps (attributes) as
//! objects, lists as arrays, structs as objects, binary as hex text, SQL NULL as
//! `null`. CSV uses the same text for timestamps and JSON text for nested values.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use arrow::json::writer::{make_encoder, EncoderOptions, NullableEncoder};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use axum::http::HeaderValue;

use crate::error::QueryError;
use crate::sql::SqlResult;

/// Timestamps with a time zone: RFC 3339, nanoseconds, offset.
pub const TIMESTAMP_TZ_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.9f%:z";
/// Timestamps without a time zone: the same without the offset.
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.9f";

pub const JSON: &str = "application/json";
pub const CSV: &str = "text/csv";
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Json,
    Csv,
    ArrowStream,
}

impl OutputFormat {
    /// The first type in `Accept` we can produce (`q` values are not weighed:
    /// clients list their preference first). No header, or `*/*`: JSON.
    pub fn from_accept(accept: Option<&HeaderValue>) -> Result<Self, QueryError> {
        let Some(accept) = accept else { return Ok(OutputFormat::Json) };
        let text = accept.to_str().map_err(|_| QueryError::NotAcceptable("a non-ASCII Accept header".into()))?;
        if text.trim().is_empty() {
            return Ok(OutputFormat::Json);
        }
        for media in text.split(',') {
            let media = media.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
            match media.as_str() {
                JSON | "application/*" | "*/*" => return Ok(OutputFormat::Json),
                CSV | "text/*" => return Ok(OutputFormat::Csv),
                ARROW_STREAM => return Ok(OutputFormat::ArrowStream),
                _ => {}
            }
        }
        Err(QueryError::NotAcceptable(text.to_string()))
    }

    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Json => JSON,
            OutputFormat::Csv => "text/csv; charset=utf-8",
            OutputFormat::ArrowStream => ARROW_STREAM,
        }
    }

    pub fn encode(self, result: &SqlResult) -> Result<Vec<u8>, QueryError> {
        match self {
            OutputFormat::Json => json(result),
            OutputFormat::Csv => csv(&result.schema, &result.batches),
            OutputFormat::ArrowStream => arrow_stream(&result.schema, &result.batches),
        }
    }
}

fn encoder_options() -> EncoderOptions {
    EncoderOptions::default()
        .with_explicit_nulls(true)
        .with_timestamp_format(TIMESTAMP_FORMAT.into())
        .with_timestamp_tz_format(TIMESTAMP_TZ_FORMAT.into())
}

/// The JSON document of the contract, rows as arrays.
pub fn json(result: &SqlResult) -> Result<Vec<u8>, QueryError> {
    let columns: Vec<serde_json::Value> = result
        .schema
        .fields()
        .iter()
        .map(|f| serde_json::json!({ "name": f.name(), "type": f.data_type().to_string() }))
        .collect();
    let mut out = Vec::with_capacity(64 + result.row_count * 16 * columns.len().max(1));
    out.extend_from_slice(b"{\"columns\":");
    serde_json::to_writer(&mut out, &columns).map_err(|e| QueryError::Task(format!("encoding columns: {e}")))?;
    out.extend_from_slice(b",\"rows\":[");
    let options = encoder_options();
    let mut first_row = true;
    for batch in &result.batches {
        let schema = batch.schema();
        let mut cells = schema
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(field, column)| CellEncoder::new(field, column.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            if !first_row {
                out.push(b',');
            }
            first_row = false;
            out.push(b'[');
            for (i, cell) in cells.iter_mut().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                cell.encode(row, &mut out)?;
            }
            out.push(b']');
        }
    }
    out.extend_from_slice(b"],\"row_count\":");
    out.extend_from_slice(result.row_count.to_string().as_bytes());
    out.extend_from_slice(b",\"elapsed_ms\":");
    let elapsed = serde_json::Value::from(result.elapsed.as_secs_f64() * 1e3);
    serde_json::to_writer(&mut out, &elapsed).map_err(|e| QueryError::Task(format!("encoding elapsed: {e}")))?;
    out.push(b'}');
    Ok(out)
}

/// One column's values as JSON: arrow's JSON encoder where it knows the type,
/// else arrow's display text as a JSON string (intervals, durations, decimals of
/// unusual widths…), so no type makes the answer fail.
enum CellEncoder<'a> {
    Json(NullableEncoder<'a>),
    Text(ArrayFormatter<'a>, &'a dyn Array),
}

impl<'a> CellEncoder<'a> {
    fn new(field: &'a FieldRef, array: &'a dyn Array, options: &'a EncoderOptions) -> Result<Self, QueryError> {
        match make_encoder(field, array, options) {
            Ok(encoder) => Ok(CellEncoder::Json(encoder)),
            Err(_) => {
                let formatter = ArrayFormatter::try_new(array, &FormatOptions::default())?;
                Ok(CellEncoder::Text(formatter, array))
            }
        }
    }

    fn encode(&mut self, row: usize, out: &mut Vec<u8>) -> Result<(), QueryError> {
        match self {
            CellEncoder::Json(encoder) if encoder.is_null(row) => out.extend_from_slice(b"null"),
            CellEncoder::Json(encoder) => encoder.encode(row, out),
            CellEncoder::Text(_, array) if array.is_null(row) => out.extend_from_slice(b"null"),
            CellEncoder::Text(formatter, _) => {
                let text = formatter.value(row).try_to_string()?;
                serde_json::to_writer(&mut *out, &text)
                    .map_err(|e| QueryError::Task(format!("encoding a cell: {e}")))?;
            }
        }
        Ok(())
    }
}

/// CSV with a header row. Nested columns (maps, lists, structs) become JSON text.
pub fn csv(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>, QueryError> {
    let flat_schema =
        Arc::new(Schema::new(
            schema
                .fields()
                .iter()
                .map(|f| {
                    if is_nested(f.data_type()) {
                        Field::new(f.name(), DataType::Utf8, true)
                    } else {
                        f.as_ref().clone()
                    }
                })
                .collect::<Vec<_>>(),
        ));
    let mut out = Vec::new();
    {
        let mut writer = arrow::csv::WriterBuilder::new()
            .with_header(true)
            .with_timestamp_format(TIMESTAMP_FORMAT.into())
            .with_timestamp_tz_format(TIMESTAMP_TZ_FORMAT.into())
            .build(&mut out);
        if batches.is_empty() {
            writer.write(&RecordBatch::new_empty(Arc::clone(&flat_schema)))?;
        }
        for batch in batches {
            writer.write(&flatten(batch, &flat_schema)?)?;
        }
    }
    Ok(out)
}

fn is_nested(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::ListView(_)
            | DataType::LargeListView(_)
            | DataType::FixedSizeList(..)
            | DataType::Map(..)
            | DataType::Struct(_)
            | DataType::Union(..)
    )
}

/// The batch with its nested columns encoded as JSON text.
fn flatten(batch: &RecordBatch, flat_schema: &SchemaRef) -> Result<RecordBatch, QueryError> {
    let options = encoder_options();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if !is_nested(field.data_type()) {
            columns.push(Arc::clone(column));
            continue;
        }
        let mut cell = CellEncoder::new(field, column.as_ref(), &options)?;
        let mut text = StringBuilder::with_capacity(column.len(), column.len() * 32);
        let mut buf = Vec::new();
        for row in 0..column.len() {
            if column.is_null(row) {
                text.append_null();
                continue;
            }
            buf.clear();
            cell.encode(row, &mut buf)?;
            text.append_value(String::from_utf8_lossy(&buf));
        }
        columns.push(Arc::new(text.finish()));
    }
    Ok(RecordBatch::try_new(Arc::clone(flat_schema), columns)?)
}

/// An Arrow IPC stream: the schema, then each batch.
pub fn arrow_stream(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>, QueryError> {
    let mut out = Vec::new();
    let mut writer = arrow::ipc::writer::StreamWriter::try_new(&mut out, schema)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    drop(writer);
    Ok(out)
}

#[cfg(test)]
mod tests;
