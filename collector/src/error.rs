//! Collector errors and, in this one place, how each is answered over HTTP (status, headers,
//! `google.rpc.Status` body) and over gRPC (`tonic::Status` with details).
//!
//! | error | class | HTTP | gRPC |
//! |---|---|---|---|
//! | `TooLarge` | invalid input | 413 | `RESOURCE_EXHAUSTED`, no `RetryInfo` (not retryable) |
//! | `Undecodable` | invalid input | 400 | `INVALID_ARGUMENT` |
//! | `UnsupportedMediaType`, `UnsupportedEncoding` | invalid input | 415 | `INVALID_ARGUMENT` |
//! | storage `MemoryBudget` | overloaded | 429 + `Retry-After` | `UNAVAILABLE` + `RetryInfo` |
//! | storage `DiskFull`, `ShuttingDown` | overloaded | 503 + `Retry-After` | `UNAVAILABLE` + `RetryInfo` |
//! | anything else | internal | 500 | `INTERNAL` |

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use osprey_proto::RpcStatus;
use osprey_storage::{ErrorClass, StorageError};
use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::payload::BodyEncoding;

#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    #[error("request body exceeds the limit of {limit} bytes (after decompression)")]
    TooLarge { limit: usize },
    #[error("undecodable OTLP request: {0}")]
    Undecodable(String),
    #[error("unsupported content type {0:?}; use application/x-protobuf or application/json")]
    UnsupportedMediaType(String),
    #[error("unsupported content encoding {0:?}; use gzip, zstd or identity")]
    UnsupportedEncoding(String),
    #[error("reading the request body failed: {0}")]
    BodyRead(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl CollectorError {
    pub fn class(&self) -> ErrorClass {
        match self {
            CollectorError::TooLarge { .. }
            | CollectorError::Undecodable(_)
            | CollectorError::UnsupportedMediaType(_)
            | CollectorError::UnsupportedEncoding(_)
            | CollectorError::BodyRead(_) => ErrorClass::InvalidInput,
            CollectorError::Storage(e) => e.class(),
            CollectorError::Internal(_) => ErrorClass::Internal,
        }
    }

    /// Whether the client may send the same request again later.
    pub fn retryable(&self) -> bool {
        self.class() == ErrorClass::Overloaded
    }

    /// The `reason` label of `osprey_rejected_items_total` and the `outcome` of `osprey_requests_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            CollectorError::TooLarge { .. } => "too_large",
            CollectorError::Undecodable(_) | CollectorError::BodyRead(_) => "undecodable",
            CollectorError::UnsupportedMediaType(_) | CollectorError::UnsupportedEncoding(_) => "unsupported",
            CollectorError::Internal(_) => "internal",
            CollectorError::Storage(e) => match e.class() {
                ErrorClass::Overloaded => "overload",
                ErrorClass::InvalidInput => "invalid",
                _ => "internal",
            },
        }
    }

    /// The gRPC code of this error (also the `code` of HTTP `google.rpc.Status` bodies).
    pub fn grpc_code(&self) -> Code {
        match self {
            CollectorError::TooLarge { .. } => Code::ResourceExhausted,
            _ => match self.class() {
                ErrorClass::InvalidInput => Code::InvalidArgument,
                ErrorClass::NotFound => Code::NotFound,
                ErrorClass::Overloaded => Code::Unavailable,
                ErrorClass::Internal => Code::Internal,
            },
        }
    }

    pub fn http_status(&self) -> StatusCode {
        match self {
            CollectorError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            CollectorError::UnsupportedMediaType(_) | CollectorError::UnsupportedEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            CollectorError::Storage(StorageError::MemoryBudget { .. }) => StatusCode::TOO_MANY_REQUESTS,
            _ => match self.class() {
                ErrorClass::InvalidInput => StatusCode::BAD_REQUEST,
                ErrorClass::NotFound => StatusCode::NOT_FOUND,
                ErrorClass::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
                ErrorClass::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    /// The HTTP answer: status, `Retry-After` when retryable, and a `google.rpc.Status` body
    /// in the request's encoding.
    pub fn to_http(&self, encoding: BodyEncoding, retry_after_secs: u32) -> Response {
        let status = RpcStatus::new(self.grpc_code() as i32, self.to_string());
        let body = match encoding {
            BodyEncoding::Protobuf => status.to_protobuf(),
            BodyEncoding::Json => status.to_json(),
        };
        let mut response =
            (self.http_status(), [(header::CONTENT_TYPE, encoding.content_type())], body).into_response();
        if self.retryable() {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }

    /// The gRPC answer; retryable errors carry a `google.rpc.RetryInfo` detail.
    pub fn to_grpc(&self, retry_after_secs: u32) -> tonic::Status {
        let code = self.grpc_code();
        if self.retryable() {
            let details = ErrorDetails::with_retry_info(Some(Duration::from_secs(u64::from(retry_after_secs))));
            tonic::Status::with_error_details(code, self.to_string(), details)
        } else {
            tonic::Status::new(code, self.to_string())
        }
    }
}

#[cfg(test)]
mod tests;
