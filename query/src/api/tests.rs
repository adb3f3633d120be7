use axum::http::StatusCode;
use osprey_storage::attributes::AttrRef;
use serde_json::{json, Value};

use crate::test_support::{batch, get_json, service, span, Span, TRACE};

const A: &str = "00000000000000a1";
const B: &str = "00000000000000b2";
const C: &str = "00000000000000c3";
const D: &str = "00000000000000d4";
const E: &str = "00000000000000e5";
const F: &str = "00000000000000f6";

fn url(query: &str) -> String {
    format!("/api/v1/traces/{TRACE}{query}")
}

/// frontend a [0,100] ─┬─ checkout b [10,60] ─┬─ db d [20,40]
///                     │                      └─ db e [30,50]
///                     └─ payment c [55,95] ──── payment f [60,70] (error)
/// Split over two batches, in no particular order.
fn multi_service() -> Vec<arrow::array::RecordBatch> {
    let f = Span { status: 2, status_message: Some("card declined"), ..span(F, C, "payment", 60, 70) };
    vec![
        batch(TRACE, &[span(E, B, "db", 30, 50), f, span(C, A, "payment", 55, 95)]),
        batch(TRACE, &[span(D, B, "db", 20, 40), span(A, "", "frontend", 0, 100), span(B, A, "checkout", 10, 60)]),
        // Another trace in the same table must not leak in.
        batch("11111111111111111111111111111111", &[span(A, "", "other", 0, 1000)]),
    ]
}

fn column<'a>(body: &'a Value, field: &str) -> Vec<&'a Value> {
    body["spans"].as_array().expect("spans").iter().map(|s| &s[field]).collect()
}

#[tokio::test]
async fn multi_service_waterfall() {
    let (status, body) = get_json(&service(multi_service()), &url("")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["trace_id"], TRACE);
    assert_eq!(body["root_service"], "frontend");
    assert_eq!(body["root_name"], A);
    assert_eq!(body["start_time_unix_nano"], crate::test_support::T0);
    assert_eq!(body["duration_ns"], 100);
    assert_eq!(body["span_count"], 6);
    assert_eq!(body["critical_path"], json!([A, C, F]));
    assert_eq!(body["warnings"], json!([]));
    assert_eq!(
        body["services"],
        json!([
            {"name": "frontend", "span_count": 1, "error_count": 0},
            {"name": "checkout", "span_count": 1, "error_count": 0},
            {"name": "db", "span_count": 2, "error_count": 0},
            {"name": "payment", "span_count": 2, "error_count": 1},
        ])
    );
    assert_eq!(column(&body, "span_id"), [A, B, D, E, C, F]);
    assert_eq!(column(&body, "depth"), [0, 1, 2, 2, 1, 2]);
    assert_eq!(column(&body, "start_offset_ns"), [0, 10, 20, 30, 55, 60]);
    assert_eq!(column(&body, "duration_ns"), [100, 50, 20, 20, 40, 10]);
    assert_eq!(column(&body, "self_time_ns"), [15, 20, 20, 20, 30, 10]);
    assert_eq!(column(&body, "parent_span_id"), [&Value::Null, &json!(A), &json!(B), &json!(B), &json!(A), &json!(C)]);
    assert_eq!(column(&body, "status")[5], "error");
    assert_eq!(column(&body, "status_message")[5], "card declined");
    assert_eq!(column(&body, "status_message")[0], &Value::Null);
    assert_eq!(body["page"], json!({"offset": 0, "limit": null, "depth": null, "total": 6, "returned": 6}));
}

#[tokio::test]
async fn missing_trace_is_404() {
    let (status, body) = get_json(&service(multi_service()), "/api/v1/traces/0123456789abcdef0123456789ABCDEF").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"error": "trace 0123456789abcdef0123456789abcdef not found"}));
}

#[tokio::test]
async fn bad_trace_id_is_400() {
    let svc = service(multi_service());
    for bad in ["xyz", "0af7651916cd43dd8448eb211c80319", "0af7651916cd43dd8448eb211c80319z", "%27%20OR%201%3D1"] {
        let (status, body) = get_json(&svc, &format!("/api/v1/traces/{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        let message = body["error"].as_str().expect("error message");
        assert!(message.starts_with("invalid trace id"), "{message}");
    }
}

#[tokio::test]
async fn ids_are_case_insensitive_and_64_bit_ids_are_padded() {
    let short = "8448eb211c80319c";
    let svc = service(vec![batch(&format!("{:0>32}", short), &[span(A, "", "s", 0, 5)])]);
    let (status, body) = get_json(&svc, &format!("/api/v1/traces/{}", short.to_uppercase())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["trace_id"], format!("0000000000000000{short}"));

    let svc = service(multi_service());
    let (status, body) = get_json(&svc, &format!("/api/v1/traces/{}", TRACE.to_uppercase())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["trace_id"], TRACE);
}

#[tokio::test]
async fn paging_by_limit_offset_and_depth() {
    let svc = service(multi_service());
    let (status, body) = get_json(&svc, &url("?offset=1&limit=2")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(column(&body, "span_id"), [B, D]);
    assert_eq!(body["page"], json!({"offset": 1, "limit": 2, "depth": null, "total": 6, "returned": 2}));
    // The summary still describes the whole trace.
    assert_eq!(body["span_count"], 6);
    assert_eq!(body["critical_path"], json!([A, C, F]));
    assert_eq!(body["services"].as_array().map(Vec::len), Some(4));

    let (_, body) = get_json(&svc, &url("?depth=1")).await;
    assert_eq!(column(&body, "span_id"), [A, B, C]);
    assert_eq!(body["page"]["total"], 3);

    let (_, body) = get_json(&svc, &url("?depth=1&offset=2&limit=5")).await;
    assert_eq!(column(&body, "span_id"), [C]);
    assert_eq!(body["page"], json!({"offset": 2, "limit": 5, "depth": 1, "total": 3, "returned": 1}));

    let (_, body) = get_json(&svc, &url("?limit=0")).await;
    assert_eq!(body["spans"], json!([]));
    assert_eq!(body["span_count"], 6);

    let (_, body) = get_json(&svc, &url("?offset=99")).await;
    assert_eq!(body["spans"], json!([]));
}

#[tokio::test]
async fn bad_paging_values_are_400() {
    let svc = service(multi_service());
    for (query, name) in
        [("?limit=-1", "limit"), ("?offset=1.5", "offset"), ("?depth=deep", "depth"), ("?limit=1e3", "limit")]
    {
        let (status, body) = get_json(&svc, &url(query)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        let message = body["error"].as_str().expect("message");
        assert!(message.starts_with(&format!("invalid parameter {name}:")), "{message}");
    }
    let (status, body) = get_json(&svc, &url("?limit=1&limit=2")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn orphans_and_missing_root() {
    // The root a has not arrived; b and its child d are orphans, as is c.
    let spans = [span(B, A, "checkout", 10, 60), span(D, B, "db", 20, 40), span(C, A, "payment", 5, 95)];
    let (status, body) = get_json(&service(vec![batch(TRACE, &spans)]), &url("")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["root_service"], Value::Null);
    assert_eq!(body["root_name"], Value::Null);
    assert_eq!(body["critical_path"], json!([]));
    assert_eq!(column(&body, "span_id"), [C, B, D]);
    assert_eq!(column(&body, "depth"), [0, 0, 1]);
    assert_eq!(column(&body, "start_offset_ns"), [0, 5, 15]);
    assert_eq!(body["duration_ns"], 90);
    assert_eq!(
        body["warnings"],
        json!([
            format!("orphan span {B}: parent {A} not found"),
            format!("orphan span {C}: parent {A} not found"),
            "root span not found: every span has a parent; orphans are shown at depth 0",
        ])
    );
}

#[tokio::test]
async fn clock_skew_and_duplicates_are_warned() {
    let spans = [span(A, "", "s", 100, 200), span(B, A, "s", 90, 150)];
    // The same child arrives twice, in another batch.
    let again = [span(B, A, "s", 90, 150)];
    let (_, body) = get_json(&service(vec![batch(TRACE, &spans), batch(TRACE, &again)]), &url("")).await;
    assert_eq!(body["span_count"], 2);
    assert_eq!(column(&body, "span_id"), [A, B]);
    // Times are reported as they are, relative to the earliest start (the child's).
    assert_eq!(column(&body, "start_offset_ns"), [10, 0]);
    assert_eq!(
        body["warnings"],
        json!([
            format!("duplicate span {B}: received 2 times, kept one"),
            format!("clock skew: span {B} starts 10 ns before its parent {A}"),
        ])
    );
}

#[tokio::test]
async fn attributes_keep_their_types() {
    static BYTES: [u8; 3] = [1, 2, 255];
    let root = Span {
        attributes: vec![
            ("http.response.status_code", AttrRef::Int(503)),
            ("big", AttrRef::Int(i64::MAX)),
            ("ratio", AttrRef::Double(0.25)),
            ("nan", AttrRef::Double(f64::NAN)),
            ("neg_inf", AttrRef::Double(f64::NEG_INFINITY)),
            ("ok", AttrRef::Bool(false)),
            ("text", AttrRef::Str("42")),
            ("raw", AttrRef::Bytes(&BYTES)),
            ("nothing", AttrRef::Empty),
            (
                "list",
                AttrRef::Array(vec![AttrRef::Str("a"), AttrRef::Int(1), AttrRef::Bool(true), AttrRef::Double(1.5)]),
            ),
            (
                "nested",
                AttrRef::KvList(vec![
                    ("k", AttrRef::Array(vec![AttrRef::Int(-7)])),
                    ("inf", AttrRef::Double(f64::INFINITY)),
                ]),
            ),
        ],
        ..span(A, "", "s", 0, 10)
    };
    let (_, body) = get_json(&service(vec![batch(TRACE, &[root])]), &url("")).await;
    assert_eq!(
        body["spans"][0]["attributes"],
        json!({
            "http.response.status_code": 503,
            "big": i64::MAX,
            "ratio": 0.25,
            "nan": "NaN",
            "neg_inf": "-inf",
            "ok": false,
            "text": "42",
            "raw": "AQL/",
            "nothing": null,
            "list": ["a", 1, true, 1.5],
            "nested": {"k": [-7], "inf": "inf"},
        })
    );
}

/// The full response shape of a small trace, through the router.
#[tokio::test]
async fn full_response_snapshot() {
    let root = Span {
        name: "GET /cart",
        kind: 2,
        attributes: vec![
            ("http.request.method", AttrRef::Str("GET")),
            ("http.response.status_code", AttrRef::Int(200)),
        ],
        resource_attributes: vec![("service.name", AttrRef::Str("frontend")), ("host.cpus", AttrRef::Int(8))],
        ..span(A, "", "frontend", 0, 1_500_000)
    };
    let client = Span {
        name: "SELECT cart",
        kind: 3,
        attributes: vec![("db.system", AttrRef::Str("postgresql"))],
        resource_attributes: vec![("service.name", AttrRef::Str("frontend"))],
        events: vec![(300_000, "retry", vec![("attempt", AttrRef::Int(2))])],
        ..span(B, A, "frontend", 100_000, 900_000)
    };
    let consumer = Span {
        name: "cart.updated",
        kind: 5,
        status: 2,
        status_message: Some("queue full"),
        links: vec![("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", Some("vendor=1"))],
        ..span(C, "ffffffffffffffff", "worker", 1_000_000, 2_000_000)
    };
    let (status, body) = get_json(&service(vec![batch(TRACE, &[consumer, client, root])]), &url("")).await;
    assert_eq!(status, StatusCode::OK);
    insta::assert_json_snapshot!(body);
}

/// A provider may hand strings back as `Utf8View` (Parquet does by default): they are cast.
#[tokio::test]
async fn string_view_columns_are_accepted() {
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    let plain = multi_service().remove(1);
    let fields: Vec<Field> = plain
        .schema()
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 => f.as_ref().clone().with_data_type(DataType::Utf8View),
            _ => f.as_ref().clone(),
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let columns = plain
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| arrow::compute::cast(c, f.data_type()).expect("cast"))
        .collect();
    let viewed = arrow::array::RecordBatch::try_new(schema.clone(), columns).expect("batch");
    let table = datafusion::datasource::MemTable::try_new(schema, vec![vec![viewed]]).expect("table");
    let svc = crate::QueryService::new(Arc::new(table)).expect("service");
    let (status, body) = get_json(&svc, &url("")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(column(&body, "span_id"), [A, B, D]);
}

/// Rough timing of a 1,000-span trace (debug build; run with `--ignored --nocapture`).
#[tokio::test]
#[ignore]
async fn thousand_span_trace_timing() {
    let ids: Vec<String> = (1..=1000).map(|i| format!("{i:016x}")).collect();
    let ids: &'static [String] = Box::leak(ids.into_boxed_slice());
    let spans: Vec<Span> = (0..1000)
        .map(|i| {
            let parent = if i == 0 { "" } else { ids[(i - 1) / 4].as_str() };
            Span {
                attributes: vec![
                    ("http.route", AttrRef::Str("/api/cart/{id}")),
                    ("http.response.status_code", AttrRef::Int(200)),
                    ("retries", AttrRef::Array(vec![AttrRef::Int(1), AttrRef::Int(2)])),
                ],
                resource_attributes: vec![("service.name", AttrRef::Str("svc")), ("host.name", AttrRef::Str("h1"))],
                ..span(&ids[i], parent, "svc", i as i64 * 10, i as i64 * 10 + 5000)
            }
        })
        .collect();
    let svc = service(vec![batch(TRACE, &spans)]);
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let (status, body) = get_json(&svc, &url("")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["span_count"], 1000);
        println!("1000-span trace through the router: {:?}", started.elapsed());
    }
    let rows = crate::span_rows::SpanRows::new(&[batch(TRACE, &spans)]).expect("rows");
    let id = crate::TraceId::parse(TRACE).expect("id");
    let started = std::time::Instant::now();
    let body =
        crate::trace_response::render(&id, &rows, &crate::page::Page::default(), &Default::default()).expect("render");
    println!("assembly + JSON only: {:?} ({} bytes)", started.elapsed(), body.len());
}
