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

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, ListArray, ListBuilder, RecordBatch,
    StringBuilder, StructArray, TimestampNanosecondBuilder, UInt32Builder, UInt64Builder,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

use crate::attributes::{map_type, AttrRef, AttributesBuilder, EntriesCapacity, RenderedRow};
use crate::error::StorageError;
use crate::spans::write_hex;

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

/// Builds a `metrics` [`RecordBatch`] row by row.
pub struct PointsBuilder {
    time: TimestampNanosecondBuilder,
    start_time: TimestampNanosecondBuilder,
    metric_name: StringBuilder,
    metric_type: StringBuilder,
    unit: StringBuilder,
    description: StringBuilder,
    service_name: StringBuilder,
    series: UInt64Builder,
    attributes: AttributesBuilder,
    resource_attributes: AttributesBuilder,
    value: Float64Builder,
    int_value: Int64Builder,
    is_monotonic: BooleanBuilder,
    temporality: StringBuilder,
    count: UInt64Builder,
    sum: Float64Builder,
    min: Float64Builder,
    max: Float64Builder,
    bucket_counts: ListBuilder<UInt64Builder>,
    explicit_bounds: ListBuilder<Float64Builder>,
    scale: Int32Builder,
    zero_count: UInt64Builder,
    zero_threshold: Float64Builder,
    positive_offset: Int32Builder,
    positive_bucket_counts: ListBuilder<UInt64Builder>,
    negative_offset: Int32Builder,
    negative_bucket_counts: ListBuilder<UInt64Builder>,
    quantiles: QuantilesBuilder,
    exemplars: ExemplarsBuilder,
    flags: UInt32Builder,
    scope_name: StringBuilder,
    scope_version: StringBuilder,
    rows: usize,
}

impl Default for PointsBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl PointsBuilder {
    pub fn new() -> Self {
        Self::with_capacity(1024)
    }

    /// A builder sized for `rows` points with guesses for their text (see [`Self::sized`]).
    pub fn with_capacity(rows: usize) -> Self {
        Self::sized(&PointsCapacity {
            rows,
            attributes: EntriesCapacity { entries: rows * 4, key_bytes: rows * 48, value_bytes: rows * 64 },
            resource_attributes: EntriesCapacity { entries: rows * 8, key_bytes: rows * 96, value_bytes: rows * 128 },
            name_bytes: rows * 24,
            description_bytes: rows * 32,
        })
    }

    /// A builder sized for what it will hold. Arrow's builders otherwise start at 1,024 items
    /// each: for requests of ~150 points, allocating and finishing ~60 such buffers took 6.8 %
    /// of the server's CPU in a metrics ingest; and a buffer that grows is copied each time it
    /// doubles, which for hipstershop's ~17 attributes a point was 4 % (BENCHMARKS.md, issue 5).
    /// Columns that most points leave null (histograms, exemplars, quantiles) size their
    /// values as they grow.
    pub fn sized(capacity: &PointsCapacity) -> Self {
        let rows = capacity.rows;
        let ts = || TimestampNanosecondBuilder::with_capacity(rows).with_timezone("UTC");
        let text = |bytes_per_row: usize| StringBuilder::with_capacity(rows, rows * bytes_per_row);
        let counts = || ListBuilder::with_capacity(UInt64Builder::with_capacity(0), rows);
        Self {
            time: ts(),
            start_time: ts(),
            metric_name: StringBuilder::with_capacity(rows, capacity.name_bytes),
            metric_type: text(8),
            unit: text(4),
            description: StringBuilder::with_capacity(rows, capacity.description_bytes),
            service_name: text(16),
            series: UInt64Builder::with_capacity(rows),
            attributes: AttributesBuilder::sized(rows, capacity.attributes),
            resource_attributes: AttributesBuilder::sized(rows, capacity.resource_attributes),
            value: Float64Builder::with_capacity(rows),
            int_value: Int64Builder::with_capacity(rows),
            is_monotonic: BooleanBuilder::with_capacity(rows),
            temporality: text(10),
            count: UInt64Builder::with_capacity(rows),
            sum: Float64Builder::with_capacity(rows),
            min: Float64Builder::with_capacity(rows),
            max: Float64Builder::with_capacity(rows),
            bucket_counts: counts(),
            explicit_bounds: ListBuilder::with_capacity(Float64Builder::with_capacity(0), rows),
            scale: Int32Builder::with_capacity(rows),
            zero_count: UInt64Builder::with_capacity(rows),
            zero_threshold: Float64Builder::with_capacity(rows),
            positive_offset: Int32Builder::with_capacity(rows),
            positive_bucket_counts: counts(),
            negative_offset: Int32Builder::with_capacity(rows),
            negative_bucket_counts: counts(),
            quantiles: QuantilesBuilder::with_capacity(rows),
            exemplars: ExemplarsBuilder::with_capacity(rows),
            flags: UInt32Builder::with_capacity(rows),
            scope_name: text(24),
            scope_version: text(8),
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

    /// Appends one data point of `metric` with its resource and scope.
    pub fn append(
        &mut self,
        scope: &PointScope<'_>,
        metric: &MetricInfo<'_>,
        point: &PointRecord<'_>,
    ) -> Result<(), StorageError> {
        self.series.append_value(series_key(scope.series_prefix, &point.attributes));
        self.attributes.append_row(point.attributes.iter().cloned())?;
        self.append_rest(scope, metric, point)
    }

    /// Appends one point whose series is `row` (its own `attributes` are not read): the same row
    /// as [`Self::append`] with the attributes in `row` (`tests::a_series_row_appends_what_its_attributes_do`).
    pub fn append_series(
        &mut self,
        scope: &PointScope<'_>,
        metric: &MetricInfo<'_>,
        point: &PointRecord<'_>,
        row: &SeriesRow,
    ) -> Result<(), StorageError> {
        self.series.append_value(row.series);
        self.attributes.append_rendered(&row.attributes)?;
        self.append_rest(scope, metric, point)
    }

    /// Every column of a point but its series and attributes.
    fn append_rest(
        &mut self,
        scope: &PointScope<'_>,
        metric: &MetricInfo<'_>,
        point: &PointRecord<'_>,
    ) -> Result<(), StorageError> {
        self.time.append_value(point.time_unix_nano);
        self.start_time.append_option((point.start_time_unix_nano != 0).then_some(point.start_time_unix_nano));
        self.metric_name.append_value(metric.name);
        self.metric_type.append_value(point.data.type_name());
        self.unit.append_option(non_empty(Some(metric.unit)));
        self.description.append_option(non_empty(Some(metric.description)));
        self.service_name.append_value(scope.service_name);
        self.resource_attributes.append_rendered(&scope.resource_attributes)?;
        self.append_data(&point.data);
        for exemplar in &point.exemplars {
            self.exemplars.append(exemplar)?;
        }
        self.exemplars.finish_row();
        self.flags.append_value(point.flags);
        self.scope_name.append_option(non_empty(scope.scope_name));
        self.scope_version.append_option(non_empty(scope.scope_version));
        self.rows += 1;
        Ok(())
    }

    fn append_data(&mut self, data: &PointData<'_>) {
        let temporality = |t: &i32| TEMPORALITIES.get(*t as usize).copied().unwrap_or(TEMPORALITIES[0]);
        let (number, monotonic, temp) = match data {
            PointData::Gauge(n) => (Some(*n), None, None),
            PointData::Sum { value, is_monotonic, temporality: t } => {
                (Some(*value), Some(*is_monotonic), Some(temporality(t)))
            }
            PointData::Histogram { temporality: t, .. } | PointData::ExponentialHistogram { temporality: t, .. } => {
                (None, None, Some(temporality(t)))
            }
            PointData::Summary { .. } => (None, None, None),
        };
        let (value, int_value) = match number {
            Some(Number::Double(d)) => (Some(d), None),
            Some(Number::Int(i)) => (Some(i as f64), Some(i)),
            Some(Number::None) | None => (None, None),
        };
        self.value.append_option(value);
        self.int_value.append_option(int_value);
        self.is_monotonic.append_option(monotonic);
        self.temporality.append_option(temp);

        let (count, sum, min, max) = match data {
            PointData::Histogram { count, sum, min, max, .. }
            | PointData::ExponentialHistogram { count, sum, min, max, .. } => (*count, *sum, *min, *max),
            PointData::Summary { count, sum, .. } => (*count, *sum, None, None),
            _ => (None, None, None, None),
        };
        self.count.append_option(count);
        self.sum.append_option(sum);
        self.min.append_option(min);
        self.max.append_option(max);

        if let PointData::Histogram { bucket_counts, explicit_bounds, .. } = data {
            self.bucket_counts.append_value(bucket_counts.iter().map(|c| Some(*c)));
            self.explicit_bounds.append_value(explicit_bounds.iter().map(|b| Some(*b)));
        } else {
            self.bucket_counts.append_null();
            self.explicit_bounds.append_null();
        }

        if let PointData::ExponentialHistogram { scale, zero_count, zero_threshold, positive, negative, .. } = data {
            self.scale.append_value(*scale);
            self.zero_count.append_value(*zero_count);
            self.zero_threshold.append_value(*zero_threshold);
            self.positive_offset.append_value(positive.0);
            self.positive_bucket_counts.append_value(positive.1.iter().map(|c| Some(*c)));
            self.negative_offset.append_value(negative.0);
            self.negative_bucket_counts.append_value(negative.1.iter().map(|c| Some(*c)));
        } else {
            self.scale.append_null();
            self.zero_count.append_null();
            self.zero_threshold.append_null();
            self.positive_offset.append_null();
            self.positive_bucket_counts.append_null();
            self.negative_offset.append_null();
            self.negative_bucket_counts.append_null();
        }

        match data {
            PointData::Summary { quantiles, .. } => self.quantiles.append(quantiles),
            _ => self.quantiles.append_null(),
        }
    }

    /// Finishes the batch and resets the builder.
    pub fn finish(&mut self) -> Result<RecordBatch, StorageError> {
        let (attributes, attribute_types) = self.attributes.finish();
        let (resource_attributes, resource_attribute_types) = self.resource_attributes.finish();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish()),
            Arc::new(self.start_time.finish()),
            Arc::new(self.metric_name.finish()),
            Arc::new(self.metric_type.finish()),
            Arc::new(self.unit.finish()),
            Arc::new(self.description.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.series.finish()),
            Arc::new(attributes),
            Arc::new(attribute_types),
            Arc::new(resource_attributes),
            Arc::new(resource_attribute_types),
            Arc::new(self.value.finish()),
            Arc::new(self.int_value.finish()),
            Arc::new(self.is_monotonic.finish()),
            Arc::new(self.temporality.finish()),
            Arc::new(self.count.finish()),
            Arc::new(self.sum.finish()),
            Arc::new(self.min.finish()),
            Arc::new(self.max.finish()),
            Arc::new(self.bucket_counts.finish()),
            Arc::new(self.explicit_bounds.finish()),
            Arc::new(self.scale.finish()),
            Arc::new(self.zero_count.finish()),
            Arc::new(self.zero_threshold.finish()),
            Arc::new(self.positive_offset.finish()),
            Arc::new(self.positive_bucket_counts.finish()),
            Arc::new(self.negative_offset.finish()),
            Arc::new(self.negative_bucket_counts.finish()),
            self.quantiles.finish(),
            self.exemplars.finish(),
            Arc::new(self.flags.finish()),
            Arc::new(self.scope_name.finish()),
            Arc::new(self.scope_version.finish()),
        ];
        self.rows = 0;
        Ok(RecordBatch::try_new(schema(), columns)?)
    }
}

/// `quantiles`: a nullable `List<Struct{quantile, value}>`.
struct QuantilesBuilder {
    quantile: Float64Builder,
    value: Float64Builder,
    offsets: Vec<i32>,
    valid: Vec<bool>,
    items: i32,
}

impl QuantilesBuilder {
    fn with_capacity(rows: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Self {
            quantile: Float64Builder::with_capacity(0),
            value: Float64Builder::with_capacity(0),
            offsets,
            valid: Vec::with_capacity(rows),
            items: 0,
        }
    }

    fn append(&mut self, quantiles: &[(f64, f64)]) {
        for (q, v) in quantiles {
            self.quantile.append_value(*q);
            self.value.append_value(*v);
            self.items += 1;
        }
        self.offsets.push(self.items);
        self.valid.push(true);
    }

    fn append_null(&mut self) {
        self.offsets.push(self.items);
        self.valid.push(false);
    }

    fn finish(&mut self) -> ArrayRef {
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        let valid = std::mem::take(&mut self.valid);
        self.items = 0;
        let columns: Vec<ArrayRef> = vec![Arc::new(self.quantile.finish()), Arc::new(self.value.finish())];
        let values = StructArray::new(quantile_fields(), columns, None);
        let item = Arc::new(Field::new("item", DataType::Struct(quantile_fields()), true));
        Arc::new(ListArray::new(item, OffsetBuffer::new(offsets.into()), Arc::new(values), Some(valid.into())))
    }
}

/// `exemplars`: a `List<Struct>` (empty list when a point has none).
struct ExemplarsBuilder {
    time: TimestampNanosecondBuilder,
    value: Float64Builder,
    int_value: Int64Builder,
    trace_id: StringBuilder,
    span_id: StringBuilder,
    attributes: AttributesBuilder,
    hex: String,
    offsets: Vec<i32>,
    items: i32,
}

impl ExemplarsBuilder {
    /// For `rows` points; exemplars themselves are rare, so their columns grow as needed.
    fn with_capacity(rows: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Self {
            time: TimestampNanosecondBuilder::with_capacity(0).with_timezone("UTC"),
            value: Float64Builder::with_capacity(0),
            int_value: Int64Builder::with_capacity(0),
            trace_id: StringBuilder::with_capacity(0, 0),
            span_id: StringBuilder::with_capacity(0, 0),
            attributes: AttributesBuilder::with_capacity(0, 0),
            hex: String::with_capacity(32),
            offsets,
            items: 0,
        }
    }

    fn append(&mut self, exemplar: &ExemplarRecord<'_>) -> Result<(), StorageError> {
        self.time.append_value(exemplar.time_unix_nano);
        let (value, int_value) = match exemplar.value {
            Some(Number::Double(d)) => (Some(d), None),
            Some(Number::Int(i)) => (Some(i as f64), Some(i)),
            _ => (None, None),
        };
        self.value.append_option(value);
        self.int_value.append_option(int_value);
        for (id, column) in [(exemplar.trace_id, &mut self.trace_id), (exemplar.span_id, &mut self.span_id)] {
            if id.is_empty() {
                column.append_null();
            } else {
                write_hex(id, &mut self.hex);
                column.append_value(&self.hex);
            }
        }
        self.attributes.append_row(exemplar.filtered_attributes.iter().cloned())?;
        self.items += 1;
        Ok(())
    }

    fn finish_row(&mut self) {
        self.offsets.push(self.items);
    }

    fn finish(&mut self) -> ArrayRef {
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        self.items = 0;
        let (attributes, attribute_types) = self.attributes.finish();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.int_value.finish()),
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(attributes),
            Arc::new(attribute_types),
        ];
        let values = StructArray::new(exemplar_fields(), columns, None);
        let item = Arc::new(Field::new("item", DataType::Struct(exemplar_fields()), true));
        Arc::new(ListArray::new(item, OffsetBuffer::new(offsets.into()), Arc::new(values), None))
    }
}

#[cfg(test)]
mod tests;
