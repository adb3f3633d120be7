use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt as _;

use super::*;
use crate::router;
use crate::test_support::{batch, service, span, TRACE};

fn hv(s: &'static str) -> HeaderValue {
    HeaderValue::from_static(s)
}

#[test]
fn body_forms() {
    assert_eq!(sql_text(Some(&hv("application/json")), br#"{"sql": "SELECT 1"}"#).expect("json"), "SELECT 1");
    assert_eq!(sql_text(Some(&hv("text/plain; charset=utf-8")), b"SELECT 2").expect("text"), "SELECT 2");
    assert_eq!(sql_text(None, b"SELECT 3").expect("no type"), "SELECT 3");
    assert_eq!(sql_text(Some(&hv("application/x-www-form-urlencoded")), b"SELECT 4").expect("curl -d"), "SELECT 4");
    let e = sql_text(Some(&hv("application/json")), br#"{"query": "SELECT 1"}"#).expect_err("no sql field");
    assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    let e = sql_text(Some(&hv("image/png")), b"x").expect_err("png");
    assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let e = sql_text(Some(&hv("text/plain")), &[0xff, 0xfe]).expect_err("not utf-8");
    assert_eq!(e.status(), StatusCode::BAD_REQUEST);
}

async fn post(body: &str, accept: Option<&str>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let svc = service(vec![batch(TRACE, &[span("00000000000000a1", "", "frontend", 0, 100)])]);
    let mut request = Request::post("/api/v1/sql").header("content-type", "text/plain");
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response =
        router(svc).oneshot(request.body(Body::from(body.to_string())).expect("request")).await.expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body").to_vec();
    (status, headers, body)
}

#[tokio::test]
async fn answers_in_the_accepted_format_with_row_count_headers() {
    let (status, headers, body) = post("SELECT service_name FROM spans", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers[ROW_COUNT_HEADER], "1");
    assert!(headers.contains_key(ELAPSED_HEADER));
    let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(json["rows"], serde_json::json!([["frontend"]]));

    let (status, headers, body) = post("SELECT service_name FROM spans", Some("text/csv")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(String::from_utf8(body).expect("utf-8"), "service_name\nfrontend\n");

    let (status, headers, _) = post("SELECT 1", Some("application/vnd.apache.arrow.stream")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/vnd.apache.arrow.stream");
}

#[tokio::test]
async fn errors_are_json_with_their_status() {
    for (sql, accept, want) in [
        ("DROP TABLE spans", None, StatusCode::BAD_REQUEST),
        ("SELECT FROM WHERE", None, StatusCode::BAD_REQUEST),
        ("SELECT 1", Some("image/png"), StatusCode::NOT_ACCEPTABLE),
        ("SELECT * FROM nope", Some("text/csv"), StatusCode::BAD_REQUEST),
    ] {
        let (status, headers, body) = post(sql, accept).await;
        assert_eq!(status, want, "{sql}");
        assert_eq!(headers["content-type"], "application/json");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json error");
        assert!(json["error"].as_str().is_some_and(|m| !m.is_empty()), "{json}");
    }
}
