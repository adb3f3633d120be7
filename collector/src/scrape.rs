//! The Prometheus scraper: pulls `/metrics` of the targets in `scrape_configs` and stores what
//! it reads in the `metrics` table through the metrics receive path ([`Ingest<Metrics>`]: same
//! sink, validation and `osprey_*_items_total` counters, with `transport="scrape"`).
//!
//! Each target has its own task (a slow or hung target delays nobody, and OTLP ingest never
//! waits for a scrape). Targets of a job are spread over the interval by a per-target offset
//! (a hash of job and target), like Prometheus. A scrape that fails (connect error, timeout,
//! HTTP status, unparsable exposition, body over the size limit) stores `up` = 0 and counts
//! `osprey_scrape_errors_total{job, reason}`.

pub mod config;
pub mod exposition;
pub mod request;
mod target;

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use config::{ScrapeConfig, StaticConfig};

use crate::ingest::Ingest;
use crate::metric_points::Metrics;

/// `osprey_scrape_errors_total{job, reason}`.
#[derive(Clone, Default)]
pub struct ScrapeMetrics {
    errors: Family<[(&'static str, String); 2], Counter>,
}

impl ScrapeMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "osprey_scrape_errors",
            "Failed Prometheus scrapes by job and reason (connect, timeout, http_status, too_large, parse, store)",
            self.errors.clone(),
        );
    }

    pub(crate) fn error(&self, job: &str, reason: &'static str) {
        self.errors.get_or_create(&[("job", job.to_string()), ("reason", reason.to_string())]).inc();
    }

    /// Current count, for tests and logs.
    pub fn errors(&self, job: &str, reason: &str) -> u64 {
        self.errors.get_or_create(&[("job", job.to_string()), ("reason", reason.to_string())]).get()
    }
}

/// The running scrape loops. [`Scraper::stop`] ends them (an in-flight scrape is abandoned).
pub struct Scraper {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    metrics: ScrapeMetrics,
}

impl Scraper {
    /// Starts one task per target of `configs` (checked with [`config::validate`]).
    pub fn start(configs: &[ScrapeConfig], ingest: Arc<Ingest<Metrics>>) -> Result<Scraper, String> {
        config::validate(configs)?;
        let metrics = ScrapeMetrics::default();
        let (stop, stopped) = watch::channel(false);
        let client = reqwest::Client::builder()
            .user_agent(concat!("osprey/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("scrape HTTP client: {e}"))?;
        let mut tasks = JoinSet::new();
        for job in configs {
            for static_config in &job.static_configs {
                for address in &static_config.targets {
                    let target = target::Target::new(job, static_config, address)?;
                    tracing::info!(job = %job.job_name, target = %address, interval = ?job.scrape_interval, "scrape target");
                    let run = target::run(target, client.clone(), ingest.clone(), metrics.clone(), stopped.clone());
                    tasks.spawn(run);
                }
            }
        }
        Ok(Scraper { stop, tasks, metrics })
    }

    pub fn metrics(&self) -> &ScrapeMetrics {
        &self.metrics
    }

    pub fn register_metrics(&self, registry: &mut Registry) {
        self.metrics.register(registry);
    }

    /// Stops every scrape loop and waits for them to end.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        tracing::info!("scraper stopped");
    }
}

#[cfg(test)]
mod tests;
