//! Query errors, and their mapping to HTTP and gRPC (Flight SQL): the one place
//! where a [`QueryError`] becomes a status code and a `{"error": "<message>"}`
//! body, or a `tonic::Status` with the same message.

use std::time::Duration;

use arrow::error::ArrowError;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use datafusion::error::DataFusionError;
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
    /// The request body is larger than accepted (SQL text past its cap): HTTP 413.
    TooLarge,
    /// The query is valid but ran into a per-query limit (memory pool, row cap): HTTP 422.
    LimitExceeded,
    /// Too many queries at once and the queue is full: HTTP 429 with `Retry-After`.
    Overloaded,
    /// No representation the client accepts (`Accept`): HTTP 406.
    NotAcceptable,
    /// A request body in a media type we don't read: HTTP 415.
    UnsupportedMediaType,
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
    #[error("invalid TraceQL query: {0}")]
    TraceQl(String),
    #[error("trace {0} not found")]
    TraceNotFound(String),
    #[error("query timed out after {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("SQL text is {bytes} bytes, more than the limit of {limit} bytes (query.sql.max_text_bytes)")]
    SqlTooLong { bytes: usize, limit: usize },
    #[error("SQL syntax error: {0}")]
    SqlSyntax(String),
    #[error("{0}")]
    SqlRefused(String),
    #[error("SQL too deeply nested: {what}")]
    SqlTooDeep { what: String },
    /// A user error found while planning (unknown table or column, wrong types, unsupported SQL).
    #[error("{0}")]
    SqlPlan(String),
    #[error("query ran past its time limit of {} ms (query.sql.timeout)", .0.as_millis())]
    SqlTimeout(Duration),
    #[error("query exceeded the memory limit of {limit} bytes (query.sql.memory_bytes): {detail}")]
    MemoryLimit { limit: usize, detail: String },
    #[error("query result has more than {limit} rows (query.sql.max_rows): add a LIMIT or aggregate")]
    RowLimit { limit: usize },
    #[error("too many SQL queries at once: {0}; retry later")]
    Overloaded(String),
    #[error("cannot answer in any of the accepted types ({0}); available: application/json, text/csv, application/vnd.apache.arrow.stream")]
    NotAcceptable(String),
    #[error("unsupported content type {0:?}: send application/json ({{\"sql\": \"...\"}}) or text/plain")]
    UnsupportedMediaType(String),
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
    /// A route that needs the storage engine on a service built without it (tests over MemTables).
    #[error("{0} needs the storage engine")]
    NoStorage(&'static str),
}

impl QueryError {
    pub fn class(&self) -> ErrorClass {
        match self {
            QueryError::InvalidTraceId(_)
            | QueryError::InvalidParameter { .. }
            | QueryError::InvalidRequest(_)
            | QueryError::TraceQl(_)
            | QueryError::SqlSyntax(_)
            | QueryError::SqlRefused(_)
            | QueryError::SqlTooDeep { .. }
            | QueryError::SqlPlan(_) => ErrorClass::BadRequest,
            QueryError::TraceNotFound(_) => ErrorClass::NotFound,
            QueryError::Timeout(_) | QueryError::SqlTimeout(_) => ErrorClass::Timeout,
            QueryError::SqlTooLong { .. } => ErrorClass::TooLarge,
            QueryError::MemoryLimit { .. } | QueryError::RowLimit { .. } => ErrorClass::LimitExceeded,
            QueryError::Overloaded(_) => ErrorClass::Overloaded,
            QueryError::NotAcceptable(_) => ErrorClass::NotAcceptable,
            QueryError::UnsupportedMediaType(_) => ErrorClass::UnsupportedMediaType,
            QueryError::DataFusion(e) => datafusion_class(e),
            QueryError::Storage(e) => match e.class() {
                StorageClass::InvalidInput => ErrorClass::BadRequest,
                StorageClass::NotFound => ErrorClass::NotFound,
                StorageClass::Overloaded | StorageClass::Internal => ErrorClass::Internal,
            },
            QueryError::Arrow(_) | QueryError::Layout(_) | QueryError::Task(_) | QueryError::NoStorage(_) => {
                ErrorClass::Internal
            }
        }
    }

    pub fn status(&self) -> StatusCode {
        match self.class() {
            ErrorClass::BadRequest => StatusCode::BAD_REQUEST,
            ErrorClass::NotFound => StatusCode::NOT_FOUND,
            ErrorClass::Timeout => StatusCode::REQUEST_TIMEOUT,
            ErrorClass::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorClass::LimitExceeded => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorClass::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            ErrorClass::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            ErrorClass::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorClass::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl QueryError {
    /// Logs an error about to be answered with `status`, at a level by its class. Every
    /// API's error response calls this (the compat APIs only shape the body differently).
    pub fn report(&self, status: StatusCode) {
        match self.class() {
            ErrorClass::Internal => tracing::error!(error = %self, status = status.as_u16(), "query failed"),
            ErrorClass::Timeout | ErrorClass::LimitExceeded | ErrorClass::Overloaded => {
                tracing::warn!(error = %self, status = status.as_u16(), "query stopped by a limit")
            }
            ErrorClass::BadRequest
            | ErrorClass::NotFound
            | ErrorClass::TooLarge
            | ErrorClass::NotAcceptable
            | ErrorClass::UnsupportedMediaType => {
                tracing::debug!(error = %self, status = status.as_u16(), "query rejected")
            }
        }
    }
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = self.to_string();
        self.report(status);
        let body = axum::Json(serde_json::json!({ "error": message }));
        if status == StatusCode::TOO_MANY_REQUESTS {
            return (status, [(header::RETRY_AFTER, RETRY_AFTER_SECS.to_string())], body).into_response();
        }
        (status, body).into_response()
    }
}

/// Flight SQL answers with the same messages as the HTTP API, under the gRPC
/// code of the same class: a refused statement is `InvalidArgument`, the
/// timeout `DeadlineExceeded`, the memory pool and row cap `ResourceExhausted`,
/// a full queue `Unavailable` (gRPC's code for "retry later").
impl From<QueryError> for tonic::Status {
    fn from(e: QueryError) -> Self {
        let class = e.class();
        let code = match class {
            ErrorClass::BadRequest
            | ErrorClass::TooLarge
            | ErrorClass::NotAcceptable
            | ErrorClass::UnsupportedMediaType => tonic::Code::InvalidArgument,
            ErrorClass::NotFound => tonic::Code::NotFound,
            ErrorClass::Timeout => tonic::Code::DeadlineExceeded,
            ErrorClass::LimitExceeded => tonic::Code::ResourceExhausted,
            ErrorClass::Overloaded => tonic::Code::Unavailable,
            ErrorClass::Internal => tonic::Code::Internal,
        };
        let message = e.to_string();
        match class {
            ErrorClass::Internal => tracing::error!(error = %message, ?code, "flight sql query failed"),
            ErrorClass::Timeout | ErrorClass::LimitExceeded | ErrorClass::Overloaded => {
                tracing::warn!(error = %message, ?code, "flight sql query stopped by a limit")
            }
            _ => tracing::debug!(error = %message, ?code, "flight sql query rejected"),
        }
        tonic::Status::new(code, message)
    }
}

/// Seconds a client is told to wait (`Retry-After`) when the SQL queue is full.
pub const RETRY_AFTER_SECS: u64 = 1;

/// DataFusion errors by their root cause: what the SQL asked for is the user's
/// fault (parse, plan, schema, unsupported feature, a cast or division that
/// fails on the data); running out of the memory pool is a limit; the rest
/// (execution, I/O, object store, Parquet, internal) is ours.
pub fn datafusion_class(e: &DataFusionError) -> ErrorClass {
    match e.find_root() {
        DataFusionError::SQL(..)
        | DataFusionError::Plan(_)
        | DataFusionError::SchemaError(..)
        | DataFusionError::NotImplemented(_)
        | DataFusionError::Configuration(_) => ErrorClass::BadRequest,
        DataFusionError::ArrowError(e, _) => match e.as_ref() {
            ArrowError::CastError(_)
            | ArrowError::ParseError(_)
            | ArrowError::DivideByZero
            | ArrowError::ArithmeticOverflow(_) => ErrorClass::BadRequest,
            _ => ErrorClass::Internal,
        },
        DataFusionError::ResourcesExhausted(_) => ErrorClass::LimitExceeded,
        _ => ErrorClass::Internal,
    }
}

pub type Result<T, E = QueryError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests;
