//! The tantivy indexing ceiling that issue 4 compares Osprey's logs ingest against: the same
//! generated lines as `logs_load` (same seeds, same batches), indexed on one thread
//!
//! - `raw`: plain tantivy, one `body` text field with tantivy's default tokenizer and
//!   positions (tantivy's `TEXT`), nothing else: the least work a full-text index of the lines
//!   can be;
//! - `raw_nopos`: the same without positions (document ids only);
//! - `raw_single`, `raw_single_nopos`: the same two built as Osprey builds its index, one segment
//!   on the calling thread (`SingleSegmentIndexWriter`; the two above use tantivy's `IndexWriter`
//!   with one indexing thread, a 32 MB budget and its merges), the stricter ceiling;
//! - `raw_single_fields`: plain tantivy, one segment, with the fields Osprey's index has besides
//!   the body (`body` as in `raw_single`; `service`, `severity`, `trace_id`, `span_id` and the
//!   lines' three attributes as raw terms; `time` and `row` fast fields), its documents' text
//!   prepared before the clock starts: what indexing the documents the issue asks for costs
//!   tantivy itself;
//! - `osprey`: Osprey's own log index as it is built by default (`osprey_storage::log_index::build`:
//!   the log tokenizer with positions, service, severity, ids, attributes, time and row fast
//!   fields) over the Arrow batches the collector makes of the same requests (conversion not timed);
//! - `osprey_nopos`: the same without positions (`storage.flush.logs_index_positions: false`);
//! - `parquet`: the same Arrow batches sorted and written as the flush writes a `logs` file (its
//!   writer settings, zstd 3), without an index: what a server storing the lines pays besides
//!   its index. `raw_single` + `parquet` is a floor under any such server's CPU, so
//!   `ratio_bound` = `raw_single` / (`raw_single` + `parquet`) bounds how close its ingest rate
//!   can come to the `raw_single` ceiling even if decoding, the WAL and every field but the
//!   body cost nothing;
//! - with `--floor`, the size floor of issue 4's 0.35× target: the smallest tantivy index of
//!   the fields the issue asks for (`floor_index`: no positions, no field norms, no `row`
//!   field, ids as bytes; `floor_index_positions`: with positions) plus the `logs` file at zstd 19
//!   (`parquet_zstd19`) or at Osprey's level (`parquet`), as `size_floor` = (index + file) / raw
//!   bytes.
//!
//! Each reports MB of line bodies per CPU-second of this process (lines are generated first
//! and not counted) and the index's (or file's) bytes on disk.
//!
//! cargo run --release -p osprey-benches --bin log_index_ceiling -- --lines 1000000 --variant short [--floor]

use std::time::Instant;

use clap::Parser;
use osprey_benches::data_dir::bytes_under;
use osprey_benches::log_lines::{request, Line, LineSet};
use osprey_benches::process;
use osprey_collector::config::LimitsConfig;
use tantivy::schema::{IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, TEXT};
use tantivy::{doc, Index, TantivyDocument};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Parser)]
struct Args {
    /// The same options as `logs_load` give the same lines.
    #[command(flatten)]
    lines: LineSet,
    /// Also measure the size floor (see the module docs); zstd 19 takes a minute per 150 MB.
    #[arg(long)]
    floor: bool,
}

/// tantivy's default text indexing without frequencies and positions.
fn basic() -> TextFieldIndexing {
    TextFieldIndexing::default().set_index_option(IndexRecordOption::Basic)
}

/// Runs `f`, returns its CPU-seconds (this process) and wall seconds.
fn timed(f: impl FnOnce() -> Result<(), Error>) -> Result<(f64, f64), Error> {
    let pid = std::process::id();
    let (cpu, wall) = (process::cpu_seconds(pid)?, Instant::now());
    f()?;
    Ok((process::cpu_seconds(pid)? - cpu, wall.elapsed().as_secs_f64()))
}

fn report(name: &str, raw_mb: f64, (cpu, wall): (f64, f64), index_bytes: u64) {
    println!(
        "{name:<16} cpu_s {cpu:.2}  wall_s {wall:.2}  raw_mb_per_cpu_s {:.2}  index_mb {:.1}  index_ratio {:.3}",
        raw_mb / cpu.max(0.01),
        index_bytes as f64 / 1e6,
        index_bytes as f64 / (raw_mb * 1e6)
    );
}

fn main() -> Result<(), Error> {
    let args = Args::parse();
    let set = &args.lines;
    let batches: Vec<Vec<Line>> = (0..set.batches()).map(|b| set.batch_lines(b)).collect();
    let raw_bytes: usize = batches.iter().flatten().map(|l| l.body.len()).sum();
    let raw_mb = raw_bytes as f64 / 1e6;
    println!("lines {}  raw_mb {raw_mb:.1}  mean_line_bytes {:.0}", set.lines, raw_bytes as f64 / set.lines as f64);

    let nopos = || TEXT.set_indexing_options(basic());
    let mut single_cpu = None;
    for (name, options, single) in [
        ("raw", TEXT, false),
        ("raw_nopos", nopos(), false),
        ("raw_single", TEXT, true),
        ("raw_single_nopos", nopos(), true),
    ] {
        let raw_dir = tempfile::tempdir()?;
        let times = timed(|| {
            let mut builder = Schema::builder();
            let body = builder.add_text_field("body", options);
            let lines = batches.iter().flatten();
            if single {
                let directory = tantivy::directory::MmapDirectory::open(raw_dir.path())?;
                let mut writer =
                    Index::builder().schema(builder.build()).single_segment_index_writer(directory, 32 << 20)?;
                for line in lines {
                    writer.add_document(doc!(body => line.body.as_str()))?;
                }
                writer.finalize()?;
                return Ok(());
            }
            let index = Index::create_in_dir(raw_dir.path(), builder.build())?;
            let mut writer = index.writer_with_num_threads(1, 32 * 1024 * 1024)?;
            for line in lines {
                writer.add_document(doc!(body => line.body.as_str()))?;
            }
            writer.commit()?;
            writer.wait_merging_threads()?;
            Ok(())
        })?;
        report(name, raw_mb, times, bytes_under(raw_dir.path(), "")?);
        if name == "raw_single" {
            single_cpu = Some(times.0);
        }
    }

    let docs: Vec<FieldDoc> = batches.iter().flatten().map(FieldDoc::of).collect();
    let dir = tempfile::tempdir()?;
    let times = timed(|| index_with_fields(&docs, dir.path(), Layout { body: TEXT, row: true, binary_ids: false }))?;
    report("raw_single_fields", raw_mb, times, bytes_under(dir.path(), "")?);

    let limits = LimitsConfig::default();
    let mut arrow = Vec::new();
    for (b, lines) in batches.iter().enumerate() {
        let req = request(lines, |i| 1_764_918_000_000_000_000 + (b as u64 * set.batch + i as u64) * 1_000_000);
        let conversion = osprey_collector::logs::convert(&req, &limits, 0)?;
        arrow.extend(conversion.batch);
    }
    for (name, positions) in [("osprey", true), ("osprey_nopos", false)] {
        let dir = tempfile::tempdir()?;
        let times =
            timed(|| Ok(osprey_storage::log_index::build(dir.path(), "logs/bench.parquet", &arrow, positions)?))?;
        report(name, raw_mb, times, bytes_under(dir.path(), "")?);
    }

    let dir = tempfile::tempdir()?;
    let default_level = osprey_storage::config::FlushConfig::default().zstd_level_of(osprey_storage::Table::Logs);
    let parquet = timed(|| write_parquet(&arrow, dir.path(), default_level))?;
    let parquet_bytes = bytes_under(dir.path(), "")?;
    report("parquet", raw_mb, parquet, parquet_bytes);
    if let Some(single) = single_cpu {
        println!("ratio_bound      {:.2}  (raw_single / (raw_single + parquet))", single / (single + parquet.0));
    }
    if args.floor {
        size_floor(&docs, &arrow, raw_mb, parquet_bytes)?;
    }
    Ok(())
}

/// The size floor: the smallest index of what the issue asks to index (`floor_index`: the body
/// with tantivy's default tokenizer, without positions or field norms; service, severity, ids and
/// attributes as raw terms, ids as their 16 and 8 bytes; `time` as a fast field, the lines'
/// times in order, its cheapest case; no `row` field, as if documents were added in file order) and with positions (`floor_index_positions`), plus the `logs` file at zstd 19
/// (`parquet_zstd19`; Osprey writes level 3).
fn size_floor(
    docs: &[FieldDoc<'_>],
    arrow: &[arrow::array::RecordBatch],
    raw_mb: f64,
    parquet_default: u64,
) -> Result<(), Error> {
    let body = |positions: bool| {
        let record = if positions { IndexRecordOption::WithFreqsAndPositions } else { IndexRecordOption::Basic };
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default().set_tokenizer("default").set_index_option(record).set_fieldnorms(false),
        )
    };
    let mut index_bytes = [0; 2];
    for (i, (name, positions)) in [("floor_index", false), ("floor_index_positions", true)].into_iter().enumerate() {
        let dir = tempfile::tempdir()?;
        let times = timed(|| {
            index_with_fields(docs, dir.path(), Layout { body: body(positions), row: false, binary_ids: true })
        })?;
        index_bytes[i] = bytes_under(dir.path(), "")?;
        report(name, raw_mb, times, index_bytes[i]);
    }
    let dir = tempfile::tempdir()?;
    let times = timed(|| write_parquet(arrow, dir.path(), 19))?;
    let parquet = bytes_under(dir.path(), "")?;
    report("parquet_zstd19", raw_mb, times, parquet);
    let ratio = |index: u64, file: u64| (index + file) as f64 / (raw_mb * 1e6);
    for (name, file) in [("parquet_zstd19", parquet), ("parquet", parquet_default)] {
        println!(
            "size_floor       {:.3}  (floor_index + {name}); with positions {:.3}",
            ratio(index_bytes[0], file),
            ratio(index_bytes[1], file)
        );
    }
    Ok(())
}

/// `parquet`: `arrow` sorted and written as the flush writes a `logs` file, at `zstd_level`.
fn write_parquet(arrow: &[arrow::array::RecordBatch], dir: &std::path::Path, zstd_level: i32) -> Result<(), Error> {
    let table = osprey_storage::Table::Logs;
    let sorted = osprey_storage::flush::sort_batches(table, arrow)?;
    let row_group_rows = osprey_storage::config::FlushConfig::default().row_group_rows;
    let props = osprey_storage::flush::writer_properties_with(table, row_group_rows, zstd_level)?;
    let file = std::fs::File::create(dir.join("logs.parquet"))?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, table.file_schema(), Some(props))?;
    writer.write(&sorted)?;
    writer.close()?;
    Ok(())
}

/// A line's text as Osprey's index terms it (ids as hex, attributes as `key\0value`).
struct FieldDoc<'a> {
    body: &'a str,
    service: &'a str,
    severity: String,
    ids: Option<(String, String)>,
    id_bytes: Option<([u8; 16], [u8; 8])>,
    attributes: [String; 3],
}

impl<'a> FieldDoc<'a> {
    fn of(line: &'a Line) -> Self {
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        FieldDoc {
            body: &line.body,
            service: line.service,
            severity: line.severity_text.to_lowercase(),
            ids: line.trace.zip(line.span).map(|(t, s)| (hex(&t), hex(&s))),
            id_bytes: line.trace.zip(line.span),
            // The attributes `logs_load` sends: `log.kind`, and the resource's two.
            attributes: [
                format!("log.kind\0{}", line.kind),
                format!("service.name\0{}", line.service),
                "host.name\0bench-1".to_string(),
            ],
        }
    }
}

/// How [`index_with_fields`] indexes: `body` with `body`, a `row` fast field or not, ids as
/// hex text (as Osprey) or as their 16 and 8 bytes.
struct Layout {
    body: TextOptions,
    row: bool,
    binary_ids: bool,
}

/// Plain tantivy, one segment, `docs` with Osprey's fields laid out as `layout` says
/// (`raw_single_fields`: `TEXT` body, `row`, hex ids).
fn index_with_fields(docs: &[FieldDoc<'_>], dir: &std::path::Path, layout: Layout) -> Result<(), Error> {
    let raw = || {
        let indexing = TextFieldIndexing::default().set_tokenizer("raw").set_index_option(IndexRecordOption::Basic);
        TextOptions::default().set_indexing_options(indexing.set_fieldnorms(false))
    };
    let mut builder = Schema::builder();
    let body = builder.add_text_field("body", layout.body);
    let service = builder.add_text_field("service", raw());
    let severity = builder.add_text_field("severity", raw());
    let id_field = |builder: &mut tantivy::schema::SchemaBuilder, name: &str| match layout.binary_ids {
        true => builder.add_bytes_field(name, tantivy::schema::BytesOptions::default().set_indexed()),
        false => builder.add_text_field(name, raw()),
    };
    let trace_id = id_field(&mut builder, "trace_id");
    let span_id = id_field(&mut builder, "span_id");
    let attribute = builder.add_text_field("attribute", raw());
    let time = builder.add_i64_field("time", FAST);
    let row = layout.row.then(|| builder.add_u64_field("row", FAST));
    let directory = tantivy::directory::MmapDirectory::open(dir)?;
    let mut writer = Index::builder().schema(builder.build()).single_segment_index_writer(directory, 32 << 20)?;
    for (i, d) in docs.iter().enumerate() {
        let mut doc = TantivyDocument::new();
        doc.add_text(body, d.body);
        doc.add_text(service, d.service);
        doc.add_text(severity, &d.severity);
        match (layout.binary_ids, &d.ids, &d.id_bytes) {
            (false, Some((trace, span)), _) => {
                doc.add_text(trace_id, trace);
                doc.add_text(span_id, span);
            }
            (true, _, Some((trace, span))) => {
                doc.add_bytes(trace_id, trace.as_slice());
                doc.add_bytes(span_id, span.as_slice());
            }
            _ => {}
        }
        for a in &d.attributes {
            doc.add_text(attribute, a);
        }
        doc.add_i64(time, i as i64);
        if let Some(row) = row {
            doc.add_u64(row, i as u64);
        }
        writer.add_document(doc)?;
    }
    writer.finalize()?;
    Ok(())
}
