//! [`Signal`]: what one OTLP signal (traces, logs, metrics) plugs into the receive path the
//! three share — admission, bounded reading and decompression, decoding, conversion on the
//! blocking pool, the durable append, counting, and the response in the request's encoding
//! (see [`crate::ingest::Ingest`], [`crate::http`], [`crate::grpc`]).
//!
//! A signal supplies only what differs: its messages, its OTLP/JSON decoding, how many items a
//! request holds, how it becomes an Arrow batch of its table, and its `partial_success`.

use osprey_proto::json::JsonError;
use osprey_proto::{ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse};
use osprey_storage::{StorageError, Table};

use crate::config::LimitsConfig;
use crate::conversion::Conversion;
use crate::limits::{TraceTable, TraceTally};

pub trait Signal: Send + Sync + 'static {
    type Request: prost::Message + Default + Send + 'static;
    type Response: prost::Message + Default + Send + 'static;
    /// State a conversion hands back, committed once the batch is durable.
    type Pending: Send + Default + 'static;

    /// The `signal` label of the collector's counters: `traces`, `logs`, `metrics`.
    const NAME: &'static str;
    /// What the items are called in messages: `spans`, `log records`, `data points`.
    const ITEMS: &'static str;
    /// Where accepted items are stored.
    const TABLE: Table;

    /// Items in a decoded request (counted as received if conversion fails as a whole).
    fn count(request: &Self::Request) -> u64;

    /// Decodes an OTLP/JSON body with the receiver rules of `shared/api.md`.
    fn decode_json(body: &[u8]) -> Result<Self::Request, JsonError>;

    /// The response: `partial` is `(rejected items, error message)` when some were rejected.
    fn response(partial: Option<(i64, String)>) -> Self::Response;

    /// Encodes a response as OTLP/JSON.
    fn encode_json(response: &Self::Response) -> Vec<u8>;

    /// Validates, applies the limits and converts (CPU-bound: called on the blocking pool).
    /// Fails only if the batch cannot be built (a bug, not bad input).
    fn convert(
        &self,
        request: &Self::Request,
        limits: &LimitsConfig,
    ) -> Result<Conversion<Self::Pending>, StorageError>;

    /// Called once the converted batch is durable.
    fn commit(&self, pending: Self::Pending);
}

/// Traces: `ExportTraceServiceRequest` → the `spans` table, with the spans-per-trace limit.
pub struct Traces {
    traces: TraceTable,
}

impl Traces {
    pub fn new(limits: &LimitsConfig) -> Self {
        Self { traces: TraceTable::new(limits.max_spans_per_trace, limits.max_tracked_traces) }
    }
}

impl Signal for Traces {
    type Request = ExportTraceServiceRequest;
    type Response = ExportTraceServiceResponse;
    type Pending = TraceTally;

    const NAME: &'static str = "traces";
    const ITEMS: &'static str = "spans";
    const TABLE: Table = Table::Spans;

    fn count(request: &Self::Request) -> u64 {
        request.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len() as u64).sum()
    }

    fn decode_json(body: &[u8]) -> Result<Self::Request, JsonError> {
        osprey_proto::json::decode_trace_request(body)
    }

    fn response(partial: Option<(i64, String)>) -> Self::Response {
        ExportTraceServiceResponse {
            partial_success: partial
                .map(|(rejected_spans, error_message)| ExportTracePartialSuccess { rejected_spans, error_message }),
        }
    }

    fn encode_json(response: &Self::Response) -> Vec<u8> {
        osprey_proto::json::encode_trace_response(response)
    }

    fn convert(&self, request: &Self::Request, limits: &LimitsConfig) -> Result<Conversion<TraceTally>, StorageError> {
        crate::convert::convert(request, limits, &self.traces)
    }

    fn commit(&self, pending: TraceTally) {
        self.traces.commit(pending);
    }
}
