//! The OTLP/HTTP receiver: `POST /v1/traces` (protobuf or JSON, identity, gzip or zstd).
//! `/v1/logs` and `/v1/metrics` answer 404 saying the signal is not supported yet.
//!
//! Flow: media type and compression checked → memory admitted (from `Content-Length` when
//! given, before reading) → body read with a cap → decompressed with a bounded reader →
//! more memory admitted if it inflated → decoded → [`TraceIngest::export`] → response in
//! the request's encoding.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::Router;
use http::{header, HeaderMap, StatusCode};
use osprey_proto::ExportTraceServiceRequest;
use prost::Message as _;

use crate::error::CollectorError;
use crate::ingest::{TraceIngest, Transport, DECODED_SIZE_FACTOR};
use crate::payload::{decompress, read_body, BodyEncoding, Compression};
use crate::sink::Permit;

/// The router of the OTLP/HTTP port.
pub fn router(ingest: Arc<TraceIngest>) -> Router {
    Router::new()
        .route("/v1/traces", post(export_traces))
        .route("/v1/logs", any(|headers: HeaderMap| async move { not_supported("logs", &headers) }))
        .route("/v1/metrics", any(|headers: HeaderMap| async move { not_supported("metrics", &headers) }))
        .layer(DefaultBodyLimit::disable())
        .with_state(ingest)
}

fn not_supported(signal: &'static str, headers: &HeaderMap) -> Response {
    let encoding = BodyEncoding::from_headers(headers).unwrap_or(BodyEncoding::Protobuf);
    CollectorError::SignalNotSupported(signal).to_http(encoding, 0)
}

async fn export_traces(State(ingest): State<Arc<TraceIngest>>, headers: HeaderMap, body: Body) -> Response {
    let retry_after = ingest.config.retry_after_secs;
    // Errors before the media type is known are answered in protobuf.
    let encoding = match BodyEncoding::from_headers(&headers) {
        Ok(e) => e,
        Err(e) => return refuse(&ingest, BodyEncoding::Protobuf, e),
    };
    match receive(&ingest, &headers, body, encoding).await {
        Ok(request) => match ingest.export(request.0, Transport::Http).await {
            Ok(response) => {
                let body = match encoding {
                    BodyEncoding::Protobuf => response.encode_to_vec(),
                    BodyEncoding::Json => osprey_proto::json::encode_trace_response(&response),
                };
                (StatusCode::OK, [(header::CONTENT_TYPE, encoding.content_type())], body).into_response()
            }
            Err(e) => e.to_http(encoding, retry_after),
        },
        Err(e) => refuse(&ingest, encoding, e),
    }
}

fn refuse(ingest: &TraceIngest, encoding: BodyEncoding, error: CollectorError) -> Response {
    ingest.failed_before_decoding(Transport::Http, &error);
    error.to_http(encoding, ingest.config.retry_after_secs)
}

/// A decoded request and the memory reserved for it.
struct Received(ExportTraceServiceRequest, #[allow(dead_code)] Vec<Permit>);

async fn receive(
    ingest: &TraceIngest,
    headers: &HeaderMap,
    body: Body,
    encoding: BodyEncoding,
) -> Result<Received, CollectorError> {
    let limit = ingest.config.max_request_bytes;
    let compression = Compression::from_headers(headers)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    if declared.is_some_and(|n| n > limit) {
        return Err(CollectorError::TooLarge { limit });
    }
    let mut permits = Vec::with_capacity(2);
    if let Some(n) = declared {
        permits.push(ingest.admit(n)?);
    }
    // A compressed body larger than the limit would inflate past it too.
    let wire = read_body(body, limit).await?;
    if declared.is_none() {
        permits.push(ingest.admit(wire.len())?);
    }
    let reserved = wire.len();
    let raw = decompress(wire, compression, limit)?;
    if raw.len() > reserved {
        permits.push(ingest.admit(raw.len() - reserved)?);
    }
    tracing::trace!(bytes = raw.len(), factor = DECODED_SIZE_FACTOR, "OTLP/HTTP body read");
    let request =
        match encoding {
            BodyEncoding::Protobuf => ExportTraceServiceRequest::decode(raw)
                .map_err(|e| CollectorError::Undecodable(format!("protobuf: {e}")))?,
            BodyEncoding::Json => osprey_proto::json::decode_trace_request(&raw)
                .map_err(|e| CollectorError::Undecodable(e.to_string()))?,
        };
    Ok(Received(request, permits))
}

#[cfg(test)]
mod tests;
