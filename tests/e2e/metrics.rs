//! Metrics end to end against the real binary: every instrument kind of the OpenTelemetry SDK
//! over gRPC, HTTP protobuf and HTTP JSON, exact through `POST /api/v1/sql`; and the Prometheus
//! scraper against real exporters (Prometheus's node exporter, installed if missing, and
//! Osprey's own `/metrics`), a target that is down, one that answers garbage, one that hangs
//! past the timeout, and expositions with NaN/±Inf, odd label values and 100k series.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{MetricExporter, Protocol, WithExportConfig};
use opentelemetry_sdk::metrics::periodic_reader_with_async_runtime::PeriodicReader;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::{runtime, Resource};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::harness::Osprey;
use crate::sdk::Transport;

async fn sql(osprey: &Osprey, query: &str) -> Vec<Value> {
    let r = reqwest::Client::new()
        .post(osprey.url("/api/v1/sql"))
        .json(&json!({ "sql": query }))
        .send()
        .await
        .expect("POST /api/v1/sql");
    let status = r.status().as_u16();
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(status, 200, "{query}: {body}");
    body["rows"].as_array().expect("rows").clone()
}

fn provider(osprey: &Osprey, transport: Transport, service: &str) -> SdkMeterProvider {
    let exporter = match transport {
        Transport::Grpc => MetricExporter::builder().with_tonic().with_endpoint(osprey.otlp_grpc()).build(),
        Transport::HttpProto | Transport::HttpJson => MetricExporter::builder()
            .with_http()
            .with_protocol(if transport == Transport::HttpJson { Protocol::HttpJson } else { Protocol::HttpBinary })
            .with_endpoint(osprey.otlp_http("/v1/metrics"))
            .build(),
    }
    .expect("metric exporter");
    // Exports only when flushed: the test decides when.
    let reader = PeriodicReader::builder(exporter, runtime::Tokio).with_interval(Duration::from_secs(3600)).build();
    SdkMeterProvider::builder()
        .with_reader(reader)
        .with_resource(Resource::builder_empty().with_service_name(service.to_string()).build())
        .build()
}

/// Records one value set with every instrument kind.
fn record(provider: &SdkMeterProvider) {
    let meter = provider.meter("e2e.metrics");
    let requests = meter.u64_counter("e2e.requests").with_unit("1").build();
    requests.add(3, &[KeyValue::new("route", "/a")]);
    requests.add(4, &[KeyValue::new("route", "/a")]);
    requests.add(1, &[KeyValue::new("route", "/b")]);
    let queue = meter.i64_up_down_counter("e2e.queue").build();
    queue.add(5, &[]);
    queue.add(-2, &[]);
    let latency = meter.f64_histogram("e2e.latency").with_unit("ms").with_boundaries(vec![10.0, 100.0, 1000.0]).build();
    for v in [5.0, 50.0, 50.0, 500.0, 5000.0] {
        latency.record(v, &[KeyValue::new("route", "/a")]);
    }
    meter.f64_gauge("e2e.temperature").build().record(21.5, &[]);
    let _ticks = meter.u64_observable_counter("e2e.ticks").with_callback(|o| o.observe(42, &[])).build();
    let _load = meter.f64_observable_gauge("e2e.load").with_callback(|o| o.observe(0.75, &[])).build();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_instrument_kind_over_every_transport_is_exact_in_sql() {
    let dir = tempfile::tempdir().expect("tempdir");
    let osprey = Osprey::start(&dir.path().join("data"), &[]).await;
    for (transport, service) in
        [(Transport::Grpc, "m-grpc"), (Transport::HttpProto, "m-http-proto"), (Transport::HttpJson, "m-http-json")]
    {
        let provider = provider(&osprey, transport, service);
        record(&provider);
        // Shutdown exports once (a flush and then a shutdown would export the cumulative points twice).
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await.expect("flush task");
        flushed.unwrap_or_else(|e| panic!("{service}: export failed: {e}; log:\n{}", osprey.log_text()));

        let rows = sql(
            &osprey,
            &format!(
                "SELECT metric_name, metric_type, value, is_monotonic, temporality, attributes['route'], unit \
                 FROM metrics WHERE service_name = '{service}' AND metric_type IN ('gauge', 'sum') \
                 ORDER BY metric_name, attributes['route']"
            ),
        )
        .await;
        let want = json!([
            ["e2e.load", "gauge", 0.75, null, null, null, null],
            ["e2e.queue", "sum", 3.0, false, "cumulative", null, null],
            ["e2e.requests", "sum", 7.0, true, "cumulative", "/a", "1"],
            ["e2e.requests", "sum", 1.0, true, "cumulative", "/b", "1"],
            ["e2e.temperature", "gauge", 21.5, null, null, null, null],
            ["e2e.ticks", "sum", 42.0, true, "cumulative", null, null],
        ]);
        assert_eq!(Value::Array(rows), want, "{service}");

        let rows = sql(
            &osprey,
            &format!(
                "SELECT count, sum, min, max, array_to_string(bucket_counts, ','), array_to_string(explicit_bounds, ','), \
                 histogram_quantile(0.5, bucket_counts, explicit_bounds), attributes['route'], start_time < time \
                 FROM metrics WHERE service_name = '{service}' AND metric_name = 'e2e.latency'"
            ),
        )
        .await;
        assert_eq!(
            Value::Array(rows),
            json!([[5, 5605.0, 5.0, 5000.0, "1,2,1,1", "10,100,1000", 77.5, "/a", true]]),
            "{service}"
        );
    }
    let counted = sql(&osprey, "SELECT count(*) FROM metrics").await;
    assert_eq!(counted, [json!([3 * 7])]);
}

/// A one-file HTTP server on a free loopback port answering every request with `body`
/// (`None`: accept, read, never answer).
async fn tiny_server(body: Option<String>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        let mut hung = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = vec![0u8; 4096];
            let _ = socket.read(&mut buf).await;
            match &body {
                None => hung.push(socket),
                Some(body) => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(body.as_bytes()).await;
                }
            }
        }
    });
    addr
}

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").to_string()
}

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

/// Prometheus's node exporter, installed with apt when missing, on a free loopback port.
fn node_exporter(address: &str) -> Child {
    if !std::path::Path::new(NODE_EXPORTER).exists() {
        eprintln!("installing prometheus-node-exporter with apt-get");
        let install = Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "prometheus-node-exporter"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .expect("run apt-get");
        if !install.success() {
            let update = Command::new("apt-get").arg("update").status().expect("apt-get update");
            assert!(update.success(), "apt-get update failed");
            let retry = Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends", "prometheus-node-exporter"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .expect("run apt-get");
            assert!(retry.success(), "apt-get install prometheus-node-exporter failed");
        }
    }
    Command::new(NODE_EXPORTER)
        .arg(format!("--web.listen-address={address}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the node exporter")
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_rows(osprey: &Osprey, what: &str, query: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let rows = sql(osprey, query).await;
        if done(&rows) {
            return rows;
        }
        if Instant::now() > deadline {
            panic!("{what}: last answer {rows:?}; log:\n{}", osprey.log_text());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_real_exporters_and_survives_bad_targets() {
    let node_address = free_addr();
    let _node = Killed(node_exporter(&node_address));
    let weird = concat!(
        "# TYPE weird gauge\n",
        "weird{quote=\"say \\\"hi\\\"\",newline=\"a\\nb\",uni=\"ünï 🚀\",comma=\"x,y=z}\"} NaN\n",
        "weird{quote=\"inf\"} +Inf\n",
        "weird{quote=\"-inf\"} -Inf\n",
    );
    let mut big = String::from("# TYPE big gauge\n");
    for i in 0..100_000 {
        big.push_str(&format!("big{{series=\"{i}\"}} {i}\n"));
    }
    let weird_target = tiny_server(Some(weird.to_string())).await;
    let big_target = tiny_server(Some(big)).await;
    let malformed_target = tiny_server(Some("ok 1\nthis is { not prometheus\n".to_string())).await;
    let hanging_target = tiny_server(None).await;
    let down_target = free_addr();

    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = format!(
        r#"
scrape_configs:
  - job_name: node
    scrape_interval: 2s
    scrape_timeout: 1s
    static_configs: [{{targets: ["{node_address}"]}}]
  - job_name: osprey
    scrape_interval: 2s
    scrape_timeout: 1s
    static_configs: [{{targets: ["{{api}}"], labels: {{env: e2e}}}}]
  - job_name: odd
    scrape_interval: 2s
    scrape_timeout: 1s
    static_configs: [{{targets: ["{weird_target}", "{malformed_target}", "{hanging_target}", "{down_target}"]}}]
  - job_name: big
    scrape_interval: 10s
    scrape_timeout: 8s
    static_configs: [{{targets: ["{big_target}"]}}]
"#
    );
    let osprey = Osprey::start_with_config(&dir.path().join("data"), &yaml).await;
    let api = osprey.api.to_string();

    let up_query = "SELECT attributes['instance'], max(value), min(value) FROM metrics \
                    WHERE metric_name = 'up' GROUP BY attributes['instance']";
    let targets = [&node_address, &api, &weird_target, &malformed_target, &hanging_target, &down_target, &big_target];
    let ups = wait_rows(&osprey, "every target scraped", up_query, |rows| rows.len() == targets.len()).await;
    let up = |target: &str| ups.iter().find(|r| r[0] == target).map(|r| (r[1].clone(), r[2].clone()));
    for good in [&node_address, &api, &weird_target, &big_target] {
        assert_eq!(up(good), Some((json!(1.0), json!(1.0))), "{good} is up");
    }
    for bad in [&malformed_target, &hanging_target, &down_target] {
        assert_eq!(up(bad), Some((json!(0.0), json!(0.0))), "{bad} is down");
    }

    // The node exporter: counters as monotonic sums, summaries as summary points.
    let node = sql(
        &osprey,
        "SELECT metric_type, count(*) FROM metrics WHERE attributes['job'] = 'node' \
         AND metric_name IN ('node_cpu_seconds_total', 'go_gc_duration_seconds') GROUP BY metric_type ORDER BY metric_type",
    )
    .await;
    assert_eq!(node.len(), 2, "{node:?}");
    assert_eq!(node[0][0], "sum");
    assert_eq!(node[1][0], "summary");
    // Osprey's own /metrics, with the target's static label.
    let own = sql(
        &osprey,
        "SELECT DISTINCT is_monotonic, temporality, attributes['env'] FROM metrics \
         WHERE attributes['job'] = 'osprey' AND metric_name = 'osprey_received_items_total'",
    )
    .await;
    assert_eq!(own, [json!([true, "cumulative", "e2e"])]);
    // Odd label values and non-finite values come back as exposed.
    let odd = sql(
        &osprey,
        "SELECT DISTINCT attributes['quote'], attributes['newline'], attributes['uni'], attributes['comma'], \
         arrow_cast(value, 'Utf8') FROM metrics WHERE metric_name = 'weird' ORDER BY 1",
    )
    .await;
    assert_eq!(
        odd,
        [
            json!(["-inf", null, null, null, "-inf"]),
            json!(["inf", null, null, null, "inf"]),
            json!(["say \"hi\"", "a\nb", "ünï 🚀", "x,y=z}", "NaN"]),
        ]
    );
    // 100k series from one scrape.
    let big = wait_rows(
        &osprey,
        "100k series",
        "SELECT count(DISTINCT attributes['series']) FROM metrics WHERE metric_name = 'big'",
        |rows| rows.first().is_some_and(|r| r[0] == 100_000),
    )
    .await;
    assert_eq!(big, [json!([100_000])]);

    // Failures are counted by reason, and the server kept serving.
    for reason in ["connect", "parse", "timeout"] {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = reqwest::get(osprey.url("/metrics")).await.expect("GET /metrics").text().await.expect("text");
            let counted = text.lines().any(|l| {
                l.starts_with("osprey_scrape_errors_total")
                    && l.contains("job=\"odd\"")
                    && l.contains(&format!("reason=\"{reason}\""))
            });
            if counted {
                break;
            }
            assert!(Instant::now() < deadline, "no {reason} error counted:\n{text}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert!(osprey.metric("osprey_received_items_total").await > 100_000.0);
}

/// The OpenTelemetry Rust SDK records no exemplars yet, so these come as OTLP/JSON the way
/// exporters that do (Java, Go) send them: a latency point links to its trace, and a point whose
/// buckets do not add up is rejected alone through `partialSuccess`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exemplars_link_points_to_traces_and_invalid_points_are_rejected_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let osprey = Osprey::start(&dir.path().join("data"), &[]).await;
    let trace = "5b8efff798038103d269b633813fc60c";
    let body = json!({"resourceMetrics": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
    "scopeMetrics": [{"metrics": [{"name": "http.server.request.duration", "unit": "s", "histogram": {
        "aggregationTemporality": "AGGREGATION_TEMPORALITY_CUMULATIVE",
        "dataPoints": [
            {"startTimeUnixNano": "1795341600000000000", "timeUnixNano": "1795341660000000000",
             "count": "3", "sum": 9.5, "bucketCounts": ["1", "1", "1"], "explicitBounds": [0.1, 1.0],
             "exemplars": [{"timeUnixNano": "1795341650000000000", "asDouble": 9.2,
                            "traceId": trace, "spanId": "eee19b7ec3c1b174",
                            "filteredAttributes": [{"key": "user", "value": {"stringValue": "u1"}}]}]},
            {"timeUnixNano": "1795341660000000000", "count": "5", "bucketCounts": ["1", "1", "1"],
             "explicitBounds": [0.1, 1.0]}
        ]}}]}]}]});
    let r = reqwest::Client::new()
        .post(osprey.otlp_http("/v1/metrics"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST /v1/metrics");
    assert_eq!(r.status().as_u16(), 200);
    let reply: Value = r.json().await.expect("JSON reply");
    assert_eq!(reply["partialSuccess"]["rejectedDataPoints"], "1", "{reply}");
    assert!(reply["partialSuccess"]["errorMessage"].as_str().expect("message").contains("not count 5"), "{reply}");
    let rows = sql(
        &osprey,
        "SELECT service_name, count, exemplars[1]['trace_id'], exemplars[1]['span_id'], exemplars[1]['value'], \
         exemplars[1]['filtered_attributes']['user'] FROM metrics WHERE metric_name = 'http.server.request.duration'",
    )
    .await;
    assert_eq!(rows, [json!(["checkout", 3, trace, "eee19b7ec3c1b174", 9.2, "u1"])]);
}

/// The memory budget is on `/metrics` beside the process's resident memory: its admission limit
/// (the budget minus a quarter of headroom), and its parts, of which the memtables' is what the
/// memtables hold and the requests' is back to zero once every request was answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_budget_and_resident_memory_are_on_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let osprey = Osprey::start(&dir.path().join("data"), &[("OSPREY_STORAGE__MEMORY_BUDGET_BYTES", "300000000")]).await;
    let provider = provider(&osprey, Transport::Grpc, "budget");
    record(&provider);
    provider.force_flush().expect("export");
    osprey.wait_metric("osprey_memtable_rows", 1.0).await;
    let text = reqwest::get(osprey.url("/metrics")).await.expect("GET /metrics").text().await.expect("text");
    let sum = |name: &str, labels: &str| -> f64 {
        text.lines()
            .filter(|l| l.split(['{', ' ']).next() == Some(name) && l.contains(labels))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert_eq!(sum("osprey_memory_admission_limit_bytes", ""), 225_000_000.0, "{text}");
    let memtables = sum("osprey_memory_accounted_bytes", "part=\"memtables\"");
    assert!(memtables > 0.0, "{text}");
    assert_eq!(memtables, sum("osprey_memtable_bytes", ""), "{text}");
    assert_eq!(sum("osprey_memory_accounted_bytes", "part=\"requests\""), 0.0, "{text}");
    assert!(sum("process_resident_memory_bytes", "") > memtables, "{text}");
    provider.shutdown().expect("shutdown");
}
