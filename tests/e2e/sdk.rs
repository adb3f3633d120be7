//! Spans built as the OpenTelemetry SDK's `SpanData` and sent with the official
//! OTLP exporters (`opentelemetry-otlp`): gRPC, HTTP protobuf and HTTP JSON.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};
use opentelemetry_sdk::Resource;

use crate::harness::Osprey;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Grpc,
    HttpProto,
    HttpJson,
}

/// An OTLP span exporter pointed at `osprey`, with `service` as its resource.
pub fn exporter(osprey: &Osprey, transport: Transport, service: &str) -> SpanExporter {
    let mut exporter = match transport {
        Transport::Grpc => SpanExporter::builder()
            .with_tonic()
            .with_endpoint(osprey.otlp_grpc())
            .with_timeout(Duration::from_secs(10))
            .build(),
        Transport::HttpProto | Transport::HttpJson => SpanExporter::builder()
            .with_http()
            .with_protocol(if transport == Transport::HttpJson { Protocol::HttpJson } else { Protocol::HttpBinary })
            .with_endpoint(osprey.otlp_http("/v1/traces"))
            .with_timeout(Duration::from_secs(10))
            .build(),
    }
    .expect("build exporter");
    exporter.set_resource(
        &Resource::builder_empty()
            .with_service_name(service.to_string())
            .with_attribute(KeyValue::new("host.name", "e2e-host"))
            .build(),
    );
    exporter
}

/// Sends one batch; `Ok` means Osprey acknowledged it.
pub async fn send(exporter: &SpanExporter, spans: Vec<SpanData>) -> Result<(), String> {
    exporter.export(spans).await.map_err(|e| e.to_string())
}

/// The instant the tests' spans are placed after, in unix seconds: the top of the previous
/// hour, fixed for the whole run. Recent, so every API's default and maximum look-back
/// covers it; on an hour boundary, so partitions are predictable.
pub fn epoch_s() -> u64 {
    static EPOCH: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(|| {
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        (now / 3600).saturating_sub(1) * 3600
    })
}

/// `epoch_s()` as text, `YYYY-MM-DD{sep}HH:00:00`, for comparing rendered timestamps.
pub fn epoch_text(sep: char) -> String {
    let at = chrono::DateTime::from_timestamp(epoch_s() as i64, 0).unwrap_or_default();
    at.format(&format!("%Y-%m-%d{sep}%H:%M:%S")).to_string()
}

pub fn epoch(offset_ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(epoch_s()) + Duration::from_millis(offset_ms)
}

/// A span with explicit ids and times (milliseconds after `epoch(0)`).
pub struct SpanSpec<'a> {
    pub trace: u128,
    pub span: u64,
    pub parent: u64,
    pub name: &'a str,
    pub kind: SpanKind,
    pub start_ms: u64,
    pub end_ms: u64,
    pub error: bool,
    pub attributes: Vec<KeyValue>,
}

impl SpanSpec<'_> {
    pub fn build(&self) -> SpanData {
        let ctx = SpanContext::new(
            TraceId::from(self.trace),
            SpanId::from(self.span),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        SpanData {
            span_context: ctx,
            parent_span_id: SpanId::from(self.parent),
            parent_span_is_remote: false,
            span_kind: self.kind.clone(),
            name: Cow::Owned(self.name.to_string()),
            start_time: epoch(self.start_ms),
            end_time: epoch(self.end_ms),
            attributes: self.attributes.clone(),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: if self.error { Status::error("failed") } else { Status::Unset },
            instrumentation_scope: InstrumentationScope::builder("osprey-e2e").with_version("1.0").build(),
        }
    }
}

pub fn hex_trace(trace: u128) -> String {
    format!("{trace:032x}")
}

pub fn hex_span(span: u64) -> String {
    format!("{span:016x}")
}
