//! The `logs` table: its Arrow schema and a row builder.
//!
//! Columns follow `shared/api.md` (`time`, `observed_time`, `trace_id`, `span_id`,
//! `severity_number`, `severity_text`, `body`, `service_name`, `resource_attributes`,
//! `attributes`, `scope_name`) plus what rebuilding the OTLP record needs: the body's type
//! signature (`body_type`, see [`crate::attributes`]: a kvlist or array body is JSON text in
//! `body` for search and SQL, and `body_type` tells `"1"` from `1`), `event_name`, `flags`,
//! dropped counts, scope version and attributes, schema urls.
//!
//! `time` is the record's `time_unix_nano`, or its `observed_time_unix_nano` when that is 0
//! (the OTLP data model says to use the observed time then), or the receive time when both
//! are 0: a log needs a time to land in an hourly partition. So a record sent without a
//! time comes back with one; everything else round-trips exactly.
//!
//! Ids are lowercase hex text like in `spans`; a record without trace context has NULL ids.
//! There are no virtual columns: the physical schema is the logical one.

use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, Int32Builder, RecordBatch, StringBuilder, TimestampNanosecondBuilder, UInt32Builder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::attributes::{map_type, value_text, AttrRef, AttributesBuilder};
use crate::error::StorageError;
use crate::spans::write_hex;

/// The resource and scope of a group of log records (the same shape as for spans).
pub type LogScope<'a> = crate::spans::SpanScope<'a>;

/// Column names, for readers.
pub mod col {
    pub const TIME: &str = "time";
    pub const OBSERVED_TIME: &str = "observed_time";
    pub const TRACE_ID: &str = "trace_id";
    pub const SPAN_ID: &str = "span_id";
    pub const FLAGS: &str = "flags";
    pub const SEVERITY_NUMBER: &str = "severity_number";
    pub const SEVERITY_TEXT: &str = "severity_text";
    pub const BODY: &str = "body";
    pub const BODY_TYPE: &str = "body_type";
    pub const EVENT_NAME: &str = "event_name";
    pub const SERVICE_NAME: &str = "service_name";
    pub const ATTRIBUTES: &str = "attributes";
    pub const ATTRIBUTE_TYPES: &str = "attribute_types";
    pub const DROPPED_ATTRIBUTES_COUNT: &str = "dropped_attributes_count";
    pub const RESOURCE_ATTRIBUTES: &str = "resource_attributes";
    pub const RESOURCE_ATTRIBUTE_TYPES: &str = "resource_attribute_types";
    pub const RESOURCE_DROPPED_ATTRIBUTES_COUNT: &str = "resource_dropped_attributes_count";
    pub const RESOURCE_SCHEMA_URL: &str = "resource_schema_url";
    pub const SCOPE_NAME: &str = "scope_name";
    pub const SCOPE_VERSION: &str = "scope_version";
    pub const SCOPE_ATTRIBUTES: &str = "scope_attributes";
    pub const SCOPE_ATTRIBUTE_TYPES: &str = "scope_attribute_types";
    pub const SCOPE_DROPPED_ATTRIBUTES_COUNT: &str = "scope_dropped_attributes_count";
    pub const SCOPE_SCHEMA_URL: &str = "scope_schema_url";
}

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    use col::*;
    Arc::new(Schema::new(vec![
        Field::new(TIME, ts(), false),
        Field::new(OBSERVED_TIME, ts(), true),
        Field::new(TRACE_ID, DataType::Utf8, true),
        Field::new(SPAN_ID, DataType::Utf8, true),
        Field::new(FLAGS, DataType::UInt32, false),
        Field::new(SEVERITY_NUMBER, DataType::Int32, false),
        Field::new(SEVERITY_TEXT, DataType::Utf8, true),
        Field::new(BODY, DataType::Utf8, true),
        Field::new(BODY_TYPE, DataType::Utf8, false),
        Field::new(EVENT_NAME, DataType::Utf8, true),
        Field::new(SERVICE_NAME, DataType::Utf8, false),
        Field::new(ATTRIBUTES, map_type(), false),
        Field::new(ATTRIBUTE_TYPES, DataType::Utf8, false),
        Field::new(DROPPED_ATTRIBUTES_COUNT, DataType::UInt32, false),
        Field::new(RESOURCE_ATTRIBUTES, map_type(), false),
        Field::new(RESOURCE_ATTRIBUTE_TYPES, DataType::Utf8, false),
        Field::new(RESOURCE_DROPPED_ATTRIBUTES_COUNT, DataType::UInt32, false),
        Field::new(RESOURCE_SCHEMA_URL, DataType::Utf8, true),
        Field::new(SCOPE_NAME, DataType::Utf8, true),
        Field::new(SCOPE_VERSION, DataType::Utf8, true),
        Field::new(SCOPE_ATTRIBUTES, map_type(), false),
        Field::new(SCOPE_ATTRIBUTE_TYPES, DataType::Utf8, false),
        Field::new(SCOPE_DROPPED_ATTRIBUTES_COUNT, DataType::UInt32, false),
        Field::new(SCOPE_SCHEMA_URL, DataType::Utf8, true),
    ]))
});

/// The Arrow schema of the `logs` table (logical and physical are the same).
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// A batch in the `logs` schema (checked, not converted: there are no virtual columns).
pub fn to_physical(batch: &RecordBatch) -> Result<RecordBatch, StorageError> {
    if batch.schema().fields() != SCHEMA.fields() {
        return Err(StorageError::InvalidInput("batch does not match the logs schema".into()));
    }
    Ok(batch.clone())
}

/// One log record, borrowed from the decoded request. Ids are raw bytes (empty when the record
/// has no trace context; otherwise 16 / 8 long, validated by the collector).
#[derive(Debug, Clone)]
pub struct LogRecord<'a> {
    /// The effective time (see the module docs).
    pub time_unix_nano: i64,
    /// `None` when the sender left it 0.
    pub observed_time_unix_nano: Option<i64>,
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub flags: u32,
    pub severity_number: i32,
    pub severity_text: Option<&'a str>,
    pub body: AttrRef<'a>,
    pub event_name: Option<&'a str>,
    pub attributes: Vec<(&'a str, AttrRef<'a>)>,
    pub dropped_attributes_count: u32,
}

impl Default for LogRecord<'_> {
    fn default() -> Self {
        Self {
            time_unix_nano: 0,
            observed_time_unix_nano: None,
            trace_id: &[],
            span_id: &[],
            flags: 0,
            severity_number: 0,
            severity_text: None,
            body: AttrRef::Empty,
            event_name: None,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
        }
    }
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// Builds a `logs` [`RecordBatch`] row by row.
pub struct LogsBuilder {
    time: TimestampNanosecondBuilder,
    observed_time: TimestampNanosecondBuilder,
    trace_id: StringBuilder,
    span_id: StringBuilder,
    flags: UInt32Builder,
    severity_number: Int32Builder,
    severity_text: StringBuilder,
    body: StringBuilder,
    body_type: StringBuilder,
    event_name: StringBuilder,
    service_name: StringBuilder,
    attributes: AttributesBuilder,
    dropped_attributes_count: UInt32Builder,
    resource_attributes: AttributesBuilder,
    resource_dropped_attributes_count: UInt32Builder,
    resource_schema_url: StringBuilder,
    scope_name: StringBuilder,
    scope_version: StringBuilder,
    scope_attributes: AttributesBuilder,
    scope_dropped_attributes_count: UInt32Builder,
    scope_schema_url: StringBuilder,
    hex: String,
    rows: usize,
}

impl Default for LogsBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl LogsBuilder {
    pub fn new() -> Self {
        Self {
            time: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            observed_time: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            trace_id: StringBuilder::new(),
            span_id: StringBuilder::new(),
            flags: UInt32Builder::new(),
            severity_number: Int32Builder::new(),
            severity_text: StringBuilder::new(),
            body: StringBuilder::new(),
            body_type: StringBuilder::new(),
            event_name: StringBuilder::new(),
            service_name: StringBuilder::new(),
            attributes: AttributesBuilder::new(),
            dropped_attributes_count: UInt32Builder::new(),
            resource_attributes: AttributesBuilder::new(),
            resource_dropped_attributes_count: UInt32Builder::new(),
            resource_schema_url: StringBuilder::new(),
            scope_name: StringBuilder::new(),
            scope_version: StringBuilder::new(),
            scope_attributes: AttributesBuilder::new(),
            scope_dropped_attributes_count: UInt32Builder::new(),
            scope_schema_url: StringBuilder::new(),
            hex: String::with_capacity(32),
            rows: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one record with its resource and scope.
    pub fn append(&mut self, scope: &LogScope<'_>, log: &LogRecord<'_>) -> Result<(), StorageError> {
        self.time.append_value(log.time_unix_nano);
        self.observed_time.append_option(log.observed_time_unix_nano);
        self.append_id(log.trace_id, IdColumn::Trace);
        self.append_id(log.span_id, IdColumn::Span);
        self.flags.append_value(log.flags);
        self.severity_number.append_value(log.severity_number);
        self.severity_text.append_option(non_empty(log.severity_text));
        let (text, sig) = value_text(&log.body);
        self.body.append_option(text);
        self.body_type.append_value(sig);
        self.event_name.append_option(non_empty(log.event_name));
        self.service_name.append_value(scope.service_name);
        self.attributes.append_row(log.attributes.iter().cloned())?;
        self.dropped_attributes_count.append_value(log.dropped_attributes_count);
        self.resource_attributes.append_row(scope.resource_attributes.iter().cloned())?;
        self.resource_dropped_attributes_count.append_value(scope.resource_dropped_attributes_count);
        self.resource_schema_url.append_option(non_empty(scope.resource_schema_url));
        self.scope_name.append_option(non_empty(scope.scope_name));
        self.scope_version.append_option(non_empty(scope.scope_version));
        self.scope_attributes.append_row(scope.scope_attributes.iter().cloned())?;
        self.scope_dropped_attributes_count.append_value(scope.scope_dropped_attributes_count);
        self.scope_schema_url.append_option(non_empty(scope.scope_schema_url));
        self.rows += 1;
        Ok(())
    }

    fn append_id(&mut self, id: &[u8], column: IdColumn) {
        let builder = match column {
            IdColumn::Trace => &mut self.trace_id,
            IdColumn::Span => &mut self.span_id,
        };
        if id.is_empty() {
            builder.append_null();
        } else {
            write_hex(id, &mut self.hex);
            builder.append_value(&self.hex);
        }
    }

    /// Finishes the batch and resets the builder.
    pub fn finish(&mut self) -> Result<RecordBatch, StorageError> {
        let (attributes, attribute_types) = self.attributes.finish();
        let (resource_attributes, resource_attribute_types) = self.resource_attributes.finish();
        let (scope_attributes, scope_attribute_types) = self.scope_attributes.finish();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish()),
            Arc::new(self.observed_time.finish()),
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.flags.finish()),
            Arc::new(self.severity_number.finish()),
            Arc::new(self.severity_text.finish()),
            Arc::new(self.body.finish()),
            Arc::new(self.body_type.finish()),
            Arc::new(self.event_name.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(attributes),
            Arc::new(attribute_types),
            Arc::new(self.dropped_attributes_count.finish()),
            Arc::new(resource_attributes),
            Arc::new(resource_attribute_types),
            Arc::new(self.resource_dropped_attributes_count.finish()),
            Arc::new(self.resource_schema_url.finish()),
            Arc::new(self.scope_name.finish()),
            Arc::new(self.scope_version.finish()),
            Arc::new(scope_attributes),
            Arc::new(scope_attribute_types),
            Arc::new(self.scope_dropped_attributes_count.finish()),
            Arc::new(self.scope_schema_url.finish()),
        ];
        self.rows = 0;
        Ok(RecordBatch::try_new(schema(), columns)?)
    }
}

enum IdColumn {
    Trace,
    Span,
}

/// The canonical severity name of an OTLP `SeverityNumber` (1–4 TRACE … 21–24 FATAL), the
/// value `severity:` searches match besides the record's own `severity_text`.
pub fn severity_name(number: i32) -> Option<&'static str> {
    match number {
        1..=4 => Some("trace"),
        5..=8 => Some("debug"),
        9..=12 => Some("info"),
        13..=16 => Some("warn"),
        17..=20 => Some("error"),
        21..=24 => Some("fatal"),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
