//! Operational endpoints on the API port: `/healthz`, `/readyz`, `/metrics`
//! (Osprey's own counters in Prometheus text format) and `/` (an index of the API).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use osprey_storage::Storage;

#[derive(Clone)]
pub struct OpsState {
    pub storage: Arc<Storage>,
    pub registry: Arc<Registry>,
}

pub fn router(state: OpsState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn index() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "name": "osprey",
        "version": env!("CARGO_PKG_VERSION"),
        "endpoints": {
            "GET /api/v1/traces/{trace_id}": "trace waterfall (depth-first spans, offsets, self time, critical path)",
            "GET /api/v1/traces": "trace search: service, operation, tags, q (TraceQL), durations, status, time range",
            "GET /api/v1/logs": "log search: q (terms, \"phrases\", AND/OR/NOT, field:value), start, end, limit, offset",
            "POST /api/v1/sql": "read-only SQL over spans, logs, metrics, service_red, service_edges (JSON, CSV, Arrow)",
            "GET /api/v1/service-map": "services and calls between them, with RED per node and edge",
            "GET /api/v1/red": "rate, errors, duration series of a service or operation",
            "GET /api/search, /api/traces/{id}, /api/v2/...": "the Tempo HTTP API (Grafana's Tempo data source)",
            "GET /jaeger/api/dependencies": "service dependencies in Jaeger's shape",
            "GET /healthz": "liveness",
            "GET /readyz": "readiness: WAL replayed and writes accepted",
            "GET /metrics": "Osprey's own counters, Prometheus text format",
        },
        "ingest": {
            "otlp_grpc": "TraceService, LogsService, MetricsService Export on the collector's gRPC port (default 4317)",
            "otlp_http": "POST /v1/traces, /v1/logs, /v1/metrics on the collector's HTTP port (default 4318), protobuf or JSON, gzip or zstd",
        },
    }))
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<OpsState>) -> Response {
    if state.storage.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready: storage is starting or shutting down\n").into_response()
    }
}

async fn metrics(State(state): State<OpsState>) -> Response {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &state.registry) {
        Ok(()) => ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("encoding metrics: {e}\n")).into_response(),
    }
}

/// `process_resident_memory_bytes`, named as Prometheus' client libraries name it: the process's
/// resident memory (Linux: `VmRSS` of `/proc/self/status`; absent elsewhere), to hold against
/// what the memory budget accounts for (`osprey_memory_accounted_bytes`).
#[derive(Debug)]
pub struct ProcessMemory;

impl Collector for ProcessMemory {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let Some(bytes) = resident_bytes() else {
            return Ok(());
        };
        let gauge = encoder.encode_descriptor(
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(i64::try_from(bytes).unwrap_or(i64::MAX)).encode(gauge)
    }
}

fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib * 1024)
}
