//! Logs load generator (issue 4): sends generated log lines (`log_lines`: access logs,
//! key=value, JSON, stack traces; short ~150 B or long ~900 B) over OTLP/gRPC as fast as the
//! server acknowledges, then waits until the server has flushed them all, and reports
//!
//! - raw MB of line bodies accepted, and MB per server CPU-second (the "MB/s per core" of the
//!   issue: every CPU-second the server spent, receiving, WAL, memtable, Parquet and the
//!   tantivy index built at flush, is counted, including the flush after the last request);
//! - given `--data-dir`, the bytes of the `logs` Parquet files and of the log indexes, as a
//!   ratio of the raw bytes.
//!
//! cargo run --release -p osprey-benches --bin logs_load -- --lines 2000000 --variant short \
//!   --server-pid $(pgrep -x osprey) --data-dir ./osprey-data --metrics http://127.0.0.1:3200/metrics

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use osprey_benches::data_dir::bytes_under;
use osprey_benches::log_lines::{request, LineSet};
use osprey_benches::process;
use osprey_proto::logs_service_client::LogsServiceClient;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    lines: LineSet,
    /// Requests in flight.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// OTLP gRPC endpoint.
    #[arg(long, default_value = "http://127.0.0.1:4317")]
    grpc: String,
    /// Spread the lines' times evenly over this many hours back from now (oldest first);
    /// 0 stamps each line with the time it is sent.
    #[arg(long, default_value_t = 0)]
    spread_hours: u64,
    /// Server pid: report MB per server CPU-second and peak RSS.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Server's `/metrics`: wait until `osprey_memtable_rows{table="logs"}` is 0 (everything
    /// flushed, index built) before reading the server's CPU time and the disk.
    #[arg(long)]
    metrics: Option<String>,
    /// Server data dir: report Parquet and index bytes against the raw bytes.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// What an OTLP exporter retries (the spec's retryable gRPC codes).
fn is_retryable(status: &tonic::Status) -> bool {
    use tonic::Code::*;
    matches!(
        status.code(),
        Unavailable | ResourceExhausted | Aborted | Cancelled | DeadlineExceeded | OutOfRange | DataLoss
    )
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// Waits until the server's logs memtable is empty (polls `/metrics`).
async fn wait_flushed(url: &str) -> Result<Duration, Error> {
    let started = Instant::now();
    let client = reqwest::Client::new();
    loop {
        let text = client.get(url).send().await?.text().await?;
        let rows = text
            .lines()
            .find(|l| l.starts_with("osprey_memtable_rows{table=\"logs\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok());
        match rows {
            Some(0.0) => return Ok(started.elapsed()),
            None => return Err(format!("no osprey_memtable_rows for logs at {url}").into()),
            _ if started.elapsed() > Duration::from_secs(900) => return Err("not flushed after 15 min".into()),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = Args::parse();
    let batches = args.lines.batches();
    let span_ns = args.spread_hours * 3_600_000_000_000;
    let (oldest, step_ns) = (now_ns().saturating_sub(span_ns), span_ns / args.lines.lines.max(1));
    let cpu_before = args.server_pid.map(process::cpu_seconds).transpose()?;
    let (lines, raw, errors, next) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let retries = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (lines, raw, errors, next, grpc) =
            (lines.clone(), raw.clone(), errors.clone(), next.clone(), args.grpc.clone());
        let retries = retries.clone();
        let (line_set, spread) = (args.lines.clone(), span_ns > 0);
        workers.push(tokio::spawn(async move {
            let mut client = LogsServiceClient::connect(grpc).await?.max_decoding_message_size(64 << 20);
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= batches {
                    break;
                }
                let first = b * line_set.batch;
                let generated = line_set.batch_lines(b);
                let n = generated.len();
                let bytes: u64 = generated.iter().map(|l| l.body.len() as u64).sum();
                let sent = now_ns();
                // Each line its own time (a nanosecond apart when not spread), in the order written.
                let req =
                    request(
                        &generated,
                        |i| if spread { oldest + (first + i as u64) * step_ns } else { sent + i as u64 },
                    );
                let mut attempt = 0;
                let answer = loop {
                    match client.export(req.clone()).await {
                        // Backpressure (memory budget, queue): back off and send again, as exporters do.
                        Err(status) if is_retryable(&status) && attempt < 100 => {
                            attempt += 1;
                            retries.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(20 * attempt.min(25))).await;
                        }
                        // Refused for ~45 s (e.g. the disk reserve reached): the run's figures
                        // would mean nothing, so it stops here rather than after every request.
                        Err(status) if is_retryable(&status) => {
                            return Err(format!("request {b} refused {attempt} times, giving up: {status}").into());
                        }
                        answer => break answer,
                    }
                };
                match answer {
                    Ok(r) if r.get_ref().partial_success.as_ref().is_none_or(|p| p.rejected_log_records == 0) => {
                        lines.fetch_add(n as u64, Ordering::Relaxed);
                        raw.fetch_add(bytes, Ordering::Relaxed);
                    }
                    Ok(r) => {
                        eprintln!("partial success: {:?}", r.get_ref().partial_success);
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(status) => {
                        eprintln!("refused: {status}");
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Ok::<(), Error>(())
        }));
    }
    for w in workers {
        w.await??;
    }
    let send_s = started.elapsed().as_secs_f64();
    let (accepted, raw_bytes) = (lines.load(Ordering::Relaxed), raw.load(Ordering::Relaxed));
    let raw_mb = raw_bytes as f64 / 1e6;
    println!("lines_accepted        {accepted}");
    println!("errors                {}", errors.load(Ordering::Relaxed));
    println!("retries               {}", retries.load(Ordering::Relaxed));
    println!("raw_mb                {raw_mb:.1}");
    println!("mean_line_bytes       {:.0}", raw_bytes as f64 / accepted.max(1) as f64);
    println!("send_s                {send_s:.1}");
    println!("lines_per_s           {:.0}", accepted as f64 / send_s);
    println!("raw_mb_per_s          {:.1}", raw_mb / send_s);
    if let Some(url) = &args.metrics {
        let waited = wait_flushed(url).await?;
        println!("flush_wait_s          {:.1}", waited.as_secs_f64());
    }
    if let (Some(pid), Some(before)) = (args.server_pid, cpu_before) {
        let cpu = process::cpu_seconds(pid)? - before;
        println!("server_cpu_s          {cpu:.2}");
        println!("raw_mb_per_cpu_s      {:.2}", raw_mb / cpu.max(0.01));
        println!("server_peak_rss_mb    {:.1}", process::peak_rss_kb(pid)? as f64 / 1024.0);
    }
    if let Some(dir) = &args.data_dir {
        let parquet = bytes_under(&dir.join("logs"), ".parquet")?;
        let index = bytes_under(&dir.join(osprey_storage::log_index::DIR), "")?;
        println!("parquet_mb            {:.1}", parquet as f64 / 1e6);
        println!("index_mb              {:.1}", index as f64 / 1e6);
        println!("parquet_ratio         {:.3}", parquet as f64 / raw_bytes.max(1) as f64);
        println!("index_ratio           {:.3}", index as f64 / raw_bytes.max(1) as f64);
        println!("stored_ratio          {:.3}", (parquet + index) as f64 / raw_bytes.max(1) as f64);
    }
    Ok(())
}
