//! [`TraceIngest`]: what the HTTP and gRPC receivers share once a request is decoded —
//! validate, limit and convert, append durably, count, and build the response.

use std::sync::Arc;

use osprey_proto::{ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse};
use osprey_storage::Table;

use crate::config::CollectorConfig;
use crate::convert::convert;
use crate::error::CollectorError;
use crate::limits::TraceTable;
use crate::metrics::{CollectorMetrics, TRACES};
use crate::sink::{Permit, Sink};

/// How many bytes of the memory budget a request of `n` wire bytes reserves: the body, the
/// decoded messages and the Arrow batch built from them.
pub const DECODED_SIZE_FACTOR: usize = 3;

/// `transport` label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Grpc,
    Http,
}

impl Transport {
    pub fn label(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::Http => "http",
        }
    }
}

pub struct TraceIngest {
    pub(crate) config: CollectorConfig,
    pub(crate) metrics: CollectorMetrics,
    sink: Arc<dyn Sink>,
    traces: TraceTable,
}

impl TraceIngest {
    pub fn new(config: CollectorConfig, sink: Arc<dyn Sink>, metrics: CollectorMetrics) -> Self {
        let traces = TraceTable::new(config.limits.max_spans_per_trace, config.limits.max_tracked_traces);
        Self { config, metrics, sink, traces }
    }

    /// Reserves memory for a request of `wire_bytes` (times [`DECODED_SIZE_FACTOR`]).
    pub fn admit(&self, wire_bytes: usize) -> Result<Permit, CollectorError> {
        Ok(self.sink.admit(wire_bytes.saturating_mul(DECODED_SIZE_FACTOR))?)
    }

    /// Counts a request that failed before it was decoded (no items are known).
    pub fn failed_before_decoding(&self, transport: Transport, error: &CollectorError) {
        self.metrics.request(TRACES, transport.label(), error.reason());
        tracing::warn!(transport = transport.label(), reason = error.reason(), error = %error, "OTLP traces request refused");
    }

    /// Stores a decoded request and answers it. Nothing is acknowledged that was not appended.
    /// Conversion is CPU-bound (up to `max_request_bytes` of spans), so it runs on the blocking pool.
    pub async fn export(
        self: &Arc<Self>,
        request: ExportTraceServiceRequest,
        transport: Transport,
    ) -> Result<ExportTraceServiceResponse, CollectorError> {
        let t = transport.label();
        let received = count_spans(&request);
        let ingest = self.clone();
        let converted =
            tokio::task::spawn_blocking(move || convert(&request, &ingest.config.limits, &ingest.traces)).await;
        let conversion = match converted {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(self.fail_decoded(t, received, e.into())),
            Err(e) => return Err(self.fail_decoded(t, received, CollectorError::Internal(e.to_string()))),
        };
        self.metrics.received(TRACES, t, conversion.received);
        if let Some(batch) = conversion.batch.clone() {
            if let Err(e) = self.sink.append(Table::Spans, batch).await {
                let error = CollectorError::from(e);
                self.metrics.rejected(TRACES, error.reason(), conversion.accepted);
                self.metrics.rejected(TRACES, "invalid", conversion.rejected_invalid);
                self.metrics.rejected(TRACES, "limit", conversion.rejected_limit);
                self.metrics.request(TRACES, t, error.reason());
                tracing::warn!(transport = t, spans = conversion.received, reason = error.reason(), error = %error, "OTLP traces not stored");
                return Err(error);
            }
        }
        let limits = &conversion.limits;
        self.metrics.accepted(TRACES, conversion.accepted);
        self.metrics.rejected(TRACES, "invalid", conversion.rejected_invalid);
        self.metrics.rejected(TRACES, "limit", conversion.rejected_limit);
        self.metrics.limited(TRACES, "attribute_value_bytes", limits.truncated_values);
        self.metrics.limited(TRACES, "attributes_per_item", limits.dropped_attributes);
        self.metrics.limited(TRACES, "value_depth", limits.cut_subtrees);
        self.metrics.limited(TRACES, "spans_per_trace", limits.spans_over_trace_limit);
        let partial_success = if conversion.rejected() > 0 {
            let error_message = conversion.error_message();
            tracing::info!(transport = t, received = conversion.received, rejected = conversion.rejected(), message = %error_message, "OTLP traces partially accepted");
            Some(ExportTracePartialSuccess {
                rejected_spans: i64::try_from(conversion.rejected()).unwrap_or(i64::MAX),
                error_message,
            })
        } else {
            None
        };
        self.metrics.request(TRACES, t, if partial_success.is_some() { "partial_success" } else { "success" });
        self.traces.commit(conversion.tally);
        tracing::debug!(transport = t, accepted = conversion.accepted, "OTLP traces stored");
        Ok(ExportTraceServiceResponse { partial_success })
    }

    fn fail_decoded(&self, transport: &'static str, received: u64, error: CollectorError) -> CollectorError {
        self.metrics.received(TRACES, transport, received);
        self.metrics.rejected(TRACES, error.reason(), received);
        self.metrics.request(TRACES, transport, error.reason());
        tracing::error!(transport, spans = received, error = %error, "OTLP traces conversion failed");
        error
    }
}

fn count_spans(request: &ExportTraceServiceRequest) -> u64 {
    request.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len() as u64).sum()
}
