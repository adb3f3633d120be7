//! A known three-service trace, sent in three batches over gRPC, HTTP protobuf
//! and HTTP JSON, with a flush to Parquet between the batches: the waterfall
//! must be whole and exact.

use opentelemetry::trace::SpanKind;
use opentelemetry::KeyValue;
use serde_json::Value;

use crate::harness::Osprey;
use crate::sdk::{exporter, hex_span, hex_trace, send, SpanSpec, Transport};

const TRACE: u128 = 0x4bf92f3577b34da6a3ce929d0e0e4736;
const MS: i64 = 1_000_000;

fn span<'a>(span: u64, parent: u64, name: &'a str, kind: SpanKind, start_ms: u64, end_ms: u64) -> SpanSpec<'a> {
    SpanSpec { trace: TRACE, span, parent, name, kind, start_ms, end_ms, error: false, attributes: vec![] }
}

#[tokio::test]
async fn waterfall_of_a_trace_sent_in_batches_across_a_flush() {
    let dir = tempfile::tempdir().expect("tempdir");
    let osprey = Osprey::start(&dir.path().join("data"), &[("OSPREY_STORAGE__FLUSH__MAX_AGE", "1s")]).await;

    // frontend: A (root, server 0..100ms) → B (client 5..95ms), over gRPC.
    let a = SpanSpec {
        attributes: vec![
            KeyValue::new("http.route", "/checkout"),
            KeyValue::new("http.response.status_code", 200_i64),
            KeyValue::new("sampled.ratio", 0.25),
            KeyValue::new("cache.hit", false),
        ],
        ..span(0xa, 0, "GET /checkout", SpanKind::Server, 0, 100)
    };
    let b = span(0xb, 0xa, "POST /api/checkout", SpanKind::Client, 5, 95);
    send(&exporter(&osprey, Transport::Grpc, "frontend"), vec![a.build(), b.build()]).await.expect("frontend ack");

    // Let those two spans reach Parquet before the rest arrives.
    osprey.wait_metric("osprey_rows_persisted_total", 2.0).await;

    // checkout: C (server 10..90) → D (client 20..60), F (client 60..85), over HTTP protobuf.
    let c = span(0xc, 0xb, "PlaceOrder", SpanKind::Server, 10, 90);
    let d = span(0xd, 0xc, "charge", SpanKind::Client, 20, 60);
    let f = span(0xf, 0xc, "SELECT orders", SpanKind::Client, 60, 85);
    send(&exporter(&osprey, Transport::HttpProto, "checkout"), vec![f.build(), c.build(), d.build()])
        .await
        .expect("checkout ack");

    // payment: E (server 22..58, error), over HTTP JSON.
    let e = SpanSpec { error: true, ..span(0xe, 0xd, "Charge", SpanKind::Server, 22, 58) };
    send(&exporter(&osprey, Transport::HttpJson, "payment"), vec![e.build()]).await.expect("payment ack");

    let (status, w) = osprey.get_json(&format!("/api/v1/traces/{}", hex_trace(TRACE))).await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(w["trace_id"], hex_trace(TRACE));
    assert_eq!(w["root_service"], "frontend");
    assert_eq!(w["root_name"], "GET /checkout");
    assert_eq!(w["span_count"], 6);
    assert_eq!(w["duration_ns"], 100 * MS);
    assert_eq!(w["warnings"], Value::Array(vec![]), "no orphans, skew or duplicates expected");

    let services: Vec<(String, i64, i64)> = w["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().expect("name").to_string(),
                s["span_count"].as_i64().expect("count"),
                s["error_count"].as_i64().expect("errors"),
            )
        })
        .collect();
    for want in [("frontend", 2, 0), ("checkout", 3, 0), ("payment", 1, 1)] {
        assert!(services.contains(&(want.0.to_string(), want.1, want.2)), "{want:?} in {services:?}");
    }

    // Depth-first, siblings by start time: A B C D E F.
    let spans = w["spans"].as_array().expect("spans");
    let row = |i: usize| -> (String, i64, i64, i64, i64) {
        let s = &spans[i];
        (
            s["span_id"].as_str().expect("id").to_string(),
            s["depth"].as_i64().expect("depth"),
            s["start_offset_ns"].as_i64().expect("offset"),
            s["duration_ns"].as_i64().expect("duration"),
            s["self_time_ns"].as_i64().expect("self"),
        )
    };
    let expected = [
        (0xa, 0, 0, 100, 10), // 100 − B(90)
        (0xb, 1, 5, 90, 10),  // 90 − C(80)
        (0xc, 2, 10, 80, 15), // 80 − D∪F(20..85 = 65)
        (0xd, 3, 20, 40, 4),  // 40 − E(36)
        (0xe, 4, 22, 36, 36),
        (0xf, 3, 60, 25, 25),
    ];
    assert_eq!(spans.len(), expected.len());
    for (i, (id, depth, offset, duration, self_time)) in expected.into_iter().enumerate() {
        assert_eq!(row(i), (hex_span(id), depth, offset * MS, duration * MS, self_time * MS), "span #{i}");
    }

    // Service, kind and status of each span as the SDK sent them.
    assert_eq!(spans[0]["service"], "frontend");
    assert_eq!(spans[0]["kind"], "server");
    assert_eq!(spans[3]["service"], "checkout");
    assert_eq!(spans[3]["kind"], "client");
    assert_eq!(spans[4]["service"], "payment");
    assert_eq!(spans[4]["status"], "error");
    assert_eq!(spans[2]["parent_span_id"], hex_span(0xb));
    assert!(spans[0]["parent_span_id"].is_null() || spans[0]["parent_span_id"] == "");

    // Typed attributes survive the trip through Parquet.
    let attrs = &spans[0]["attributes"];
    assert_eq!(attrs["http.route"], "/checkout");
    assert_eq!(attrs["http.response.status_code"], 200);
    assert_eq!(attrs["sampled.ratio"], 0.25);
    assert_eq!(attrs["cache.hit"], false);
    assert_eq!(spans[0]["resource_attributes"]["service.name"], "frontend");

    // The chain that sets the end-to-end latency: A → B → C → F (F ends last under C).
    let path: Vec<&str> =
        w["critical_path"].as_array().expect("critical path").iter().map(|v| v.as_str().expect("id")).collect();
    assert_eq!(path.first().copied(), Some(hex_span(0xa).as_str()));
    for id in [0xa, 0xb, 0xc, 0xf] {
        assert!(path.contains(&hex_span(id).as_str()), "{id:x} on the critical path {path:?}");
    }
    assert!(!path.contains(&hex_span(0xd).as_str()) || path.contains(&hex_span(0xe).as_str()));

    // Paging keeps the summary whole.
    let (status, page) = osprey.get_json(&format!("/api/v1/traces/{}?limit=2&offset=1", hex_trace(TRACE))).await;
    assert_eq!(status, 200);
    assert_eq!(page["span_count"], 6);
    let ids: Vec<&str> =
        page["spans"].as_array().expect("spans").iter().map(|s| s["span_id"].as_str().expect("id")).collect();
    assert_eq!(ids, vec![hex_span(0xb), hex_span(0xc)]);
}

#[tokio::test]
async fn missing_and_malformed_trace_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let osprey = Osprey::start(&dir.path().join("data"), &[]).await;
    let (status, body) = osprey.get_json(&format!("/api/v1/traces/{}", hex_trace(1))).await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().expect("error message").contains("not found"));
    let (status, body) = osprey.get_json("/api/v1/traces/not-a-trace-id").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].is_string());
}
