//! `scrape_configs`: Prometheus's own shape (a subset: static targets only), so a user can
//! paste theirs. See <https://prometheus.io/docs/prometheus/latest/configuration/configuration/#scrape_config>.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// One `scrape_configs` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    /// The `job` label of every sample scraped.
    pub job_name: String,
    /// How often each target is scraped (Prometheus default 1m).
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub scrape_interval: Duration,
    /// How long a scrape may take, at most `scrape_interval` (Prometheus default 10s).
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub scrape_timeout: Duration,
    #[serde(default = "default_path")]
    pub metrics_path: String,
    /// `http` only (Osprey's scraper is built without TLS).
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// URL query parameters (`params: {module: [if_mib]}`).
    #[serde(default)]
    pub params: BTreeMap<String, Vec<String>>,
    /// When false (default) exposed labels that clash with target labels are kept as
    /// `exported_<name>`; when true the exposed ones win.
    #[serde(default)]
    pub honor_labels: bool,
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
}

/// `static_configs` entry: `host:port` targets and labels added to all their samples.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn default_interval() -> Duration {
    Duration::from_secs(60)
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_path() -> String {
    "/metrics".into()
}

fn default_scheme() -> String {
    "http".into()
}

/// Checks a list of scrape configs; the message names the job and what is wrong.
pub fn validate(configs: &[ScrapeConfig]) -> Result<(), String> {
    let mut jobs = std::collections::HashSet::new();
    for c in configs {
        let job = &c.job_name;
        if job.is_empty() {
            return Err("scrape_configs: job_name must not be empty".into());
        }
        if !jobs.insert(job) {
            return Err(format!("scrape_configs: job_name {job:?} appears twice"));
        }
        if c.scrape_interval.is_zero() {
            return Err(format!("scrape_configs[{job}]: scrape_interval must be positive"));
        }
        if c.scrape_timeout.is_zero() || c.scrape_timeout > c.scrape_interval {
            return Err(format!("scrape_configs[{job}]: scrape_timeout must be positive and at most scrape_interval"));
        }
        if c.scheme != "http" {
            return Err(format!("scrape_configs[{job}]: scheme {:?} is not supported (only http)", c.scheme));
        }
        if !c.metrics_path.starts_with('/') {
            return Err(format!("scrape_configs[{job}]: metrics_path must start with '/'"));
        }
        for target in c.static_configs.iter().flat_map(|s| &s.targets) {
            let url = format!("http://{target}{}", c.metrics_path);
            let ok = reqwest::Url::parse(&url).is_ok_and(|u| u.host_str().is_some() && u.path() == c.metrics_path);
            if !ok || target.contains('/') {
                return Err(format!("scrape_configs[{job}]: target {target:?} is not host:port"));
            }
        }
    }
    Ok(())
}
