//! DataFusion table over one of Osprey's tables: the memtables (active and
//! frozen) unioned with the Parquet files the manifest lists.
//!
//! Filters are accepted as `Inexact` (DataFusion keeps its own `FilterExec` on
//! top) and used to prune:
//! - files, by the time bounds on the table's time column (`start_time` for
//!   spans) found in the filters, against each file's `[min_time_ns, max_time_ns]`;
//! - files, by id equalities (`trace_id = '…'`, `IN (…)`) against the files'
//!   bloom filters held in memory ([`crate::bloom_cache`]);
//! - row groups, pages and rows inside the files, by the Parquet source's predicate with
//!   statistics, bloom filter and page index pruning on (a file's bloom filters are read
//!   again only when the cache above left some of its row groups to prune). The predicate is
//!   the `FilterExec`'s, which DataFusion's physical optimizer pushes into the source (adding
//!   the filters here too would make every scan evaluate them twice). Filter pushdown (late
//!   materialization) is on when the scan reads columns the filters do not name (see
//!   [`late_materialization_pays`]).
//!   Footers and page indexes stay in memory across queries ([`crate::metadata_cache`]).
//!   Files are handed to the scan newest first, so that a top-k by time fills its heap early
//!   and its dynamic filter skips the row groups of the older files.
//!
//! The provider exposes the table's *logical* schema, but memtables and files
//! hold the *physical* one (spans: no `end_time`). A projection asking for a
//! virtual column reads its inputs (`start_time`, `duration_ns`) and computes it
//! in a `ProjectionExec` above the scan. A filter on a virtual column reaches the
//! Parquet predicate only as DataFusion's pushdown rewrites it through that
//! projection, over the inputs (`start_time + duration_ns`); the filters this
//! provider inspects itself (time bounds, ids) leave virtual columns out.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::ScalarValue;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::physical_plan::parquet::ParquetRowSelection;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::ExecutionPlan;

use crate::log_index::predicate;
use crate::manifest::FileEntry;
use crate::metadata_cache::PageIndexedReaderFactory;
use crate::metric_points::SERIES_COLUMNS;
use crate::{Storage, Table};

/// The `TableProvider` of one table.
#[derive(Debug)]
pub struct StorageTable {
    storage: Arc<Storage>,
    table: Table,
    /// Logical: what SQL sees.
    schema: SchemaRef,
    /// Stored: what the memtables and files hold.
    physical: SchemaRef,
}

impl StorageTable {
    pub fn new(storage: Arc<Storage>, table: Table) -> Self {
        Self { storage, table, schema: table.schema(), physical: table.physical_schema() }
    }
}

#[async_trait]
impl TableProvider for StorageTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // `matches(body, …)` on logs is answered whole by the scan (the index and the matcher);
        // everything else is also re-checked above the scan.
        Ok(filters
            .iter()
            .map(|f| match self.table == Table::Logs && predicate::query_of(f).is_some() {
                true => TableProviderFilterPushDown::Exact,
                false => TableProviderFilterPushDown::Inexact,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let snapshot = self.storage.snapshot(self.table);
        let bounds = TimeBounds::from_filters(self.table.time_column(), filters);
        let in_time: Vec<FileEntry> =
            snapshot.files.iter().filter(|f| bounds.overlaps(f.min_time_ns, f.max_time_ns)).cloned().collect();
        let after_time = in_time.len();
        let pruned = self.storage.blooms.prune(self.storage.data_dir(), self.table, in_time, filters).await;
        let read_bloom_filters = !pruned.row_group_filters_redundant;
        let mut files = pruned.files;
        let mut batches = snapshot.batches;
        // Full-text filters on logs: only the matching rows of the memtables and of the files.
        let text_query = match self.table {
            Table::Logs => predicate::combined(filters).map_err(|e| DataFusionError::Plan(e.to_string()))?,
            _ => None,
        };
        let mut access_plans = None;
        if let Some(query) = &text_query {
            batches = batches.iter().map(|b| keep_matching(b, query)).collect::<DfResult<_>>()?;
            let (storage, candidates, query) = (self.storage.clone(), files.clone(), query.clone());
            let plans = tokio::task::spawn_blocking(move || predicate::file_selections(&storage, &candidates, &query))
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            files.retain(|f| plans.contains_key(&f.path));
            access_plans = Some(plans);
        }
        let files: Vec<&FileEntry> = files.iter().collect();
        tracing::debug!(
            table = self.table.name(),
            files = snapshot.files.len(),
            files_after_time_pruning = after_time,
            files_after_id_pruning = files.len(),
            memtable_batches = batches.len(),
            "scan"
        );
        let partitions = state.config().target_partitions().max(1);
        let columns = ScanColumns::new(self.table, &self.schema, &self.physical, projection)?;
        let projection = Some(&columns.physical);
        // Filters naming a virtual column cannot be evaluated on the files, nor can `matches`
        // (the access plans above apply it).
        let stored_filters: Vec<Expr> = filters
            .iter()
            .filter(|f| f.column_refs().iter().all(|c| self.table.virtual_inputs(&c.name).is_none()))
            .filter(|f| predicate::query_of(f).is_none())
            .cloned()
            .collect();

        let mut inputs: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        if !batches.is_empty() || files.is_empty() {
            let mut parts: Vec<Vec<_>> = vec![Vec::new(); partitions.min(batches.len()).max(1)];
            let n = parts.len();
            for (i, batch) in batches.into_iter().enumerate() {
                parts[i % n].push(batch);
            }
            let memory =
                MemorySourceConfig::try_new(&parts, self.physical.clone(), projection.cloned())?.with_limit(limit);
            inputs.push(DataSourceExec::from_data_source(memory));
        }
        if !files.is_empty() {
            let reads = ScanReads { limit, partitions, access_plans, read_bloom_filters };
            let scan = self.parquet_scan(state, &files, projection, &stored_filters, reads)?;
            inputs.push(scan);
        }
        let union = UnionExec::try_new(inputs)?;
        match columns.computed {
            None => Ok(union),
            Some(exprs) => Ok(Arc::new(ProjectionExec::try_new(exprs, union)?)),
        }
    }
}

/// The rows of a memtable batch of `logs` that `query` matches.
fn keep_matching(batch: &RecordBatch, query: &crate::log_index::query::LogQuery) -> DfResult<RecordBatch> {
    let rows = crate::log_index::rows::LogRows::new(batch).map_err(|e| DataFusionError::External(Box::new(e)))?;
    let mut keep = vec![false; batch.num_rows()];
    for row in crate::log_index::matcher::matching_rows(&rows, query, (i64::MIN, i64::MAX)) {
        if let Some(k) = keep.get_mut(row) {
            *k = true;
        }
    }
    Ok(arrow::compute::filter_record_batch(batch, &arrow::array::BooleanArray::from(keep))?)
}

impl StorageTable {
    fn parquet_scan(
        &self,
        state: &dyn Session,
        files: &[&FileEntry],
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        reads: ScanReads,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let ScanReads { limit, partitions, mut access_plans, read_bloom_filters } = reads;
        let url = ObjectStoreUrl::local_filesystem();
        let store = state.runtime_env().object_store(&url)?;
        let metadata_cache = state.runtime_env().cache_manager.get_file_metadata_cache();
        let mut options = state.default_table_options().parquet;
        options.global.bloom_filter_on_read = read_bloom_filters;
        options.global.enable_page_index = true;
        options.global.pushdown_filters =
            projection.is_none_or(|p| late_materialization_pays(&self.physical, p, filters));
        // Metrics files store each series' attributes once: a scan reading them reads each row's
        // `series_row` and its file's number along, and `SeriesColumnsExec` puts them back.
        let metrics = self.table == Table::Metrics;
        let file_schema = self.table.file_schema();
        let table_schema = match metrics {
            true => TableSchema::builder(file_schema.clone())
                .with_table_partition_cols(vec![Arc::new(series_columns::file_field())])
                .build(),
            false => TableSchema::from(file_schema.clone()),
        };
        let reads_series = metrics
            && projection.is_none_or(|p| {
                p.iter().any(|&i| {
                    self.physical.fields().get(i).is_some_and(|f| SERIES_COLUMNS.contains(&f.name().as_str()))
                })
            });
        let source = ParquetSource::new(table_schema)
            .with_table_parquet_options(options)
            .with_parquet_file_reader_factory(Arc::new(PageIndexedReaderFactory::new(store, metadata_cache)));

        let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new(); partitions.min(files.len()).max(1)];
        let n = groups.len();
        // Newest first: a top-k by time (`ORDER BY start_time DESC LIMIT k`, the search's newest-span
        // step) fills its heap from the first files a partition reads, and its dynamic filter then
        // lets the scan skip the row groups of every older file by their statistics.
        let mut files = files.to_vec();
        files.sort_by_key(|f| std::cmp::Reverse((f.max_time_ns, f.min_time_ns)));
        for (i, file) in files.iter().enumerate() {
            let mut part = partitioned_file(self.storage.data_dir(), file);
            if metrics {
                let number = u32::try_from(i).map_err(|_| DataFusionError::Plan("too many metrics files".into()))?;
                part = part.with_partition_values(vec![ScalarValue::UInt32(Some(number))]);
            }
            if let Some(plan) = access_plans.as_mut().and_then(|plans| plans.remove(&file.path)) {
                part = part.with_extension(plan);
            }
            groups[i % n].push(part);
        }
        let read: Vec<usize> = projection.cloned().unwrap_or_else(|| (0..self.physical.fields().len()).collect());
        let mut scanned = read.clone();
        if reads_series {
            // `series_row` is the files' last column, the file's number the partition column after it.
            scanned.extend([file_schema.fields().len() - 1, file_schema.fields().len()]);
        }
        let mut config = FileScanConfigBuilder::new(url, Arc::new(source))
            .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
            .with_projection_indices(Some(scanned))?
            .with_limit(limit);
        if self.table == Table::Spans {
            config = config.with_expr_adapter(Some(Arc::new(legacy_columns::LegacyColumnsFactory)));
        }
        let scan = DataSourceExec::from_data_source(config.build());
        if !reads_series {
            return Ok(scan);
        }
        let paths = files.iter().map(|f| self.storage.data_dir().join(&f.path)).collect();
        let schema = Arc::new(self.physical.project(&read)?);
        Ok(Arc::new(series_columns::SeriesColumnsExec::new(scan, schema, paths, self.storage.series_tables.clone())?))
    }
}

/// A file as a scan names it (which also keys its entry in the metadata cache).
pub(crate) fn partitioned_file(data_dir: &std::path::Path, file: &FileEntry) -> PartitionedFile {
    PartitionedFile::new(data_dir.join(&file.path).to_string_lossy().into_owned(), file.bytes)
}

/// How the Parquet scan reads its files, besides the projection and the predicate.
struct ScanReads {
    limit: Option<usize>,
    partitions: usize,
    /// The rows of each file a full-text query matches (`matches()` on logs), from the log index.
    access_plans: Option<std::collections::BTreeMap<String, ParquetRowSelection>>,
    /// Off when the bloom cache already gave every answer the files' filters could give (see
    /// `bloom_cache::Pruned::row_group_filters_redundant`).
    read_bloom_filters: bool,
}

/// Whether the Parquet reader should evaluate filters first and decode the other projected columns
/// only for the rows that pass (late materialization). It pays when the scan reads columns the
/// filters do not name: a trace lookup reading a few columns of a few rows, or a `ORDER BY … LIMIT`
/// whose dynamic filter (pushed into the scan by DataFusion after this choice) skips most rows.
/// When the filters name every projected column (`count(*) … WHERE x = …`, `count(*) … LIKE …`)
/// there is nothing to skip, and it only adds the row-selection bookkeeping: ~15 % of such a scan.
pub(crate) fn late_materialization_pays(physical: &Schema, projection: &[usize], filters: &[Expr]) -> bool {
    let named: std::collections::HashSet<&str> =
        filters.iter().flat_map(|f| f.column_refs()).map(|c| c.name.as_str()).collect();
    projection.iter().any(|&i| physical.fields().get(i).is_some_and(|f| !named.contains(f.name().as_str())))
}

/// What a scan reads from the memtables and files, and how it becomes the
/// requested (logical) projection.
#[derive(Debug)]
pub(crate) struct ScanColumns {
    /// Indices into the physical schema.
    pub physical: Vec<usize>,
    /// The expressions turning the physical columns into the logical projection;
    /// `None` when they already are it (no virtual column asked for).
    pub computed: Option<Vec<(Arc<dyn PhysicalExpr>, String)>>,
}

impl ScanColumns {
    pub fn new(table: Table, logical: &Schema, physical: &Schema, projection: Option<&Vec<usize>>) -> DfResult<Self> {
        let wanted: Vec<usize> = projection.cloned().unwrap_or_else(|| (0..logical.fields().len()).collect());
        let mut read: Vec<usize> = Vec::new();
        // The position of a physical column in the scan's output, reading it if not read yet.
        let mut position = |name: &str| -> DfResult<usize> {
            let idx = physical.index_of(name)?;
            Ok(read.iter().position(|i| *i == idx).unwrap_or_else(|| {
                read.push(idx);
                read.len() - 1
            }))
        };
        let mut exprs: Vec<(Arc<dyn PhysicalExpr>, String)> = Vec::with_capacity(wanted.len());
        let mut any_virtual = false;
        for i in wanted {
            let name = logical.field(i).name();
            let expr: Arc<dyn PhysicalExpr> = match table.virtual_inputs(name) {
                None => Arc::new(Column::new(name, position(name)?)),
                Some([start, duration]) => {
                    any_virtual = true;
                    let start = Arc::new(Column::new(start, position(start)?));
                    let duration = Arc::new(Column::new(duration, position(duration)?));
                    crate::spans::physical::end_time_expr(start, duration)
                }
            };
            exprs.push((expr, name.clone()));
        }
        // Without a virtual column (and without repeated columns) the scan's output is the projection.
        let computed = (any_virtual || exprs.len() != read.len()).then_some(exprs);
        Ok(Self { physical: read, computed })
    }
}

/// Inclusive bounds, in nanoseconds, on a time column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeBounds {
    pub lo: Option<i64>,
    pub hi: Option<i64>,
}

impl TimeBounds {
    /// Bounds implied by `column` comparisons with timestamp literals
    /// (`>`, `>=`, `<`, `<=`, `=`, `BETWEEN`, either side, joined by `AND`).
    /// Anything else implies no bound.
    pub fn from_filters(column: &str, filters: &[Expr]) -> Self {
        let mut bounds = TimeBounds::default();
        for f in filters {
            bounds.add(column, f);
        }
        bounds
    }

    /// Whether `[min, max]` can hold a matching row.
    pub fn overlaps(&self, min: i64, max: i64) -> bool {
        self.lo.is_none_or(|lo| max >= lo) && self.hi.is_none_or(|hi| min <= hi)
    }

    fn raise_lo(&mut self, v: i64) {
        self.lo = Some(self.lo.map_or(v, |lo| lo.max(v)));
    }

    fn lower_hi(&mut self, v: i64) {
        self.hi = Some(self.hi.map_or(v, |hi| hi.min(v)));
    }

    fn add(&mut self, column: &str, expr: &Expr) {
        match expr {
            Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right }) => {
                self.add(column, left);
                self.add(column, right);
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (op, value) = match (is_column(left, column), is_column(right, column)) {
                    (true, false) => (*op, timestamp_ns(right)),
                    (false, true) => (op.swap().unwrap_or(Operator::NotEq), timestamp_ns(left)),
                    _ => return,
                };
                let Some(v) = value else { return };
                match op {
                    Operator::Eq => {
                        self.raise_lo(v);
                        self.lower_hi(v);
                    }
                    Operator::Gt => self.raise_lo(v.saturating_add(1)),
                    Operator::GtEq => self.raise_lo(v),
                    Operator::Lt => self.lower_hi(v.saturating_sub(1)),
                    Operator::LtEq => self.lower_hi(v),
                    _ => {}
                }
            }
            Expr::Between(Between { expr, negated: false, low, high }) if is_column(expr, column) => {
                if let Some(v) = timestamp_ns(low) {
                    self.raise_lo(v);
                }
                if let Some(v) = timestamp_ns(high) {
                    self.lower_hi(v);
                }
            }
            _ => {}
        }
    }
}

fn is_column(expr: &Expr, column: &str) -> bool {
    matches!(expr, Expr::Column(c) if c.name == column)
}

/// A timestamp literal in nanoseconds (any unit; a timezone does not change the instant).
fn timestamp_ns(expr: &Expr) -> Option<i64> {
    let Expr::Literal(value, _) = expr else { return None };
    match value {
        ScalarValue::TimestampNanosecond(Some(v), _) => Some(*v),
        ScalarValue::TimestampMicrosecond(Some(v), _) => v.checked_mul(1_000),
        ScalarValue::TimestampMillisecond(Some(v), _) => v.checked_mul(1_000_000),
        ScalarValue::TimestampSecond(Some(v), _) => v.checked_mul(1_000_000_000),
        _ => None,
    }
}

mod legacy_columns;
pub(crate) mod series_columns;

#[cfg(test)]
mod tests;
