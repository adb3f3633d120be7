//! Jaeger's response bodies. The status of an error is [`QueryError::status`] (the one
//! mapping, in `crate::error`); only the body differs from the native API's `{"error"}`,
//! because Jaeger clients read their own shapes:
//! - v1: `{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":400,"msg":"…"}]}`
//!   (`structuredResponse` / `structuredError` in Jaeger's `http_handler.go`; Jaeger UI shows
//!   `errors[].msg`, see `packages/jaeger-ui/src/api/jaeger.ts` `getMessageFromError`);
//! - v3: `{"error":{"httpCode":400,"message":"…"}}` (`GRPCGatewayError` in
//!   `internal/proto/api_v3/query_service.pb.go`, written by `apiv3/http_gateway.go`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::QueryError;

/// Jaeger v1's envelope.
#[derive(Debug, Serialize)]
pub struct Envelope<T: Serialize> {
    pub data: T,
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
    pub errors: Option<Vec<EnvelopeError>>,
}

/// One entry of `errors`: `code` is left out when 0 (Go's `omitempty`), as for a trace of
/// a multi-id lookup that was not found, which carries its `traceID` instead.
#[derive(Debug, Clone, Serialize)]
pub struct EnvelopeError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    pub msg: String,
    #[serde(rename = "traceID", skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

impl<T: Serialize> Envelope<T> {
    /// `data` with `total` as given (Jaeger fills it only for services and operations).
    pub fn new(data: T, total: usize) -> Self {
        Envelope { data, total, limit: 0, offset: 0, errors: None }
    }
}

impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        Json(self).into_response()
    }
}

/// Jaeger's message for a missing trace (`spanstore.ErrTraceNotFound`).
pub const TRACE_NOT_FOUND: &str = "trace not found";

fn message(error: &QueryError) -> String {
    match error {
        QueryError::TraceNotFound(_) => TRACE_NOT_FOUND.to_string(),
        other => other.to_string(),
    }
}

/// An error answered in Jaeger v1's envelope.
#[derive(Debug)]
pub struct V1Error(pub QueryError);

impl From<QueryError> for V1Error {
    fn from(e: QueryError) -> Self {
        V1Error(e)
    }
}

impl IntoResponse for V1Error {
    fn into_response(self) -> Response {
        let status = self.0.status();
        self.0.report(status);
        let body = Envelope::<Value> {
            data: Value::Null,
            total: 0,
            limit: 0,
            offset: 0,
            errors: Some(vec![EnvelopeError { code: Some(status.as_u16()), msg: message(&self.0), trace_id: None }]),
        };
        (status, Json(body)).into_response()
    }
}

/// An error answered as Jaeger v3's `GRPCGatewayError`.
#[derive(Debug)]
pub struct V3Error(pub QueryError);

impl From<QueryError> for V3Error {
    fn from(e: QueryError) -> Self {
        V3Error(e)
    }
}

impl V3Error {
    /// Jaeger's 404 for a search or lookup that found nothing.
    pub fn no_traces() -> Response {
        error_body(StatusCode::NOT_FOUND, "No traces found")
    }
}

impl IntoResponse for V3Error {
    fn into_response(self) -> Response {
        let status = self.0.status();
        self.0.report(status);
        error_body(status, &message(&self.0))
    }
}

fn error_body(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": {"httpCode": status.as_u16(), "message": message}}))).into_response()
}
