//! [`Ingest`]: what the HTTP and gRPC receivers of one [`Signal`] share once a request is
//! decoded — convert (validate, limit), append durably, count, and build the response.

use std::sync::Arc;

use crate::config::CollectorConfig;
use crate::error::CollectorError;
use crate::metrics::CollectorMetrics;
use crate::signal::Signal;
use crate::sink::{Permit, Sink};

/// How many bytes of the memory budget a request of `n` wire bytes reserves: the body, the
/// decoded messages and the Arrow batch built from them.
pub const DECODED_SIZE_FACTOR: usize = 3;

/// `transport` label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Grpc,
    Http,
    /// The Prometheus scraper ([`crate::scrape`]).
    Scrape,
}

impl Transport {
    pub fn label(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::Http => "http",
            Transport::Scrape => "scrape",
        }
    }
}

/// The receive path of one signal, shared by its HTTP and gRPC servers.
pub struct Ingest<S: Signal> {
    pub(crate) config: CollectorConfig,
    pub(crate) metrics: CollectorMetrics,
    sink: Arc<dyn Sink>,
    signal: S,
}

impl<S: Signal> Ingest<S> {
    pub fn new(config: CollectorConfig, sink: Arc<dyn Sink>, metrics: CollectorMetrics, signal: S) -> Self {
        Self { config, metrics, sink, signal }
    }

    /// Reserves memory for a request of `wire_bytes` (times [`DECODED_SIZE_FACTOR`]).
    pub fn admit(&self, wire_bytes: usize) -> Result<Permit, CollectorError> {
        Ok(self.sink.admit(wire_bytes.saturating_mul(DECODED_SIZE_FACTOR))?)
    }

    /// Counts a request that failed before it was decoded (no items are known).
    pub fn failed_before_decoding(&self, transport: Transport, error: &CollectorError) {
        self.metrics.request(S::NAME, transport.label(), error.reason());
        tracing::warn!(signal = S::NAME, transport = transport.label(), reason = error.reason(), error = %error, "OTLP request refused");
    }

    /// Stores a decoded request and answers it. Nothing is acknowledged that was not appended.
    /// Conversion is CPU-bound (up to `max_request_bytes` of items), so it runs on the blocking pool.
    pub async fn export(
        self: &Arc<Self>,
        request: S::Request,
        transport: Transport,
    ) -> Result<S::Response, CollectorError> {
        let t = transport.label();
        let received = S::count(&request);
        let ingest = self.clone();
        let converted =
            tokio::task::spawn_blocking(move || ingest.signal.convert(&request, &ingest.config.limits)).await;
        let conversion = match converted {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(self.fail_decoded(t, received, e.into())),
            Err(e) => return Err(self.fail_decoded(t, received, CollectorError::Internal(e.to_string()))),
        };
        self.metrics.received(S::NAME, t, conversion.received);
        if let Some(batch) = conversion.batch.clone() {
            if let Err(e) = self.sink.append(S::TABLE, batch).await {
                let error = CollectorError::from(e);
                self.metrics.rejected(S::NAME, error.reason(), conversion.accepted);
                self.metrics.rejected(S::NAME, "invalid", conversion.rejected_invalid);
                self.metrics.rejected(S::NAME, "limit", conversion.rejected_limit);
                self.metrics.request(S::NAME, t, error.reason());
                tracing::warn!(signal = S::NAME, transport = t, items = conversion.received, reason = error.reason(), error = %error, "OTLP items not stored");
                return Err(error);
            }
        }
        let limits = &conversion.limits;
        self.metrics.accepted(S::NAME, conversion.accepted);
        self.metrics.rejected(S::NAME, "invalid", conversion.rejected_invalid);
        self.metrics.rejected(S::NAME, "limit", conversion.rejected_limit);
        self.metrics.limited(S::NAME, "attribute_value_bytes", limits.truncated_values);
        self.metrics.limited(S::NAME, "attributes_per_item", limits.dropped_attributes);
        self.metrics.limited(S::NAME, "value_depth", limits.cut_subtrees);
        self.metrics.limited(S::NAME, "spans_per_trace", limits.spans_over_trace_limit);
        self.metrics.limited(S::NAME, "log_body_bytes", limits.truncated_log_bodies);
        let partial = if conversion.rejected() > 0 {
            let error_message = conversion.error_message(S::ITEMS);
            tracing::info!(signal = S::NAME, transport = t, received = conversion.received, rejected = conversion.rejected(), message = %error_message, "OTLP request partially accepted");
            Some((i64::try_from(conversion.rejected()).unwrap_or(i64::MAX), error_message))
        } else {
            None
        };
        self.metrics.request(S::NAME, t, if partial.is_some() { "partial_success" } else { "success" });
        self.signal.commit(conversion.pending);
        tracing::debug!(signal = S::NAME, transport = t, accepted = conversion.accepted, "OTLP items stored");
        Ok(S::response(partial))
    }

    fn fail_decoded(&self, transport: &'static str, received: u64, error: CollectorError) -> CollectorError {
        self.metrics.received(S::NAME, transport, received);
        self.metrics.rejected(S::NAME, error.reason(), received);
        self.metrics.request(S::NAME, transport, error.reason());
        tracing::error!(signal = S::NAME, transport, items = received, error = %error, "OTLP conversion failed");
        error
    }
}
