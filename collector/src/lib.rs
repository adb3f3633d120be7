//! Osprey's OTLP receivers: gRPC on `:4317` and HTTP on `:4318`.
//!
//! Per request: admit (reserve memory from the [`Sink`]) → read and decompress with bounds →
//! decode → validate, limit, convert to a RecordBatch of the signal's table → `sink.append`
//! (durable) → respond. Every signal goes the same way: the HTTP and gRPC paths share
//! [`ingest::Ingest`] after decoding, and a signal supplies only what differs ([`Signal`]).
//!
//! Wiring (see [`Collector`]):
//! ```ignore
//! let collector = Collector::new(config.collector, storage.clone())?;   // Arc<Storage> is a Sink
//! collector.register_metrics(&mut registry);
//! let grpc = tokio::net::TcpListener::bind(collector.config().grpc_listen).await?;
//! let http = tokio::net::TcpListener::bind(collector.config().http_listen).await?;
//! tokio::try_join!(collector.serve_grpc(grpc, shutdown.clone()), collector.serve_http(http, shutdown))?;
//! ```

pub mod config;
pub mod conversion;
pub mod convert;
pub mod error;
pub mod grpc;
pub mod http;
pub mod ingest;
pub mod limits;
pub mod logs;
pub mod metric_points;
pub mod metrics;
pub mod parts;
pub mod payload;
mod receiving;
pub mod replay;
pub mod scrape;
pub mod signal;
pub mod sink;
pub mod wire;

#[cfg(test)]
mod fixtures;

use std::future::Future;
use std::sync::Arc;

use axum::serve::ListenerExt;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

pub use config::{CollectorConfig, ConfigError, LimitsConfig};
pub use error::CollectorError;
pub use signal::Signal;
pub use sink::{MemorySink, Sink};

use crate::ingest::Ingest;
use crate::logs::Logs;
use crate::metric_points::Metrics;
use crate::signal::Traces;

/// The OTLP receivers of every signal: cheap to clone, shared by both servers.
#[derive(Clone)]
pub struct Collector {
    config: Arc<CollectorConfig>,
    metrics: metrics::CollectorMetrics,
    traces: Arc<Ingest<Traces>>,
    metrics_ingest: Arc<Ingest<Metrics>>,
    logs: Arc<Ingest<Logs>>,
}

/// A server that could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("OTLP/gRPC server: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error("OTLP/HTTP server: {0}")]
    Http(#[from] std::io::Error),
}

impl Collector {
    /// Checks `config` and builds the receiver writing into `sink` (an `Arc<osprey_storage::Storage>`).
    pub fn new(config: CollectorConfig, sink: Arc<dyn Sink>) -> Result<Self, ConfigError> {
        config.validate()?;
        let metrics = metrics::CollectorMetrics::default();
        fn ingest<S: Signal>(
            c: &CollectorConfig,
            sink: &Arc<dyn Sink>,
            m: &metrics::CollectorMetrics,
            converting: &ingest::Converting,
            s: S,
        ) -> Arc<Ingest<S>> {
            Arc::new(Ingest::new(c.clone(), sink.clone(), m.clone(), s, converting.clone()))
        }
        let converting = ingest::Converting::new();
        let traces = ingest(&config, &sink, &metrics, &converting, Traces::new(&config.limits));
        let logs = ingest(&config, &sink, &metrics, &converting, Logs);
        let metrics_ingest = ingest(&config, &sink, &metrics, &converting, Metrics);
        Ok(Self { config: Arc::new(config), metrics, traces, logs, metrics_ingest })
    }

    pub fn config(&self) -> &CollectorConfig {
        &self.config
    }

    /// The counters, for tests and logs.
    pub fn metrics(&self) -> &metrics::CollectorMetrics {
        &self.metrics
    }

    /// Registers `osprey_received_items_total`, `osprey_accepted_items_total`,
    /// `osprey_rejected_items_total`, `osprey_requests_total`, `osprey_limited_values_total`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        self.metrics.register(registry);
    }

    /// The metrics receive path, shared with the Prometheus scraper (same sink and counters).
    pub fn metrics_ingest(&self) -> Arc<Ingest<Metrics>> {
        self.metrics_ingest.clone()
    }

    /// The gRPC routes: TraceService, LogsService, MetricsService.
    pub fn grpc_routes(&self) -> tonic::service::Routes {
        tonic::service::Routes::new(grpc::service(self.traces.clone()))
            .add_service(grpc::service(self.logs.clone()))
            .add_service(grpc::service(self.metrics_ingest.clone()))
    }

    /// The OTLP/HTTP router: `POST /v1/traces`, `/v1/logs`, `/v1/metrics`.
    pub fn http_router(&self) -> axum::Router {
        http::route("/v1/traces", self.traces.clone())
            .merge(http::route("/v1/logs", self.logs.clone()))
            .merge(http::route("/v1/metrics", self.metrics_ingest.clone()))
    }

    /// Serves OTLP/gRPC on `listener` until `shutdown` resolves, then drains in-flight requests.
    pub async fn serve_grpc(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let addr = listener.local_addr().ok();
        tracing::info!(?addr, "OTLP/gRPC receiver listening");
        tonic::transport::Server::builder()
            .add_routes(self.grpc_routes())
            // No Nagle (the builder's `tcp_nodelay` does not apply to an incoming stream we pass in):
            // with it, a response's trailers waited ~40 ms for the client's delayed ACK on ~10 % of
            // requests (BENCHMARKS.md, issue 3's ack p99).
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                shutdown,
            )
            .await?;
        Ok(())
    }

    /// Serves OTLP/HTTP on `listener` until `shutdown` resolves, then drains in-flight requests.
    pub async fn serve_http(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let addr = listener.local_addr().ok();
        tracing::info!(?addr, "OTLP/HTTP receiver listening");
        // No Nagle: a response's last small write must not wait for the client's delayed ACK.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, self.http_router()).with_graceful_shutdown(shutdown).await?;
        Ok(())
    }
}
