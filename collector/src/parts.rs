//! The parts of a large request. An OpenTelemetry Collector exports batches of up to 8,192
//! spans (5 MB) in one request; decoded, converted and encoded on one thread such a request
//! takes ~100 ms before its acknowledgement. Cut into parts of whole resources, it is decoded
//! and converted on several threads at once and appended as one unit (see
//! [`crate::ingest::Ingest::export`]).
//!
//! A protobuf body is cut *before* decoding: every OTLP export request has exactly one
//! field, a repeated message (`resource_spans = 1`, `resource_logs = 1`, `resource_metrics =
//! 1`), so any run of whole top-level fields is itself a valid request, and the runs can be
//! decoded in parallel. A request decoded already (OTLP/JSON, the scraper) is cut by moving
//! its resources.

use bytes::{Buf, Bytes};
use prost::encoding::{decode_key, decode_varint, skip_field, DecodeContext, WireType};
use prost::DecodeError;

use crate::signal::Signal;

/// A protobuf request of at most this many bytes is decoded and converted on the task that
/// received it (~150 metric points or ~100 spans: a fraction of a millisecond of work) instead
/// of on the blocking pool, whose hand-off and thread wake-ups cost more than such work: on
/// 150-point metrics requests, converting them here gave 1.13–1.18× the points per server
/// CPU-second (BENCHMARKS.md, issue 5, session 12).
pub const INLINE_BYTES: usize = 32 << 10;
/// A request is cut only into parts of at least this many protobuf bytes…
pub const MIN_PART_BYTES: usize = 512 << 10;
/// …or, when decoded already, of at least this many items.
pub const MIN_PART_ITEMS: u64 = 2048;
/// A protobuf request of a signal whose resources convert independently is cut into pieces of
/// about this many bytes, decoded and converted one at a time on each core: hipstershop's 21 MB
/// requests, decoded whole, held ~95 MB of messages each while they were converted, past what
/// admission reserves for them (BENCHMARKS.md, issue 5, session 13).
pub const PIECE_BYTES: usize = 512 << 10;

/// One part of a request: a request of its own, and where its resources start in the whole.
#[derive(Debug)]
pub struct Part<R> {
    pub request: R,
    pub first_resource: usize,
    /// The protobuf bytes it was decoded from, kept for a WAL source frame
    /// ([`crate::signal::Signal::SOURCE_CODEC`]).
    pub source: Option<Bytes>,
}

/// A run of whole top-level fields of a protobuf request.
#[derive(Debug, Clone, PartialEq)]
pub struct Cut {
    pub bytes: Bytes,
    /// Resources (occurrences of field 1) before this run.
    pub first_resource: usize,
}

/// How many parts a request of `bytes` protobuf bytes is cut into: one per
/// [`MIN_PART_BYTES`], at most one per core.
pub fn parts_for_bytes(bytes: usize) -> usize {
    (bytes / MIN_PART_BYTES).clamp(1, cores())
}

/// How many pieces of about [`PIECE_BYTES`] a request of `bytes` protobuf bytes is cut into.
pub fn pieces_for_bytes(bytes: usize) -> usize {
    (bytes / PIECE_BYTES).max(1)
}

/// `cuts` in at most `lanes` runs of consecutive cuts with about as many bytes each, in order.
pub fn lanes(cuts: Vec<Cut>, lanes: usize) -> Vec<Vec<Cut>> {
    let total: usize = cuts.iter().map(|c| c.bytes.len()).sum();
    let lanes = lanes.max(1);
    let mut out: Vec<Vec<Cut>> = Vec::with_capacity(lanes);
    let (mut current, mut seen) = (Vec::new(), 0usize);
    for cut in cuts {
        seen += cut.bytes.len();
        current.push(cut);
        if seen >= total * (out.len() + 1) / lanes && out.len() + 1 < lanes {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() || out.is_empty() {
        out.push(current);
    }
    out
}

/// The cores this process may use, read once: `available_parallelism` reads the cgroup
/// files on every call, which cost 2 % of the server's CPU when asked once per request.
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}

/// The top level of a body is not well-formed protobuf.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(String);

impl From<DecodeError> for Malformed {
    fn from(e: DecodeError) -> Self {
        Malformed(e.to_string())
    }
}

/// Cuts a protobuf request into at most `parts` runs of whole top-level fields of about equal
/// size, in order. Fails if the body's top level is not well-formed protobuf (the fields
/// themselves are checked when each run is decoded).
pub fn cut_protobuf(body: Bytes, parts: usize) -> Result<Vec<Cut>, Malformed> {
    let total = body.len();
    let mut cuts = Vec::with_capacity(parts);
    let (mut buf, mut start, mut start_resource, mut resources) = (&body[..], 0usize, 0usize, 0usize);
    while buf.has_remaining() {
        let (tag, wire_type) = decode_key(&mut buf)?;
        if tag == 1 && wire_type == WireType::LengthDelimited {
            let len = decode_varint(&mut buf)?;
            let len = usize::try_from(len).ok().filter(|n| *n <= buf.remaining());
            let Some(len) = len else {
                return Err(Malformed(format!("field 1 at byte {} runs past the end", total - buf.remaining())));
            };
            buf.advance(len);
            resources += 1;
        } else {
            skip_field(wire_type, tag, &mut buf, DecodeContext::default())?;
        }
        let end = total - buf.remaining();
        // Close the run once it reaches its share of the body (the last run takes the rest).
        let share = total * (cuts.len() + 1) / parts.max(1);
        if end >= share && cuts.len() + 1 < parts {
            cuts.push(Cut { bytes: body.slice(start..end), first_resource: start_resource });
            (start, start_resource) = (end, resources);
        }
    }
    if start < total || cuts.is_empty() {
        cuts.push(Cut { bytes: body.slice(start..total), first_resource: start_resource });
    }
    Ok(cuts)
}

/// Cuts a decoded request into at most `parts` parts of whole resources with about equal
/// items each, in order.
pub fn split_decoded<S: Signal>(request: S::Request, parts: usize) -> Vec<Part<S::Request>> {
    let resources = S::into_resources(request);
    let items: Vec<u64> = resources.iter().map(S::resource_items).collect();
    let total: u64 = items.iter().sum();
    let mut out = Vec::with_capacity(parts);
    let mut current = Vec::new();
    let (mut first_resource, mut seen) = (0usize, 0u64);
    for (i, (resource, n)) in resources.into_iter().zip(items).enumerate() {
        current.push(resource);
        seen += n;
        let share = total * (out.len() as u64 + 1) / parts.max(1) as u64;
        if seen >= share && out.len() + 1 < parts {
            out.push(Part { request: S::from_resources(std::mem::take(&mut current)), first_resource, source: None });
            first_resource = i + 1;
        }
    }
    if !current.is_empty() || out.is_empty() {
        out.push(Part { request: S::from_resources(current), first_resource, source: None });
    }
    out
}

/// How many parts a decoded request of `items` is cut into: one per [`MIN_PART_ITEMS`], at
/// most one per core.
pub fn parts_for_items(items: u64) -> usize {
    usize::try_from(items / MIN_PART_ITEMS).unwrap_or(usize::MAX).clamp(1, cores())
}

/// The parts back into one request (when they are not [`Signal::independent`]).
pub fn join<S: Signal>(parts: Vec<Part<S::Request>>) -> Part<S::Request> {
    let resources = parts.into_iter().flat_map(|p| S::into_resources(p.request)).collect();
    Part { request: S::from_resources(resources), first_resource: 0, source: None }
}

#[cfg(test)]
mod tests;
