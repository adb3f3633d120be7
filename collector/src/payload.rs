//! The OTLP/HTTP request body: its media type (`Content-Type`), its compression
//! (`Content-Encoding`), reading it with a cap, and decompressing it with a bounded
//! streaming reader, so a compression bomb stops at the limit without allocating its size.

use std::io::Read;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use http::{header, HeaderMap};

use crate::error::CollectorError;
use crate::sink::Permit;

/// How the message is serialized (request and response use the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    Protobuf,
    Json,
}

impl BodyEncoding {
    /// From `Content-Type` (parameters such as `charset` are ignored).
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, CollectorError> {
        let value = headers.get(header::CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let media = value.as_deref().unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match media.as_str() {
            "application/x-protobuf" | "application/protobuf" => Ok(BodyEncoding::Protobuf),
            "application/json" => Ok(BodyEncoding::Json),
            _ => Err(CollectorError::UnsupportedMediaType(value.unwrap_or_default())),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            BodyEncoding::Protobuf => "application/x-protobuf",
            BodyEncoding::Json => "application/json",
        }
    }
}

/// `Content-Encoding` of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Identity,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, CollectorError> {
        let Some(value) = headers.get(header::CONTENT_ENCODING) else { return Ok(Compression::Identity) };
        let text = String::from_utf8_lossy(value.as_bytes());
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(Compression::Identity),
            "gzip" | "x-gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            _ => Err(CollectorError::UnsupportedEncoding(text.into_owned())),
        }
    }
}

/// Reads the whole body, refusing it as soon as it passes `limit` bytes (the rest is drained,
/// see [`drain`]). Given `admit`, each chunk is admitted into the memory budget as it arrives
/// (a body sent without a `Content-Length`), and the permits come back with the bytes; a chunk
/// the budget cannot take refuses the body the same way, with admission's error.
pub async fn read_body(
    body: Body,
    limit: usize,
    admit: Option<&(dyn Fn(usize) -> Result<Permit, CollectorError> + Sync)>,
) -> Result<(Bytes, Vec<Permit>), CollectorError> {
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    let mut permits = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| CollectorError::BodyRead(e.to_string()))?;
        let read = buf.len() + chunk.len();
        let refused = match admit {
            _ if read > limit => Some(CollectorError::TooLarge { limit }),
            Some(admit) => admit(chunk.len()).map(|permit| permits.push(permit)).err(),
            None => None,
        };
        if let Some(error) = refused {
            drop((buf, permits));
            drain_stream(stream, read).await;
            return Err(error);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok((buf.freeze(), permits))
}

/// Most bytes of a refused body read and thrown away so the client can read the 413.
pub const DRAIN_MAX_BYTES: usize = 256 << 20;
/// Longest time spent draining a refused body.
pub const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads and discards what is left of a refused body (up to [`DRAIN_MAX_BYTES`] and
/// [`DRAIN_TIMEOUT`]; memory stays one chunk). Without it the server would answer while the
/// client is still sending, close the connection, and most clients would report a broken pipe
/// instead of the 413. Past the caps the connection is closed anyway.
pub async fn drain(body: Body) {
    drain_stream(body.into_data_stream(), 0).await;
}

async fn drain_stream(mut stream: axum::body::BodyDataStream, mut read: usize) {
    let discard = async {
        while let Some(Ok(chunk)) = stream.next().await {
            read = read.saturating_add(chunk.len());
            if read > DRAIN_MAX_BYTES {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, discard).await;
}

/// Decompresses `body`, reading at most `limit + 1` bytes out of the decoder.
/// Multi-member gzip and multi-frame zstd are read whole.
pub fn decompress(body: Bytes, compression: Compression, limit: usize) -> Result<Bytes, CollectorError> {
    match compression {
        Compression::Identity if body.len() > limit => Err(CollectorError::TooLarge { limit }),
        Compression::Identity => Ok(body),
        Compression::Gzip => bounded_read(flate2::read::MultiGzDecoder::new(&body[..]), limit),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(&body[..])
                .map_err(|e| CollectorError::Undecodable(format!("zstd: {e}")))?;
            bounded_read(decoder, limit)
        }
    }
}

fn bounded_read(reader: impl Read, limit: usize) -> Result<Bytes, CollectorError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| CollectorError::Undecodable(format!("decompressing the body failed: {e}")))?;
    if out.len() > limit {
        return Err(CollectorError::TooLarge { limit });
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests;
