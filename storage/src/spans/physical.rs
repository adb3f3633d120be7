//! The physical `spans` schema: the logical one without `end_time`; and the
//! conversion of batches of older layouts.
//!
//! `end_time` is always `start_time + duration_ns` (the builder stores
//! `duration_ns = end - start`, both clamped to `[0, i64::MAX]` by the collector,
//! so the sum is exact). Storing it cost ~6 bytes/span in Parquet (8 in the WAL
//! and memtables); it is recomputed instead: [`to_logical`] for batches, and the
//! table provider's projection ([`end_time_expr`]) for SQL.

use std::sync::{Arc, LazyLock};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Int64Type, SchemaRef, TimeUnit, TimestampNanosecondType};
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{BinaryExpr, CastExpr};
use datafusion::physical_expr::PhysicalExpr;

use super::col::{DURATION_NS, END_TIME, START_TIME};
use crate::error::StorageError;

static PHYSICAL: LazyLock<SchemaRef> = LazyLock::new(|| {
    let logical = super::schema();
    let fields: Vec<_> = logical.fields().iter().filter(|f| f.name() != END_TIME).cloned().collect();
    Arc::new(arrow::datatypes::Schema::new(fields))
});

/// The layouts before the dedicated columns: logical (WAL frames of version 1) and physical (version 2).
static OLDER_LAYOUTS: LazyLock<[SchemaRef; 2]> =
    LazyLock::new(|| [without_dedicated(&super::schema()), without_dedicated(&physical_schema())]);

/// The schema of stored `spans` batches (WAL, memtables, Parquet): [`super::schema`] without `end_time`.
pub fn physical_schema() -> SchemaRef {
    PHYSICAL.clone()
}

/// The stored columns a virtual column of the logical schema is computed from; `None` for a stored column.
pub fn virtual_inputs(column: &str) -> Option<[&'static str; 2]> {
    (column == END_TIME).then_some([START_TIME, DURATION_NS])
}

/// A batch in the physical schema, from a logical or a physical one (dropping
/// `end_time` is free: columns are shared, not copied). A batch of an older layout
/// (WAL frames written before the dedicated columns existed) gets them computed from
/// its attribute map.
pub fn to_physical(batch: &RecordBatch) -> Result<RecordBatch, StorageError> {
    let physical = physical_schema();
    if batch.schema().fields() == physical.fields() {
        return Ok(batch.clone());
    }
    let schema = batch.schema();
    if schema.fields() == super::schema().fields() {
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .zip(batch.columns())
            .filter(|(f, _)| f.name() != END_TIME)
            .map(|(_, c)| c.clone())
            .collect();
        return Ok(RecordBatch::try_new(physical, columns)?);
    }
    if !OLDER_LAYOUTS.iter().any(|k| k.fields() == schema.fields()) {
        return Err(StorageError::InvalidInput("batch does not match the spans schema".into()));
    }
    let mut dedicated: Option<Vec<ArrayRef>> = None;
    let mut columns = Vec::with_capacity(physical.fields().len());
    for field in physical.fields() {
        if let Some(column) = batch.column_by_name(field.name()) {
            columns.push(column.clone());
            continue;
        }
        let position = super::dedicated::DEDICATED.iter().position(|d| d.column == field.name());
        let computed = match dedicated.as_ref() {
            Some(computed) => computed,
            None => dedicated.insert(compute_dedicated(batch)?),
        };
        let column = position
            .and_then(|p| computed.get(p))
            .ok_or_else(|| StorageError::InvalidInput(format!("batch has no spans column {}", field.name())))?;
        columns.push(column.clone());
    }
    Ok(RecordBatch::try_new(physical, columns)?)
}

fn compute_dedicated(batch: &RecordBatch) -> Result<Vec<ArrayRef>, StorageError> {
    let attributes = batch
        .column_by_name(super::col::ATTRIBUTES)
        .and_then(|c| c.as_map_opt())
        .ok_or_else(|| StorageError::InvalidInput("spans batch has no attribute map".into()))?;
    super::dedicated::columns(attributes)
}

/// `schema` without the dedicated columns: the layout of WAL frames and Parquet
/// files written before they existed.
pub fn without_dedicated(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<_> =
        schema.fields().iter().filter(|f| super::dedicated::by_column(f.name()).is_none()).cloned().collect();
    Arc::new(arrow::datatypes::Schema::new(fields))
}

/// A batch in the logical schema (with `end_time` computed) from a physical one.
pub fn to_logical(batch: &RecordBatch) -> Result<RecordBatch, StorageError> {
    let logical = super::schema();
    if batch.schema().fields() != physical_schema().fields() {
        return Err(StorageError::InvalidInput("batch does not match the physical spans schema".into()));
    }
    let missing = |name: &str| StorageError::Internal(format!("spans column {name} missing or mistyped"));
    let start = batch
        .column_by_name(START_TIME)
        .and_then(|c| c.as_primitive_opt::<TimestampNanosecondType>())
        .ok_or_else(|| missing(START_TIME))?;
    let duration = batch
        .column_by_name(DURATION_NS)
        .and_then(|c| c.as_primitive_opt::<Int64Type>())
        .ok_or_else(|| missing(DURATION_NS))?;
    let end_time: ArrayRef = Arc::new(end_times(start, duration));
    let mut stored = batch.columns().iter();
    let columns: Vec<ArrayRef> = logical
        .fields()
        .iter()
        .map(|f| if f.name() == END_TIME { Some(end_time.clone()) } else { stored.next().cloned() })
        .collect::<Option<_>>()
        .ok_or_else(|| missing("stored"))?;
    Ok(RecordBatch::try_new(logical, columns)?)
}

/// `start + duration`, element by element (saturating; nulls stay null).
pub fn end_times(
    start: &arrow::array::PrimitiveArray<TimestampNanosecondType>,
    duration: &arrow::array::PrimitiveArray<Int64Type>,
) -> TimestampNanosecondArray {
    let values: Vec<i64> = start.values().iter().zip(duration.values()).map(|(s, d)| s.saturating_add(*d)).collect();
    let nulls = arrow::buffer::NullBuffer::union(start.nulls(), duration.nulls());
    TimestampNanosecondArray::new(values.into(), nulls).with_timezone("UTC")
}

/// The DataFusion expression of `end_time` over `start_time` and `duration_ns`
/// expressions: `CAST(CAST(start_time AS Int64) + duration_ns AS Timestamp(ns, "UTC"))`.
pub fn end_time_expr(start: Arc<dyn PhysicalExpr>, duration: Arc<dyn PhysicalExpr>) -> Arc<dyn PhysicalExpr> {
    let start_ns: Arc<dyn PhysicalExpr> = Arc::new(CastExpr::new(start, DataType::Int64, None));
    let sum: Arc<dyn PhysicalExpr> = Arc::new(BinaryExpr::new(start_ns, Operator::Plus, duration));
    Arc::new(CastExpr::new(sum, DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), None))
}

#[cfg(test)]
mod tests;
