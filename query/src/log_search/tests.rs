use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use osprey_storage::attributes::AttrRef;
use osprey_storage::logs::{LogRecord, LogScope, LogsBuilder};
use osprey_storage::{Storage, StorageConfig, Table};
use serde_json::{json, Value};

use crate::test_support::{get_json, T0};
use crate::{QueryConfig, QueryService};

const SEC: i64 = 1_000_000_000;

/// Eight logs one second apart from T0; the last two share a timestamp (paging tie-break).
fn logs() -> arrow::array::RecordBatch {
    let lines: [(&str, &str, i32, &str, i64); 8] = [
        ("payment", "ERROR", 17, "card_expired for ORD-00010 user=ann", 0),
        ("payment", "INFO", 9, "charged order_id=42 amount=12.50 EUR", 1),
        ("checkout", "WARN", 13, "retrying GET /api/cart/items from 10.0.12.1", 2),
        ("checkout", "INFO", 9, "getUserById took 12ms", 3),
        ("frontend", "ERROR", 17, "Zahlung fehlgeschlagen: Größe ungültig", 4),
        ("frontend", "INFO", 9, "request 6f1c2a9e-3b4d-4e5f-9a0b-1c2d3e4f5a6b done", 5),
        ("payment", "FATAL", 21, "Payment service crashed", 6),
        ("checkout", "INFO", 9, "cache miss for key cart:ann", 6),
    ];
    let mut builder = LogsBuilder::new();
    for (i, (service, severity, number, body, second)) in lines.iter().enumerate() {
        let scope = LogScope { service_name: service, ..Default::default() };
        let (trace, span) = ([i as u8 + 1; 16], [i as u8 + 1; 8]);
        let record = LogRecord {
            time_unix_nano: T0 + second * SEC,
            trace_id: if i == 7 { &[] } else { &trace },
            span_id: if i == 7 { &[] } else { &span },
            severity_number: *number,
            severity_text: Some(severity),
            body: AttrRef::Str(body),
            attributes: vec![
                ("http.route", AttrRef::Str(if i % 2 == 0 { "/cart" } else { "/pay" })),
                ("attempt", AttrRef::Int(i as i64)),
            ],
            ..Default::default()
        };
        builder.append(&scope, &record).expect("append");
    }
    builder.finish().expect("finish")
}

async fn service() -> (tempfile::TempDir, Arc<Storage>, QueryService) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = StorageConfig { data_dir: dir.path().to_path_buf(), disk_reserve_bytes: 0, ..Default::default() };
    config.flush.max_age = Duration::from_secs(3600);
    let storage = Storage::open(config).await.expect("open");
    storage.append(Table::Logs, logs()).await.expect("append");
    let service = QueryService::for_storage(storage.clone(), QueryConfig::default()).expect("service");
    (dir, storage, service)
}

fn url(q: &str, extra: &str) -> String {
    let q: String = q
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    format!("/api/v1/logs?q={q}&start={}&end={}{extra}", T0 / SEC - 10, T0 / SEC + 10)
}

fn bodies(body: &Value) -> Vec<String> {
    body["hits"]
        .as_array()
        .map(|h| h.iter().map(|h| h["body"].as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_response_shape() {
    let (_dir, _storage, s) = service().await;
    let (status, body) = get_json(&s, &url("card_expired", "")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    insta::assert_json_snapshot!(body);
}

/// Terms, phrases, fields, boolean operators: the same answers from the memtable and, after a
/// flush, from Parquet and the tantivy index.
#[tokio::test]
async fn searches_memtable_then_parquet_alike() {
    let (_dir, storage, s) = service().await;
    let cases: [(&str, &[&str]); 7] = [
        ("ORD-00010", &["card_expired for ORD-00010 user=ann"]),
        ("\"service crashed\"", &["Payment service crashed"]),
        (
            "service:payment AND NOT severity:error",
            &["Payment service crashed", "charged order_id=42 amount=12.50 EUR"],
        ),
        ("getuserbyid OR größe", &["Zahlung fehlgeschlagen: Größe ungültig", "getUserById took 12ms"]),
        (&format!("trace_id:{}", hex::encode([2u8; 16])), &["charged order_id=42 amount=12.50 EUR"]),
        ("http.route:/cart AND service:checkout", &["retrying GET /api/cart/items from 10.0.12.1"]),
        ("nothing-like-this", &[]),
    ];
    let mut before = Vec::new();
    for (q, want) in cases.iter() {
        let (status, body) = get_json(&s, &url(q, "")).await;
        assert_eq!(status, StatusCode::OK, "{q}: {body}");
        assert_eq!(bodies(&body), *want, "{q}");
        assert_eq!(body["total"], json!(want.len()), "{q}");
        before.push(body);
    }
    storage.flush().await.expect("flush");
    assert_eq!(storage.memtable_rows(Table::Logs), 0);
    for ((q, _), was) in cases.iter().zip(before) {
        let (_, body) = get_json(&s, &url(q, "")).await;
        assert_eq!(body, was, "{q} after the flush");
    }
}

/// Pages of 3 over 8 logs: newest first, every log exactly once, ties in a fixed order.
#[tokio::test]
async fn paging_is_stable_and_total_exact() {
    let (_dir, storage, s) = service().await;
    for flushed in [false, true] {
        if flushed {
            storage.flush().await.expect("flush");
        }
        let mut seen = Vec::new();
        for offset in [0, 3, 6, 9] {
            let (status, body) = get_json(&s, &url("", &format!("&limit=3&offset={offset}"))).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["total"], json!(8));
            seen.extend(bodies(&body));
        }
        assert_eq!(seen.len(), 8, "{seen:?}");
        let (_, all) = get_json(&s, &url("", "")).await;
        assert_eq!(seen, bodies(&all), "pages concatenate to the whole list (flushed: {flushed})");
        let times: Vec<i64> = all["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .map(|h| h["time"].as_str().unwrap_or("0").parse().unwrap_or(0))
            .collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    }
}

#[tokio::test]
async fn the_time_window_bounds_the_hits() {
    let (_dir, _storage, s) = service().await;
    let secs = T0 / SEC;
    let (_, body) = get_json(&s, &format!("/api/v1/logs?start={}&end={}", secs + 1, secs + 3)).await;
    assert_eq!(body["total"], json!(2), "[start, end) holds seconds 1 and 2: {body}");
}

#[tokio::test]
async fn bad_input_is_a_400_naming_what_was_wrong() {
    let (_dir, _storage, s) = service().await;
    let cases = [
        (url("(card AND", ""), "q"),
        (url("service:", ""), "q"),
        (url("\"unclosed", ""), "q"),
        (url("card", "&limit=0"), "limit"),
        (url("card", "&limit=100000"), "limit"),
        (url("card", "&limit=-1"), "limit"),
        (url("card", "&offset=x"), "offset"),
        ("/api/v1/logs?start=yesterday".to_string(), "start"),
        (format!("/api/v1/logs?start={}&end={}", T0 / SEC + 10, T0 / SEC), "start"),
    ];
    for (uri, name) in cases {
        let (status, body) = get_json(&s, &uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(message.contains(name), "{uri}: {message}");
    }
    let (_, body) = get_json(&s, &url("(card AND", "")).await;
    assert!(body["error"].as_str().unwrap_or_default().contains("position"), "{body}");
}

async fn sql_json(s: &QueryService, sql: &str) -> (StatusCode, Value) {
    use axum::body::Body;
    use tower::ServiceExt as _;
    let request = axum::http::Request::post("/api/v1/sql")
        .header("content-type", "text/plain")
        .body(Body::from(sql.to_string()))
        .expect("request");
    let response = crate::router(s.clone()).oneshot(request).await.expect("response");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn column(body: &Value) -> Vec<String> {
    body["rows"].as_array().into_iter().flatten().map(|r| r[0].as_str().unwrap_or("").to_string()).collect()
}

/// `matches(body, …)` in SQL: the search language, every field of the log, memtable and Parquet
/// alike, combined with ordinary predicates, and the same answers as the API.
#[tokio::test]
async fn sql_matches_filters_like_the_api() {
    let (_dir, storage, s) = service().await;
    let cases = [
        ("card_expired", vec!["card_expired for ORD-00010 user=ann"]),
        (
            "service:payment AND NOT severity:error",
            vec!["charged order_id=42 amount=12.50 EUR", "Payment service crashed"],
        ),
        ("\"service crashed\" OR getUserById", vec!["getUserById took 12ms", "Payment service crashed"]),
    ];
    for flushed in [false, true] {
        if flushed {
            storage.flush().await.expect("flush");
        }
        for (q, want) in &cases {
            let sql = format!("SELECT body FROM logs WHERE matches(body, '{}') ORDER BY time", q.replace('\'', "''"));
            let (status, body) = sql_json(&s, &sql).await;
            assert_eq!(status, StatusCode::OK, "{sql}: {body}");
            assert_eq!(column(&body), *want, "{q} (flushed: {flushed})");
        }
        // With other predicates, and counted per service.
        let (_, body) = sql_json(
            &s,
            "SELECT service_name, count(*) FROM logs WHERE matches(body, 'severity:error OR severity:fatal') \
             AND severity_number >= 17 GROUP BY 1 ORDER BY 1",
        )
        .await;
        assert_eq!(body["rows"], json!([["frontend", 1], ["payment", 2]]), "flushed: {flushed}");
    }
}

/// The index drops files without a hit before the Parquet scan: with two files, a query that
/// matches rows of one scans one.
#[tokio::test]
async fn sql_matches_prunes_files_through_the_index() {
    let (_dir, storage, s) = service().await;
    storage.flush().await.expect("flush");
    let mut builder = LogsBuilder::new();
    let scope = LogScope { service_name: "later", ..Default::default() };
    let record = LogRecord {
        time_unix_nano: T0 + 7 * SEC,
        severity_number: 9,
        severity_text: Some("INFO"),
        body: AttrRef::Str("a second file's only line"),
        ..Default::default()
    };
    builder.append(&scope, &record).expect("append");
    storage.append(Table::Logs, builder.finish().expect("finish")).await.expect("append");
    storage.flush().await.expect("flush");
    let explain = |q: &str| format!("EXPLAIN SELECT body FROM logs WHERE matches(body, '{q}')");
    let files = |plan: &Value| plan.to_string().matches(".parquet").count();
    let (_, one) = sql_json(&s, &explain("second")).await;
    let (_, both) = sql_json(&s, &explain("second OR card_expired")).await;
    assert_eq!((files(&one), files(&both)), (1, 2), "{one}\n{both}");
    let (_, body) = sql_json(&s, "SELECT body FROM logs WHERE matches(body, 'second')").await;
    assert_eq!(column(&body), ["a second file's only line"]);
}

#[tokio::test]
async fn sql_matches_misuse_is_a_clear_error() {
    let (_dir, _storage, s) = service().await;
    let cases = [
        ("SELECT matches(body, 'card') FROM logs", "WHERE clause"),
        ("SELECT body FROM logs WHERE matches(body, '(card AND')", "position"),
        ("SELECT body FROM logs WHERE matches(service_name, 'card')", "body column"),
    ];
    for (sql, says) in cases {
        let (status, body) = sql_json(&s, sql).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{sql}: {body}");
        assert!(body["error"].as_str().unwrap_or("").contains(says), "{sql}: {body}");
    }
}
