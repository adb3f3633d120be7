//! [`PointsBuilder`]: a `metrics` batch built row by row, with the nested columns' builders
//! (quantiles, exemplars).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, ListArray, ListBuilder, RecordBatch,
    StringBuilder, StructArray, TimestampNanosecondBuilder, UInt32Builder, UInt64Builder,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field};

use super::*;
use crate::attributes::{AttributesBuilder, EntriesCapacity};
use crate::error::StorageError;
use crate::spans::write_hex;

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
