use arrow::array::RecordBatch;
use axum::http::StatusCode;
use osprey_storage::attributes::AttrRef;
use serde_json::{json, Value};

use super::{compute, Edge, Node, ServiceMap, Window};
use crate::test_support::{batch, get_json, service, span, Attrs, Span, T0};

pub(super) const MS: i64 = 1_000_000;
pub(super) const SEC: i64 = 1_000_000_000;
pub(super) const TRACE_1: &str = "0af7651916cd43dd8448eb211c80319c";
pub(super) const TRACE_2: &str = "1bf7651916cd43dd8448eb211c80319c";

const SERVER: i32 = 2;
const CLIENT: i32 = 3;
const PRODUCER: i32 = 4;
const CONSUMER: i32 = 5;

fn at(mut s: Span, kind: i32, attributes: Attrs, shift: i64) -> Span {
    s.kind = kind;
    s.attributes = attributes;
    s.start += shift;
    s.end += shift;
    s
}

/// One checkout, starting `shift` ns after T0, with durations of the payment call and
/// the database query given:
/// ```text
/// frontend A server [0,100] ── B client http [10,90]
///   checkout C server http [20,80] ── D client grpc [25,45] (server.address payment:50051)
///     payment E server grpc [30, 30+payment_ms] (error if payment_error)
///   checkout ── P producer kafka [50,51] ── shipping Q consumer [60,70]
///   checkout ── G client db.system=postgresql [52, 52+db_ms]     (no child: virtual)
///   checkout ── X client peer.service=stripe http [60,75]          (no child: virtual)
///   checkout ── I internal [76,77]                                  (same service: no edge)
/// ```
pub(super) fn checkout(trace: &str, shift: i64, payment_ms: i64, payment_error: bool, db_ms: i64) -> RecordBatch {
    batch(trace, &checkout_spans(shift, payment_ms, payment_error, db_ms))
}

/// The spans of [`checkout`].
pub(super) fn checkout_spans(shift: i64, payment_ms: i64, payment_error: bool, db_ms: i64) -> Vec<Span> {
    let http = || vec![("http.request.method", AttrRef::Str("GET"))];
    let grpc = || vec![("rpc.system", AttrRef::Str("grpc"))];
    let kafka = || vec![("messaging.system", AttrRef::Str("kafka"))];
    let e = Span {
        status: if payment_error { 2 } else { 0 },
        ..span("e0", "d0", "payment", 30 * MS, (30 + payment_ms) * MS)
    };
    let spans = [
        at(span("a0", "", "frontend", 0, 100 * MS), SERVER, http(), shift),
        at(span("b0", "a0", "frontend", 10 * MS, 90 * MS), CLIENT, http(), shift),
        at(span("c0", "b0", "checkout", 20 * MS, 80 * MS), SERVER, http(), shift),
        at(
            span("d0", "c0", "checkout", 25 * MS, 45 * MS),
            CLIENT,
            vec![("rpc.system", AttrRef::Str("grpc")), ("server.address", AttrRef::Str("payment:50051"))],
            shift,
        ),
        at(e, SERVER, grpc(), shift),
        at(span("f0", "c0", "checkout", 50 * MS, 51 * MS), PRODUCER, kafka(), shift),
        at(span("f1", "f0", "shipping", 60 * MS, 70 * MS), CONSUMER, kafka(), shift),
        at(
            span("a1", "c0", "checkout", 52 * MS, (52 + db_ms) * MS),
            CLIENT,
            vec![("db.system", AttrRef::Str("postgresql"))],
            shift,
        ),
        at(
            span("b1", "c0", "checkout", 60 * MS, 75 * MS),
            CLIENT,
            vec![("peer.service", AttrRef::Str("stripe")), ("http.method", AttrRef::Str("POST"))],
            shift,
        ),
        at(span("c1", "c0", "checkout", 76 * MS, 77 * MS), 1, vec![], shift),
    ];
    spans.into_iter().map(|s| Span { id: pad(s.id), parent: pad(s.parent), ..s }).collect()
}

/// Short test ids to 16 hex characters (leaked: tests only).
fn pad(id: &'static str) -> &'static str {
    if id.is_empty() {
        return id;
    }
    Box::leak(format!("{id:0>16}").into_boxed_str())
}

/// Two checkouts one second apart: payment 10 ms (ok) then 20 ms (error), db 2 then 4 ms.
fn workload() -> Vec<RecordBatch> {
    vec![checkout(TRACE_1, 0, 10, false, 2), checkout(TRACE_2, SEC, 20, true, 4)]
}

fn window(start: i64, end: i64) -> Window {
    Window::new(T0 + start, T0 + end).expect("window")
}

async fn map_of(batches: Vec<RecordBatch>, w: Window, focus: Option<&str>) -> ServiceMap {
    let service = service(batches);
    compute(service.context(), w, focus).await.expect("service map")
}

fn edge(source: &str, target: &str, kind: &str, calls: i64, errors: i64, p: [i64; 3]) -> Edge {
    Edge {
        source: source.into(),
        target: target.into(),
        call_count: calls,
        error_count: errors,
        p50_ns: Some(p[0]),
        p95_ns: Some(p[1]),
        p99_ns: Some(p[2]),
        kind: kind.into(),
    }
}

fn node(name: &str, kind: &str, requests: i64, errors: i64, p: Option<[i64; 3]>) -> Node {
    Node {
        service: name.into(),
        kind: kind.into(),
        request_count: requests,
        error_count: errors,
        p50_ns: p.map(|p| p[0]),
        p95_ns: p.map(|p| p[1]),
        p99_ns: p.map(|p| p[2]),
    }
}

/// Percentiles of two values a < b, by linear interpolation (rank q·(n-1)).
fn two(a: i64, b: i64) -> [i64; 3] {
    let at = |q: f64| (a as f64 + (b - a) as f64 * q).round() as i64;
    [at(0.5), at(0.95), at(0.99)]
}

#[tokio::test]
async fn edges_nodes_and_virtual_peers_are_exact() {
    let map = map_of(workload(), window(0, 2 * SEC), None).await;
    assert_eq!(
        map.edges,
        vec![
            edge("checkout", "payment", "grpc", 2, 1, two(10 * MS, 20 * MS)),
            edge("checkout", "postgresql", "database", 2, 0, two(2 * MS, 4 * MS)),
            edge("checkout", "shipping", "messaging", 2, 0, [10 * MS; 3]),
            edge("checkout", "stripe", "http", 2, 0, [15 * MS; 3]),
            edge("frontend", "checkout", "http", 2, 0, [60 * MS; 3]),
        ]
    );
    assert_eq!(
        map.nodes,
        vec![
            node("checkout", "service", 2, 0, Some([60 * MS; 3])),
            node("frontend", "service", 2, 0, Some([100 * MS; 3])),
            node("payment", "service", 2, 1, Some(two(10 * MS, 20 * MS))),
            node("postgresql", "database", 2, 0, Some(two(2 * MS, 4 * MS))),
            node("shipping", "service", 2, 0, Some([10 * MS; 3])),
            node("stripe", "external", 2, 0, Some([15 * MS; 3])),
        ]
    );
}

#[tokio::test]
async fn a_window_cutting_a_trace_counts_calls_whose_callee_starts_inside() {
    // [25 ms, 1 s): checkout's server span (20 ms) is outside, but it is still found as
    // the caller of payment (30 ms), shipping, postgresql and stripe; frontend→checkout
    // (callee at 20 ms) is not in the window.
    let map = map_of(workload(), window(25 * MS, SEC), None).await;
    let pairs: Vec<(&str, &str)> = map.edges.iter().map(|e| (e.source.as_str(), e.target.as_str())).collect();
    assert_eq!(
        pairs,
        [("checkout", "payment"), ("checkout", "postgresql"), ("checkout", "shipping"), ("checkout", "stripe")]
    );
    assert!(map.edges.iter().all(|e| e.call_count == 1), "{:?}", map.edges);
    let checkout = map.nodes.iter().find(|n| n.service == "checkout").expect("checkout node");
    assert_eq!((checkout.request_count, checkout.p50_ns), (0, None), "its server span started before the window");

    // [0, 30 ms): the gRPC client span (25 ms) is inside, its server child (30 ms) just
    // after: no edge, and the client span is not mistaken for a call to an
    // uninstrumented `payment:50051`.
    let map = map_of(workload(), window(0, 30 * MS), None).await;
    let pairs: Vec<(&str, &str)> = map.edges.iter().map(|e| (e.source.as_str(), e.target.as_str())).collect();
    assert_eq!(pairs, [("frontend", "checkout")]);

    // Consecutive windows split the calls without losing or doubling any.
    let whole = map_of(workload(), window(0, 2 * SEC), None).await;
    let mut halves = 0;
    for (start, end) in [(0, 30 * MS), (30 * MS, 1030 * MS), (1030 * MS, 2 * SEC)] {
        halves += map_of(workload(), window(start, end), None).await.edges.iter().map(|e| e.call_count).sum::<i64>();
    }
    assert_eq!(halves, whole.edges.iter().map(|e| e.call_count).sum::<i64>());
}

#[tokio::test]
async fn neighbourhood_of_a_service() {
    let map = map_of(workload(), window(0, 2 * SEC), Some("payment")).await;
    assert_eq!(map.edges.len(), 1);
    assert_eq!((map.edges[0].source.as_str(), map.edges[0].target.as_str()), ("checkout", "payment"));
    let names: Vec<&str> = map.nodes.iter().map(|n| n.service.as_str()).collect();
    assert_eq!(names, ["checkout", "payment"]);
}

#[tokio::test]
async fn service_map_endpoint() {
    let service = service(workload());
    let secs = T0 / SEC;
    let (status, body) = get_json(&service, &format!("/api/v1/service-map?start={secs}&end={}", secs + 2)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["edges"].as_array().map(Vec::len), Some(5));
    assert_eq!(
        body["edges"][0],
        json!({"source": "checkout", "target": "payment", "call_count": 2, "error_count": 1,
               "p50_ns": 15 * MS, "p95_ns": two(10 * MS, 20 * MS)[1], "p99_ns": two(10 * MS, 20 * MS)[2], "kind": "grpc"})
    );
    assert_eq!(body["nodes"].as_array().map(Vec::len), Some(6));

    // An empty window: 200 with empty lists. start > end: 400 naming the parameter.
    let (status, body) =
        get_json(&service, &format!("/api/v1/service-map?start={}&end={}", secs + 10, secs + 20)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"nodes": [], "edges": []})));
    let (status, body) = get_json(&service, &format!("/api/v1/service-map?start={}&end={secs}", secs + 1)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("start")), "{body}");
    let (status, body) = get_json(&service, "/api/v1/service-map?start=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // RFC 3339 and decimal seconds are accepted too.
    let (status, body) =
        get_json(&service, "/api/v1/service-map?start=2023-11-14T22:13:20Z&end=1700000000.030000000").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["edges"][0]["source"], "frontend");
}

#[tokio::test]
async fn jaeger_dependencies_shape() {
    let service = service(workload());
    let end_ms = T0 / MS + 2000;
    let (status, body) = get_json(&service, &format!("/jaeger/api/dependencies?endTs={end_ms}&lookback=2000")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"data": [
            {"parent": "checkout", "child": "payment", "callCount": 2},
            {"parent": "checkout", "child": "postgresql", "callCount": 2},
            {"parent": "checkout", "child": "shipping", "callCount": 2},
            {"parent": "checkout", "child": "stripe", "callCount": 2},
            {"parent": "frontend", "child": "checkout", "callCount": 2},
        ], "total": 5, "limit": 0, "offset": 0, "errors": null})
    );
    let (status, _) = get_json(&service, "/jaeger/api/dependencies?endTs=soon").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn red_series_per_service_and_operation() {
    let service = service(workload());
    let secs = T0 / SEC;
    let (status, body) =
        get_json(&service, &format!("/api/v1/red?service=payment&start={secs}&end={}&step=1s", secs + 3)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let buckets: Vec<(i64, i64, f64, i64, Value)> = body["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| {
            let int = |k: &str| b[k].as_i64().expect(k);
            (
                int("time_unix_nano"),
                int("request_count"),
                b["rate"].as_f64().expect("rate"),
                int("error_count"),
                b["p50_ns"].clone(),
            )
        })
        .collect();
    assert_eq!(
        buckets,
        vec![
            (T0, 1, 1.0, 0, json!(10 * MS)),
            (T0 + SEC, 1, 1.0, 1, json!(20 * MS)),
            (T0 + 2 * SEC, 0, 0.0, 0, Value::Null),
        ]
    );
    let (_, body) = get_json(
        &service,
        &format!("/api/v1/red?service=checkout&operation=nope&start={secs}&end={}&step=60", secs + 3),
    )
    .await;
    assert_eq!(body["buckets"][0]["request_count"], 0, "{body}");
    let (status, _) = get_json(&service, &format!("/api/v1/red?start={secs}&end={}", secs + 3)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "service is required");
    let (status, _) = get_json(&service, &format!("/api/v1/red?service=x&start=0&end={secs}&step=1ms")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "too many buckets");
}

#[test]
fn time_parameters() {
    use super::window::parse_time;
    assert_eq!(parse_time("start", "1700000000").ok(), Some(T0));
    assert_eq!(parse_time("start", "1700000000.25").ok(), Some(T0 + 250 * MS));
    assert_eq!(parse_time("start", "2023-11-14T22:13:20Z").ok(), Some(T0));
    assert!(parse_time("start", "99999999999999999999").is_err());
    assert!(parse_time("start", "1.2.3").is_err());
    assert!(Window::from_jaeger(Some("1000"), Some("-5")).is_err());
    assert_eq!(Window::from_jaeger(Some("2000"), Some("500")).ok(), Window::new(1_500_000_000, 2_000_000_000).ok());
}
