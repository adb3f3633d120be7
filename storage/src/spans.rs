//! The `spans` table: its Arrow schema and a row builder.
//!
//! Ids are lowercase hex text (`WHERE trace_id = '<hex>'` works as written and
//! prunes by statistics and bloom filter; zstd packs hex back to ~4 bits a char).
//! Times are `Timestamp(ns, UTC)`. Attributes are typed (see [`crate::attributes`]).
//! Everything OTLP carries is kept so the OTLP form can be rebuilt exactly.
//!
//! [`schema`] is the *logical* schema SQL sees. `end_time` is virtual: it is
//! `start_time + duration_ns`, so it is not stored (WAL, memtables, Parquet hold
//! [`physical_schema`]; see [`physical`]) and the table provider computes it.

use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, Int64Builder, RecordBatch, StringBuilder, TimestampNanosecondBuilder, UInt32Builder};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

use crate::attributes::{map_type, AttrRef, AttributesBuilder};
use crate::error::StorageError;

pub mod dedicated;
pub mod physical;

pub use physical::{physical_schema, to_logical, to_physical};

/// Column names, for readers.
pub mod col {
    pub const TRACE_ID: &str = "trace_id";
    pub const SPAN_ID: &str = "span_id";
    pub const PARENT_SPAN_ID: &str = "parent_span_id";
    pub const TRACE_STATE: &str = "trace_state";
    pub const FLAGS: &str = "flags";
    pub const SERVICE_NAME: &str = "service_name";
    pub const NAME: &str = "name";
    pub const KIND: &str = "kind";
    pub const START_TIME: &str = "start_time";
    pub const END_TIME: &str = "end_time";
    pub const DURATION_NS: &str = "duration_ns";
    pub const STATUS_CODE: &str = "status_code";
    pub const STATUS_MESSAGE: &str = "status_message";
    pub const ATTRIBUTES: &str = "attributes";
    pub const ATTRIBUTE_TYPES: &str = "attribute_types";
    pub const DROPPED_ATTRIBUTES_COUNT: &str = "dropped_attributes_count";
    pub const EVENTS: &str = "events";
    pub const DROPPED_EVENTS_COUNT: &str = "dropped_events_count";
    pub const LINKS: &str = "links";
    pub const DROPPED_LINKS_COUNT: &str = "dropped_links_count";
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

/// `kind` column values, indexed by the OTLP `SpanKind` number.
pub const KINDS: [&str; 6] = ["unspecified", "internal", "server", "client", "producer", "consumer"];
/// `status_code` column values, indexed by the OTLP `StatusCode` number.
pub const STATUS_CODES: [&str; 3] = ["unset", "ok", "error"];

/// The service name used when a resource has no `service.name` (semantic conventions).
pub const UNKNOWN_SERVICE: &str = "unknown_service";

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

fn event_fields() -> Fields {
    Fields::from(vec![
        Field::new("time", ts(), false),
        Field::new("name", DataType::Utf8, false),
        Field::new("attributes", map_type(), false),
        Field::new("attribute_types", DataType::Utf8, false),
        Field::new("dropped_attributes_count", DataType::UInt32, false),
    ])
}

fn link_fields() -> Fields {
    Fields::from(vec![
        Field::new("trace_id", DataType::Utf8, false),
        Field::new("span_id", DataType::Utf8, false),
        Field::new("trace_state", DataType::Utf8, true),
        Field::new("flags", DataType::UInt32, false),
        Field::new("attributes", map_type(), false),
        Field::new("attribute_types", DataType::Utf8, false),
        Field::new("dropped_attributes_count", DataType::UInt32, false),
    ])
}

fn list_of(fields: Fields) -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Struct(fields), true)))
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    use col::*;
    let mut fields = vec![
        Field::new(TRACE_ID, DataType::Utf8, false),
        Field::new(SPAN_ID, DataType::Utf8, false),
        Field::new(PARENT_SPAN_ID, DataType::Utf8, true),
        Field::new(TRACE_STATE, DataType::Utf8, true),
        Field::new(FLAGS, DataType::UInt32, false),
        Field::new(SERVICE_NAME, DataType::Utf8, false),
        Field::new(NAME, DataType::Utf8, false),
        Field::new(KIND, DataType::Utf8, false),
        Field::new(START_TIME, ts(), false),
        Field::new(END_TIME, ts(), false),
        Field::new(DURATION_NS, DataType::Int64, false),
        Field::new(STATUS_CODE, DataType::Utf8, false),
        Field::new(STATUS_MESSAGE, DataType::Utf8, true),
        Field::new(ATTRIBUTES, map_type(), false),
        Field::new(ATTRIBUTE_TYPES, DataType::Utf8, false),
        Field::new(DROPPED_ATTRIBUTES_COUNT, DataType::UInt32, false),
        Field::new(EVENTS, list_of(event_fields()), false),
        Field::new(DROPPED_EVENTS_COUNT, DataType::UInt32, false),
        Field::new(LINKS, list_of(link_fields()), false),
        Field::new(DROPPED_LINKS_COUNT, DataType::UInt32, false),
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
    ];
    fields.extend(dedicated::fields());
    Arc::new(Schema::new(fields))
});

/// The logical Arrow schema of the `spans` table: what SQL sees, `end_time` included.
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Resource and scope of a group of spans: shared by every span appended with it.
#[derive(Debug, Clone, Default)]
pub struct SpanScope<'a> {
    pub service_name: &'a str,
    pub resource_attributes: Vec<(&'a str, AttrRef<'a>)>,
    pub resource_dropped_attributes_count: u32,
    pub resource_schema_url: Option<&'a str>,
    pub scope_name: Option<&'a str>,
    pub scope_version: Option<&'a str>,
    pub scope_attributes: Vec<(&'a str, AttrRef<'a>)>,
    pub scope_dropped_attributes_count: u32,
    pub scope_schema_url: Option<&'a str>,
}

/// One span, borrowed from the decoded request. Ids are raw bytes (16 / 8 long,
/// already validated); the builder writes them as hex.
#[derive(Debug, Clone, Default)]
pub struct SpanRecord<'a> {
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    /// Empty slice for a root span.
    pub parent_span_id: &'a [u8],
    pub trace_state: Option<&'a str>,
    pub flags: u32,
    pub name: &'a str,
    /// OTLP `SpanKind` number (out-of-range values are stored as `unspecified`).
    pub kind: i32,
    pub start_time_unix_nano: i64,
    pub end_time_unix_nano: i64,
    /// OTLP `StatusCode` number (out-of-range values are stored as `unset`).
    pub status_code: i32,
    pub status_message: Option<&'a str>,
    pub attributes: Vec<(&'a str, AttrRef<'a>)>,
    pub dropped_attributes_count: u32,
    pub events: Vec<SpanEventRecord<'a>>,
    pub dropped_events_count: u32,
    pub links: Vec<SpanLinkRecord<'a>>,
    pub dropped_links_count: u32,
}

#[derive(Debug, Clone, Default)]
pub struct SpanEventRecord<'a> {
    pub time_unix_nano: i64,
    pub name: &'a str,
    pub attributes: Vec<(&'a str, AttrRef<'a>)>,
    pub dropped_attributes_count: u32,
}

#[derive(Debug, Clone, Default)]
pub struct SpanLinkRecord<'a> {
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub trace_state: Option<&'a str>,
    pub flags: u32,
    pub attributes: Vec<(&'a str, AttrRef<'a>)>,
    pub dropped_attributes_count: u32,
}

/// Lowercase hex of an id, into a reused buffer.
pub fn write_hex(bytes: &[u8], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.clear();
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// Builds a `spans` [`RecordBatch`] row by row (stored as the physical schema:
/// `end_time` is kept as `duration_ns = end - start`).
pub struct SpansBuilder {
    trace_id: StringBuilder,
    span_id: StringBuilder,
    parent_span_id: StringBuilder,
    trace_state: StringBuilder,
    flags: UInt32Builder,
    service_name: StringBuilder,
    name: StringBuilder,
    kind: StringBuilder,
    start_time: TimestampNanosecondBuilder,
    duration_ns: Int64Builder,
    status_code: StringBuilder,
    status_message: StringBuilder,
    attributes: AttributesBuilder,
    dropped_attributes_count: UInt32Builder,
    events: NestedListBuilder,
    dropped_events_count: UInt32Builder,
    links: NestedListBuilder,
    dropped_links_count: UInt32Builder,
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

impl Default for SpansBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl SpansBuilder {
    pub fn new() -> Self {
        Self {
            trace_id: StringBuilder::new(),
            span_id: StringBuilder::new(),
            parent_span_id: StringBuilder::new(),
            trace_state: StringBuilder::new(),
            flags: UInt32Builder::new(),
            service_name: StringBuilder::new(),
            name: StringBuilder::new(),
            kind: StringBuilder::new(),
            start_time: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            duration_ns: Int64Builder::new(),
            status_code: StringBuilder::new(),
            status_message: StringBuilder::new(),
            attributes: AttributesBuilder::new(),
            dropped_attributes_count: UInt32Builder::new(),
            events: NestedListBuilder::new(event_fields()),
            dropped_events_count: UInt32Builder::new(),
            links: NestedListBuilder::new(link_fields()),
            dropped_links_count: UInt32Builder::new(),
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

    /// Rows appended so far.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one span with its resource and scope.
    pub fn append(&mut self, scope: &SpanScope<'_>, span: &SpanRecord<'_>) -> Result<(), StorageError> {
        write_hex(span.trace_id, &mut self.hex);
        self.trace_id.append_value(&self.hex);
        write_hex(span.span_id, &mut self.hex);
        self.span_id.append_value(&self.hex);
        if span.parent_span_id.is_empty() {
            self.parent_span_id.append_null();
        } else {
            write_hex(span.parent_span_id, &mut self.hex);
            self.parent_span_id.append_value(&self.hex);
        }
        self.trace_state.append_option(non_empty(span.trace_state));
        self.flags.append_value(span.flags);
        self.service_name.append_value(scope.service_name);
        self.name.append_value(span.name);
        self.kind.append_value(KINDS.get(span.kind as usize).copied().unwrap_or(KINDS[0]));
        self.start_time.append_value(span.start_time_unix_nano);
        self.duration_ns.append_value(span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano));
        self.status_code.append_value(STATUS_CODES.get(span.status_code as usize).copied().unwrap_or(STATUS_CODES[0]));
        self.status_message.append_option(non_empty(span.status_message));
        self.attributes.append_row(span.attributes.iter().cloned())?;
        self.dropped_attributes_count.append_value(span.dropped_attributes_count);
        for event in &span.events {
            self.events.append_event(event)?;
        }
        self.events.finish_row();
        self.dropped_events_count.append_value(span.dropped_events_count);
        for link in &span.links {
            self.links.append_link(link, &mut self.hex)?;
        }
        self.links.finish_row();
        self.dropped_links_count.append_value(span.dropped_links_count);
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

    /// Finishes the batch in the logical [`schema`] (with `end_time`) and resets
    /// the builder. [`crate::Storage::append`] takes it as well as a physical one.
    pub fn finish(&mut self) -> Result<RecordBatch, StorageError> {
        to_logical(&self.finish_physical()?)
    }

    /// Finishes the batch in the [`physical_schema`] (no `end_time`) and resets the builder.
    pub fn finish_physical(&mut self) -> Result<RecordBatch, StorageError> {
        let (attributes, attribute_types) = self.attributes.finish();
        let (resource_attributes, resource_attribute_types) = self.resource_attributes.finish();
        let (scope_attributes, scope_attribute_types) = self.scope_attributes.finish();
        let dedicated = dedicated::columns(&attributes)?;
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.parent_span_id.finish()),
            Arc::new(self.trace_state.finish()),
            Arc::new(self.flags.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.start_time.finish()),
            Arc::new(self.duration_ns.finish()),
            Arc::new(self.status_code.finish()),
            Arc::new(self.status_message.finish()),
            Arc::new(attributes),
            Arc::new(attribute_types),
            Arc::new(self.dropped_attributes_count.finish()),
            self.events.finish(),
            Arc::new(self.dropped_events_count.finish()),
            self.links.finish(),
            Arc::new(self.dropped_links_count.finish()),
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
        columns.extend(dedicated);
        self.rows = 0;
        Ok(RecordBatch::try_new(physical_schema(), columns)?)
    }
}

/// A `List<Struct>` column for events or links, built column by column and
/// assembled at `finish` (the nested attributes map has its own builder).
struct NestedListBuilder {
    fields: Fields,
    time: TimestampNanosecondBuilder,
    trace_id: StringBuilder,
    span_id: StringBuilder,
    name: StringBuilder,
    trace_state: StringBuilder,
    flags: UInt32Builder,
    attributes: AttributesBuilder,
    dropped: UInt32Builder,
    /// List offsets of the rows finished so far (starts with 0).
    offsets: Vec<i32>,
    /// Items appended so far, across rows.
    items: i32,
}

impl NestedListBuilder {
    fn new(fields: Fields) -> Self {
        Self {
            fields,
            time: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            trace_id: StringBuilder::new(),
            span_id: StringBuilder::new(),
            name: StringBuilder::new(),
            trace_state: StringBuilder::new(),
            flags: UInt32Builder::new(),
            attributes: AttributesBuilder::new(),
            dropped: UInt32Builder::new(),
            offsets: vec![0],
            items: 0,
        }
    }

    fn append_event(&mut self, event: &SpanEventRecord<'_>) -> Result<(), StorageError> {
        self.time.append_value(event.time_unix_nano);
        self.name.append_value(event.name);
        self.attributes.append_row(event.attributes.iter().cloned())?;
        self.dropped.append_value(event.dropped_attributes_count);
        self.items += 1;
        Ok(())
    }

    fn append_link(&mut self, link: &SpanLinkRecord<'_>, hex: &mut String) -> Result<(), StorageError> {
        write_hex(link.trace_id, hex);
        self.trace_id.append_value(&*hex);
        write_hex(link.span_id, hex);
        self.span_id.append_value(&*hex);
        self.trace_state.append_option(non_empty(link.trace_state));
        self.flags.append_value(link.flags);
        self.attributes.append_row(link.attributes.iter().cloned())?;
        self.dropped.append_value(link.dropped_attributes_count);
        self.items += 1;
        Ok(())
    }

    fn finish_row(&mut self) {
        self.offsets.push(self.items);
    }

    fn finish(&mut self) -> ArrayRef {
        use arrow::array::{ListArray, StructArray};
        use arrow::buffer::OffsetBuffer;
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        self.items = 0;
        let (attributes, attribute_types) = self.attributes.finish();
        let columns: Vec<ArrayRef> = self
            .fields
            .iter()
            .map(|f| -> ArrayRef {
                match f.name().as_str() {
                    "time" => Arc::new(self.time.finish()),
                    "name" => Arc::new(self.name.finish()),
                    "trace_id" => Arc::new(self.trace_id.finish()),
                    "span_id" => Arc::new(self.span_id.finish()),
                    "trace_state" => Arc::new(self.trace_state.finish()),
                    "flags" => Arc::new(self.flags.finish()),
                    "attributes" => Arc::new(attributes.clone()),
                    "attribute_types" => Arc::new(attribute_types.clone()),
                    _ => Arc::new(self.dropped.finish()),
                }
            })
            .collect();
        let values = StructArray::new(self.fields.clone(), columns, None);
        let item = Arc::new(Field::new("item", DataType::Struct(self.fields.clone()), true));
        Arc::new(ListArray::new(item, OffsetBuffer::new(offsets.into()), Arc::new(values), None))
    }
}

#[cfg(test)]
mod tests;
