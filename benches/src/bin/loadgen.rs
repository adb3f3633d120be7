//! Load generator: replays otel-demo trace corpora over OTLP (gRPC or HTTP
//! protobuf) with fresh ids and current timestamps, at a fixed rate or flat out,
//! and reports accepted spans/s, ack latency, and (given the server's pid and
//! data dir) server CPU-seconds per million spans, peak RSS and bytes per span.
//!
//! Ack latency is timed from the moment a request's encoded bytes are handed to the connection
//! until its response arrives (`--time-encoding` starts the clock before encoding instead).
//!
//! cargo run --release -p osprey-benches --bin loadgen -- \
//!   --file ../shared/data/otel-demo/astronomy-oteltraces.zst --seconds 30 --concurrency 8 \
//!   --server-pid $(pgrep -x osprey) --data-dir ./osprey-data

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{BufMut as _, Bytes};
use clap::{Parser, ValueEnum};
use osprey_benches::corpus::{min_start, read_requests, span_count, split_request, Rewriter};
use osprey_benches::process;
use osprey_proto::ExportTraceServiceResponse;
use prost::Message;
use tokio::sync::Mutex;
use tonic::codec::{Codec, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic_prost::ProstDecoder;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Transport {
    Grpc,
    Http,
}

#[derive(Debug, Parser)]
struct Args {
    /// Corpus files (zstd, length-prefixed TracesData records). Repeatable.
    #[arg(long, required = true)]
    file: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "grpc")]
    transport: Transport,
    /// OTLP gRPC endpoint.
    #[arg(long, default_value = "http://127.0.0.1:4317")]
    grpc: String,
    /// OTLP HTTP traces URL.
    #[arg(long, default_value = "http://127.0.0.1:4318/v1/traces")]
    http: String,
    /// Target spans per second; 0 = as fast as the server acknowledges.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Requests in flight.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// How long to run.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Server pid: report its CPU time and peak RSS from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Stop once this many spans were accepted (instead of after `--seconds`).
    #[arg(long)]
    spans: Option<u64>,
    /// Retry a refused request (after 50 ms × attempt, up to 20 times) as OTLP exporters do,
    /// instead of counting it as an error and moving on.
    #[arg(long)]
    retry: bool,
    /// Split the corpus's requests into requests of at most this many spans, as an SDK's batch
    /// processor does (512 by default). The recorded corpus has requests of up to ~8k spans (5 MB).
    #[arg(long)]
    max_batch_spans: Option<usize>,
    /// Spread the data over this many hours back from now: pass `p` of the corpus is shifted
    /// back by `p × spread_step_minutes` (modulo the spread), so a long replay fills a whole day.
    #[arg(long)]
    spread_hours: Option<u64>,
    #[arg(long, default_value_t = 10)]
    spread_step_minutes: u64,
    /// Time each request from before the load generator encodes it (as sessions 1–9 did), not
    /// from when its encoded bytes are handed to the connection.
    #[arg(long)]
    time_encoding: bool,
    /// Write one line per acknowledged request: send time (ms since start), latency (µs), spans.
    #[arg(long)]
    latency_log: Option<PathBuf>,
    /// Server data dir: report on-disk bytes per span (after the server has flushed).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

struct Stats {
    spans: AtomicU64,
    requests: AtomicU64,
    errors: AtomicU64,
    latencies_us: Mutex<Vec<u32>>,
    /// Latencies of requests of at most [`SMALL_REQUEST_SPANS`] spans (an SDK's default batch).
    small_latencies_us: Mutex<Vec<u32>>,
    /// (send time in ms since start, latency in µs, spans) per acknowledged request.
    log: Mutex<Vec<(u64, u32, u64)>>,
}

const SMALL_REQUEST_SPANS: u64 = 512;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = Args::parse();
    let mut corpus = Vec::new();
    for f in &args.file {
        corpus.extend(read_requests(f)?);
    }
    if let Some(max) = args.max_batch_spans {
        corpus = corpus.iter().flat_map(|r| split_request(r, max)).collect();
    }
    let corpus = Arc::new(corpus);
    let corpus_spans: usize = corpus.iter().map(span_count).sum();
    eprintln!("corpus: {} requests, {corpus_spans} spans", corpus.len());
    let corpus_start = min_start(&corpus);

    let cpu_before = args.server_pid.map(process::cpu_seconds).transpose()?;
    let stats = Arc::new(Stats {
        spans: AtomicU64::new(0),
        requests: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        latencies_us: Mutex::new(Vec::new()),
        small_latencies_us: Mutex::new(Vec::new()),
        log: Mutex::new(Vec::new()),
    });
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = match args.spans {
        Some(_) => started + Duration::from_secs(365 * 24 * 3600),
        None => started + Duration::from_secs(args.seconds),
    };
    let target_spans = args.spans.unwrap_or(u64::MAX);
    let scheduled_spans = Arc::new(AtomicU64::new(0));

    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (corpus, stats, next, scheduled) = (corpus.clone(), stats.clone(), next.clone(), scheduled_spans.clone());
        let (transport, grpc, http, rate) = (args.transport, args.grpc.clone(), args.http.clone(), args.rate);
        let retry = args.retry;
        let spread_ns: Option<(u64, u64)> =
            args.spread_hours.map(|h| (h.max(1) * 3_600_000_000_000, args.spread_step_minutes * 60_000_000_000));
        workers.push(tokio::spawn(async move {
            let mut grpc_client = match transport {
                Transport::Grpc => Some(Client::connect(grpc).await?),
                Transport::Http => None,
            };
            let time_encoding = args.time_encoding;
            let http_client = reqwest::Client::new();
            while Instant::now() < deadline && stats.spans.load(Ordering::Relaxed) < target_spans {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let (pass, idx) = (n / corpus.len() as u64, (n % corpus.len() as u64) as usize);
                let mut req = corpus[idx].clone();
                let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
                let target_start = match spread_ns {
                    Some((spread, step)) => now.saturating_sub(pass.saturating_mul(step) % spread),
                    None => now,
                };
                Rewriter::new(pass, corpus_start, target_start).apply(&mut req);
                let spans = span_count(&req) as u64;
                if rate > 0 {
                    // Fixed-rate schedule: this request may start once the spans before it are due.
                    let due = started
                        + Duration::from_secs_f64(scheduled.fetch_add(spans, Ordering::Relaxed) as f64 / rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                for attempt in 1..=20u64 {
                    // The ack latency runs from the moment the request's bytes are handed to the
                    // connection: copying and encoding the message is the load generator's work.
                    let mut t0 = Instant::now();
                    let body = Bytes::from(req.encode_to_vec());
                    if !time_encoding {
                        t0 = Instant::now();
                    }
                    let ok = match grpc_client.as_mut() {
                        Some(c) => c.export(body).await,
                        None => send_http(&http_client, &http, body).await,
                    };
                    let us = t0.elapsed().as_micros().min(u32::MAX as u128) as u32;
                    stats.requests.fetch_add(1, Ordering::Relaxed);
                    if ok {
                        stats.spans.fetch_add(spans, Ordering::Relaxed);
                        stats.latencies_us.lock().await.push(us);
                        let sent_ms = t0.duration_since(started).as_millis() as u64;
                        stats.log.lock().await.push((sent_ms, us, spans));
                        if spans <= SMALL_REQUEST_SPANS {
                            stats.small_latencies_us.lock().await.push(us);
                        }
                        break;
                    }
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                    if !retry {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                }
            }
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        }));
    }
    for w in workers {
        w.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let spans = stats.spans.load(Ordering::Relaxed);
    let mut lat = stats.latencies_us.lock().await.clone();
    lat.sort_unstable();
    if let Some(path) = &args.latency_log {
        let lines: String = stats.log.lock().await.iter().map(|(t, us, spans)| format!("{t} {us} {spans}\n")).collect();
        std::fs::write(path, lines)?;
    }
    let mut small = stats.small_latencies_us.lock().await.clone();
    small.sort_unstable();
    let pct_of = |lat: &[u32], p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or(0)
    };
    let pct = |p: f64| pct_of(&lat, p);

    println!("accepted_spans        {spans}");
    println!("elapsed_s             {elapsed:.2}");
    println!("spans_per_s           {:.0}", spans as f64 / elapsed);
    println!("requests              {}", stats.requests.load(Ordering::Relaxed));
    println!("errors                {}", stats.errors.load(Ordering::Relaxed));
    println!("ack_p50_ms            {:.2}", pct(0.50) as f64 / 1000.0);
    println!("ack_p99_ms            {:.2}", pct(0.99) as f64 / 1000.0);
    println!("ack_max_ms            {:.2}", pct(1.0) as f64 / 1000.0);
    println!(
        "ack_p99_ms_small      {:.2} (requests of <= {SMALL_REQUEST_SPANS} spans: {})",
        pct_of(&small, 0.99) as f64 / 1000.0,
        small.len()
    );
    if let (Some(pid), Some(before)) = (args.server_pid, cpu_before) {
        let cpu = process::cpu_seconds(pid)? - before;
        println!("server_cpu_s          {cpu:.2}");
        println!("server_cpu_s_per_Mspan {:.2}", cpu / (spans as f64 / 1e6));
        println!("spans_per_cpu_s       {:.0}", spans as f64 / cpu);
        println!("server_peak_rss_mb    {:.1}", process::peak_rss_kb(pid)? as f64 / 1024.0);
    }
    if let Some(dir) = &args.data_dir {
        let bytes = osprey_benches::data_dir::bytes_under(&dir.join("spans"), "")?;
        println!("parquet_bytes         {bytes}");
        println!("(bytes per span: divide by the server's osprey_rows_persisted_total once it has flushed)");
    }
    Ok(())
}

async fn send_http(client: &reqwest::Client, url: &str, body: Bytes) -> bool {
    match client.post(url).header("content-type", "application/x-protobuf").body(body).send().await {
        Ok(r) => r.status().is_success(),
        Err(_) => false,
    }
}

/// An OTLP/gRPC trace client that sends requests encoded already.
struct Client(tonic::client::Grpc<tonic::transport::Channel>);

impl Client {
    async fn connect(endpoint: String) -> Result<Self, tonic::transport::Error> {
        let channel = tonic::transport::Endpoint::from_shared(endpoint)?.connect().await?;
        Ok(Self(tonic::client::Grpc::new(channel)))
    }

    /// Whether the server acknowledged the request.
    async fn export(&mut self, body: Bytes) -> bool {
        if self.0.ready().await.is_err() {
            return false;
        }
        let path = PathAndQuery::from_static("/opentelemetry.proto.collector.trace.v1.TraceService/Export");
        self.0.unary(tonic::Request::new(body), path, PreEncoded).await.is_ok()
    }
}

/// Sends `Bytes` as they are; decodes the response with prost.
struct PreEncoded;

impl Codec for PreEncoded {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = BytesEncoder;
    type Decoder = ProstDecoder<ExportTraceServiceResponse>;

    fn encoder(&mut self) -> BytesEncoder {
        BytesEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder::default()
    }
}

struct BytesEncoder;

impl Encoder for BytesEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}
