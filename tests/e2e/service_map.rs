//! The service map of a known workload, sent with the OpenTelemetry SDK over all three
//! transports, with the consumers' spans sent and flushed to Parquet *before* their
//! parents arrive: every edge, count, error count and percentile exact; Jaeger's
//! dependencies; window edges; an empty window; `start > end`.

use opentelemetry::trace::SpanKind;
use opentelemetry::KeyValue;
use serde_json::{json, Value};

use crate::harness::Osprey;
use crate::sdk::{exporter, send, SpanSpec, Transport};

const MS: i64 = 1_000_000;
const CHECKOUTS: u64 = 10;

fn span<'a>(
    trace: u128,
    id: u64,
    parent: u64,
    name: &'a str,
    kind: SpanKind,
    start_ms: u64,
    end_ms: u64,
) -> SpanSpec<'a> {
    SpanSpec { trace, span: id, parent, name, kind, start_ms, end_ms, error: false, attributes: vec![] }
}

fn trace_of(i: u64) -> u128 {
    0x5a00_0000_0000_0000_0000_0000_0000_0000 + u128::from(i)
}

/// Checkout `i` starts `i` seconds after the epoch:
/// frontend /buy [0,100] → client [10,90] ─http→ checkout [20,80]
///   checkout ─grpc→ payment [30, 30+10+i] (error when i % 3 == 0)
///   checkout ─kafka producer [50,51]→ shipping consumer [60,70]
///   checkout ─db.system=postgresql [52,55] (no child)
///   checkout ─peer.service=stripe, http [60,75] (no child)
struct Checkout {
    frontend: Vec<SpanSpec<'static>>,
    checkout: Vec<SpanSpec<'static>>,
    payment: Vec<SpanSpec<'static>>,
    shipping: Vec<SpanSpec<'static>>,
}

fn checkout(i: u64) -> Checkout {
    let (t, at) = (trace_of(i), i * 1000);
    let id = |n: u64| (i << 8) + n;
    let http = || vec![KeyValue::new("http.request.method", "POST")];
    let with = |mut s: SpanSpec<'static>, attributes: Vec<KeyValue>| {
        s.attributes = attributes;
        s
    };
    Checkout {
        frontend: vec![
            with(span(t, id(1), 0, "POST /buy", SpanKind::Server, at, at + 100), http()),
            with(span(t, id(2), id(1), "POST checkout", SpanKind::Client, at + 10, at + 90), http()),
        ],
        checkout: vec![
            with(span(t, id(3), id(2), "POST /checkout", SpanKind::Server, at + 20, at + 80), http()),
            with(
                span(t, id(4), id(3), "payment.Charge", SpanKind::Client, at + 25, at + 45 + i),
                vec![KeyValue::new("rpc.system", "grpc"), KeyValue::new("server.address", "payment")],
            ),
            with(
                span(t, id(6), id(3), "orders publish", SpanKind::Producer, at + 50, at + 51),
                vec![KeyValue::new("messaging.system", "kafka")],
            ),
            with(
                span(t, id(8), id(3), "INSERT orders", SpanKind::Client, at + 52, at + 55),
                vec![KeyValue::new("db.system", "postgresql")],
            ),
            with(
                span(t, id(9), id(3), "POST stripe", SpanKind::Client, at + 60, at + 75),
                vec![KeyValue::new("peer.service", "stripe"), KeyValue::new("http.request.method", "POST")],
            ),
        ],
        payment: vec![SpanSpec {
            error: i.is_multiple_of(3),
            attributes: vec![KeyValue::new("rpc.system", "grpc")],
            ..span(t, id(5), id(4), "payment.Charge", SpanKind::Server, at + 30, at + 40 + i)
        }],
        shipping: vec![with(
            span(t, id(7), id(6), "orders process", SpanKind::Consumer, at + 60, at + 70),
            vec![KeyValue::new("messaging.system", "kafka")],
        )],
    }
}

/// Percentile `q` of `values` (sorted) by linear interpolation, rounded to ns.
fn percentile(values: &[i64], q: f64) -> i64 {
    let rank = q * (values.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    (values[lo] as f64 + (values[hi] - values[lo]) as f64 * (rank - lo as f64)).round() as i64
}

fn edge_row(e: &Value) -> (String, String, String, i64, i64) {
    (
        e["source"].as_str().unwrap_or_default().to_string(),
        e["target"].as_str().unwrap_or_default().to_string(),
        e["kind"].as_str().unwrap_or_default().to_string(),
        e["call_count"].as_i64().unwrap_or(-1),
        e["error_count"].as_i64().unwrap_or(-1),
    )
}

fn row(source: &str, target: &str, kind: &str, calls: i64, errors: i64) -> (String, String, String, i64, i64) {
    (source.into(), target.into(), kind.into(), calls, errors)
}

#[tokio::test]
async fn service_map_of_a_known_workload_with_late_parents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut osprey = Osprey::start(&dir.path().join("data"), &[("OSPREY_STORAGE__FLUSH__MAX_AGE", "1s")]).await;
    let checkouts: Vec<Checkout> = (0..CHECKOUTS).map(checkout).collect();
    let batch = |pick: fn(&Checkout) -> &Vec<SpanSpec<'static>>| {
        checkouts.iter().flat_map(|c| pick(c).iter().map(SpanSpec::build)).collect::<Vec<_>>()
    };

    // The consumers and servers first, flushed to Parquet before their parents exist.
    send(&exporter(&osprey, Transport::Grpc, "shipping"), batch(|c| &c.shipping)).await.expect("shipping ack");
    send(&exporter(&osprey, Transport::HttpJson, "payment"), batch(|c| &c.payment)).await.expect("payment ack");
    osprey.wait_metric("osprey_rows_persisted_total", 2.0 * CHECKOUTS as f64).await;
    send(&exporter(&osprey, Transport::HttpProto, "checkout"), batch(|c| &c.checkout)).await.expect("checkout ack");
    osprey.wait_metric("osprey_rows_persisted_total", 7.0 * CHECKOUTS as f64).await;
    // The frontend stays in the memtable: the map spans Parquet and memory.
    send(&exporter(&osprey, Transport::Grpc, "frontend"), batch(|c| &c.frontend)).await.expect("frontend ack");

    let epoch_s = crate::sdk::epoch_s() as i64;
    let (start, end) = (epoch_s, epoch_s + 60);
    let (status, map) = osprey.get_json(&format!("/api/v1/service-map?start={start}&end={end}")).await;
    assert_eq!(status, 200, "{map}");
    let n = CHECKOUTS as i64;
    let errors = (0..CHECKOUTS).filter(|i| i.is_multiple_of(3)).count() as i64;
    let edges: Vec<_> = map["edges"].as_array().expect("edges").iter().map(edge_row).collect();
    assert_eq!(
        edges,
        vec![
            row("checkout", "payment", "grpc", n, errors),
            row("checkout", "postgresql", "database", n, 0),
            row("checkout", "shipping", "messaging", n, 0),
            row("checkout", "stripe", "http", n, 0),
            row("frontend", "checkout", "http", n, 0),
        ]
    );
    // Percentiles of the payment server spans: 10 + i ms.
    let payment: Vec<i64> = (0..n).map(|i| (10 + i) * MS).collect();
    // The default answer merges per-minute DDSketches: within 1% of the value at rank
    // ⌊q·(n−1)⌋ (`storage::rollup`), i.e. between the two values the exact answer
    // interpolates, widened by 1%.
    let payment_edge = &map["edges"][0];
    for (q, key) in [(0.5, "p50_ns"), (0.95, "p95_ns"), (0.99, "p99_ns")] {
        let got = payment_edge[key].as_i64().unwrap_or(-1) as f64;
        let rank = q * (payment.len() - 1) as f64;
        let (lo, hi) = (payment[rank.floor() as usize] as f64, payment[rank.ceil() as usize] as f64);
        assert!(got >= lo * 0.99 && got <= hi * 1.01, "{key}: {got} not within 1% of [{lo}, {hi}]");
    }
    // `exact=true` recomputes from raw spans: the same map, percentiles interpolated
    // exactly (up to 1 ns of f64 rounding).
    let (status, exact) = osprey.get_json(&format!("/api/v1/service-map?start={start}&end={end}&exact=true")).await;
    assert_eq!(status, 200, "{exact}");
    let exact_edges: Vec<_> = exact["edges"].as_array().expect("edges").iter().map(edge_row).collect();
    assert_eq!(exact_edges, edges);
    assert_eq!(exact["nodes"].as_array().map(Vec::len), Some(6));
    for (q, key) in [(0.5, "p50_ns"), (0.95, "p95_ns"), (0.99, "p99_ns")] {
        let got = exact["edges"][0][key].as_i64().unwrap_or(-1);
        assert!((got - percentile(&payment, q)).abs() <= 1, "{key}: {got} vs {}", percentile(&payment, q));
    }

    let nodes: Vec<(String, String, i64, i64)> = map["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            (
                s("service"),
                s("kind"),
                v["request_count"].as_i64().unwrap_or(-1),
                v["error_count"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    let node =
        |name: &str, kind: &str, requests: i64, errors: i64| (name.to_string(), kind.to_string(), requests, errors);
    assert_eq!(
        nodes,
        vec![
            node("checkout", "service", n, 0),
            node("frontend", "service", n, 0),
            node("payment", "service", n, errors),
            node("postgresql", "database", n, 0),
            node("shipping", "service", n, 0),
            node("stripe", "external", n, 0),
        ]
    );

    // Jaeger UI / Grafana: GET /jaeger/api/dependencies?endTs=<ms>&lookback=<ms>.
    let (status, deps) =
        osprey.get_json(&format!("/jaeger/api/dependencies?endTs={}&lookback=60000", end * 1000)).await;
    assert_eq!(status, 200, "{deps}");
    assert_eq!(deps["errors"], Value::Null);
    assert_eq!((deps["total"].clone(), deps["limit"].clone(), deps["offset"].clone()), (json!(5), json!(0), json!(0)));
    assert_eq!(deps["data"][4], json!({"parent": "frontend", "child": "checkout", "callCount": n}));

    // A window that cuts checkout 0 after its checkout server span began (20 ms): the
    // calls it makes from 25 ms on count, with checkout found as their caller.
    let (status, cut) = osprey.get_json(&format!("/api/v1/service-map?start={start}.025&end={start}.5")).await;
    assert_eq!(status, 200, "{cut}");
    let edges: Vec<_> = cut["edges"].as_array().expect("edges").iter().map(edge_row).collect();
    assert_eq!(
        edges,
        vec![
            row("checkout", "payment", "grpc", 1, 1),
            row("checkout", "postgresql", "database", 1, 0),
            row("checkout", "shipping", "messaging", 1, 0),
            row("checkout", "stripe", "http", 1, 0),
        ]
    );

    // RED of payment in 5 s buckets: checkouts 0–4 then 5–9.
    let (status, red) =
        osprey.get_json(&format!("/api/v1/red?service=payment&start={start}&end={}&step=5s", start + 10)).await;
    assert_eq!(status, 200, "{red}");
    let buckets: Vec<(i64, i64)> = red["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| (b["request_count"].as_i64().unwrap_or(-1), b["error_count"].as_i64().unwrap_or(-1)))
        .collect();
    assert_eq!(buckets, [(5, 2), (5, 2)]);

    // The aggregates are tables in SQL too.
    let sql = "SELECT row_kind, COUNT(*) AS n FROM service_edges GROUP BY row_kind ORDER BY row_kind";
    let response =
        reqwest::Client::new().post(osprey.url("/api/v1/sql")).json(&json!({ "sql": sql })).send().await.expect("sql");
    assert_eq!(response.status().as_u16(), 200);
    let sql: Value = response.json().await.expect("json");
    // Every service came in its own flush, so no call was paired inside one: the
    // children wait as `pending` (payment, shipping, checkout's server span), the
    // client/producer spans without child as `caller` (five per checkout), and those naming
    // a peer also as `peer` (postgresql, stripe, and the gRPC client naming
    // `server.address` and the kafka producer, whose children were flushed earlier). Each
    // of the 3 children per checkout was paired by a later flush (late join): a `joined`
    // marker each, and `edge` rows aggregated per minute and edge.
    let counts: Vec<(String, i64)> = sql["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| (r[0].as_str().unwrap_or("").to_string(), r[1].as_i64().unwrap_or(-1)))
        .collect();
    let count = |kind: &str| counts.iter().find(|(k, _)| k == kind).map_or(0, |(_, n)| *n);
    assert_eq!(
        [count("caller"), count("pending"), count("joined"), count("peer")],
        [5 * n, 3 * n, 3 * n, 4 * n],
        "{sql}"
    );
    assert!(count("edge") >= 3, "{sql}");

    // An empty window; start > end.
    let (status, empty) =
        osprey.get_json(&format!("/api/v1/service-map?start={}&end={}", start - 7200, start - 3600)).await;
    assert_eq!((status, empty), (200, json!({"nodes": [], "edges": []})));
    let (status, error) = osprey.get_json(&format!("/api/v1/service-map?start={end}&end={start}")).await;
    assert_eq!(status, 400, "{error}");
    assert!(error["error"].as_str().is_some_and(|e| e.contains("start")), "{error}");

    // kill -9 and restart: the derived tables were published with their spans or are
    // derived again from the replayed WAL; the map is unchanged.
    osprey.restart().await;
    let (status, again) = osprey.get_json(&format!("/api/v1/service-map?start={start}&end={end}")).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, map);
}

/// The astronomy recording (real otel-demo traffic), flushed every few MB so parents and
/// children land in different flushes: the map read from the pre-aggregated buckets has
/// exactly the edges, counts and error counts of the exact recomputation from raw spans.
#[tokio::test]
async fn buckets_match_the_exact_map_on_the_astronomy_recording() {
    use osprey_proto::ExportTraceServiceRequest;
    use prost::Message;

    let Some(records) = crate::roundtrip::corpus() else {
        eprintln!("skipped: astronomy-oteltraces.zst not found (set OSPREY_OTEL_DEMO_DIR)");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let osprey = Osprey::start(&dir.path().join("data"), &[("OSPREY_STORAGE__FLUSH__MAX_BYTES", "4000000")]).await;
    let client = reqwest::Client::new();
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    for record in &records {
        let request = ExportTraceServiceRequest::decode(record.as_slice()).expect("decode");
        for span in request.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans) {
            let start = i64::try_from(span.start_time_unix_nano).unwrap_or(i64::MAX);
            (first, last) = (first.min(start), last.max(start));
        }
        let r = client
            .post(osprey.otlp_http("/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(record.clone())
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status().as_u16(), 200);
    }
    // Whole minutes around the recording.
    let (start, end) = (first.div_euclid(60_000_000_000) * 60, (last.div_euclid(60_000_000_000) + 1) * 60);
    let url = |exact: bool| format!("/api/v1/service-map?start={start}&end={end}&exact={exact}");
    let (status, buckets) = osprey.get_json(&url(false)).await;
    assert_eq!(status, 200, "{buckets}");
    let (status, exact) = osprey.get_json(&url(true)).await;
    assert_eq!(status, 200, "{exact}");
    let edges = |m: &Value| -> Vec<_> { m["edges"].as_array().expect("edges").iter().map(edge_row).collect() };
    assert!(edges(&exact).len() >= 10, "the demo has a real topology: {exact}");
    assert_eq!(edges(&buckets), edges(&exact));
    let nodes = |m: &Value| -> Vec<(Value, Value, Value, Value)> {
        m["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| (n["service"].clone(), n["kind"].clone(), n["request_count"].clone(), n["error_count"].clone()))
            .collect()
    };
    assert_eq!(nodes(&buckets), nodes(&exact));
}
