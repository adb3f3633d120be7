//! [`Signal`]: what one OTLP signal (traces, logs, metrics) plugs into the receive path the
//! three share — admission, bounded reading and decompression, decoding, conversion on the
//! blocking pool, the durable append, counting, and the response in the request's encoding
//! (see [`crate::ingest::Ingest`], [`crate::http`], [`crate::grpc`]).
//!
//! A signal supplies only what differs: its messages, its OTLP/JSON decoding, how many items a
//! request holds, how it becomes an Arrow batch of its table, and its `partial_success`.

use std::collections::HashMap;

use osprey_proto::json::JsonError;
use osprey_proto::trace::ResourceSpans;
use osprey_proto::{ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse};
use osprey_storage::{StorageError, Table};
use prost::Message as _;

use crate::config::LimitsConfig;
use crate::conversion::Conversion;
use crate::limits::{TraceTable, TraceTally};
use crate::parts::Part;

pub trait Signal: Send + Sync + 'static {
    type Request: prost::Message + Default + Send + 'static;
    type Response: prost::Message + Default + Send + 'static;
    /// The element of the request's one top-level field (`ResourceSpans`, …): a large request
    /// is converted as parts of whole resources (see [`crate::parts`]).
    type Resource: Send + 'static;
    /// State a conversion hands back, committed once the batch is durable.
    type Pending: Send + Default + 'static;

    /// The `signal` label of the collector's counters: `traces`, `logs`, `metrics`.
    const NAME: &'static str;
    /// The gRPC service and its `Export` method's path.
    const GRPC_SERVICE: &'static str;
    const GRPC_EXPORT_PATH: &'static str;
    /// What the items are called in messages: `spans`, `log records`, `data points`.
    const ITEMS: &'static str;
    /// Where accepted items are stored.
    const TABLE: Table;
    /// The WAL source codec ([`crate::replay`]) a protobuf request's frame is written with, if
    /// replay can convert the request again to exactly its rows; `None`: frames hold the batch.
    const SOURCE_CODEC: Option<u8> = None;

    /// Items in a decoded request (counted as received if conversion fails as a whole).
    fn count(request: &Self::Request) -> u64;

    /// The request's resources, in order, and back.
    fn into_resources(request: Self::Request) -> Vec<Self::Resource>;
    fn from_resources(resources: Vec<Self::Resource>) -> Self::Request;
    /// Items under one resource.
    fn resource_items(resource: &Self::Resource) -> u64;

    /// Whether each resource of a request converts the same whatever the other resources are.
    /// Then a large protobuf request is decoded and converted a piece at a time, each piece's
    /// decoded messages freed before the next is decoded ([`crate::parts`]). Traces keep state
    /// across a request's spans (the spans-per-trace limit): all their pieces are decoded
    /// before [`Self::independent`] decides how to convert them.
    const RESOURCES_INDEPENDENT: bool = true;

    /// Whether `parts` (of one request, in order) convert to exactly what the whole request
    /// converts to when each is converted on its own. True unless the signal keeps state across
    /// items that a part cannot see (traces: a trace near `max_spans_per_trace`).
    fn independent(&self, _parts: &[Part<Self::Request>]) -> bool {
        true
    }

    /// Decodes an OTLP/JSON body with the receiver rules of `shared/api.md`.
    fn decode_json(body: &[u8]) -> Result<Self::Request, JsonError>;

    /// The response: `partial` is `(rejected items, error message)` when some were rejected.
    fn response(partial: Option<(i64, String)>) -> Self::Response;

    /// Encodes a response as OTLP/JSON.
    fn encode_json(response: &Self::Response) -> Vec<u8>;

    /// Validates, applies the limits and converts (CPU-bound: called on the blocking pool, or on
    /// the receiving task for a request of at most [`crate::parts::INLINE_BYTES`]).
    /// `first_resource` is the index of the request's first resource in the whole request it is
    /// a part of (for the positions in `partial_success` messages).
    /// Fails only if the batch cannot be built (a bug, not bad input).
    fn convert(
        &self,
        request: &Self::Request,
        limits: &LimitsConfig,
        first_resource: usize,
    ) -> Result<Conversion<Self::Pending>, StorageError>;

    /// Converts a protobuf request, or a run of whole resources of one ([`crate::parts`]), from
    /// its bytes. By default it is decoded into messages, which are converted
    /// ([`Self::convert`]); a signal may read the bytes in place instead (metrics:
    /// [`crate::wire`]).
    fn convert_protobuf(
        &self,
        bytes: &[u8],
        limits: &LimitsConfig,
        first_resource: usize,
    ) -> Result<Conversion<Self::Pending>, ProtobufFailure> {
        let request = Self::Request::decode(bytes).map_err(|e| ProtobufFailure::Undecodable(e.to_string()))?;
        self.convert(&request, limits, first_resource)
            .map_err(|error| ProtobufFailure::Conversion { received: Self::count(&request), error })
    }

    /// Called once the converted batch is durable.
    fn commit(&self, pending: Self::Pending);
}

/// Why a protobuf request was not converted ([`Signal::convert_protobuf`]).
#[derive(Debug)]
pub enum ProtobufFailure {
    /// Not a valid protobuf encoding of the request: nothing was received.
    Undecodable(String),
    /// Decoded, `received` items, but the batch could not be built (a bug, not bad input).
    Conversion { received: u64, error: StorageError },
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
    type Resource = ResourceSpans;
    type Pending = TraceTally;

    const NAME: &'static str = "traces";
    const GRPC_SERVICE: &'static str = osprey_proto::service_names::TRACES;
    const GRPC_EXPORT_PATH: &'static str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    const ITEMS: &'static str = "spans";
    const TABLE: Table = Table::Spans;
    const RESOURCES_INDEPENDENT: bool = false;

    fn count(request: &Self::Request) -> u64 {
        request.resource_spans.iter().map(Self::resource_items).sum()
    }

    fn into_resources(request: Self::Request) -> Vec<ResourceSpans> {
        request.resource_spans
    }

    fn from_resources(resource_spans: Vec<ResourceSpans>) -> Self::Request {
        ExportTraceServiceRequest { resource_spans }
    }

    fn resource_items(resource: &ResourceSpans) -> u64 {
        resource.scope_spans.iter().map(|s| s.spans.len() as u64).sum()
    }

    /// Independent unless a trace of the request could reach `max_spans_per_trace` in it: then
    /// which of its spans are refused depends on their order across parts.
    fn independent(&self, parts: &[Part<Self::Request>]) -> bool {
        let spans =
            parts.iter().flat_map(|p| &p.request.resource_spans).flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans);
        let mut per_trace: HashMap<[u8; 16], u32> = HashMap::new();
        for span in spans {
            if let Ok(trace) = <[u8; 16]>::try_from(span.trace_id.as_slice()) {
                *per_trace.entry(trace).or_default() += 1;
            }
        }
        self.traces.all_fit(&per_trace)
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

    fn convert(
        &self,
        request: &Self::Request,
        limits: &LimitsConfig,
        first_resource: usize,
    ) -> Result<Conversion<TraceTally>, StorageError> {
        crate::convert::convert_part(request, limits, &self.traces, first_resource)
    }

    fn commit(&self, pending: TraceTally) {
        self.traces.commit(pending);
    }
}
