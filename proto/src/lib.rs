//! OTLP message types for Osprey and the wire rules around them.
//!
//! - The generated OTLP messages and the gRPC service are re-exported from
//!   `opentelemetry-proto` (no protoc at build time).
//! - [`json`]: OTLP/JSON decoding of `ExportTraceServiceRequest` (and, in [`json::metrics`],
//!   `ExportMetricsServiceRequest`) with the receiver rules of
//!   `shared/api.md` (hex or base64 ids, enum integers or names, 64-bit ints as strings or
//!   numbers, unknown fields ignored), and OTLP/JSON encoding of the response.
//! - [`json`] also decodes `ExportLogsServiceRequest` (severity names, ids, every body type).
//! - [`status`]: `google.rpc.Status`, the body of OTLP/HTTP error responses.

pub mod json;
pub mod status;

pub use opentelemetry_proto::tonic::collector::logs::v1::{
    logs_service_client, logs_service_server, ExportLogsPartialSuccess, ExportLogsServiceRequest,
    ExportLogsServiceResponse,
};
pub use opentelemetry_proto::tonic::collector::metrics::v1::{
    metrics_service_client, metrics_service_server, ExportMetricsPartialSuccess, ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
};
pub use opentelemetry_proto::tonic::collector::trace::v1::{
    trace_service_client, trace_service_server, ExportTracePartialSuccess, ExportTraceServiceRequest,
    ExportTraceServiceResponse,
};
pub use opentelemetry_proto::tonic::common::v1 as common;
pub use opentelemetry_proto::tonic::logs::v1 as logs;
pub use opentelemetry_proto::tonic::metrics::v1 as metrics;
pub use opentelemetry_proto::tonic::resource::v1 as resource;
pub use opentelemetry_proto::tonic::trace::v1 as trace;
pub use status::RpcStatus;

/// The gRPC service names of the signals Osprey does not receive yet (for messages and tests).
pub mod service_names {
    pub const TRACES: &str = "opentelemetry.proto.collector.trace.v1.TraceService";
    pub const METRICS: &str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    pub const LOGS: &str = "opentelemetry.proto.collector.logs.v1.LogsService";
}
