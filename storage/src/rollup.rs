//! Pre-aggregated RED (rate, errors, duration) of the spans, per minute, so a service
//! map or a RED chart over a day reads a few thousand bucket rows instead of every span.
//!
//! `service_red` is a *derived* table: it is never written to the WAL. Each flush
//! derives its rows from the span batches it persists and writes them as Parquet
//! files (same hourly partitions) published in the **same manifest delta** as the
//! span files, so the two can never disagree: a crash before the publish loses both
//! (the spans are replayed from the WAL and derived again by the next flush), a crash
//! after it keeps both. Spans still in memtables are rolled up when a scan asks
//! (see [`crate::Storage::snapshot`]), from the same catalog snapshot as the files, so
//! `service_red` always covers exactly the spans `spans` shows.
//!
//! One row per (minute bucket of the span's start, service, operation = span name,
//! span kind) *per flush*: a bucket that straddles flushes has several rows, and a
//! query sums counts and merges sketches. Columns:
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `bucket_start` | timestamp ns UTC | start of the minute (time column: pruning, partitions) |
//! | `service_name`, `operation`, `kind` | text | the spans' service, name and kind |
//! | `request_count` | bigint | spans |
//! | `error_count` | bigint | spans with status error |
//! | `duration_sum_ns` | bigint | sum of their durations |
//! | `duration_sketch` | binary | DDSketch of the durations in ns, relative accuracy 1% (`sketches-ddsketch`, Java-compatible encoding) |

pub mod edges;
pub mod late_join;
pub mod memo;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use arrow::array::{AsArray, BinaryBuilder, Int64Builder, RecordBatch, StringBuilder, TimestampNanosecondBuilder};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit, TimestampNanosecondType};
use sketches_ddsketch::{Config, DDSketch};

use crate::error::{Result, StorageError};
use crate::spans::col;

/// Width of a bucket: one minute.
pub const BUCKET_NS: i64 = 60_000_000_000;

/// Relative accuracy of the duration sketches: a quantile read from a sketch is within
/// 1% of the value at that rank.
pub const SKETCH_RELATIVE_ACCURACY: f64 = 0.01;

pub mod red_col {
    pub const BUCKET_START: &str = "bucket_start";
    pub const SERVICE_NAME: &str = "service_name";
    pub const OPERATION: &str = "operation";
    pub const KIND: &str = "kind";
    pub const REQUEST_COUNT: &str = "request_count";
    pub const ERROR_COUNT: &str = "error_count";
    pub const DURATION_SUM_NS: &str = "duration_sum_ns";
    pub const DURATION_SKETCH: &str = "duration_sketch";
}

/// The `service_red` schema (logical = physical).
pub fn red_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                Field::new(red_col::BUCKET_START, DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false),
                Field::new(red_col::SERVICE_NAME, DataType::Utf8, false),
                Field::new(red_col::OPERATION, DataType::Utf8, false),
                Field::new(red_col::KIND, DataType::Utf8, false),
                Field::new(red_col::REQUEST_COUNT, DataType::Int64, false),
                Field::new(red_col::ERROR_COUNT, DataType::Int64, false),
                Field::new(red_col::DURATION_SUM_NS, DataType::Int64, false),
                Field::new(red_col::DURATION_SKETCH, DataType::Binary, false),
            ]))
        })
        .clone()
}

/// An empty duration sketch with Osprey's settings.
pub fn new_sketch() -> DDSketch {
    DDSketch::new(sketch_config())
}

fn sketch_config() -> Config {
    Config::new(SKETCH_RELATIVE_ACCURACY, 2048, 1.0e-9)
}

/// `duration_ns` moved to the centre of its sketch bin, for the single rows of `service_edges`,
/// which are only ever added to sketches: a sketch of the moved values has the same bins, hence
/// the same quantiles, as one of the exact values (only its min, max and sum move, each by at
/// most 1 % and half a nanosecond). Over 1 µs..10 s there are ~800 such values, so the column
/// takes a dictionary index instead of ~3 bytes of noise a row. A value the move would push
/// into another bin (a few ns, where rounding to whole nanoseconds matters) is kept exact.
pub fn binned_duration(duration_ns: i64) -> i64 {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    let config = CONFIG.get_or_init(sketch_config);
    if duration_ns <= 0 {
        return duration_ns;
    }
    let key = config.key(duration_ns as f64);
    let centre = config.value(key).round();
    if centre < i64::MAX as f64 && config.key(centre) == key {
        centre as i64
    } else {
        duration_ns
    }
}

#[derive(Default)]
struct Cell {
    requests: i64,
    errors: i64,
    sum_ns: i64,
    sketch: Option<DDSketch>,
}

/// The `service_red` rows of `spans` (batches in the spans' physical or logical
/// schema); `None` when there are no spans.
pub fn derive_red(spans: &[RecordBatch]) -> Result<Option<RecordBatch>> {
    // The text columns of every batch first, so the cells can borrow their keys.
    let texts = spans
        .iter()
        .filter(|b| b.num_rows() > 0)
        .map(|b| {
            let [s, n, k, st] = [col::SERVICE_NAME, col::NAME, col::KIND, col::STATUS_CODE].map(|c| strings(b, c));
            Ok((b, s?, n?, k?, st?))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut cells: BTreeMap<(i64, &str, &str, &str), Cell> = BTreeMap::new();
    for (batch, services, names, kinds, statuses) in &texts {
        let starts = column(batch, col::START_TIME)?;
        let starts = starts
            .as_primitive_opt::<TimestampNanosecondType>()
            .ok_or_else(|| StorageError::Internal("spans.start_time is not a timestamp".into()))?;
        let durations = cast(column(batch, col::DURATION_NS)?, &DataType::Int64)?;
        let durations = durations.as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            let bucket = starts.value(row).div_euclid(BUCKET_NS) * BUCKET_NS;
            let cell = cells.entry((bucket, services.value(row), names.value(row), kinds.value(row))).or_default();
            let duration = durations.value(row);
            cell.requests += 1;
            cell.errors += i64::from(statuses.value(row) == "error");
            cell.sum_ns = cell.sum_ns.saturating_add(duration);
            cell.sketch.get_or_insert_with(new_sketch).add(duration as f64);
        }
    }
    if cells.is_empty() {
        return Ok(None);
    }
    let mut bucket = TimestampNanosecondBuilder::with_capacity(cells.len()).with_timezone("UTC");
    let (mut service, mut operation, mut kind) = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    let (mut requests, mut errors, mut sum) = (Int64Builder::new(), Int64Builder::new(), Int64Builder::new());
    let mut sketch = BinaryBuilder::new();
    for ((b, s, o, k), cell) in cells {
        bucket.append_value(b);
        service.append_value(s);
        operation.append_value(o);
        kind.append_value(k);
        requests.append_value(cell.requests);
        errors.append_value(cell.errors);
        sum.append_value(cell.sum_ns);
        sketch.append_value(cell.sketch.unwrap_or_else(new_sketch).to_java_bytes());
    }
    let batch = RecordBatch::try_new(
        red_schema(),
        vec![
            Arc::new(bucket.finish()),
            Arc::new(service.finish()),
            Arc::new(operation.finish()),
            Arc::new(kind.finish()),
            Arc::new(requests.finish()),
            Arc::new(errors.finish()),
            Arc::new(sum.finish()),
            Arc::new(sketch.finish()),
        ],
    )?;
    Ok(Some(batch))
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a arrow::array::ArrayRef> {
    batch.column_by_name(name).ok_or_else(|| StorageError::Internal(format!("spans batch without {name}")))
}

/// A text column as `StringArray`, whatever string encoding it arrived in.
fn strings(batch: &RecordBatch, name: &str) -> Result<arrow::array::StringArray> {
    let array = cast(column(batch, name)?, &DataType::Utf8)?;
    array.as_string_opt::<i32>().cloned().ok_or_else(|| StorageError::Internal(format!("spans.{name} is not text")))
}

#[cfg(test)]
mod tests;
