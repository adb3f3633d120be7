//! Reading `metrics` files, which store each series' attribute columns once: on the first row of
//! the series in the file, NULL on its other rows, and every row naming that row in `series_row`
//! ([`crate::metric_points::file_schema`]).
//!
//! A scan that reads a series column reads `series_row` and the file's number (a partition
//! column, `__file`) along, and [`SeriesColumnsExec`] puts the columns back on every row: it
//! loads a file's *series table* (its holder rows and their series columns, read whole the first
//! time a scan needs it, then kept in [`SeriesTables`]) and takes each row's columns from it.
//! Files written before `series_row` existed hold the columns on every row and read it as NULL:
//! their rows pass unchanged.
//!
//! Filters naming a series column cannot be evaluated in the Parquet reader (most rows hold
//! NULL there), so this node pushes only the others down to the scan; DataFusion's `FilterExec`
//! above the table applies every filter again, after the columns are back.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, RecordBatchReader, UInt32Array};
use arrow::compute::{concat_batches, filter_record_batch, interleave, is_not_null, take};
use arrow::datatypes::{DataType, Field, SchemaRef, UInt32Type};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::projection::ProjectionMapping;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::execution_plan::CardinalityEffect;
use datafusion::physical_plan::filter_pushdown::{ChildFilterDescription, FilterDescription, FilterPushdownPhase};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties, SendableRecordBatchStream,
};
use futures::StreamExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use crate::error::{Result, StorageError};
use crate::metric_points::{col, SERIES_COLUMNS};
use prometheus_client::metrics::gauge::Gauge;

/// The partition column a metrics scan adds: the file's number in [`SeriesColumnsExec`]'s list.
pub(crate) const FILE_COLUMN: &str = "__file";

/// The partition column's field.
pub(crate) fn file_field() -> Field {
    Field::new(FILE_COLUMN, DataType::UInt32, false)
}

/// The holder rows of one file and their series columns.
#[derive(Debug)]
pub(crate) struct SeriesTable {
    /// Row numbers in the file of the rows holding series columns, ascending.
    holders: Vec<u32>,
    /// The [`SERIES_COLUMNS`] of those rows, in that order.
    columns: RecordBatch,
    bytes: usize,
}

impl SeriesTable {
    /// Reads the series table of the metrics file at `path`.
    pub(crate) fn load(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| StorageError::io(path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
        let roots: Vec<usize> =
            SERIES_COLUMNS.iter().map(|name| builder.schema().index_of(name)).collect::<std::result::Result<_, _>>()?;
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        let reader = builder.with_projection(mask).build()?;
        let schema = reader.schema();
        let (mut holders, mut batches, mut row) = (Vec::new(), Vec::new(), 0u32);
        for batch in reader {
            let batch = batch?;
            let attributes = batch
                .column_by_name(col::ATTRIBUTES)
                .ok_or_else(|| StorageError::Internal("series table without attributes".into()))?;
            let next = u32::try_from(batch.num_rows())
                .ok()
                .and_then(|n| row.checked_add(n))
                .ok_or_else(|| StorageError::Internal(format!("{}: more than 2^32 rows", path.display())))?;
            holders.extend((row..next).filter(|&r| attributes.is_valid((r - row) as usize)));
            batches.push(filter_record_batch(&batch, &is_not_null(attributes)?)?);
            row = next;
        }
        let columns = concat_batches(&schema, &batches)?;
        let bytes = columns.get_array_memory_size() + holders.len() * 4;
        Ok(Self { holders, columns, bytes })
    }

    /// The positions in this table of the holders `series_row` names.
    fn positions(&self, series_row: &UInt32Array, path: &Path) -> DfResult<UInt32Array> {
        series_row
            .iter()
            .map(|row| {
                let Some(row) = row else { return Ok(None) };
                match self.holders.binary_search(&row) {
                    Ok(position) => Ok(Some(position as u32)),
                    Err(_) => Err(DataFusionError::Execution(format!(
                        "metrics file {}: series_row {row} names a row without series columns",
                        path.display()
                    ))),
                }
            })
            .collect()
    }
}

/// Series tables of the files scans read, kept until they pass `limit` bytes (the least
/// recently used go first). Files never change, so a kept table is never stale.
#[derive(Debug)]
pub(crate) struct SeriesTables {
    limit: usize,
    kept: parking_lot::Mutex<Kept>,
    /// `osprey_series_cache_bytes`, set whenever `kept.bytes` changes.
    held: Gauge,
}

#[derive(Debug, Default)]
struct Kept {
    tables: HashMap<PathBuf, (Arc<SeriesTable>, u64)>,
    bytes: usize,
    clock: u64,
}

impl SeriesTables {
    pub(crate) fn new(limit: usize, held: Gauge) -> Self {
        Self { limit, kept: parking_lot::Mutex::new(Kept::default()), held }
    }

    /// The series table of the file at `path`, read on the blocking pool if not kept.
    pub(crate) async fn get(&self, path: &Path) -> Result<Arc<SeriesTable>> {
        {
            let mut kept = self.kept.lock();
            kept.clock += 1;
            let clock = kept.clock;
            if let Some((table, used)) = kept.tables.get_mut(path) {
                *used = clock;
                return Ok(table.clone());
            }
        }
        let owned = path.to_path_buf();
        let table = tokio::task::spawn_blocking(move || SeriesTable::load(&owned))
            .await
            .map_err(|e| StorageError::Internal(format!("series table task: {e}")))??;
        let table = Arc::new(table);
        let mut kept = self.kept.lock();
        kept.clock += 1;
        let clock = kept.clock;
        if let Some((_, (old, _))) = kept.tables.remove_entry(path) {
            kept.bytes -= old.bytes;
        }
        kept.bytes += table.bytes;
        kept.tables.insert(path.to_path_buf(), (table.clone(), clock));
        while kept.bytes > self.limit {
            let Some(oldest) = kept.tables.iter().min_by_key(|(_, (_, used))| *used).map(|(p, _)| p.clone()) else {
                break;
            };
            if let Some((evicted, _)) = kept.tables.remove(&oldest) {
                kept.bytes -= evicted.bytes;
            }
        }
        self.held.set(kept.bytes as i64);
        Ok(table)
    }

    /// Bytes held.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.kept.lock().bytes
    }
}

/// Puts the series columns back on the rows of a metrics file scan (see the module docs). Its
/// input yields the projected columns, then `series_row`, then [`FILE_COLUMN`]; it yields the
/// projected columns.
#[derive(Debug)]
pub(crate) struct SeriesColumnsExec {
    input: Arc<dyn ExecutionPlan>,
    attach: Arc<Attach>,
    properties: Arc<PlanProperties>,
}

/// What a [`SeriesColumnsExec`] needs to attach the columns, shared by its streams.
#[derive(Debug)]
struct Attach {
    schema: SchemaRef,
    /// The files of the scan, by their [`FILE_COLUMN`] number.
    files: Vec<PathBuf>,
    tables: Arc<SeriesTables>,
}

impl SeriesColumnsExec {
    /// `input`'s schema is `schema` followed by `series_row` and [`FILE_COLUMN`].
    pub(crate) fn new(
        input: Arc<dyn ExecutionPlan>,
        schema: SchemaRef,
        files: Vec<PathBuf>,
        tables: Arc<SeriesTables>,
    ) -> DfResult<Self> {
        let extra = input.schema().fields().len().checked_sub(schema.fields().len());
        if extra != Some(2) {
            return Err(DataFusionError::Internal("series columns: input is not the projection + 2".into()));
        }
        // The output is the input's first columns, so whatever order the input has it keeps.
        let input_schema = input.schema();
        let prefix: Vec<usize> = (0..schema.fields().len()).collect();
        let mapping = ProjectionMapping::from_indices(&prefix, &input_schema)?;
        let properties = Arc::new(PlanProperties::new(
            input.equivalence_properties().project(&mapping, schema.clone()),
            input.output_partitioning().clone(),
            input.pipeline_behavior(),
            input.boundedness(),
        ));
        Ok(Self { input, attach: Arc::new(Attach { schema, files, tables }), properties })
    }
}

impl DisplayAs for SeriesColumnsExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SeriesColumnsExec: files={}", self.attach.files.len())
    }
}

impl ExecutionPlan for SeriesColumnsExec {
    fn name(&self) -> &str {
        "SeriesColumnsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn cardinality_effect(&self) -> CardinalityEffect {
        CardinalityEffect::Equal
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let (Some(input), true) = (children.pop(), children.is_empty()) else {
            return Err(DataFusionError::Internal("SeriesColumnsExec has one child".into()));
        };
        let Attach { schema, files, tables } = self.attach.as_ref();
        Ok(Arc::new(Self::new(input, schema.clone(), files.clone(), tables.clone())?))
    }

    /// Filters that name no series column go down to the scan (its pruning and late
    /// materialization); the others stay above, where the columns are back.
    fn gather_filters_for_pushdown(
        &self,
        _phase: FilterPushdownPhase,
        parent_filters: Vec<Arc<dyn PhysicalExpr>>,
        _config: &ConfigOptions,
    ) -> DfResult<FilterDescription> {
        let stored = self
            .attach
            .schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| !SERIES_COLUMNS.contains(&f.name().as_str()))
            .map(|(i, _)| i)
            .collect();
        let child = ChildFilterDescription::from_child_with_allowed_indices(&parent_filters, stored, &self.input)?;
        Ok(FilterDescription::new().with_child(child))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let attach = self.attach.clone();
        let stream = input.then(move |batch| {
            let attach = attach.clone();
            async move { attach.batch(batch?).await }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.attach.schema.clone(), stream)))
    }
}

impl Attach {
    /// `batch` (projection, `series_row`, file) with its series columns on every row.
    async fn batch(&self, batch: RecordBatch) -> DfResult<RecordBatch> {
        let n = self.schema.fields().len();
        let (Some(series_row), Some(file)) = (
            batch.columns().get(n).and_then(|c| c.as_primitive_opt::<UInt32Type>()),
            batch.columns().get(n + 1).and_then(|c| c.as_primitive_opt::<UInt32Type>()),
        ) else {
            return Err(DataFusionError::Internal("series columns: no series_row or file column".into()));
        };
        let mut columns: Vec<ArrayRef> = batch.columns().iter().take(n).cloned().collect();
        // Files written before `series_row` hold the columns on every row.
        if series_row.null_count() == series_row.len() {
            return Ok(RecordBatch::try_new(self.schema.clone(), columns)?);
        }
        // A scan's batch comes from one file; a batch from several is cut where the file changes.
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for i in 0..file.len() {
            match runs.last_mut() {
                Some((start, len)) if file.value(*start) == file.value(i) => *len += 1,
                _ => runs.push((i, 1)),
            }
        }
        if runs.len() > 1 {
            let mut parts = Vec::with_capacity(runs.len());
            for (start, len) in runs {
                parts.push(Box::pin(self.batch(batch.slice(start, len))).await?);
            }
            return Ok(concat_batches(&self.schema, &parts)?);
        }
        if file.is_empty() {
            return Ok(RecordBatch::try_new(self.schema.clone(), columns)?);
        }
        let Some(path) = self.files.get(file.value(0) as usize) else {
            return Err(DataFusionError::Internal(format!("series columns: no file number {}", file.value(0))));
        };
        let table = self.tables.get(path).await.map_err(|e| DataFusionError::External(Box::new(e)))?;
        let positions = table.positions(series_row, path)?;
        for (i, field) in self.schema.fields().iter().enumerate() {
            let (Some(held), Some(own)) = (table.columns.column_by_name(field.name()), columns.get(i)) else {
                continue;
            };
            let attached = match series_row.null_count() {
                0 => take(held, &positions, None)?,
                // Rows holding their own columns beside rows naming a holder: no writer does
                // this, but each row still gets its columns.
                _ => {
                    let from: Vec<(usize, usize)> = (0..positions.len())
                        .map(|r| if positions.is_valid(r) { (1, positions.value(r) as usize) } else { (0, r) })
                        .collect();
                    interleave(&[own.as_ref(), held.as_ref()], &from)?
                }
            };
            columns[i] = attached;
        }
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

#[cfg(test)]
mod tests;
