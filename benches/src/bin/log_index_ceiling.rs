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
//! - `osprey`: Osprey's own log index as it is built by default (`osprey_storage::log_index::build`:
//!   the log tokenizer with positions, service, severity, ids, attributes, time and row fast
//!   fields) over the Arrow batches the collector makes of the same requests (conversion not timed);
//! - `osprey_nopos`: the same without positions (`storage.flush.logs_index_positions: false`).
//!
//! Each reports MB of line bodies per CPU-second of this process (lines are generated first
//! and not counted) and the index's bytes on disk.
//!
//! cargo run --release -p osprey-benches --bin log_index_ceiling -- --lines 1000000 --variant short

use std::time::Instant;

use clap::Parser;
use osprey_benches::data_dir::bytes_under;
use osprey_benches::log_lines::{request, Line, LineSet};
use osprey_benches::process;
use osprey_collector::config::LimitsConfig;
use tantivy::schema::{IndexRecordOption, Schema, TextFieldIndexing, TEXT};
use tantivy::{doc, Index};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Parser)]
struct Args {
    /// The same options as `logs_load` give the same lines.
    #[command(flatten)]
    lines: LineSet,
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
    }

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
    Ok(())
}
