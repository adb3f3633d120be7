//! The OTLP/HTTP receiver: `POST /v1/traces` (protobuf or JSON, identity, gzip or zstd), and
//! the same for every other [`Signal`] routed with [`route`] (`/v1/logs`, `/v1/metrics`).
//!
//! Flow: media type and compression checked → memory admitted (from `Content-Length` when
//! given, before reading; otherwise chunk by chunk as the body arrives) → body read with a cap
//! → decompressed with a bounded reader → more memory admitted if it inflated → decoded →
//! [`Ingest::export`] → response in the request's encoding.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use http::{header, HeaderMap, StatusCode};
use prost::Message as _;

use crate::error::CollectorError;
use crate::ingest::{Incoming, Ingest, Transport, DECODED_SIZE_FACTOR};
use crate::payload::{decompress, read_body, BodyEncoding, Compression};
use crate::signal::Signal;
use crate::sink::Permit;

/// `POST /v1/<signal>` served by `ingest`, to merge into the OTLP/HTTP port's router.
pub fn route<S: Signal>(path: &str, ingest: Arc<Ingest<S>>) -> Router {
    Router::new().route(path, post(export::<S>)).layer(DefaultBodyLimit::disable()).with_state(ingest)
}

async fn export<S: Signal>(State(ingest): State<Arc<Ingest<S>>>, headers: HeaderMap, body: Body) -> Response {
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
                    BodyEncoding::Json => S::encode_json(&response),
                };
                (StatusCode::OK, [(header::CONTENT_TYPE, encoding.content_type())], body).into_response()
            }
            Err(e) => e.to_http(encoding, retry_after),
        },
        Err(e) => refuse(&ingest, encoding, e),
    }
}

fn refuse<S: Signal>(ingest: &Ingest<S>, encoding: BodyEncoding, error: CollectorError) -> Response {
    ingest.failed_before_decoding(Transport::Http, &error);
    error.to_http(encoding, ingest.config.retry_after_secs)
}

/// A decoded request and the memory reserved for it.
struct Received<R>(R, #[allow(dead_code)] Vec<Permit>);

async fn receive<S: Signal>(
    ingest: &Ingest<S>,
    headers: &HeaderMap,
    body: Body,
    encoding: BodyEncoding,
) -> Result<Received<Incoming<S::Request>>, CollectorError> {
    let limit = ingest.config.max_request_bytes;
    let compression = Compression::from_headers(headers)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    if declared.is_some_and(|n| n > limit) {
        crate::payload::drain(body).await;
        return Err(CollectorError::TooLarge { limit });
    }
    let mut permits = Vec::with_capacity(2);
    if let Some(n) = declared {
        permits.push(ingest.admit(n)?);
    }
    // Without a `Content-Length` (chunked), the body is admitted as it arrives.
    let admit_chunk = |bytes| ingest.admit_received(bytes);
    let admit: Option<&(dyn Fn(usize) -> Result<Permit, CollectorError> + Sync)> = match declared {
        Some(_) => None,
        None => Some(&admit_chunk),
    };
    // A compressed body larger than the limit would inflate past it too.
    let (wire, received) = read_body(body, limit, admit).await?;
    if declared.is_none() {
        // Every chunk of it holds its bytes already.
        let held = wire.len();
        permits.push(ingest.admit_beyond(wire.len(), held)?);
        permits.extend(received);
    }
    let reserved = wire.len();
    let raw = decompress(wire, compression, limit)?;
    if raw.len() > reserved {
        permits.push(ingest.admit(raw.len() - reserved)?);
    }
    tracing::trace!(bytes = raw.len(), factor = DECODED_SIZE_FACTOR, "OTLP/HTTP body read");
    let request = match encoding {
        BodyEncoding::Protobuf => Incoming::Protobuf(raw),
        BodyEncoding::Json => {
            Incoming::Decoded(S::decode_json(&raw).map_err(|e| CollectorError::Undecodable(e.to_string()))?)
        }
    };
    Ok(Received(request, permits))
}

#[cfg(test)]
mod tests;
