//! Query errors, and their mapping to HTTP: the one place where a [`QueryError`]
//! becomes a status code and a `{"error": "<message>"}` body.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use osprey_storage::{ErrorClass as StorageClass, StorageError};

/// How an error should be answered, independent of transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request is wrong (bad id, bad parameter): HTTP 400.
    BadRequest,
    /// The thing asked for does not exist: HTTP 404.
    NotFound,
    /// The query ran past its time budget: HTTP 408 (a clear 4xx, as the API contract asks).
    Timeout,
    /// A bug or an I/O failure on our side: HTTP 500.
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("invalid trace id {0:?}: expected 32 hex characters (or 16 for a 64-bit id)")]
    InvalidTraceId(String),
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter { name: &'static str, reason: String },
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("trace {0} not found")]
    TraceNotFound(String),
    #[error("query timed out after {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("datafusion: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("unexpected layout of the spans table: {0}")]
    Layout(String),
    #[error("trace assembly failed: {0}")]
    Task(String),
}

impl QueryError {
    pub fn class(&self) -> ErrorClass {
        match self {
            QueryError::InvalidTraceId(_) | QueryError::InvalidParameter { .. } | QueryError::InvalidRequest(_) => {
                ErrorClass::BadRequest
            }
            QueryError::TraceNotFound(_) => ErrorClass::NotFound,
            QueryError::Timeout(_) => ErrorClass::Timeout,
            QueryError::Storage(e) => match e.class() {
                StorageClass::InvalidInput => ErrorClass::BadRequest,
                StorageClass::NotFound => ErrorClass::NotFound,
                StorageClass::Overloaded | StorageClass::Internal => ErrorClass::Internal,
            },
            QueryError::DataFusion(_) | QueryError::Arrow(_) | QueryError::Layout(_) | QueryError::Task(_) => {
                ErrorClass::Internal
            }
        }
    }

    pub fn status(&self) -> StatusCode {
        match self.class() {
            ErrorClass::BadRequest => StatusCode::BAD_REQUEST,
            ErrorClass::NotFound => StatusCode::NOT_FOUND,
            ErrorClass::Timeout => StatusCode::REQUEST_TIMEOUT,
            ErrorClass::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = self.to_string();
        match self.class() {
            ErrorClass::Internal => tracing::error!(error = %message, status = status.as_u16(), "query failed"),
            ErrorClass::Timeout => tracing::warn!(error = %message, status = status.as_u16(), "query timed out"),
            ErrorClass::BadRequest | ErrorClass::NotFound => {
                tracing::debug!(error = %message, status = status.as_u16(), "query rejected")
            }
        }
        (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
    }
}

pub type Result<T, E = QueryError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests;
