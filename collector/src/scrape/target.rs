//! One target's scrape loop: wait for its offset, then every interval fetch, parse, store.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message as _;
use tokio::sync::watch;

use super::exposition::{self, Exposition};
use super::request::{self, ScrapeReport, TargetLabels};
use super::{ScrapeConfig, ScrapeMetrics, StaticConfig};
use crate::ingest::{Incoming, Ingest, Transport};
use crate::metric_points::Metrics;

pub(crate) struct Target {
    url: reqwest::Url,
    interval: Duration,
    timeout: Duration,
    labels: TargetLabels,
}

impl Target {
    pub(crate) fn new(job: &ScrapeConfig, static_config: &StaticConfig, address: &str) -> Result<Target, String> {
        let mut url = reqwest::Url::parse(&format!("{}://{address}{}", job.scheme, job.metrics_path))
            .map_err(|e| format!("scrape_configs[{}]: target {address:?}: {e}", job.job_name))?;
        if !job.params.is_empty() {
            let mut query = url.query_pairs_mut();
            for (k, values) in &job.params {
                for v in values {
                    query.append_pair(k, v);
                }
            }
        }
        let static_labels: Vec<(String, String)> =
            static_config.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        Ok(Target {
            url,
            interval: job.scrape_interval,
            timeout: job.scrape_timeout,
            labels: TargetLabels::new(&job.job_name, address, &static_labels, job.honor_labels),
        })
    }

    /// Where in the interval this target is scraped: a hash of job and target.
    fn offset(&self) -> Duration {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (&self.labels.job, &self.labels.instance).hash(&mut h);
        let nanos = self.interval.as_nanos().max(1);
        Duration::from_nanos((u128::from(h.finish()) % nanos) as u64)
    }
}

/// Why a scrape failed: the `reason` label.
#[derive(Debug)]
enum Failure {
    Connect(String),
    Timeout,
    Status(u16),
    TooLarge(usize),
    Parse(String),
}

impl Failure {
    fn reason(&self) -> &'static str {
        match self {
            Failure::Connect(_) => "connect",
            Failure::Timeout => "timeout",
            Failure::Status(_) => "http_status",
            Failure::TooLarge(_) => "too_large",
            Failure::Parse(_) => "parse",
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Connect(e) => write!(f, "request failed: {e}"),
            Failure::Timeout => write!(f, "timed out"),
            Failure::Status(s) => write!(f, "HTTP status {s}"),
            Failure::TooLarge(limit) => write!(f, "body over {limit} bytes"),
            Failure::Parse(e) => write!(f, "invalid exposition: {e}"),
        }
    }
}

pub(crate) async fn run(
    target: Target,
    client: reqwest::Client,
    ingest: Arc<Ingest<Metrics>>,
    metrics: ScrapeMetrics,
    mut stop: watch::Receiver<bool>,
) {
    let start = tokio::time::Instant::now() + target.offset();
    let mut ticks = tokio::time::interval_at(start, target.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return,
        }
        tokio::select! {
            _ = scrape_and_store(&target, &client, &ingest, &metrics) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn scrape_and_store(
    target: &Target,
    client: &reqwest::Client,
    ingest: &Arc<Ingest<Metrics>>,
    metrics: &ScrapeMetrics,
) {
    let job = &target.labels.job;
    let start_ns = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let started = Instant::now();
    let limit = ingest.config.max_request_bytes;
    let fetched =
        tokio::time::timeout(target.timeout, fetch(client, target, limit)).await.unwrap_or(Err(Failure::Timeout));
    let body_len = fetched.as_ref().map_or(0, String::len);
    // Parsing and building the request is CPU work proportional to the body: off the runtime.
    let labels = target.labels.clone();
    let built = tokio::task::spawn_blocking(move || {
        let exposition: Result<Exposition, Failure> =
            fetched.and_then(|text| exposition::parse(&text).map_err(|e| Failure::Parse(e.to_string())));
        let report = |up: bool, samples_scraped: usize| ScrapeReport {
            start_ns,
            duration_secs: started.elapsed().as_secs_f64(),
            up,
            samples_scraped,
        };
        // Handed over encoded, as an OTLP/protobuf request is: it is read in place like one, and
        // its WAL frame holds these bytes instead of the Arrow batch.
        let (request, failure) = match exposition {
            Ok(e) => (request::build(&labels, Some(&e), report(true, e.sample_lines)), None),
            Err(failure) => (request::build(&labels, None, report(false, 0)), Some(failure)),
        };
        (bytes::Bytes::from(request.encode_to_vec()), failure)
    })
    .await;
    let (request, failure) = match built {
        Ok(built) => built,
        Err(e) => {
            tracing::error!(job = %job, target = %target.labels.instance, error = %e, "scrape conversion task failed");
            metrics.error(job, "internal");
            return;
        }
    };
    if let Some(failure) = &failure {
        metrics.error(job, failure.reason());
        tracing::warn!(job = %job, target = %target.labels.instance, reason = failure.reason(), error = %failure, "scrape failed");
    }
    let stored = match ingest.admit(body_len.max(4096)) {
        Ok(_permit) => ingest.export(Incoming::Protobuf(request), Transport::Scrape).await.map(|_| ()),
        Err(e) => {
            ingest.failed_before_decoding(Transport::Scrape, &e);
            Err(e)
        }
    };
    if let Err(e) = stored {
        metrics.error(job, "store");
        tracing::warn!(job = %job, target = %target.labels.instance, error = %e, "scraped samples not stored");
    }
}

/// GETs the target's exposition, at most `limit` bytes of it.
async fn fetch(client: &reqwest::Client, target: &Target, limit: usize) -> Result<String, Failure> {
    let mut response = client
        .get(target.url.clone())
        .header("accept", "text/plain;version=0.0.4;q=1,*/*;q=0.1")
        .header("x-prometheus-scrape-timeout-seconds", target.timeout.as_secs_f64().to_string())
        .send()
        .await
        .map_err(|e| Failure::Connect(e.to_string()))?;
    if !response.status().is_success() {
        return Err(Failure::Status(response.status().as_u16()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| Failure::Connect(e.to_string()))? {
        if body.len() + chunk.len() > limit {
            return Err(Failure::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| Failure::Parse("the body is not UTF-8".into()))
}
