use super::*;
use prost::Message as _;

fn storage(e: StorageError) -> CollectorError {
    CollectorError::Storage(e)
}

#[test]
fn http_statuses() {
    assert_eq!(CollectorError::TooLarge { limit: 1 }.http_status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(CollectorError::Undecodable("x".into()).http_status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        CollectorError::UnsupportedMediaType("text/plain".into()).http_status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(CollectorError::UnsupportedEncoding("br".into()).http_status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let memory = storage(StorageError::MemoryBudget { in_use: 1, budget: 1 });
    assert_eq!(memory.http_status(), StatusCode::TOO_MANY_REQUESTS);
    let disk = storage(StorageError::DiskFull { path: "/d".into(), free: 0, reserve: 1 });
    assert_eq!(disk.http_status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(storage(StorageError::ShuttingDown).http_status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(storage(StorageError::Corrupt("x".into())).http_status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[test]
fn only_overload_is_retryable_and_has_retry_after() {
    let memory = storage(StorageError::MemoryBudget { in_use: 1, budget: 1 });
    assert!(memory.retryable());
    let response = memory.to_http(BodyEncoding::Json, 7);
    assert_eq!(response.headers()[header::RETRY_AFTER], "7");
    let too_large = CollectorError::TooLarge { limit: 1 };
    assert!(!too_large.retryable());
    assert!(too_large.to_http(BodyEncoding::Protobuf, 7).headers().get(header::RETRY_AFTER).is_none());
}

#[test]
fn grpc_codes_and_retry_info() {
    let too_large = CollectorError::TooLarge { limit: 1 }.to_grpc(5);
    assert_eq!(too_large.code(), Code::ResourceExhausted);
    assert!(too_large.get_details_retry_info().is_none());
    assert_eq!(CollectorError::Undecodable("x".into()).to_grpc(5).code(), Code::InvalidArgument);
    let overload = storage(StorageError::MemoryBudget { in_use: 1, budget: 1 }).to_grpc(5);
    assert_eq!(overload.code(), Code::Unavailable);
    assert_eq!(overload.get_details_retry_info().unwrap().retry_delay, Some(Duration::from_secs(5)));
}

#[tokio::test]
async fn http_body_is_a_google_rpc_status_in_the_request_encoding() {
    let err = CollectorError::Undecodable("truncated".into());
    let response = err.to_http(BodyEncoding::Protobuf, 1);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/x-protobuf");
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let status = RpcStatus::decode(body).unwrap();
    assert_eq!(status.code, Code::InvalidArgument as i32);
    assert!(status.message.contains("truncated"));

    let response = err.to_http(BodyEncoding::Json, 1);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["code"], 3);
}
