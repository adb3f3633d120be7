//! The otel-demo recordings in `shared/data/otel-demo/`: a zstd stream of
//! records, each a 4-byte big-endian length and an OTLP `TracesData` protobuf
//! (wire-identical to `ExportTraceServiceRequest`).
//!
//! For replay, [`Rewriter`] gives each pass fresh trace and span ids (XOR with a
//! per-pass key, so parent links stay intact) and shifts timestamps so the
//! data looks recent.

use std::io::Read;
use std::path::Path;

use osprey_proto::ExportTraceServiceRequest;
use prost::Message;

/// Reads every record of a corpus file as raw protobuf bytes.
pub fn read_records(path: &Path) -> std::io::Result<Vec<Vec<u8>>> {
    let file = std::fs::File::open(path)?;
    let mut decoder = zstd::stream::read::Decoder::new(file)?;
    let mut records = Vec::new();
    let mut len = [0u8; 4];
    loop {
        match decoder.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
        decoder.read_exact(&mut buf)?;
        records.push(buf);
    }
    Ok(records)
}

/// Decodes every record of a corpus file.
pub fn read_requests(path: &Path) -> std::io::Result<Vec<ExportTraceServiceRequest>> {
    read_records(path)?
        .iter()
        .map(|r| ExportTraceServiceRequest::decode(r.as_slice()).map_err(std::io::Error::other))
        .collect()
}

/// Number of spans in a request.
pub fn span_count(req: &ExportTraceServiceRequest) -> usize {
    req.resource_spans.iter().flat_map(|rs| &rs.scope_spans).map(|ss| ss.spans.len()).sum()
}

/// Splits a request into requests of at most `max_spans` spans each (resource and scope kept),
/// the way an SDK's batch processor caps its exports (`max_export_batch_size`, 512 by default).
pub fn split_request(req: &ExportTraceServiceRequest, max_spans: usize) -> Vec<ExportTraceServiceRequest> {
    let max_spans = max_spans.max(1);
    let mut out: Vec<ExportTraceServiceRequest> = Vec::new();
    let mut room = 0;
    for rs in &req.resource_spans {
        for ss in &rs.scope_spans {
            for chunk in ss.spans.chunks(max_spans) {
                let mut remaining = chunk;
                while !remaining.is_empty() {
                    if room == 0 {
                        out.push(ExportTraceServiceRequest::default());
                        room = max_spans;
                    }
                    let (now, later) = remaining.split_at(remaining.len().min(room));
                    room -= now.len();
                    remaining = later;
                    let Some(current) = out.last_mut() else { break };
                    let mut rs_part = rs.clone();
                    rs_part.scope_spans = vec![ss.clone()];
                    if let Some(scope) = rs_part.scope_spans.first_mut() {
                        scope.spans = now.to_vec();
                    }
                    current.resource_spans.push(rs_part);
                }
            }
        }
    }
    out
}

/// Earliest span start in a set of requests (0 if none).
pub fn min_start(reqs: &[ExportTraceServiceRequest]) -> u64 {
    reqs.iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| s.start_time_unix_nano)
        .filter(|t| *t > 0)
        .min()
        .unwrap_or(0)
}

/// Rewrites ids and times for one replay pass.
#[derive(Debug, Clone, Copy)]
pub struct Rewriter {
    pub key: u128,
    pub shift_ns: i128,
}

impl Rewriter {
    /// Pass `pass` of a replay whose corpus starts at `corpus_start` and should start at `target_start`.
    pub fn new(pass: u64, corpus_start: u64, target_start: u64) -> Self {
        // splitmix-style mixing so consecutive passes get unrelated keys.
        let mut z = pass.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let key = (u128::from(z) << 64) | u128::from(z.rotate_left(17) ^ 0x5555_5555_5555_5555);
        Self { key, shift_ns: i128::from(target_start) - i128::from(corpus_start) }
    }

    fn id(&self, id: &mut [u8]) {
        let key = self.key.to_be_bytes();
        for (b, k) in id.iter_mut().zip(key.iter()) {
            *b ^= k;
        }
    }

    fn time(&self, t: &mut u64) {
        if *t > 0 {
            *t = (i128::from(*t) + self.shift_ns).clamp(1, i128::from(u64::MAX)) as u64;
        }
    }

    pub fn apply(&self, req: &mut ExportTraceServiceRequest) {
        for span in req.resource_spans.iter_mut().flat_map(|rs| &mut rs.scope_spans).flat_map(|ss| &mut ss.spans) {
            self.id(&mut span.trace_id);
            self.id(&mut span.span_id);
            self.id(&mut span.parent_span_id);
            self.time(&mut span.start_time_unix_nano);
            self.time(&mut span.end_time_unix_nano);
            for event in &mut span.events {
                self.time(&mut event.time_unix_nano);
            }
            for link in &mut span.links {
                self.id(&mut link.trace_id);
                self.id(&mut link.span_id);
            }
        }
    }
}
