//! Every column of `spans` that the OTLP form needs, downcast once per batch.

use arrow::array::TimestampNanosecondArray;
use arrow::array::{Array, ArrayRef, AsArray, Int64Array, ListArray, MapArray, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{Int64Type, UInt32Type};
use osprey_storage::spans::col;

use crate::error::{QueryError, Result};
use crate::span_rows::{column, item_field, list, map, strings, times};

/// The `spans` columns the OTLP reconstruction reads (a query projects these).
/// `service_name` is not among them: it is derived from the resource's `service.name`.
pub const COLUMNS: [&str; 28] = [
    col::TRACE_ID,
    col::SPAN_ID,
    col::PARENT_SPAN_ID,
    col::TRACE_STATE,
    col::FLAGS,
    col::NAME,
    col::KIND,
    col::START_TIME,
    col::DURATION_NS,
    col::STATUS_CODE,
    col::STATUS_MESSAGE,
    col::ATTRIBUTES,
    col::ATTRIBUTE_TYPES,
    col::DROPPED_ATTRIBUTES_COUNT,
    col::EVENTS,
    col::DROPPED_EVENTS_COUNT,
    col::LINKS,
    col::DROPPED_LINKS_COUNT,
    col::RESOURCE_ATTRIBUTES,
    col::RESOURCE_ATTRIBUTE_TYPES,
    col::RESOURCE_DROPPED_ATTRIBUTES_COUNT,
    col::RESOURCE_SCHEMA_URL,
    col::SCOPE_NAME,
    col::SCOPE_VERSION,
    col::SCOPE_ATTRIBUTES,
    col::SCOPE_ATTRIBUTE_TYPES,
    col::SCOPE_DROPPED_ATTRIBUTES_COUNT,
    col::SCOPE_SCHEMA_URL,
];

fn layout(msg: String) -> QueryError {
    QueryError::Layout(msg)
}

fn u32s(array: &ArrayRef, name: &str) -> Result<UInt32Array> {
    array.as_primitive_opt::<UInt32Type>().cloned().ok_or_else(|| layout(format!("{name} is not UInt32")))
}

fn i64s(array: &ArrayRef, name: &str) -> Result<Int64Array> {
    array.as_primitive_opt::<Int64Type>().cloned().ok_or_else(|| layout(format!("{name} is not Int64")))
}

/// A map column with its type-signature column.
pub struct TypedMap {
    pub map: MapArray,
    pub types: StringArray,
}

impl TypedMap {
    fn top(batch: &RecordBatch, map_name: &str, types_name: &str) -> Result<Self> {
        Ok(TypedMap {
            map: map(&column(batch, map_name)?, map_name)?,
            types: strings(&column(batch, types_name)?, types_name)?,
        })
    }

    fn item(list_array: &ListArray, what: &str) -> Result<Self> {
        Ok(TypedMap {
            map: map(&item_field(list_array, "attributes")?, &format!("{what}.attributes"))?,
            types: strings(&item_field(list_array, "attribute_types")?, &format!("{what}.attribute_types"))?,
        })
    }

    /// Appends an exact textual identity of one row (keys, texts, signature) to `out`:
    /// equal for two rows exactly when their typed attributes are equal.
    pub fn write_key(&self, row: usize, out: &mut String) {
        if !self.map.is_null(row) {
            let offsets = self.map.value_offsets();
            let keys = self.map.keys().as_string_opt::<i32>();
            let values = self.map.values().as_string_opt::<i32>();
            if let (Some(keys), Some(values), Some(start), Some(end)) =
                (keys, values, offsets.get(row), offsets.get(row + 1))
            {
                for i in *start as usize..*end as usize {
                    out.push_str(keys.value(i));
                    out.push('\0');
                    if values.is_null(i) {
                        out.push('\u{1}');
                    } else {
                        out.push_str(values.value(i));
                    }
                    out.push('\0');
                }
            }
        }
        if !self.types.is_null(row) {
            out.push_str(self.types.value(row));
        }
        out.push('\0');
    }
}

pub struct EventColumns {
    pub list: ListArray,
    pub time: TimestampNanosecondArray,
    pub name: StringArray,
    pub attributes: TypedMap,
    pub dropped: UInt32Array,
}

pub struct LinkColumns {
    pub list: ListArray,
    pub trace_id: StringArray,
    pub span_id: StringArray,
    pub trace_state: StringArray,
    pub flags: UInt32Array,
    pub attributes: TypedMap,
    pub dropped: UInt32Array,
}

/// The columns of one batch.
pub struct Columns {
    pub trace_id: StringArray,
    pub span_id: StringArray,
    pub parent_span_id: StringArray,
    pub trace_state: StringArray,
    pub flags: UInt32Array,
    pub name: StringArray,
    pub kind: StringArray,
    pub start: TimestampNanosecondArray,
    pub duration: Int64Array,
    pub status: StringArray,
    pub status_message: StringArray,
    pub attributes: TypedMap,
    pub dropped_attributes: UInt32Array,
    pub events: EventColumns,
    pub dropped_events: UInt32Array,
    pub links: LinkColumns,
    pub dropped_links: UInt32Array,
    pub resource_attributes: TypedMap,
    pub resource_dropped: UInt32Array,
    pub resource_schema_url: StringArray,
    pub scope_name: StringArray,
    pub scope_version: StringArray,
    pub scope_attributes: TypedMap,
    pub scope_dropped: UInt32Array,
    pub scope_schema_url: StringArray,
}

impl Columns {
    pub fn new(batch: &RecordBatch) -> Result<Self> {
        let s = |name: &str| strings(&column(batch, name)?, name);
        let u = |name: &str| u32s(&column(batch, name)?, name);
        let event_list = list(&column(batch, col::EVENTS)?, col::EVENTS)?;
        let link_list = list(&column(batch, col::LINKS)?, col::LINKS)?;
        let events = EventColumns {
            time: times(&item_field(&event_list, "time")?, "events.time")?,
            name: strings(&item_field(&event_list, "name")?, "events.name")?,
            attributes: TypedMap::item(&event_list, "events")?,
            dropped: u32s(&item_field(&event_list, "dropped_attributes_count")?, "events.dropped_attributes_count")?,
            list: event_list,
        };
        let links = LinkColumns {
            trace_id: strings(&item_field(&link_list, "trace_id")?, "links.trace_id")?,
            span_id: strings(&item_field(&link_list, "span_id")?, "links.span_id")?,
            trace_state: strings(&item_field(&link_list, "trace_state")?, "links.trace_state")?,
            flags: u32s(&item_field(&link_list, "flags")?, "links.flags")?,
            attributes: TypedMap::item(&link_list, "links")?,
            dropped: u32s(&item_field(&link_list, "dropped_attributes_count")?, "links.dropped_attributes_count")?,
            list: link_list,
        };
        Ok(Columns {
            trace_id: s(col::TRACE_ID)?,
            span_id: s(col::SPAN_ID)?,
            parent_span_id: s(col::PARENT_SPAN_ID)?,
            trace_state: s(col::TRACE_STATE)?,
            flags: u(col::FLAGS)?,
            name: s(col::NAME)?,
            kind: s(col::KIND)?,
            start: times(&column(batch, col::START_TIME)?, col::START_TIME)?,
            duration: i64s(&column(batch, col::DURATION_NS)?, col::DURATION_NS)?,
            status: s(col::STATUS_CODE)?,
            status_message: s(col::STATUS_MESSAGE)?,
            attributes: TypedMap::top(batch, col::ATTRIBUTES, col::ATTRIBUTE_TYPES)?,
            dropped_attributes: u(col::DROPPED_ATTRIBUTES_COUNT)?,
            events,
            dropped_events: u(col::DROPPED_EVENTS_COUNT)?,
            links,
            dropped_links: u(col::DROPPED_LINKS_COUNT)?,
            resource_attributes: TypedMap::top(batch, col::RESOURCE_ATTRIBUTES, col::RESOURCE_ATTRIBUTE_TYPES)?,
            resource_dropped: u(col::RESOURCE_DROPPED_ATTRIBUTES_COUNT)?,
            resource_schema_url: s(col::RESOURCE_SCHEMA_URL)?,
            scope_name: s(col::SCOPE_NAME)?,
            scope_version: s(col::SCOPE_VERSION)?,
            scope_attributes: TypedMap::top(batch, col::SCOPE_ATTRIBUTES, col::SCOPE_ATTRIBUTE_TYPES)?,
            scope_dropped: u(col::SCOPE_DROPPED_ATTRIBUTES_COUNT)?,
            scope_schema_url: s(col::SCOPE_SCHEMA_URL)?,
        })
    }
}
