//! Metrics load generator: replays otel-demo metric recordings (zstd stream of 4-byte
//! big-endian length + `MetricsData`, wire-identical to `ExportMetricsServiceRequest`) over
//! OTLP/gRPC as fast as the server acknowledges, each pass shifted to the present, and
//! reports accepted data points per second and, given the server's pid, data points per
//! server CPU-second (issue 5's "points/s per core").
//!
//! cargo run --release -p osprey-benches --bin metrics_load -- \
//!   --file ../shared/data/otel-demo/hostandcollector-otelmetrics.zst --seconds 20 --server-pid $(pgrep -x osprey)

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use osprey_benches::corpus::read_records;
use osprey_benches::process;
use osprey_collector::metric_points::Metrics;
use osprey_collector::Signal;
use osprey_proto::metrics::metric::Data;
use osprey_proto::metrics_service_client::MetricsServiceClient;
use osprey_proto::ExportMetricsServiceRequest;
use prost::Message;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Parser)]
struct Args {
    /// Corpus files. Repeatable.
    #[arg(long, required = true)]
    file: Vec<PathBuf>,
    /// OTLP gRPC endpoint.
    #[arg(long, default_value = "http://127.0.0.1:4317")]
    grpc: String,
    /// Requests in flight.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Server pid: report points per server CPU-second.
    #[arg(long)]
    server_pid: Option<u32>,
}

/// Data points of a request, counted as the collector counts them.
fn point_count(req: &ExportMetricsServiceRequest) -> u64 {
    <Metrics as Signal>::count(req)
}

/// Calls `f` on every point's time and start time.
fn visit_times(req: &mut ExportMetricsServiceRequest, f: &mut dyn FnMut(&mut u64)) {
    let metrics = req.resource_metrics.iter_mut().flat_map(|rm| &mut rm.scope_metrics).flat_map(|sm| &mut sm.metrics);
    for m in metrics {
        let mut both = |time: &mut u64, start: &mut u64| {
            f(time);
            f(start);
        };
        match &mut m.data {
            Some(Data::Gauge(g)) => {
                g.data_points.iter_mut().for_each(|p| both(&mut p.time_unix_nano, &mut p.start_time_unix_nano))
            }
            Some(Data::Sum(s)) => {
                s.data_points.iter_mut().for_each(|p| both(&mut p.time_unix_nano, &mut p.start_time_unix_nano))
            }
            Some(Data::Histogram(h)) => {
                h.data_points.iter_mut().for_each(|p| both(&mut p.time_unix_nano, &mut p.start_time_unix_nano))
            }
            Some(Data::ExponentialHistogram(h)) => {
                h.data_points.iter_mut().for_each(|p| both(&mut p.time_unix_nano, &mut p.start_time_unix_nano))
            }
            Some(Data::Summary(s)) => {
                s.data_points.iter_mut().for_each(|p| both(&mut p.time_unix_nano, &mut p.start_time_unix_nano))
            }
            None => {}
        }
    }
}

/// Shifts every point's times by `shift_ns` (so each pass is new data, "now").
fn shift(req: &mut ExportMetricsServiceRequest, shift_ns: i128) {
    visit_times(req, &mut |t: &mut u64| {
        if *t > 0 {
            *t = (i128::from(*t) + shift_ns).clamp(1, i128::from(u64::MAX)) as u64;
        }
    });
}

/// The earliest time in the corpus (0 if none).
fn corpus_start(corpus: &mut [ExportMetricsServiceRequest]) -> u64 {
    let mut min = u64::MAX;
    for req in corpus {
        visit_times(req, &mut |t: &mut u64| {
            if *t > 0 {
                min = min.min(*t);
            }
        });
    }
    if min == u64::MAX {
        0
    } else {
        min
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = Args::parse();
    let mut corpus = Vec::new();
    for f in &args.file {
        for record in read_records(f)? {
            corpus.push(ExportMetricsServiceRequest::decode(record.as_slice())?);
        }
    }
    let corpus_points: u64 = corpus.iter().map(point_count).sum();
    eprintln!("corpus: {} requests, {corpus_points} points", corpus.len());
    let start = corpus_start(&mut corpus);
    let corpus = Arc::new(corpus);

    let cpu_before = args.server_pid.map(process::cpu_seconds).transpose()?;
    let (points, errors, next) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (corpus, points, errors, next, grpc) =
            (corpus.clone(), points.clone(), errors.clone(), next.clone(), args.grpc.clone());
        workers.push(tokio::spawn(async move {
            let mut client = MetricsServiceClient::connect(grpc).await?;
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let (pass, index) = (i / corpus.len(), i % corpus.len());
                let Some(template) = corpus.get(index) else { break };
                let mut req = template.clone();
                let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as i128;
                // Each pass lands one millisecond after the previous one's "now".
                shift(&mut req, now - i128::from(start) + pass as i128 * 1_000_000);
                let n = point_count(&req);
                match client.export(req).await {
                    Ok(r) if r.get_ref().partial_success.as_ref().is_none_or(|p| p.rejected_data_points == 0) => {
                        points.fetch_add(n, Ordering::Relaxed);
                    }
                    _ => {
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
    let elapsed = started.elapsed().as_secs_f64();
    let accepted = points.load(Ordering::Relaxed);
    println!("points_accepted       {accepted}");
    println!("errors                {}", errors.load(Ordering::Relaxed));
    println!("points_per_s          {:.0}", accepted as f64 / elapsed);
    if let (Some(pid), Some(before)) = (args.server_pid, cpu_before) {
        let cpu = process::cpu_seconds(pid)? - before;
        println!("server_cpu_s          {cpu:.2}");
        println!("points_per_cpu_s      {:.0}", accepted as f64 / cpu.max(0.01));
        println!("server_peak_rss_mb    {:.1}", process::peak_rss_kb(pid)? as f64 / 1024.0);
    }
    Ok(())
}
