//! How each table is laid out in Parquet: compression level, sort order recorded in the
//! footer, statistics, bloom filters, page sizes and column encodings. Every choice here was
//! measured; BENCHMARKS.md has the figures behind each.

use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::config::FlushConfig;
use crate::error::Result;
use crate::Table;

/// Parquet writer settings of Osprey's tables, with the default zstd levels.
pub fn writer_properties(table: Table, row_group_rows: usize) -> Result<WriterProperties> {
    writer_properties_with(table, row_group_rows, FlushConfig::default().zstd_level_of(table))
}

/// The zstd level a flush writes `table` at: the configured one, except for the derived
/// tables (`rollup`), written at level 1. They are ~15 % of the span bytes, and encoding
/// them at level 6 cost a tenth of all the CPU ingest spends on them (BENCHMARKS.md).
pub fn zstd_level(table: Table, configured: i32) -> i32 {
    match table.derived_from() {
        Some(_) => configured.min(1),
        None => configured,
    }
}

/// Parquet writer settings of Osprey's tables (see "Parquet files" in `ARCHITECTURE.md`
/// for the measurements behind them).
pub fn writer_properties_with(table: Table, row_group_rows: usize, zstd_level: i32) -> Result<WriterProperties> {
    let zstd = ZstdLevel::try_new(zstd_level)?;
    let schema = table.file_schema();
    let sorting = table
        .sort_columns()
        .iter()
        .map(|name| {
            let idx = schema.index_of(name)?;
            Ok(SortingColumn { column_idx: idx as i32, descending: false, nulls_first: false })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(zstd))
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(row_group_rows.max(1)))
        .set_sorting_columns(Some(sorting));
    for column in small_page_columns(table) {
        builder = builder.set_column_data_page_size_limit(column_path(column), SMALL_PAGE_BYTES);
    }
    for column in table.bloom_filter_columns() {
        builder = builder
            .set_column_bloom_filter_enabled(ColumnPath::from(*column), true)
            .set_column_bloom_filter_fpp(ColumnPath::from(*column), bloom_fpp(column));
    }
    for column in unpruned_strings(table)? {
        builder = builder.set_column_statistics_enabled(column, EnabledStatistics::None);
    }
    for (column, encoding) in column_encodings(table) {
        builder = builder
            .set_column_dictionary_enabled(column_path(column), false)
            .set_column_encoding(column_path(column), *encoding);
    }
    if let Some(rows) = page_rows(table) {
        builder = builder.set_data_page_row_count_limit(rows);
    }
    Ok(builder.build())
}

/// String leaves no query prunes by, written without min/max statistics: the leaves of maps
/// and lists (DataFusion prunes by top-level columns only), the `*_types` signatures, and the
/// descriptive columns below. parquet-rs compares every value of a string column to keep its
/// page minimum and maximum; in a metrics ingest that was 4 % of the server's CPU, nearly all of
/// it on these columns (BENCHMARKS.md, issue 5).
fn unpruned_strings(table: Table) -> Result<Vec<ColumnPath>> {
    let descriptive: &[&str] = match table {
        Table::Metrics => {
            use crate::metric_points::col;
            &[col::DESCRIPTION, col::UNIT, col::SCOPE_NAME, col::SCOPE_VERSION]
        }
        Table::Logs => {
            use crate::logs::col;
            &[
                col::BODY,
                col::BODY_TYPE,
                col::SCOPE_NAME,
                col::SCOPE_VERSION,
                col::RESOURCE_SCHEMA_URL,
                col::SCOPE_SCHEMA_URL,
            ]
        }
        Table::Spans | Table::ServiceRed | Table::ServiceEdges => &[],
    };
    let schema = parquet::arrow::ArrowSchemaConverter::new().convert(&table.file_schema())?;
    Ok(schema
        .columns()
        .iter()
        .filter(|leaf| leaf.physical_type() == parquet::basic::Type::BYTE_ARRAY)
        .map(|leaf| leaf.path().clone())
        .filter(|path| match path.parts() {
            [top] => top.ends_with("_types") || descriptive.contains(&top.as_str()),
            _ => true,
        })
        .collect())
}

/// False-positive rate of a column's bloom filter. A trace lookup checks the `trace_id` filter
/// of every file (`bloom_cache`): at 1 % a lookup over ~110 files opened one file in vain on
/// average, at 0.1 % one in ten lookups does (−18 % CPU per lookup, +0.3 B/span: a filter holds
/// one entry per trace, not per span). A `span_id` filter holds one entry per span, and parquet-rs sizes filters in powers of two:
/// 3 % lets a full row group's filter fold to 8 bits per span instead of 16 (−1.0 B/span on
/// astronomy, `disk_size`), at the price of opening 3 % of row groups in vain on a lookup by
/// span id alone, which no API makes.
fn bloom_fpp(column: &str) -> f64 {
    match column {
        crate::spans::col::SPAN_ID => 0.03,
        crate::spans::col::TRACE_ID => 0.001,
        _ => 0.01,
    }
}

/// Data page size of the columns a point lookup decodes (Parquet's default: 1 MiB, at most 20,000
/// rows). A trace lookup decompresses the page holding its rows and decodes it up to them; a smaller
/// page makes that ~16× less work. Ids are random, so small pages compress as well as large ones
/// and only add page headers and index entries: +0.7 B/span (astronomy). Durations are written
/// byte-stream split without a dictionary, whose page (up to 1 MiB) every lookup decoded whole.
/// Together: 40 % less CPU for a trace lookup through SQL (BENCHMARKS.md, issue 6).
const SMALL_PAGE_BYTES: usize = 16 << 10;

/// Rows per data page of every column of `table`, when not Parquet's default (20,000; a page
/// also ends at 1 MiB). A log search reads the rows of its page of hits from every file they
/// are in, a few rows per file for a rare word: each costs a page per column decompressed and
/// decoded up to the row. 4096-row pages took a rare word's newest 100 at 10M lines from 89 to
/// 36 ms, and are no larger: zstd finds the same repeats in a 600 KB page of bodies as in a 1 MiB
/// one (1024-row pages cost 11 % more bytes). BENCHMARKS.md, issue 4, session 19.
fn page_rows(table: Table) -> Option<usize> {
    match table {
        Table::Logs => Some(4096),
        _ => None,
    }
}

fn small_page_columns(table: Table) -> &'static [&'static str] {
    use crate::spans::col;
    match table {
        Table::Spans => &[col::TRACE_ID, col::SPAN_ID, col::PARENT_SPAN_ID, col::DURATION_NS],
        _ => &[],
    }
}

/// Columns written without a dictionary, in a specific encoding (paths of
/// nested leaves are dotted: `events.list.item.time`).
fn column_encodings(table: Table) -> &'static [(&'static str, Encoding)] {
    use crate::spans::col;
    match table {
        // Ids are random: a dictionary only adds an index per row. Sorted trace ids share
        // their prefix with the previous row (delta strings); span ids only their length.
        // Times: byte-stream split puts the high bytes, nearly constant within a file, side
        // by side for zstd (the low bytes are noise either way).
        Table::Spans => &[
            (col::TRACE_ID, Encoding::DELTA_BYTE_ARRAY),
            (col::SPAN_ID, Encoding::DELTA_LENGTH_BYTE_ARRAY),
            (col::PARENT_SPAN_ID, Encoding::DELTA_LENGTH_BYTE_ARRAY),
            (col::START_TIME, Encoding::BYTE_STREAM_SPLIT),
            (col::DURATION_NS, Encoding::BYTE_STREAM_SPLIT),
            ("events.list.item.time", Encoding::BYTE_STREAM_SPLIT),
        ],
        // Rows are sorted by series, then time: times of a series step by the scrape or export
        // interval (delta packing makes that ~1 byte), values are floats (byte-stream split
        // groups their sign/exponent bytes, which repeat within a series).
        Table::Metrics => {
            use crate::metric_points::col as m;
            &[
                (m::TIME, Encoding::DELTA_BINARY_PACKED),
                (m::START_TIME, Encoding::DELTA_BINARY_PACKED),
                (m::VALUE, Encoding::BYTE_STREAM_SPLIT),
                (m::SUM, Encoding::BYTE_STREAM_SPLIT),
                // Runs of one value (a series' rows name one holder): deltas of 0.
                (m::SERIES_ROW, Encoding::DELTA_BINARY_PACKED),
            ]
        }
        Table::ServiceRed => &[],
        // `span_key` is a hash: a dictionary only adds an index per row (−0.17 B/span).
        Table::ServiceEdges => {
            use crate::rollup::edges::edge_col;
            &[(edge_col::START_TIME, Encoding::DELTA_BINARY_PACKED), (edge_col::SPAN_KEY, Encoding::PLAIN)]
        }
        // A page of log hits reads a few rows from each of many files, and every column with a
        // dictionary has its whole dictionary page decompressed for them. Bodies are nearly all
        // distinct (a 1 MiB dictionary page, then the fallback to plain); the ids repeat only
        // for the lines of one span (a ~500 KB dictionary page per row group): without a
        // dictionary, in 4096-row pages, they are smaller too (0.025× → 0.019× the raw bytes).
        // BENCHMARKS.md, issue 4, sessions 18 and 19. Times as for spans.
        Table::Logs => {
            use crate::logs::col;
            &[
                (col::TIME, Encoding::BYTE_STREAM_SPLIT),
                (col::OBSERVED_TIME, Encoding::BYTE_STREAM_SPLIT),
                (col::BODY, Encoding::PLAIN),
                (col::TRACE_ID, Encoding::DELTA_LENGTH_BYTE_ARRAY),
                (col::SPAN_ID, Encoding::DELTA_LENGTH_BYTE_ARRAY),
            ]
        }
    }
}

fn column_path(dotted: &str) -> ColumnPath {
    ColumnPath::new(dotted.split('.').map(str::to_string).collect())
}
