use arrow::array::Array;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, Encoding};
use parquet::file::properties::{EnabledStatistics, ReaderProperties};
use parquet::file::reader::FileReader;
use parquet::file::serialized_reader::{ReadOptionsBuilder, SerializedFileReader};
use parquet::schema::types::ColumnPath;

use super::*;
use crate::spans::col;
use crate::testdata::{self, rows_per_group, trace_hex, Span, HOUR, T0};

#[test]
fn civil_dates() {
    assert_eq!(civil_from_days(0), (1970, 1, 1));
    assert_eq!(civil_from_days(-1), (1969, 12, 31));
    assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    assert_eq!(civil_from_days(19_675), (2023, 11, 14));
    assert_eq!(partition_dir(Table::Spans, "acme", T0.div_euclid(HOUR)), "spans/tenant=acme/date=2023-11-14/hour=22");
    assert_eq!(partition_dir(Table::Spans, "t", -1), "spans/tenant=t/date=1969-12-31/hour=23");
}

fn read_all(path: &Path) -> RecordBatch {
    let file = File::open(path).expect("open");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).expect("reader").build().expect("build");
    let batches: Vec<RecordBatch> = reader.map(|b| b.expect("batch")).collect();
    concat_batches(&Table::Spans.physical_schema(), &batches).expect("concat")
}

fn column_strings(batch: &RecordBatch, name: &str) -> Vec<String> {
    let c = batch.column_by_name(name).expect("column").as_string::<i32>();
    (0..c.len()).map(|i| c.value(i).to_string()).collect()
}

#[test]
fn files_land_in_hourly_partitions_sorted_with_bloom_filters_and_zstd() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Two hours, traces interleaved and out of order, in two batches.
    let mut specs = Vec::new();
    for i in 0..300u64 {
        let hour = if i % 3 == 0 { 1 } else { 0 };
        specs.push(Span { trace: (i * 7919) % 50, span: i, start_ns: T0 + hour * HOUR + (300 - i as i64) * 1000 });
    }
    let batches = vec![testdata::spans(&specs[..120]), testdata::spans(&specs[120..])];
    let files = write_table(dir.path(), "default", Table::Spans, &batches, &rows_per_group(64)).expect("write");
    assert_eq!(files.len(), 2);
    assert_eq!(files.iter().map(|f| f.rows).sum::<u64>(), 300);

    let hour0 = T0.div_euclid(HOUR);
    for (file, hour) in files.iter().zip([hour0, hour0 + 1]) {
        assert!(file.path.starts_with(&format!("{}/", partition_dir(Table::Spans, "default", hour))), "{}", file.path);
        assert!(file.path.ends_with(".parquet"));
        assert_eq!(file.partition_hour_unix, hour * 3600);
        let path = dir.path().join(&file.path);
        assert_eq!(file.bytes, fs::metadata(&path).expect("meta").len());

        let batch = read_all(&path);
        assert_eq!(batch.num_rows() as u64, file.rows);
        let (lo, hi) = crate::memtable::time_range(Table::Spans, &batch).expect("times");
        assert_eq!((lo, hi), (file.min_time_ns, file.max_time_ns));
        assert!(lo.div_euclid(HOUR) == hour && hi.div_euclid(HOUR) == hour, "rows in the wrong hour");
        // Sorted by (trace_id, start_time).
        let traces = column_strings(&batch, col::TRACE_ID);
        let starts = batch.column_by_name(col::START_TIME).expect("start").as_primitive::<TimestampNanosecondType>();
        for i in 1..batch.num_rows() {
            let prev = (&traces[i - 1], starts.value(i - 1));
            let cur = (&traces[i], starts.value(i));
            assert!(prev <= cur, "row {i} out of order: {prev:?} > {cur:?}");
        }

        // Metadata: row groups of 64 rows, zstd everywhere, bloom filters on the ids, page index.
        let options = ReadOptionsBuilder::new()
            .with_page_index()
            .with_reader_properties(ReaderProperties::builder().set_read_bloom_filter(true).build())
            .build();
        let reader = SerializedFileReader::new_with_options(File::open(&path).expect("open"), options).expect("reader");
        let meta = reader.metadata();
        assert_eq!(meta.num_row_groups(), (file.rows as usize).div_ceil(64));
        assert!(meta.column_index().is_some() && meta.offset_index().is_some(), "page index written");
        let schema = Table::Spans.physical_schema();
        assert!(schema.index_of(col::END_TIME).is_err(), "end_time is virtual");
        assert_eq!(batch.schema().fields(), schema.fields());
        let trace_idx = schema.index_of(col::TRACE_ID).expect("idx");
        let span_idx = schema.index_of(col::SPAN_ID).expect("idx");
        let name_idx = schema.index_of(col::NAME).expect("idx");
        for rg in 0..meta.num_row_groups() {
            let rg_meta = meta.row_group(rg);
            assert!(rg_meta.columns().iter().all(|c| matches!(c.compression(), Compression::ZSTD(_))));
            assert_eq!(rg_meta.sorting_columns().map(|s| s.len()), Some(2));
            let rg_reader = reader.get_row_group(rg).expect("row group");
            let bloom = rg_reader.get_column_bloom_filter(trace_idx).expect("trace_id bloom filter");
            let first_trace = &column_strings(&batch, col::TRACE_ID)[rg * 64];
            assert!(bloom.check(first_trace.as_str()));
            assert!(rg_reader.get_column_bloom_filter(span_idx).is_some(), "span_id bloom filter");
            assert!(rg_reader.get_column_bloom_filter(name_idx).is_none(), "no bloom filter on other columns");
            // Ids: delta encodings, no dictionary; statistics kept.
            let encodings = |idx: usize| rg_meta.column(idx).encodings().collect::<Vec<_>>();
            assert!(encodings(trace_idx).contains(&Encoding::DELTA_BYTE_ARRAY), "{:?}", encodings(trace_idx));
            assert!(encodings(span_idx).contains(&Encoding::DELTA_LENGTH_BYTE_ARRAY), "{:?}", encodings(span_idx));
            assert!(rg_meta.column(trace_idx).dictionary_page_offset().is_none());
            assert!(rg_meta.column(trace_idx).statistics().is_some_and(|s| s.min_bytes_opt().is_some()));
        }
    }
    // No temp files left behind.
    let leftovers: Vec<_> = walk(dir.path()).into_iter().filter(|p| p.to_string_lossy().ends_with(".tmp")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(trace_hex(0).len(), 32);
}

#[test]
fn id_columns_are_written_in_small_pages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let batches = vec![testdata::many(20_000, 20_000, T0)];
    let reader = written_with_page_index(dir.path(), Table::Spans, &batches);
    let offsets = &reader.metadata().offset_index().expect("offset index")[0];
    let schema = Table::Spans.physical_schema();
    let pages = |name: &str| offsets[schema.index_of(name).expect("column")].page_locations().len();
    // 20,000 ids of 32 (16) hex chars: ~640 (320) KB, one page under Parquet's 1 MiB default.
    for id in [col::TRACE_ID, col::SPAN_ID, col::PARENT_SPAN_ID] {
        assert!(pages(id) >= 10, "{id}: {} pages", pages(id));
    }
    // Durations: 160 KB of byte-stream-split values, no dictionary page to decode per lookup.
    assert!(pages(col::DURATION_NS) >= 5, "duration_ns: {} pages", pages(col::DURATION_NS));
    let duration = reader.metadata().row_group(0).column(schema.index_of(col::DURATION_NS).expect("column"));
    assert!(duration.encodings().any(|e| e == Encoding::BYTE_STREAM_SPLIT));
    assert!(duration.dictionary_page_offset().is_none());
    assert_eq!(pages(col::NAME), 1, "other columns keep the default page size");
}

#[test]
fn log_columns_are_written_in_pages_of_a_few_thousand_rows_and_ids_without_dictionary() {
    use crate::logs::col as log;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut builder = crate::logs::LogsBuilder::new();
    let scope = crate::logs::LogScope { service_name: "payment", ..Default::default() };
    for i in 0..20_000u32 {
        let (trace, span) = ([(i / 8) as u8; 16], [(i / 4) as u8; 8]);
        let body = format!("request {i} done");
        let record = crate::logs::LogRecord {
            time_unix_nano: T0 + i as i64,
            trace_id: &trace,
            span_id: &span,
            body: crate::attributes::AttrRef::Str(&body),
            ..Default::default()
        };
        builder.append(&scope, &record).expect("append");
    }
    let batches = vec![builder.finish().expect("finish")];
    let reader = written_with_page_index(dir.path(), Table::Logs, &batches);
    let offsets = &reader.metadata().offset_index().expect("offset index")[0];
    let schema = Table::Logs.physical_schema();
    let index = |name: &str| schema.index_of(name).expect("column");
    // 20,000 rows: Parquet's default would write each of these columns as one page.
    for name in [log::TIME, log::BODY, log::TRACE_ID, log::SPAN_ID, log::SEVERITY_NUMBER] {
        let pages = offsets[index(name)].page_locations();
        assert_eq!(pages.len(), 5, "{name}: 4096-row pages");
        assert_eq!(pages.get(1).map(|p| p.first_row_index), Some(4096), "{name}");
    }
    for name in [log::TRACE_ID, log::SPAN_ID, log::BODY] {
        let chunk = reader.metadata().row_group(0).column(index(name));
        assert!(chunk.dictionary_page_offset().is_none(), "{name}: no dictionary page to decompress per read");
    }
}

/// `batches` flushed as one file of `table` (row groups of 65,536), opened with its page index.
fn written_with_page_index(dir: &Path, table: Table, batches: &[RecordBatch]) -> SerializedFileReader<File> {
    let files = write_table(dir, "default", table, batches, &rows_per_group(65_536)).expect("write");
    assert_eq!(files.len(), 1);
    let options = ReadOptionsBuilder::new().with_page_index().build();
    let path = dir.join(&files[0].path);
    SerializedFileReader::new_with_options(File::open(&path).expect("open"), options).expect("reader")
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).expect("read_dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn nothing_to_write_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = testdata::many(0, 1, T0);
    assert!(write_table(dir.path(), "default", Table::Spans, &[empty], &rows_per_group(10)).expect("write").is_empty());
    assert!(walk(dir.path()).is_empty());
}

#[test]
fn each_table_is_written_at_its_zstd_level() {
    let config = FlushConfig { zstd_level: 9, logs_zstd_level: 2, ..FlushConfig::default() };
    assert_eq!(config.zstd_level_of(Table::Spans), 9);
    assert_eq!(config.zstd_level_of(Table::Metrics), 9);
    assert_eq!(config.zstd_level_of(Table::Logs), 2);
    assert_eq!(config.zstd_level_of(Table::ServiceRed), 1, "derived tables: level 1");
    assert_eq!(config.zstd_level_of(Table::ServiceEdges), 1);
}

/// Strings a query prunes by keep page statistics; map and list leaves, type signatures and
/// descriptive columns are written without (their min/max cost CPU on every value).
#[test]
fn statistics_are_kept_only_where_a_query_prunes_by_them() {
    let path = |p: &str| ColumnPath::new(p.split('.').map(str::to_string).collect());
    let cases: &[(Table, &str, EnabledStatistics)] = &[
        (Table::Metrics, "metric_name", EnabledStatistics::Page),
        (Table::Metrics, "service_name", EnabledStatistics::Page),
        (Table::Metrics, "time", EnabledStatistics::Page),
        (Table::Metrics, "description", EnabledStatistics::None),
        (Table::Metrics, "attribute_types", EnabledStatistics::None),
        (Table::Metrics, "attributes.entries.keys", EnabledStatistics::None),
        (Table::Metrics, "resource_attributes.entries.values", EnabledStatistics::None),
        (Table::Metrics, "exemplars.list.item.trace_id", EnabledStatistics::None),
        (Table::Logs, "body", EnabledStatistics::None),
        (Table::Logs, "severity_text", EnabledStatistics::Page),
        (Table::Logs, "trace_id", EnabledStatistics::Page),
        (Table::Spans, "trace_id", EnabledStatistics::Page),
        (Table::Spans, "name", EnabledStatistics::Page),
        (Table::Spans, "attributes.entries.values", EnabledStatistics::None),
    ];
    for (table, column, expected) in cases {
        let props = writer_properties(*table, 1024).expect("props");
        assert_eq!(props.statistics_enabled(&path(column)), *expected, "{} {column}", table.name());
    }
}
