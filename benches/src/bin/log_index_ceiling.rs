//! The tantivy indexing ceiling that issue 4 compares Osprey's logs ingest against: the same
//! generated lines as `logs_load` (same seeds, same batches), indexed on one thread
//!
//! - `raw`: plain tantivy, one `body` text field with tantivy's default tokenizer and
//!   positions, nothing else: the least work a full-text index of the lines can be;
//! - `osprey`: Osprey's own log index (`osprey_storage::log_index::build`: the log tokenizer,
//!   service, severity, ids, attributes, time and row fast fields) over the Arrow batches the
//!   collector makes of the same requests (conversion not timed).
//!
//! Each reports MB of line bodies per CPU-second of this process (lines are generated first
//! and not counted) and the index's bytes on disk.
//!
//! cargo run --release -p osprey-benches --bin log_index_ceiling -- --lines 1000000 --variant short

use std::time::Instant;

use clap::Parser;
use osprey_benches::log_lines::{request, Line, LineGen, Variant};
use osprey_benches::process;
use osprey_collector::config::LimitsConfig;
use tantivy::schema::{Schema, TEXT};
use tantivy::{doc, Index};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    lines: u64,
    #[arg(long, value_enum, default_value = "short")]
    variant: Variant,
    /// Lines per batch (as `logs_load --batch`, so the lines are the same).
    #[arg(long, default_value_t = 1000)]
    batch: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    walk(dir).iter().map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)).sum()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().flat_map(|e| if e.path().is_dir() { walk(&e.path()) } else { vec![e.path()] }).collect()
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
        "{name:<8} cpu_s {cpu:.2}  wall_s {wall:.2}  raw_mb_per_cpu_s {:.2}  index_mb {:.1}  index_ratio {:.3}",
        raw_mb / cpu.max(0.01),
        index_bytes as f64 / 1e6,
        index_bytes as f64 / (raw_mb * 1e6)
    );
}

fn main() -> Result<(), Error> {
    let args = Args::parse();
    let batches: Vec<Vec<Line>> = (0..args.lines.div_ceil(args.batch.max(1)))
        .map(|b| {
            let n = args.batch.min(args.lines - b * args.batch);
            let mut gen = LineGen::new(args.seed.wrapping_mul(1_000_003).wrapping_add(b), args.variant);
            (0..n).map(|_| gen.line()).collect()
        })
        .collect();
    let raw_bytes: usize = batches.iter().flatten().map(|l| l.body.len()).sum();
    let raw_mb = raw_bytes as f64 / 1e6;
    println!("lines {}  raw_mb {raw_mb:.1}  mean_line_bytes {:.0}", args.lines, raw_bytes as f64 / args.lines as f64);

    let raw_dir = tempfile::tempdir()?;
    let times = timed(|| {
        let mut builder = Schema::builder();
        let body = builder.add_text_field("body", TEXT);
        let index = Index::create_in_dir(raw_dir.path(), builder.build())?;
        let mut writer = index.writer_with_num_threads(1, 32 * 1024 * 1024)?;
        for line in batches.iter().flatten() {
            writer.add_document(doc!(body => line.body.as_str()))?;
        }
        writer.commit()?;
        writer.wait_merging_threads()?;
        Ok(())
    })?;
    report("raw", raw_mb, times, dir_bytes(raw_dir.path()));

    let limits = LimitsConfig::default();
    let mut arrow = Vec::new();
    for (b, lines) in batches.iter().enumerate() {
        let req = request(lines, |i| 1_764_918_000_000_000_000 + (b * 1000 + i) as u64 * 1_000_000);
        let conversion = osprey_collector::logs::convert(&req, &limits, 0)?;
        arrow.extend(conversion.batch);
    }
    let osprey_dir = tempfile::tempdir()?;
    let times = timed(|| Ok(osprey_storage::log_index::build(osprey_dir.path(), "logs/bench.parquet", &arrow)?))?;
    report("osprey", raw_mb, times, dir_bytes(osprey_dir.path()));
    Ok(())
}
