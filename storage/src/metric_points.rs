//! The `metrics` table: one row per OTLP (or scraped Prometheus) data point, its Arrow schema
//! and a row builder. (Storage's own Prometheus counters are in [`crate::metrics`].)
//!
//! Every point type shares one wide row: columns a type does not use are NULL (Parquet stores
//! a run of nulls in a few bits, so a gauge pays for the histogram columns almost nothing).
//! `value` is the gauge/sum value as a double; an integer point also keeps `int_value`, exact
//! beyond 2^53. A point flagged *no recorded value* (`flags & 1`, e.g. a Prometheus staleness
//! marker) keeps its row with NULL value/count/sum so the gap is visible to queries.
//!
//! Sort order inside a file: `(metric_name, service_name, series, time)`. `series` is a hash of
//! the point's attributes and resource attributes: points of one time series end up adjacent
//! in time order, so `time` delta-encodes to ~1 byte and the attribute maps dictionary- and
//! run-length-encode to almost nothing (see the bytes/point test in `tests.rs`).

use std::hash::Hasher;
use std::sync::{Arc, LazyLock};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

use crate::attributes::{map_type, AttrRef, EntriesCapacity, RenderedRow};
use crate::error::StorageError;

mod builder;

pub use builder::PointsBuilder;

/// Column names, for readers.
pub mod col {
    pub const TIME: &str = "time";
    pub const START_TIME: &str = "start_time";
    pub const METRIC_NAME: &str = "metric_name";
    pub const METRIC_TYPE: &str = "metric_type";
    pub const UNIT: &str = "unit";
    pub const DESCRIPTION: &str = "description";
    pub const SERVICE_NAME: &str = "service_name";
    pub const SERIES: &str = "series";
    pub const ATTRIBUTES: &str = "attributes";
    pub const ATTRIBUTE_TYPES: &str = "attribute_types";
    pub const RESOURCE_ATTRIBUTES: &str = "resource_attributes";
    pub const RESOURCE_ATTRIBUTE_TYPES: &str = "resource_attribute_types";
    pub const VALUE: &str = "value";
    pub const INT_VALUE: &str = "int_value";
    pub const IS_MONOTONIC: &str = "is_monotonic";
    pub const TEMPORALITY: &str = "temporality";
    pub const COUNT: &str = "count";
    pub const SUM: &str = "sum";
    pub const MIN: &str = "min";
    pub const MAX: &str = "max";
    pub const BUCKET_COUNTS: &str = "bucket_counts";
    pub const EXPLICIT_BOUNDS: &str = "explicit_bounds";
    pub const SCALE: &str = "scale";
    pub const ZERO_COUNT: &str = "zero_count";
    pub const ZERO_THRESHOLD: &str = "zero_threshold";
    pub const POSITIVE_OFFSET: &str = "positive_offset";
    pub const POSITIVE_BUCKET_COUNTS: &str = "positive_bucket_counts";
    pub const NEGATIVE_OFFSET: &str = "negative_offset";
    pub const NEGATIVE_BUCKET_COUNTS: &str = "negative_bucket_counts";
    pub const QUANTILES: &str = "quantiles";
    pub const EXEMPLARS: &str = "exemplars";
    pub const FLAGS: &str = "flags";
    pub const SCOPE_NAME: &str = "scope_name";
    pub const SCOPE_VERSION: &str = "scope_version";
    /// Files only: the row of this file holding the point's series columns ([`super::file_schema`]).
    pub const SERIES_ROW: &str = "series_row";
}

/// The columns every point of a series has in common (besides its metric name and service,
/// which are sort columns and cheap to store): a file stores them once per series.
pub const SERIES_COLUMNS: [&str; 4] =
    [col::ATTRIBUTES, col::ATTRIBUTE_TYPES, col::RESOURCE_ATTRIBUTES, col::RESOURCE_ATTRIBUTE_TYPES];

/// `temporality` column values, indexed by the OTLP `AggregationTemporality` number.
pub const TEMPORALITIES: [&str; 3] = ["unspecified", "delta", "cumulative"];

/// The OTLP `DataPointFlags` bit for "no recorded value".
pub const FLAG_NO_RECORDED_VALUE: u32 = 1;

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", item, true)))
}

fn quantile_fields() -> Fields {
    Fields::from(vec![Field::new("quantile", DataType::Float64, false), Field::new("value", DataType::Float64, false)])
}

fn exemplar_fields() -> Fields {
    Fields::from(vec![
        Field::new("time", ts(), false),
        Field::new("value", DataType::Float64, true),
        Field::new("int_value", DataType::Int64, true),
        Field::new("trace_id", DataType::Utf8, true),
        Field::new("span_id", DataType::Utf8, true),
        Field::new("filtered_attributes", map_type(), false),
        Field::new("filtered_attribute_types", DataType::Utf8, false),
    ])
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    use col::*;
    let counts = || list_of(DataType::UInt64);
    Arc::new(Schema::new(vec![
        Field::new(TIME, ts(), false),
        Field::new(START_TIME, ts(), true),
        Field::new(METRIC_NAME, DataType::Utf8, false),
        Field::new(METRIC_TYPE, DataType::Utf8, false),
        Field::new(UNIT, DataType::Utf8, true),
        Field::new(DESCRIPTION, DataType::Utf8, true),
        Field::new(SERVICE_NAME, DataType::Utf8, false),
        Field::new(SERIES, DataType::UInt64, false),
        Field::new(ATTRIBUTES, map_type(), false),
        Field::new(ATTRIBUTE_TYPES, DataType::Utf8, false),
        Field::new(RESOURCE_ATTRIBUTES, map_type(), false),
        Field::new(RESOURCE_ATTRIBUTE_TYPES, DataType::Utf8, false),
        Field::new(VALUE, DataType::Float64, true),
        Field::new(INT_VALUE, DataType::Int64, true),
        Field::new(IS_MONOTONIC, DataType::Boolean, true),
        Field::new(TEMPORALITY, DataType::Utf8, true),
        Field::new(COUNT, DataType::UInt64, true),
        Field::new(SUM, DataType::Float64, true),
        Field::new(MIN, DataType::Float64, true),
        Field::new(MAX, DataType::Float64, true),
        Field::new(BUCKET_COUNTS, counts(), true),
        Field::new(EXPLICIT_BOUNDS, list_of(DataType::Float64), true),
        Field::new(SCALE, DataType::Int32, true),
        Field::new(ZERO_COUNT, DataType::UInt64, true),
        Field::new(ZERO_THRESHOLD, DataType::Float64, true),
        Field::new(POSITIVE_OFFSET, DataType::Int32, true),
        Field::new(POSITIVE_BUCKET_COUNTS, counts(), true),
        Field::new(NEGATIVE_OFFSET, DataType::Int32, true),
        Field::new(NEGATIVE_BUCKET_COUNTS, counts(), true),
        Field::new(QUANTILES, list_of(DataType::Struct(quantile_fields())), true),
        Field::new(EXEMPLARS, list_of(DataType::Struct(exemplar_fields())), false),
        Field::new(FLAGS, DataType::UInt32, false),
        Field::new(SCOPE_NAME, DataType::Utf8, true),
        Field::new(SCOPE_VERSION, DataType::Utf8, true),
    ]))
});

/// The Arrow schema of the `metrics` table (logical and physical: it has no virtual column).
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// The schema of a `metrics` Parquet file: the table's columns, the [`SERIES_COLUMNS`]
/// nullable, and `series_row`. A file stores the series columns once per series, on the first
/// row of the series in the file, and leaves them NULL on its other rows; every row's
/// `series_row` is the row number (from 0, in the file) of the row holding them. A hipstershop
/// point carries ~20 attribute entries (~1 KB of text), the same for every point of its series:
/// written per point, the Parquet writer hashed ~40 strings a point for its dictionaries, and
/// the flush copied them all (BENCHMARKS.md, issue 5, session 17). Readers attach the columns
/// back ([`crate::table`]); files written before `series_row` existed hold them on every row,
/// and read as NULL `series_row`.
pub fn file_schema() -> SchemaRef {
    FILE_SCHEMA.clone()
}

static FILE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields: Vec<Field> = SCHEMA
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(f.is_nullable() || SERIES_COLUMNS.contains(&f.name().as_str())))
        .collect();
    fields.push(Field::new(col::SERIES_ROW, DataType::UInt32, true));
    Arc::new(Schema::new(fields))
});

/// A batch in the stored schema: `metrics` batches are stored as they are built.
pub fn to_physical(batch: &RecordBatch) -> Result<RecordBatch, StorageError> {
    if batch.schema().fields() != SCHEMA.fields() {
        return Err(StorageError::InvalidInput("batch does not match the metrics schema".into()));
    }
    Ok(batch.clone())
}

/// What a [`PointsBuilder`] is sized for: its points, their attribute entries, and the bytes of
/// their metrics' names and descriptions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PointsCapacity {
    pub rows: usize,
    pub attributes: EntriesCapacity,
    pub resource_attributes: EntriesCapacity,
    pub name_bytes: usize,
    pub description_bytes: usize,
}

/// Resource and scope of a group of points, with what every point of it shares computed
/// once: the resource attributes in their stored form, and the series hash of the service and
/// resource (each point continues it with its own attributes). hipstershop's points carry ten
/// resource attributes each, rendered and hashed per point before.
#[derive(Debug, Clone)]
pub struct PointScope<'a> {
    service_name: &'a str,
    resource_attributes: RenderedRow,
    scope_name: Option<&'a str>,
    scope_version: Option<&'a str>,
    series_prefix: u64,
}

impl<'a> PointScope<'a> {
    pub fn new(
        service_name: &'a str,
        resource_attributes: &[(&'a str, AttrRef<'a>)],
        scope_name: Option<&'a str>,
        scope_version: Option<&'a str>,
    ) -> Self {
        let mut h = Fnv::default();
        text(&mut h, service_name);
        for (k, v) in resource_attributes {
            text(&mut h, k);
            hash_value(v, &mut h);
        }
        Self {
            service_name,
            resource_attributes: RenderedRow::new(resource_attributes.iter().cloned()),
            scope_name,
            scope_version,
            series_prefix: h.finish(),
        }
    }

    /// The series row of this scope's points whose attributes are `attributes`.
    pub fn series_row(&self, attributes: &[(&str, AttrRef<'_>)]) -> SeriesRow {
        SeriesRow {
            series: series_key(self.series_prefix, attributes),
            attributes: RenderedRow::new(attributes.iter().cloned()),
        }
    }

    /// The series key's state after the service and resource attributes: two scopes with the
    /// same prefix give points with the same attributes the same series row.
    pub fn series_prefix(&self) -> u64 {
        self.series_prefix
    }
}

/// The metric a point belongs to.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricInfo<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub unit: &'a str,
}

/// A gauge or sum value; `None` when the point has no recorded value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Double(f64),
    Int(i64),
    None,
}

/// The type-specific part of a point. Optional numbers are NULL when absent.
#[derive(Debug, Clone, PartialEq)]
pub enum PointData<'a> {
    Gauge(Number),
    Sum {
        value: Number,
        is_monotonic: bool,
        /// OTLP `AggregationTemporality` number.
        temporality: i32,
    },
    Histogram {
        temporality: i32,
        count: Option<u64>,
        sum: Option<f64>,
        min: Option<f64>,
        max: Option<f64>,
        bucket_counts: &'a [u64],
        explicit_bounds: &'a [f64],
    },
    ExponentialHistogram {
        temporality: i32,
        count: Option<u64>,
        sum: Option<f64>,
        min: Option<f64>,
        max: Option<f64>,
        scale: i32,
        zero_count: u64,
        zero_threshold: f64,
        positive: (i32, &'a [u64]),
        negative: (i32, &'a [u64]),
    },
    Summary {
        count: Option<u64>,
        sum: Option<f64>,
        /// `(quantile, value)` pairs.
        quantiles: Vec<(f64, f64)>,
    },
}

impl PointData<'_> {
    /// The `metric_type` column value.
    pub fn type_name(&self) -> &'static str {
        match self {
            PointData::Gauge(_) => "gauge",
            PointData::Sum { .. } => "sum",
            PointData::Histogram { .. } => "histogram",
            PointData::ExponentialHistogram { .. } => "exponential_histogram",
            PointData::Summary { .. } => "summary",
        }
    }
}

/// One exemplar: ids are raw bytes (empty when absent), written as hex.
#[derive(Debug, Clone, Default)]
pub struct ExemplarRecord<'a> {
    pub time_unix_nano: i64,
    pub value: Option<Number>,
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub filtered_attributes: Vec<(&'a str, AttrRef<'a>)>,
}

/// One data point.
#[derive(Debug, Clone)]
pub struct PointRecord<'a> {
    pub time_unix_nano: i64,
    /// 0 when unknown (stored as NULL).
    pub start_time_unix_nano: i64,
    pub attributes: Vec<(&'a str, AttrRef<'a>)>,
    pub flags: u32,
    pub data: PointData<'a>,
    pub exemplars: Vec<ExemplarRecord<'a>>,
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// FNV-1a (64 bit): `series` is stored, so its hash must not change with the Rust release
/// (std's `DefaultHasher` makes no such promise).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// The `series` key: a hash of what identifies a time series besides the metric name. Bytes
/// are fed explicitly (not through `Hash` impls, whose byte streams std may change).
fn series_key(prefix: u64, attributes: &[(&str, AttrRef<'_>)]) -> u64 {
    // FNV is a running state: continuing the scope's prefix hashes the same bytes in the same
    // order as hashing service, resource and point attributes from the start.
    let mut h = Fnv(prefix);
    for (k, v) in attributes {
        text(&mut h, k);
        hash_value(v, &mut h);
    }
    h.finish()
}

/// What the points of one series share under one scope: their attributes in stored form and
/// their `series` key, rendered and hashed once for all of them ([`PointsBuilder::append_series`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesRow {
    series: u64,
    attributes: RenderedRow,
}

impl SeriesRow {
    /// Bytes it holds (for bounding a cache of rows).
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.attributes.bytes()
    }
}

fn text(h: &mut Fnv, s: &str) {
    h.write(s.as_bytes());
    h.write(&[0xff]);
}

fn hash_value(value: &AttrRef<'_>, h: &mut Fnv) {
    match value {
        AttrRef::Empty => h.write(&[0]),
        AttrRef::Str(s) => {
            h.write(&[1]);
            text(h, s);
        }
        AttrRef::Int(i) => {
            h.write(&[2]);
            h.write(&i.to_le_bytes());
        }
        AttrRef::Double(d) => {
            h.write(&[3]);
            h.write(&d.to_bits().to_le_bytes());
        }
        AttrRef::Bool(b) => h.write(&[4, u8::from(*b)]),
        AttrRef::Bytes(b) => {
            h.write(&[5]);
            h.write(&(b.len() as u64).to_le_bytes());
            h.write(b);
        }
        AttrRef::Array(items) => {
            h.write(&[6]);
            h.write(&(items.len() as u64).to_le_bytes());
            items.iter().for_each(|v| hash_value(v, h));
        }
        AttrRef::KvList(kvs) => {
            h.write(&[7]);
            h.write(&(kvs.len() as u64).to_le_bytes());
            for (k, v) in kvs {
                text(h, k);
                hash_value(v, h);
            }
        }
    }
}

#[cfg(test)]
mod tests;
