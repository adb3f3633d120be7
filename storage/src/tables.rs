//! The tables Osprey stores, and what each one's contract is: its name and WAL code, its
//! schemas (logical, physical, as written to files), the time and sort columns, the columns
//! with bloom filters, and which tables are derived from another at flush.

use arrow::array::RecordBatch;

use crate::error::{Result, StorageError};
use crate::{logs, metric_points, rollup, spans};

/// The tables Osprey stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Spans,
    Logs,
    Metrics,
    /// Derived from `spans` at flush (never in the WAL): see [`rollup`].
    ServiceRed,
    /// Derived from `spans` at flush (never in the WAL): see [`rollup::edges`].
    ServiceEdges,
}

impl Table {
    pub const ALL: [Table; 5] = [Table::Spans, Table::Logs, Table::Metrics, Table::ServiceRed, Table::ServiceEdges];

    /// The table a derived table is computed from (`None` for a stored table): its rows
    /// are never appended, only derived by each flush and, for what is still in
    /// memtables, by each scan.
    pub fn derived_from(self) -> Option<Table> {
        match self {
            Table::ServiceRed | Table::ServiceEdges => Some(Table::Spans),
            Table::Spans | Table::Logs | Table::Metrics => None,
        }
    }

    /// The rows of this derived table for `source` batches (of [`Self::derived_from`]).
    pub fn derive(self, source: &[RecordBatch]) -> Result<Vec<RecordBatch>> {
        match self {
            Table::ServiceRed => Ok(rollup::derive_red(source)?.into_iter().collect()),
            Table::ServiceEdges => rollup::edges::derive_edges(source),
            Table::Spans | Table::Logs | Table::Metrics => Ok(Vec::new()),
        }
    }

    /// The SQL name and directory name of the table.
    pub fn name(self) -> &'static str {
        match self {
            Table::Spans => "spans",
            Table::Logs => "logs",
            Table::Metrics => "metrics",
            Table::ServiceRed => "service_red",
            Table::ServiceEdges => "service_edges",
        }
    }

    /// The logical schema: what SQL sees and what [`Storage::table_provider`] exposes.
    pub fn schema(self) -> arrow::datatypes::SchemaRef {
        match self {
            Table::Spans => spans::schema(),
            Table::Logs => logs::schema(),
            Table::Metrics => metric_points::schema(),
            Table::ServiceRed => rollup::red_schema(),
            Table::ServiceEdges => rollup::edges::edges_schema(),
        }
    }

    /// The stored schema (WAL, memtables, Parquet): the logical one without its
    /// virtual columns (`end_time` for spans).
    pub fn physical_schema(self) -> arrow::datatypes::SchemaRef {
        match self {
            Table::Spans => spans::physical_schema(),
            Table::Logs => logs::schema(),
            Table::Metrics => metric_points::schema(),
            Table::ServiceRed => rollup::red_schema(),
            Table::ServiceEdges => rollup::edges::edges_schema(),
        }
    }

    /// The schema of the table's Parquet files: the physical one, except for `metrics`, whose
    /// files store each series' attributes once ([`metric_points::file_schema`]).
    pub fn file_schema(self) -> arrow::datatypes::SchemaRef {
        match self {
            Table::Metrics => metric_points::file_schema(),
            _ => self.physical_schema(),
        }
    }

    /// A batch in the physical schema, from one in the logical or the physical schema.
    pub fn to_physical(self, batch: &RecordBatch) -> Result<RecordBatch> {
        match self {
            Table::Spans => spans::to_physical(batch),
            Table::Logs => logs::to_physical(batch),
            Table::Metrics => metric_points::to_physical(batch),
            Table::ServiceRed if batch.schema() == rollup::red_schema() => Ok(batch.clone()),
            Table::ServiceEdges if batch.schema() == rollup::edges::edges_schema() => Ok(batch.clone()),
            Table::ServiceRed | Table::ServiceEdges => {
                Err(StorageError::InvalidInput(format!("batch does not match the {} schema", self.name())))
            }
        }
    }

    /// The stored columns a virtual column is computed from (`None` for a stored column).
    pub fn virtual_inputs(self, column: &str) -> Option<[&'static str; 2]> {
        match self {
            Table::Spans => spans::physical::virtual_inputs(column),
            Table::Logs => None,
            Table::Metrics => None,
            Table::ServiceRed => None,
            Table::ServiceEdges => None,
        }
    }

    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The table's code in WAL frames.
    pub fn code(self) -> u8 {
        match self {
            Table::Spans => 1,
            Table::Logs => 2,
            Table::Metrics => 3,
            // Never written to the WAL; a code only so every table has one.
            Table::ServiceRed => 101,
            Table::ServiceEdges => 102,
        }
    }

    pub fn from_code(code: u8) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.code() == code)
    }

    /// The `Timestamp(ns)` column that partitions files by hour and prunes by time.
    pub fn time_column(self) -> &'static str {
        match self {
            Table::Spans => spans::col::START_TIME,
            Table::Logs => logs::col::TIME,
            Table::Metrics => metric_points::col::TIME,
            Table::ServiceRed => rollup::red_col::BUCKET_START,
            Table::ServiceEdges => rollup::edges::edge_col::BUCKET_START,
        }
    }

    /// The order of rows inside a Parquet file.
    pub fn sort_columns(self) -> &'static [&'static str] {
        match self {
            Table::Spans => &[spans::col::TRACE_ID, spans::col::START_TIME],
            // A service's lines side by side compress better (they share templates), and a
            // `service:` search or `service_name =` filter prunes row groups by statistics;
            // time second keeps each service's run in time order for newest-first reads.
            Table::Logs => &[logs::col::SERVICE_NAME, logs::col::TIME],
            Table::Metrics => {
                use metric_points::col;
                &[col::METRIC_NAME, col::SERVICE_NAME, col::SERIES, col::TIME]
            }
            Table::ServiceRed => &[rollup::red_col::SERVICE_NAME, rollup::red_col::BUCKET_START],
            // Single `call`/`request` rows in time order within their minute: their start times
            // delta-pack to ~3 bytes instead of ~5.5.
            Table::ServiceEdges => {
                use rollup::edges::edge_col;
                &[edge_col::ROW_KIND, edge_col::BUCKET_START, edge_col::START_TIME]
            }
        }
    }

    /// Columns with a Parquet bloom filter.
    pub fn bloom_filter_columns(self) -> &'static [&'static str] {
        match self {
            Table::Spans => &[spans::col::TRACE_ID, spans::col::SPAN_ID],
            // "The logs of this trace" (`WHERE trace_id = ...`) from SQL and the waterfall.
            Table::Logs => &[logs::col::TRACE_ID],
            Table::Metrics => &[],
            Table::ServiceRed => &[],
            Table::ServiceEdges => &[],
        }
    }
}
