//! Trace search end to end: a multi-service workload (errors, a slow call, typed
//! attributes, an event, a link, producer/consumer, a trace whose root never
//! arrives) sent with the OpenTelemetry SDK over gRPC, HTTP protobuf and HTTP JSON,
//! part of it flushed to Parquet before the rest arrives; then every search form
//! of the native API (`GET /api/v1/traces`), of the Tempo API (`/api/search`,
//! tag values, trace by id) and of the Jaeger APIs (v1 `traces`, v3 `trace-summaries`,
//! as Grafana and both Jaeger UI generations send them) must return exactly the
//! traces it should.

use opentelemetry::trace::{Event, Link, SpanContext, SpanId, SpanKind, TraceFlags, TraceId, TraceState};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SpanData;
use prost::Message as _;
use serde_json::Value;

use crate::harness::Osprey;
use crate::sdk::{epoch, exporter, hex_trace, send, SpanSpec, Transport};

const W1: u128 = 0x5e1; // frontend GET /cart → checkout → payment Charge (error, event, typed attributes)
const W2: u128 = 0x5e2; // frontend GET /home, slow (2.5 s), status code 500 → cache
const W3: u128 = 0x5e3; // checkout producer → shipping consumer, linked to W1
const W4: u128 = 0x5e4; // frontend GET /cart → checkout, fast and fine
const W5: u128 = 0x5e5; // a payment span whose parent never arrives

fn spec<'a>(
    trace: u128,
    span: u64,
    parent: u64,
    name: &'a str,
    kind: SpanKind,
    start_ms: u64,
    end_ms: u64,
) -> SpanSpec<'a> {
    SpanSpec { trace, span, parent, name, kind, start_ms, end_ms, error: false, attributes: vec![] }
}

fn with_event(mut span: SpanData, name: &'static str, at_ms: u64) -> SpanData {
    span.events.events.push(Event::new(name, epoch(at_ms), vec![KeyValue::new("exception.type", "CardDeclined")], 0));
    span
}

fn with_link(mut span: SpanData, trace: u128, to: u64) -> SpanData {
    let ctx =
        SpanContext::new(TraceId::from(trace), SpanId::from(to), TraceFlags::SAMPLED, true, TraceState::default());
    span.links.links.push(Link::new(ctx, vec![], 0));
    span
}

async fn send_workload(osprey: &Osprey) {
    let frontend = exporter(osprey, Transport::Grpc, "frontend");
    let checkout = exporter(osprey, Transport::HttpProto, "checkout");
    let payment = exporter(osprey, Transport::HttpJson, "payment");
    let cache = exporter(osprey, Transport::Grpc, "cache");
    let shipping = exporter(osprey, Transport::HttpProto, "shipping");

    // W1 and W2 first, then flushed to Parquet.
    let w1_root = SpanSpec {
        attributes: vec![KeyValue::new("http.response.status_code", 200_i64)],
        ..spec(W1, 0x11, 0, "GET /cart", SpanKind::Server, 0, 300)
    };
    let w1_charge = SpanSpec {
        error: true,
        attributes: vec![KeyValue::new("payment.amount", 12.5), KeyValue::new("retry", true)],
        ..spec(W1, 0x13, 0x12, "Charge", SpanKind::Server, 20, 200)
    };
    send(&frontend, vec![w1_root.build()]).await.expect("ack");
    send(&checkout, vec![spec(W1, 0x12, 0x11, "PlaceOrder", SpanKind::Server, 10, 250).build()]).await.expect("ack");
    send(&payment, vec![with_event(w1_charge.build(), "exception", 150)]).await.expect("ack");
    let w2_root = SpanSpec {
        attributes: vec![KeyValue::new("http.response.status_code", 500_i64)],
        ..spec(W2, 0x21, 0, "GET /home", SpanKind::Server, 1000, 3500)
    };
    send(&frontend, vec![w2_root.build()]).await.expect("ack");
    send(&cache, vec![spec(W2, 0x22, 0x21, "get", SpanKind::Client, 1010, 1020).build()]).await.expect("ack");
    osprey.wait_metric("osprey_rows_persisted_total", 5.0).await;

    // The rest stays in the memtable.
    send(&checkout, vec![spec(W3, 0x31, 0, "publish orders", SpanKind::Producer, 2000, 2005).build()])
        .await
        .expect("ack");
    let consumer = with_link(spec(W3, 0x32, 0x31, "process orders", SpanKind::Consumer, 2010, 2050).build(), W1, 0x11);
    send(&shipping, vec![consumer]).await.expect("ack");
    send(&frontend, vec![spec(W4, 0x41, 0, "GET /cart", SpanKind::Server, 3000, 3100).build()]).await.expect("ack");
    send(&checkout, vec![spec(W4, 0x42, 0x41, "PlaceOrder", SpanKind::Server, 3010, 3090).build()]).await.expect("ack");
    send(&payment, vec![spec(W5, 0x52, 0x51, "Charge", SpanKind::Server, 4000, 4010).build()]).await.expect("ack");
}

fn window() -> String {
    let start = epoch(0).duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) - 10;
    format!("start={start}&end={}", start + 70)
}

fn ids(body: &Value, list: &str, field: &str) -> Vec<String> {
    body[list].as_array().unwrap_or(&vec![]).iter().filter_map(|t| t[field].as_str().map(str::to_string)).collect()
}

fn hex(traces: &[u128]) -> Vec<String> {
    traces.iter().map(|t| hex_trace(*t)).collect()
}

/// `q` as `URLSearchParams` encodes it (enough for the queries below).
fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => (b as char).to_string(),
            b' ' => "+".to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn every_search_form_finds_exactly_its_traces() {
    let dir = tempfile::tempdir().expect("tempdir");
    let osprey = Osprey::start(&dir.path().join("data"), &[("OSPREY_STORAGE__FLUSH__MAX_AGE", "1s")]).await;
    send_workload(&osprey).await;
    let w = window();

    // Native search: classic parameters.
    let native: &[(&str, &[u128])] = &[
        ("", &[W5, W4, W3, W2, W1]),
        ("&service=payment", &[W5, W1]),
        ("&service=frontend&operation=GET%20%2Fcart", &[W4, W1]),
        ("&tags=http.response.status_code%3D500", &[W2]),
        ("&min_duration=2s", &[W2]),
        ("&max_duration=15ms&service=payment", &[W5]),
        ("&status=error", &[W1]),
        ("&limit=2", &[W5, W4]),
    ];
    for (params, want) in native {
        let (status, body) = osprey.get_json(&format!("/api/v1/traces?{w}{params}")).await;
        assert_eq!(status, 200, "{params}: {body}");
        assert_eq!(ids(&body, "traces", "trace_id"), hex(want), "native {params}");
    }

    // TraceQL, through the native API and Tempo's.
    let traceql: &[(&str, &[u128])] = &[
        ("{ kind = consumer }", &[W3]),
        ("{ resource.service.name = \"frontend\" } >> { status = error }", &[W1]),
        ("{ event:name = \"exception\" }", &[W1]),
        (&format!("{{ link:traceID = \"{}\" }}", hex_trace(W1)), &[W3]),
        ("{ span.payment.amount > 10 && span.retry = true }", &[W1]),
        ("{ } | count() >= 3", &[W1]),
        ("{ duration > 2s } || { kind = producer }", &[W3, W2]),
        ("{ rootServiceName = \"frontend\" && name = \"PlaceOrder\" }", &[W4, W1]),
        ("{ .http.response.status_code >= 500 }", &[W2]),
        // `span.`-scoped: the find scan reads the dedicated column `http_response_status_code`.
        ("{ span.http.response.status_code = 500 }", &[W2]),
    ];
    for (q, want) in traceql {
        let (status, body) = osprey.get_json(&format!("/api/v1/traces?{w}&q={}", encode(q))).await;
        assert_eq!(status, 200, "{q}: {body}");
        assert_eq!(ids(&body, "traces", "trace_id"), hex(want), "native q {q}");
        let (status, body) = osprey.get_json(&format!("/api/search?q={}&limit=20&spss=3&{w}", encode(q))).await;
        assert_eq!(status, 200, "{q}: {body}");
        assert_eq!(ids(&body, "traces", "traceID"), hex(want), "tempo q {q}");
    }

    // The trace whose root never arrived is found and says so.
    let (_, body) = osprey.get_json(&format!("/api/v1/traces?{w}&service=payment")).await;
    assert_eq!(body["traces"][0]["root_missing"], true);
    assert!(body["traces"][0]["root_service"].is_null());
    assert_eq!(body["traces"][1]["root_service"], "frontend");
    assert_eq!(body["traces"][1]["span_count"], 3);
    assert_eq!(body["traces"][1]["error_count"], 1);
    let (_, body) = osprey.get_json(&format!("/api/search?q={}&{w}", encode("{ name = \"Charge\" }"))).await;
    assert_eq!(body["traces"][0]["rootServiceName"], "<root span not yet received>");
    assert_eq!(body["traces"][1]["rootServiceName"], "frontend");
    assert_eq!(body["traces"][1]["spanSets"][0]["spans"][0]["attributes"][0]["value"]["stringValue"], "payment");

    // Tempo legacy tags and tag values.
    let (_, body) = osprey.get_json(&format!("/api/search?tags=service.name%3Dfrontend&{w}")).await;
    assert_eq!(ids(&body, "traces", "traceID"), hex(&[W4, W2, W1]));
    let (_, body) = osprey.get_json(&format!("/api/v2/search/tag/resource.service.name/values?{w}")).await;
    let values: Vec<&str> =
        body["tagValues"].as_array().expect("tagValues").iter().filter_map(|v| v["value"].as_str()).collect();
    assert_eq!(values, ["cache", "checkout", "frontend", "payment", "shipping"]);
    let (_, body) = osprey.get_json(&format!("/api/v2/search/tag/span.http.response.status_code/values?{w}")).await;
    assert_eq!(
        body["tagValues"],
        serde_json::json!([{"type": "int", "value": "200"}, {"type": "int", "value": "500"}])
    );

    // Trace by id as Grafana asks for it: protobuf, decoded as OTLP TracesData.
    let response = reqwest::Client::new()
        .get(osprey.url(&format!("/api/traces/{}?{w}", hex_trace(W1))))
        .header("Accept", "application/protobuf")
        .send()
        .await
        .expect("GET trace");
    assert_eq!(response.status().as_u16(), 200);
    let bytes = response.bytes().await.expect("body");
    let data = osprey_proto::trace::TracesData::decode(bytes.as_ref()).expect("TracesData");
    let spans: usize = data.resource_spans.iter().flat_map(|rs| &rs.scope_spans).map(|ss| ss.spans.len()).sum();
    assert_eq!(spans, 3);
    let (status, _) = osprey.get_json(&format!("/api/v2/traces/{}", hex_trace(0x404))).await;
    assert_eq!(status, 404);

    jaeger_searches(&osprey).await;
}

/// Jaeger prints a trace id whose high half is zero with 16 digits (`model.TraceID.String()`).
fn jaeger_id(trace: u128) -> String {
    format!("{trace:016x}")
}

async fn jaeger_searches(osprey: &Osprey) {
    let start_s = epoch(0).duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) - 10;
    let micros = format!("start={}&end={}", start_s * 1_000_000, (start_s + 70) * 1_000_000);
    // Grafana: `tags` is the JSON of its logfmt field; `lookback=custom`. Jaeger UI 2.14:
    // `lookback=1h`, bare `minDuration`/`maxDuration`, `tag=k:v` pairs.
    let v1: &[(&str, &[u128])] = &[
        ("service=payment&lookback=custom", &[W5, W1]),
        ("service=frontend&operation=GET%20%2Fcart&lookback=custom", &[W4, W1]),
        ("service=frontend&tags=%7B%22http.response.status_code%22%3A%22500%22%7D", &[W2]),
        ("service=frontend&minDuration=2s&lookback=custom", &[W2]),
        ("service=payment&tags=%7B%22error%22%3A%22true%22%7D&limit=20", &[W1]),
        ("service=shipping&tag=span.kind:consumer&lookback=1h&maxDuration&minDuration", &[W3]),
        ("service=frontend&limit=1", &[W4]),
    ];
    for (params, want) in v1 {
        let (status, body) = osprey.get_json(&format!("/jaeger/api/traces?{params}&{micros}")).await;
        assert_eq!(status, 200, "{params}: {body}");
        let want: Vec<String> = want.iter().map(|t| jaeger_id(*t)).collect();
        assert_eq!(ids(&body, "data", "traceID"), want, "jaeger v1 {params}");
    }
    // The UI opens a hit by the id it printed; typed tags survive.
    let (status, body) = osprey.get_json(&format!("/jaeger/api/traces/{}", jaeger_id(W1))).await;
    assert_eq!(status, 200, "{body}");
    let spans = body["data"][0]["spans"].as_array().expect("spans");
    assert_eq!(spans.len(), 3);
    let charge = spans.iter().find(|s| s["operationName"] == "Charge").expect("Charge");
    let tag = |key: &str| charge["tags"].as_array().and_then(|t| t.iter().find(|t| t["key"] == key)).cloned();
    assert_eq!(
        tag("payment.amount"),
        Some(serde_json::json!({"key": "payment.amount", "type": "float64", "value": 12.5}))
    );
    assert_eq!(tag("retry"), Some(serde_json::json!({"key": "retry", "type": "bool", "value": true})));
    assert_eq!(charge["logs"][0]["fields"][0]["value"], "exception");
    let (status, _) = osprey.get_json(&format!("/jaeger/api/traces/{}", jaeger_id(0x404))).await;
    assert_eq!(status, 404);

    // Jaeger UI ≥ 2.15 searches through v3 trace summaries (RFC 3339 times).
    let iso = |s: u64| {
        chrono::DateTime::from_timestamp(s as i64, 0).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    };
    let range = format!(
        "query.startTimeMin={}&query.startTimeMax={}",
        iso(start_s).unwrap_or_default(),
        iso(start_s + 70).unwrap_or_default()
    );
    let v3: &[(&str, &[u128])] = &[
        ("query.serviceName=payment&query.searchDepth=20", &[W5, W1]),
        ("query.serviceName=checkout&query.operationName=PlaceOrder", &[W4, W1]),
        ("query.serviceName=frontend&query.durationMin=2s", &[W2]),
        ("query.attributes=%7B%22retry%22%3A%22true%22%7D", &[W1]),
    ];
    for (params, want) in v3 {
        let (status, body) = osprey.get_json(&format!("/jaeger/api/v3/trace-summaries?{params}&{range}")).await;
        assert_eq!(status, 200, "{params}: {body}");
        assert_eq!(ids(&body, "summaries", "traceId"), hex(want), "jaeger v3 {params}");
    }
    let (_, body) = osprey.get_json(&format!("/jaeger/api/v3/trace-summaries?query.serviceName=payment&{range}")).await;
    assert_eq!(body["summaries"][0]["rootServiceName"], "", "W5's root never arrived: {body}");
    assert_eq!(body["summaries"][0]["orphanSpanCount"], 1);
    assert_eq!(body["summaries"][1]["spanCount"], 3);
    let (_, body) = osprey.get_json("/jaeger/api/v3/services").await;
    assert_eq!(body, serde_json::json!({"services": ["cache", "checkout", "frontend", "payment", "shipping"]}));
}
