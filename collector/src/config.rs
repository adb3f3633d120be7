//! Collector settings (the `collector:` section of `osprey.yaml`).

use std::net::SocketAddr;

use serde::Deserialize;

/// Largest `max_value_depth` accepted (`shared/api.md`: AnyValue nesting ≤ 100).
pub const MAX_VALUE_DEPTH_CEILING: usize = 100;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorConfig {
    /// Address of the OTLP/gRPC receiver.
    pub grpc_listen: SocketAddr,
    /// Address of the OTLP/HTTP receiver.
    pub http_listen: SocketAddr,
    /// Largest request accepted, in bytes, measured after decompression (OTLP recommends 64 MiB).
    /// Larger requests are refused with HTTP 413 / gRPC `RESOURCE_EXHAUSTED` (not retryable).
    pub max_request_bytes: usize,
    /// Seconds a client is told to wait (`Retry-After`, gRPC `RetryInfo`) when Osprey is overloaded.
    pub retry_after_secs: u32,
    /// Bounds applied to every accepted span; what they cut is counted in `osprey_limited_values_total`.
    pub limits: LimitsConfig,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Longest string or bytes attribute value kept, in bytes; longer values are truncated
    /// (strings at a UTF-8 character boundary).
    pub max_attribute_value_bytes: usize,
    /// Most attributes kept per span, event, link, resource or scope; the rest are dropped and
    /// added to the item's `dropped_attributes_count`.
    pub max_attributes_per_item: usize,
    /// Deepest AnyValue nesting kept (a scalar attribute value has depth 1, each array or kvlist
    /// adds one); deeper subtrees are replaced by an empty value. At most 100.
    pub max_value_depth: usize,
    /// Most spans accepted per trace, counted over the recently seen traces; spans beyond it
    /// are rejected and reported in `partial_success`.
    pub max_spans_per_trace: u32,
    /// How many recent traces `max_spans_per_trace` remembers (memory is about 40 bytes each).
    pub max_tracked_traces: usize,
    /// Longest string or bytes log body kept, in bytes; longer bodies are truncated (strings at
    /// a UTF-8 character boundary) and counted, not rejected.
    pub max_log_body_bytes: usize,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        Self {
            grpc_listen: SocketAddr::from(([0, 0, 0, 0], 4317)),
            http_listen: SocketAddr::from(([0, 0, 0, 0], 4318)),
            max_request_bytes: 64 * 1024 * 1024,
            retry_after_secs: 5,
            limits: LimitsConfig::default(),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_attribute_value_bytes: 32 * 1024,
            max_attributes_per_item: 512,
            max_value_depth: 32,
            max_spans_per_trace: 100_000,
            max_tracked_traces: 100_000,
            max_log_body_bytes: 1024 * 1024,
        }
    }
}

/// A setting out of its allowed range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("collector config: {0}")]
pub struct ConfigError(pub String);

impl CollectorConfig {
    /// Checks the ranges serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let limits = &self.limits;
        if self.max_request_bytes == 0 {
            return Err(ConfigError("max_request_bytes must be positive".into()));
        }
        if limits.max_value_depth == 0 || limits.max_value_depth > MAX_VALUE_DEPTH_CEILING {
            return Err(ConfigError(format!(
                "limits.max_value_depth must be between 1 and {MAX_VALUE_DEPTH_CEILING}, got {}",
                limits.max_value_depth
            )));
        }
        if limits.max_spans_per_trace == 0 || limits.max_tracked_traces == 0 {
            return Err(ConfigError("limits.max_spans_per_trace and max_tracked_traces must be positive".into()));
        }
        if limits.max_log_body_bytes == 0 {
            return Err(ConfigError("limits.max_log_body_bytes must be positive".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
