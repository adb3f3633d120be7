//! Trace-by-id latency: after `loadgen` replayed a corpus for at least
//! `--passes` full passes, fetches random traces of those passes through
//! `GET /api/v1/traces/{id}` and reports p50/p99 (client-side, loopback).
//!
//! cargo run --release -p osprey-benches --bin querybench -- \
//!   --file ../shared/data/otel-demo/astronomy-oteltraces.zst --passes 100 --queries 500

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use osprey_benches::corpus::{read_requests, Rewriter};

#[derive(Debug, Parser)]
struct Args {
    /// The corpus file loadgen replayed.
    #[arg(long, required_unless_present = "synthetic")]
    file: Option<PathBuf>,
    /// Passes loadgen completed (requests sent / corpus requests).
    #[arg(long, default_value_t = 0)]
    passes: u64,
    /// Instead of corpus traces: send one synthetic trace of this many spans (a tree with
    /// fan-out 8) over OTLP/HTTP, then fetch it `--queries` times.
    #[arg(long)]
    synthetic: Option<usize>,
    #[arg(long, default_value = "http://127.0.0.1:4318/v1/traces")]
    otlp_http: String,
    #[arg(long, default_value_t = 500)]
    queries: usize,
    #[arg(long, default_value = "http://127.0.0.1:3200")]
    api: String,
    /// Only traces with at least this many spans (e.g. 1000 for the large-waterfall figure).
    #[arg(long, default_value_t = 1)]
    min_spans: usize,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = Args::parse();
    let client = reqwest::Client::new();
    if let Some(n) = args.synthetic {
        let id = send_synthetic(&client, &args.otlp_http, n).await?;
        let url = format!("{}/api/v1/traces/{}", args.api, hex::encode(id));
        return measure(&client, (0..args.queries).map(|_| url.clone())).await;
    }
    let Some(file) = &args.file else { return Err("--file or --synthetic".into()) };
    let corpus = read_requests(file)?;
    // Trace ids of the corpus with their span counts.
    let mut counts = std::collections::HashMap::<Vec<u8>, usize>::new();
    for span in corpus.iter().flat_map(|r| &r.resource_spans).flat_map(|rs| &rs.scope_spans).flat_map(|ss| &ss.spans) {
        *counts.entry(span.trace_id.clone()).or_default() += 1;
    }
    let ids: Vec<Vec<u8>> = counts
        .into_iter()
        .filter(|(_, n)| *n >= args.min_spans)
        .map(|(id, _)| id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if ids.is_empty() || args.passes == 0 {
        return Err("no trace qualifies".into());
    }
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut urls = Vec::with_capacity(args.queries);
    for _ in 0..args.queries {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let pass = seed % args.passes;
        let mut id = ids[(seed >> 20) as usize % ids.len()].clone();
        let key = Rewriter::new(pass, 0, 0).key.to_be_bytes();
        for (b, k) in id.iter_mut().zip(key.iter()) {
            *b ^= k;
        }
        urls.push(format!("{}/api/v1/traces/{}", args.api, hex::encode(&id)));
    }
    measure(&client, urls.into_iter()).await
}

async fn measure(
    client: &reqwest::Client,
    urls: impl Iterator<Item = String>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut lat_ms = Vec::new();
    let mut spans_total = 0u64;
    for url in urls {
        let t0 = Instant::now();
        let r = client.get(&url).send().await?;
        let status = r.status();
        let body: serde_json::Value = r.json().await?;
        lat_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        if !status.is_success() {
            return Err(format!("{url}: {status} {body}").into());
        }
        spans_total += body["span_count"].as_u64().unwrap_or(0);
    }
    lat_ms.sort_by(f64::total_cmp);
    let pct = |p: f64| lat_ms[((lat_ms.len() as f64 * p) as usize).min(lat_ms.len() - 1)];
    println!("queries               {}", lat_ms.len());
    println!("mean_spans_per_trace  {:.1}", spans_total as f64 / lat_ms.len() as f64);
    println!("p50_ms                {:.2}", pct(0.50));
    println!("p99_ms                {:.2}", pct(0.99));
    println!("max_ms                {:.2}", pct(1.0));
    Ok(())
}

/// Sends one trace of `n` spans: span i's parent is span (i-1)/8, each a millisecond long
/// nested in its parent.
async fn send_synthetic(
    client: &reqwest::Client,
    url: &str,
    n: usize,
) -> Result<[u8; 16], Box<dyn std::error::Error + Send + Sync>> {
    use osprey_proto::common::{any_value, AnyValue, KeyValue};
    use osprey_proto::resource::Resource;
    use osprey_proto::trace::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() as u64;
    let trace_id: [u8; 16] = (u128::from(now) ^ 0x5eed_0000_0000_0000_0000_0000_0000_0001).to_be_bytes();
    let span_id = |i: usize| ((i as u64) + 1).to_be_bytes().to_vec();
    let spans = (0..n)
        .map(|i| {
            let depth = (1..).take_while(|d| (8usize.pow(*d) - 1) / 7 <= i).count() as u64;
            Span {
                trace_id: trace_id.to_vec(),
                span_id: span_id(i),
                parent_span_id: if i == 0 { vec![] } else { span_id((i - 1) / 8) },
                name: format!("op-{}", i % 17),
                kind: if i == 0 { 2 } else { 1 },
                start_time_unix_nano: now + depth * 1_000 + i as u64,
                end_time_unix_nano: now + 1_000_000_000 - depth * 1_000,
                attributes: vec![KeyValue {
                    key: "i".into(),
                    value: Some(AnyValue { value: Some(any_value::Value::IntValue(i as i64)) }),
                    ..Default::default()
                }],
                ..Default::default()
            }
        })
        .collect();
    let req = osprey_proto::ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue { value: Some(any_value::Value::StringValue("synthetic".into())) }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    };
    let r = client.post(url).header("content-type", "application/x-protobuf").body(req.encode_to_vec()).send().await?;
    if !r.status().is_success() {
        return Err(format!("sending the synthetic trace: {}", r.status()).into());
    }
    Ok(trace_id)
}
