//! Typed, read-only access to the `spans` rows of one trace, across the record
//! batches the query returned. Columns are downcast once per batch; a span's
//! attributes, events and links are decoded only when asked for (only the spans
//! on the requested page are).

use arrow::array::{Array, ArrayRef, AsArray, ListArray, MapArray, RecordBatch, StringArray, TimestampNanosecondArray};
use arrow::datatypes::TimestampNanosecondType;
use osprey_storage::attributes::{read_row, AttrValue};
use osprey_storage::spans::{self, col};

use crate::error::{QueryError, Result};
use crate::waterfall::SpanTiming;

/// The columns of `spans` the waterfall reads (the query projects these).
pub const COLUMNS: [&str; 15] = [
    col::SPAN_ID,
    col::PARENT_SPAN_ID,
    col::SERVICE_NAME,
    col::NAME,
    col::KIND,
    col::START_TIME,
    col::END_TIME,
    col::STATUS_CODE,
    col::STATUS_MESSAGE,
    col::ATTRIBUTES,
    col::ATTRIBUTE_TYPES,
    col::EVENTS,
    col::LINKS,
    col::RESOURCE_ATTRIBUTES,
    col::RESOURCE_ATTRIBUTE_TYPES,
];

/// Typed attributes of one span, event or link, in stored order.
pub type Attributes = Vec<(String, AttrValue)>;

pub struct Event<'a> {
    pub time_unix_nano: i64,
    pub name: &'a str,
    pub attributes: Attributes,
}

pub struct Link<'a> {
    pub trace_id: &'a str,
    pub span_id: &'a str,
    pub trace_state: Option<&'a str>,
    pub attributes: Attributes,
}

/// The rows of one trace. Rows are numbered `0..len()` across batches.
pub struct SpanRows {
    batches: Vec<Columns>,
    /// (batch, row) of each row number.
    rows: Vec<(u32, u32)>,
}

impl SpanRows {
    pub fn new(batches: &[RecordBatch]) -> Result<Self> {
        let mut rows = Vec::with_capacity(batches.iter().map(RecordBatch::num_rows).sum());
        let mut columns = Vec::with_capacity(batches.len());
        for batch in batches.iter().filter(|b| b.num_rows() > 0) {
            let b = columns.len() as u32;
            rows.extend((0..batch.num_rows() as u32).map(|r| (b, r)));
            columns.push(Columns::new(batch)?);
        }
        Ok(SpanRows { batches: columns, rows })
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn at(&self, row: usize) -> (&Columns, usize) {
        let (b, r) = self.rows[row];
        (&self.batches[b as usize], r as usize)
    }

    /// The timings of every row, in row order.
    pub fn timings(&self) -> Vec<SpanTiming<'_>> {
        (0..self.len())
            .map(|row| {
                let (c, r) = self.at(row);
                SpanTiming {
                    span_id: c.span_id.value(r),
                    parent_span_id: opt(&c.parent_span_id, r),
                    service: c.service.value(r),
                    start_unix_nano: c.start.value(r),
                    end_unix_nano: c.end.value(r),
                    is_error: c.status.value(r) == "error",
                }
            })
            .collect()
    }

    pub fn service(&self, row: usize) -> &str {
        let (c, r) = self.at(row);
        c.service.value(r)
    }

    pub fn name(&self, row: usize) -> &str {
        let (c, r) = self.at(row);
        c.name.value(r)
    }

    pub fn kind(&self, row: usize) -> &str {
        let (c, r) = self.at(row);
        c.kind.value(r)
    }

    pub fn status(&self, row: usize) -> &str {
        let (c, r) = self.at(row);
        c.status.value(r)
    }

    pub fn status_message(&self, row: usize) -> Option<&str> {
        let (c, r) = self.at(row);
        opt(&c.status_message, r)
    }

    pub fn attributes(&self, row: usize) -> Result<Attributes> {
        let (c, r) = self.at(row);
        Ok(read_row(&c.attributes, &c.attribute_types, r)?)
    }

    pub fn resource_attributes(&self, row: usize) -> Result<Attributes> {
        let (c, r) = self.at(row);
        Ok(read_row(&c.resource_attributes, &c.resource_attribute_types, r)?)
    }

    pub fn events(&self, row: usize) -> Result<Vec<Event<'_>>> {
        let (c, r) = self.at(row);
        let e = &c.events;
        item_range(&c.event_list, r)
            .map(|i| {
                Ok(Event {
                    time_unix_nano: e.time.value(i),
                    name: e.name.value(i),
                    attributes: read_row(&e.attributes, &e.attribute_types, i)?,
                })
            })
            .collect()
    }

    pub fn links(&self, row: usize) -> Result<Vec<Link<'_>>> {
        let (c, r) = self.at(row);
        let l = &c.links;
        item_range(&c.link_list, r)
            .map(|i| {
                Ok(Link {
                    trace_id: l.trace_id.value(i),
                    span_id: l.span_id.value(i),
                    trace_state: opt(&l.trace_state, i),
                    attributes: read_row(&l.attributes, &l.attribute_types, i)?,
                })
            })
            .collect()
    }
}

pub(crate) fn opt(array: &StringArray, row: usize) -> Option<&str> {
    (!array.is_null(row)).then(|| array.value(row)).filter(|s| !s.is_empty())
}

/// Indices into a list column's values for one row (empty for a NULL list).
pub(crate) fn item_range(list: &ListArray, row: usize) -> std::ops::Range<usize> {
    if list.is_null(row) {
        return 0..0;
    }
    let offsets = list.value_offsets();
    offsets[row] as usize..offsets[row + 1] as usize
}

fn layout(msg: String) -> QueryError {
    QueryError::Layout(msg)
}

/// A top-level column as the `spans` schema declares it (cast if the provider
/// hands back an equivalent type, e.g. `Utf8View` from Parquet).
pub(crate) fn column(batch: &RecordBatch, name: &str) -> Result<ArrayRef> {
    let array = batch.column_by_name(name).ok_or_else(|| layout(format!("column {name} missing")))?;
    let schema = spans::schema();
    let want = schema.field_with_name(name)?.data_type();
    if array.data_type() == want {
        Ok(array.clone())
    } else {
        Ok(arrow::compute::cast(array, want)?)
    }
}

pub(crate) fn strings(array: &ArrayRef, name: &str) -> Result<StringArray> {
    array.as_string_opt::<i32>().cloned().ok_or_else(|| layout(format!("{name} is not Utf8")))
}

pub(crate) fn times(array: &ArrayRef, name: &str) -> Result<TimestampNanosecondArray> {
    array
        .as_primitive_opt::<TimestampNanosecondType>()
        .cloned()
        .ok_or_else(|| layout(format!("{name} is not a ns timestamp")))
}

pub(crate) fn map(array: &ArrayRef, name: &str) -> Result<MapArray> {
    array.as_map_opt().cloned().ok_or_else(|| layout(format!("{name} is not a map")))
}

pub(crate) fn list(array: &ArrayRef, name: &str) -> Result<ListArray> {
    array.as_list_opt::<i32>().cloned().ok_or_else(|| layout(format!("{name} is not a list")))
}

struct Columns {
    span_id: StringArray,
    parent_span_id: StringArray,
    service: StringArray,
    name: StringArray,
    kind: StringArray,
    start: TimestampNanosecondArray,
    end: TimestampNanosecondArray,
    status: StringArray,
    status_message: StringArray,
    attributes: MapArray,
    attribute_types: StringArray,
    resource_attributes: MapArray,
    resource_attribute_types: StringArray,
    event_list: ListArray,
    events: EventColumns,
    link_list: ListArray,
    links: LinkColumns,
}

impl Columns {
    fn new(batch: &RecordBatch) -> Result<Self> {
        let s = |name: &str| strings(&column(batch, name)?, name);
        let m = |name: &str| map(&column(batch, name)?, name);
        let event_list = list(&column(batch, col::EVENTS)?, col::EVENTS)?;
        let link_list = list(&column(batch, col::LINKS)?, col::LINKS)?;
        Ok(Columns {
            span_id: s(col::SPAN_ID)?,
            parent_span_id: s(col::PARENT_SPAN_ID)?,
            service: s(col::SERVICE_NAME)?,
            name: s(col::NAME)?,
            kind: s(col::KIND)?,
            start: times(&column(batch, col::START_TIME)?, col::START_TIME)?,
            end: times(&column(batch, col::END_TIME)?, col::END_TIME)?,
            status: s(col::STATUS_CODE)?,
            status_message: s(col::STATUS_MESSAGE)?,
            attributes: m(col::ATTRIBUTES)?,
            attribute_types: s(col::ATTRIBUTE_TYPES)?,
            resource_attributes: m(col::RESOURCE_ATTRIBUTES)?,
            resource_attribute_types: s(col::RESOURCE_ATTRIBUTE_TYPES)?,
            events: EventColumns::new(&event_list)?,
            event_list,
            links: LinkColumns::new(&link_list)?,
            link_list,
        })
    }
}

/// A field of the struct items of a list column.
pub(crate) fn item_field(list: &ListArray, name: &str) -> Result<ArrayRef> {
    let items = list.values().as_struct_opt().ok_or_else(|| layout("list items are not structs".to_string()))?;
    items.column_by_name(name).cloned().ok_or_else(|| layout(format!("list item field {name} missing")))
}

struct EventColumns {
    time: TimestampNanosecondArray,
    name: StringArray,
    attributes: MapArray,
    attribute_types: StringArray,
}

impl EventColumns {
    fn new(list: &ListArray) -> Result<Self> {
        Ok(EventColumns {
            time: times(&item_field(list, "time")?, "events.time")?,
            name: strings(&item_field(list, "name")?, "events.name")?,
            attributes: map(&item_field(list, "attributes")?, "events.attributes")?,
            attribute_types: strings(&item_field(list, "attribute_types")?, "events.attribute_types")?,
        })
    }
}

struct LinkColumns {
    trace_id: StringArray,
    span_id: StringArray,
    trace_state: StringArray,
    attributes: MapArray,
    attribute_types: StringArray,
}

impl LinkColumns {
    fn new(list: &ListArray) -> Result<Self> {
        Ok(LinkColumns {
            trace_id: strings(&item_field(list, "trace_id")?, "links.trace_id")?,
            span_id: strings(&item_field(list, "span_id")?, "links.span_id")?,
            trace_state: strings(&item_field(list, "trace_state")?, "links.trace_state")?,
            attributes: map(&item_field(list, "attributes")?, "links.attributes")?,
            attribute_types: strings(&item_field(list, "attribute_types")?, "links.attribute_types")?,
        })
    }
}
