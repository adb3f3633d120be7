//! The Jaeger-compatible query API under `/jaeger/api`, for Jaeger UI and Grafana's Jaeger
//! data source (point them at `http://host:3200/jaeger`).
//!
//! - **v1** ([`v1`]): `services`, `services/{service}/operations`, `operations`, `traces`
//!   (search) and `traces/{id}`, in Jaeger's `{"data","total","limit","offset","errors"}`
//!   envelope with traces in Jaeger's UI model ([`model`]). The last v1-only Jaeger UI (2.14)
//!   and Grafana's data source use these.
//! - **v3** ([`v3`]): `services`, `operations`, `traces/{id}`, `traces` (OTLP JSON in
//!   `{"result":…}`) and `trace-summaries`, which current Jaeger UI (≥ 2.15) lists and
//!   searches with (it still opens a trace through v1 `traces/{id}`).
//!
//! Searches run on the shared search core ([`crate::search`]) under its guardrails (time
//! range, result limit, query timeout); traces come from [`crate::otlp_trace`], so attribute
//! types survive: an int is an `int64` tag, a double `float64`, a bool `bool`.
//! `/jaeger/api/dependencies` belongs to the service map, not to this module.
//! Status codes come from [`QueryError::status`]; only the error *bodies* are Jaeger's
//! (see [`response`]).

use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::routing::get;
use axum::Router;

use crate::error::{QueryError, Result};
use crate::search::TimeWindow;
use crate::service::QueryService;

pub mod filter;
pub mod listing;
pub mod model;
pub mod response;
pub mod v1;
pub mod v3;

/// The Jaeger routes, to be merged into the query router.
pub fn router(service: QueryService) -> Router {
    Router::new()
        .route("/jaeger/api/services", get(v1::services))
        .route("/jaeger/api/services/{service}/operations", get(v1::service_operations))
        .route("/jaeger/api/operations", get(v1::operations))
        .route("/jaeger/api/traces", get(v1::search))
        .route("/jaeger/api/traces/{trace_id}", get(v1::trace))
        .route("/jaeger/api/v3/services", get(v3::services))
        .route("/jaeger/api/v3/operations", get(v3::operations))
        .route("/jaeger/api/v3/traces", get(v3::search))
        .route("/jaeger/api/v3/traces/{trace_id}", get(v3::trace))
        .route("/jaeger/api/v3/trace-summaries", get(v3::trace_summaries))
        .with_state(service)
}

/// Query parameters in request order, repeated keys kept (`tag=a:1&tag=b:2`, `traceID=…`);
/// a bare key (`minDuration`) has an empty value.
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// The query string, or a 400 saying why it is not one.
    pub fn from_query(query: Result<Query<Vec<(String, String)>>, QueryRejection>) -> Result<Params> {
        let Query(pairs) = query.map_err(|e| QueryError::InvalidRequest(e.body_text()))?;
        Ok(Params(pairs))
    }

    /// The first value of `name`, trimmed; `None` when absent or empty (Jaeger UI sends
    /// `minDuration=` with no value, Grafana sends empty fields).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    /// The first non-empty of several names (canonical first, then deprecated aliases).
    pub fn get_any(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| self.get(n))
    }

    /// Every non-empty value of `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }
}

/// One operation in the v1 `operations` and v3 `operations` answers (`ui.Operation`,
/// `api_v3.Operation`: the same JSON).
#[derive(Debug, serde::Serialize)]
pub struct Operation {
    pub name: String,
    #[serde(rename = "spanKind")]
    pub span_kind: String,
}

/// The window services and operations are listed from: the last `query.search.max_range`
/// (the longest a search may look back), so a listing never scans unbounded history.
pub fn listing_window(service: &QueryService) -> TimeWindow {
    let end_ns = crate::search::endpoint::now_ns();
    let range = i64::try_from(service.config().search.max_range.as_nanos()).unwrap_or(i64::MAX);
    TimeWindow { start_ns: end_ns.saturating_sub(range), end_ns }
}

/// A span kind as the Jaeger APIs name it (`server`, `client`, `producer`, `consumer`,
/// `internal`), checked; `unspecified` is accepted too.
pub fn span_kind(name: &'static str, text: Option<&str>) -> Result<Option<String>> {
    const KINDS: [&str; 6] = ["server", "client", "producer", "consumer", "internal", "unspecified"];
    match text {
        None => Ok(None),
        Some(kind) => {
            let lower = kind.to_ascii_lowercase();
            if KINDS.contains(&lower.as_str()) {
                Ok(Some(lower))
            } else {
                Err(QueryError::InvalidParameter {
                    name,
                    reason: format!("unknown span kind {kind:?}; expected one of {}", KINDS.join(", ")),
                })
            }
        }
    }
}

/// Microseconds since the epoch (Jaeger v1 `start`/`end`) in ns.
pub fn micros_param(name: &'static str, text: Option<&str>) -> Result<Option<i64>> {
    let Some(text) = text else { return Ok(None) };
    let micros: i64 = text.parse().map_err(|_| QueryError::InvalidParameter {
        name,
        reason: format!("{text:?} is not a time in microseconds since the epoch"),
    })?;
    micros
        .checked_mul(1_000)
        .map(Some)
        .ok_or_else(|| QueryError::InvalidParameter { name, reason: format!("{text} microseconds is out of range") })
}

/// A Go duration parameter (`1.2s`, `100ms`, `1m`), as Jaeger's `time.ParseDuration`.
pub fn duration_param(name: &'static str, text: Option<&str>) -> Result<Option<Duration>> {
    crate::search::params::duration_param(name, text)
}

#[cfg(test)]
mod tests;
