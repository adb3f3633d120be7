//! `POST /api/v1/sql`: the request body, the answer's format, the headers.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::error::{QueryError, Result};
use crate::service::QueryService;
use crate::sql::format::OutputFormat;

/// Response header with the number of rows (all formats).
pub const ROW_COUNT_HEADER: &str = "x-osprey-row-count";
/// Response header with the query time in milliseconds (all formats).
pub const ELAPSED_HEADER: &str = "x-osprey-elapsed-ms";

#[derive(Debug, Deserialize)]
struct SqlBody {
    sql: String,
}

/// `POST /api/v1/sql` with `{"sql": "..."}` (`application/json`) or the SQL
/// itself (`text/plain`, `application/sql`, no content type, or the
/// `application/x-www-form-urlencoded` that `curl -d` sends, read as-is).
/// Answers in the first type of `Accept` we produce (JSON by default), see
/// [`crate::sql::format`]. Errors are `{"error": "..."}` (see [`crate::error`]).
pub async fn post_sql(State(service): State<QueryService>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let format = OutputFormat::from_accept(headers.get(header::ACCEPT))?;
    let sql = sql_text(headers.get(header::CONTENT_TYPE), &body)?;
    let result = service.sql().run(sql).await?;
    let encoded = format.encode(&result)?;
    let elapsed_ms = format!("{:.3}", result.elapsed.as_secs_f64() * 1e3);
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(format.content_type())),
            (header::HeaderName::from_static(ROW_COUNT_HEADER), HeaderValue::from(result.row_count)),
            (
                header::HeaderName::from_static(ELAPSED_HEADER),
                HeaderValue::try_from(elapsed_ms).unwrap_or(HeaderValue::from_static("0")),
            ),
        ],
        encoded,
    )
        .into_response())
}

/// The SQL text of a request body.
pub fn sql_text(content_type: Option<&HeaderValue>, body: &[u8]) -> Result<String> {
    let media = content_type
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .unwrap_or_default();
    match media.as_str() {
        "application/json" => {
            let parsed: SqlBody = serde_json::from_slice(body)
                .map_err(|e| QueryError::InvalidRequest(format!("expected {{\"sql\": \"...\"}}: {e}")))?;
            Ok(parsed.sql)
        }
        "" | "text/plain" | "application/sql" | "application/x-www-form-urlencoded" => String::from_utf8(body.to_vec())
            .map_err(|e| QueryError::InvalidRequest(format!("the SQL text is not UTF-8: {e}"))),
        other => Err(QueryError::UnsupportedMediaType(other.to_string())),
    }
}

#[cfg(test)]
mod tests;
