//! The one config file (`osprey.yaml`), typed, with `OSPREY_…` environment
//! overrides. Every option is documented in `deploy/osprey.example.yaml`.
//!
//! Env overrides name a path with `__` between levels, upper-case:
//! `OSPREY_STORAGE__DATA_DIR=/var/lib/osprey`, `OSPREY_SERVER__LISTEN=0.0.0.0:3200`.
//! Values are parsed as YAML scalars (`true`, `42`, `2ms`, text).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

use osprey_collector::CollectorConfig;
use osprey_query::QueryConfig;
use osprey_storage::StorageConfig;

/// Prefix of environment overrides.
pub const ENV_PREFIX: &str = "OSPREY_";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub log: LogConfig,
    pub storage: StorageConfig,
    pub collector: CollectorConfig,
    pub query: QueryConfig,
    /// Prometheus targets to scrape, in Prometheus's own `scrape_configs` shape.
    pub scrape_configs: Vec<osprey_collector::scrape::ScrapeConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Query API, Tempo/Jaeger-compatible APIs, `/metrics`, `/healthz`, `/readyz`.
    pub listen: SocketAddr,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { listen: SocketAddr::from(([0, 0, 0, 0], 3200)) }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter (`info`, `osprey_storage=debug,info`). `RUST_LOG` wins if set.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: "info".into(), format: LogFormat::Text }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{path}: {message}")]
    InvalidNoLocation { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("{0}")]
    Rule(String),
}

impl Config {
    /// Loads the file (if any), applies env overrides from `vars`, and checks
    /// the rules that types alone can't express.
    pub fn load(path: Option<&Path>, vars: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigError> {
        let mut tree = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
                // Typed parse of the file alone, so errors name the file's line.
                parse_file(path, &text)?;
                serde_yaml_ng::from_str::<Value>(&text).map_err(|e| located(path, e))?
            }
            None => Value::Mapping(Mapping::new()),
        };
        if tree.is_null() {
            tree = Value::Mapping(Mapping::new());
        }
        let mut applied = false;
        for (var, raw) in vars {
            let Some(rest) = var.strip_prefix(ENV_PREFIX) else { continue };
            if rest.is_empty() || !rest.contains("__") {
                // Only SECTION__KEY names are config paths (OSPREY_CONFIG etc. are not).
                continue;
            }
            let keys: Vec<String> = rest.split("__").map(|k| k.to_ascii_lowercase()).collect();
            let value: Value = serde_yaml_ng::from_str(&raw).unwrap_or(Value::String(raw.clone()));
            set_path(&mut tree, &keys, value).map_err(|message| ConfigError::Env { var: var.clone(), message })?;
            // Checked after each variable, so an error names the variable that caused it.
            if let Err(e) = serde_yaml_ng::from_value::<Config>(tree.clone()) {
                return Err(ConfigError::Env { var, message: e.to_string() });
            }
            applied = true;
        }
        let config: Config = serde_yaml_ng::from_value(tree).map_err(|e| ConfigError::InvalidNoLocation {
            path: path.map(Path::to_path_buf).unwrap_or_default(),
            message: if applied { format!("after env overrides: {e}") } else { e.to_string() },
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Rules across fields.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut listeners = vec![
            ("server.listen", self.server.listen),
            ("collector.grpc_listen", self.collector.grpc_listen),
            ("collector.http_listen", self.collector.http_listen),
        ];
        if self.query.flight_sql.enabled {
            listeners.push(("query.flight_sql.listen", self.query.flight_sql.listen));
        }
        for (i, (a, addr_a)) in listeners.iter().enumerate() {
            for (b, addr_b) in &listeners[i + 1..] {
                if addr_a == addr_b && addr_a.port() != 0 {
                    return Err(ConfigError::Rule(format!("{a} and {b} are both {addr_a}")));
                }
            }
        }
        if self.storage.memory_budget_bytes < (16 << 20) {
            return Err(ConfigError::Rule("storage.memory_budget_bytes must be at least 16 MiB".into()));
        }
        if self.storage.flush.max_bytes >= self.storage.memory_budget_bytes {
            return Err(ConfigError::Rule(
                "storage.flush.max_bytes must be below storage.memory_budget_bytes (room for requests and a flush)"
                    .into(),
            ));
        }
        if self.storage.flush.row_group_rows == 0 {
            return Err(ConfigError::Rule("storage.flush.row_group_rows must be positive".into()));
        }
        if !(1..=22).contains(&self.storage.flush.logs_zstd_level) {
            return Err(ConfigError::Rule("storage.flush.logs_zstd_level must be in 1..=22".into()));
        }
        if !(1..=22).contains(&self.storage.flush.zstd_level) {
            return Err(ConfigError::Rule("storage.flush.zstd_level must be in 1..=22".into()));
        }
        osprey_collector::scrape::config::validate(&self.scrape_configs).map_err(ConfigError::Rule)?;
        let sql = &self.query.sql;
        let positive = [
            ("query.sql.max_rows", sql.max_rows),
            ("query.sql.memory_bytes", sql.memory_bytes),
            ("query.sql.max_text_bytes", sql.max_text_bytes),
            ("query.sql.max_concurrent", sql.max_concurrent),
            ("query.sql.max_depth", sql.max_depth),
            ("query.sql.parser_recursion_limit", sql.parser_recursion_limit),
            ("query.search.max_limit", self.query.search.max_limit),
            ("query.search.max_spss", self.query.search.max_spss),
            ("query.search.max_candidates", self.query.search.max_candidates),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::Rule(format!("{name} must be positive")));
        }
        let search = &self.query.search;
        if search.default_range.is_zero() || search.default_range > search.max_range {
            return Err(ConfigError::Rule(
                "query.search.default_range must be positive and at most query.search.max_range".into(),
            ));
        }
        if sql.timeout.is_zero() || self.query.timeout.is_zero() {
            return Err(ConfigError::Rule("query.timeout and query.sql.timeout must be positive".into()));
        }
        Ok(())
    }
}

/// Parses a config file's text as-is (no env), with errors that name the line.
pub fn parse_file(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let config: Config = if text.trim().is_empty() {
        Config::default()
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| located(path, e))?
    };
    config.validate()?;
    Ok(config)
}

fn located(path: &Path, e: serde_yaml_ng::Error) -> ConfigError {
    match e.location() {
        Some(loc) => ConfigError::Invalid {
            path: path.to_path_buf(),
            line: loc.line(),
            column: loc.column(),
            message: e.to_string(),
        },
        None => ConfigError::InvalidNoLocation { path: path.to_path_buf(), message: e.to_string() },
    }
}

fn set_path(tree: &mut Value, keys: &[String], value: Value) -> Result<(), String> {
    let Some((last, parents)) = keys.split_last() else { return Err("empty path".into()) };
    let mut node = tree;
    for key in parents {
        let map = node.as_mapping_mut().ok_or_else(|| format!("`{key}`'s parent is not a section"))?;
        node = map.entry(Value::String(key.clone())).or_insert_with(|| Value::Mapping(Mapping::new()));
    }
    let map = node.as_mapping_mut().ok_or_else(|| format!("`{last}`'s parent is not a section"))?;
    map.insert(Value::String(last.clone()), value);
    Ok(())
}

#[cfg(test)]
mod tests;
