use std::time::Duration;

use axum::response::IntoResponse;

use super::*;

async fn answer(error: QueryError) -> (StatusCode, serde_json::Value) {
    let response = error.into_response();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
    (status, serde_json::from_slice(&body).expect("JSON body"))
}

#[tokio::test]
async fn each_class_has_its_status_and_a_json_error_body() {
    let cases = [
        (QueryError::InvalidTraceId("xyz".into()), StatusCode::BAD_REQUEST),
        (
            QueryError::InvalidParameter { name: "limit", reason: "\"-1\" is not a non-negative integer".into() },
            StatusCode::BAD_REQUEST,
        ),
        (QueryError::TraceNotFound("ab".repeat(16)), StatusCode::NOT_FOUND),
        (QueryError::Timeout(Duration::from_secs(30)), StatusCode::REQUEST_TIMEOUT),
        (QueryError::Layout("column span_id missing".into()), StatusCode::INTERNAL_SERVER_ERROR),
        (QueryError::Storage(StorageError::Corrupt("bad".into())), StatusCode::INTERNAL_SERVER_ERROR),
        (QueryError::Storage(StorageError::InvalidInput("bad".into())), StatusCode::BAD_REQUEST),
    ];
    for (error, want) in cases {
        let message = error.to_string();
        let (status, body) = answer(error).await;
        assert_eq!(status, want, "{message}");
        assert_eq!(body, serde_json::json!({ "error": message }));
    }
}

#[test]
fn messages() {
    assert_eq!(QueryError::Timeout(Duration::from_millis(1500)).to_string(), "query timed out after 1500 ms");
    assert_eq!(QueryError::TraceNotFound("0a".repeat(16)).to_string(), format!("trace {} not found", "0a".repeat(16)));
}
