//! The guardrails of trace search (the `query.search:` section of the config file):
//! every search runs within a bounded time range, result count and spans per
//! spanset, so no request can ask for an unbounded scan.

use std::time::Duration;

use serde::Deserialize;

use crate::error::{QueryError, Result};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// Time range searched when the request names no `start` (ending at `end`, or now).
    #[serde(with = "humantime_serde")]
    pub default_range: Duration,
    /// Longest time range one search may cover. Past it: HTTP 400.
    #[serde(with = "humantime_serde")]
    pub max_range: Duration,
    /// Traces returned when the request names no `limit`.
    pub default_limit: usize,
    /// Largest `limit`. Past it: HTTP 400.
    pub max_limit: usize,
    /// Matched spans listed per trace (Tempo's `spss`) when the request names none.
    pub default_spss: usize,
    /// Largest `spss`. Past it: HTTP 400.
    pub max_spss: usize,
    /// Candidate traces examined per search when a query cannot be decided by one
    /// aggregation over the spans (structural operators, pipelines, trace-level
    /// intrinsics): the newest this many traces with a span matching some filter
    /// are fetched and evaluated exactly.
    pub max_candidates: usize,
    /// Most tag names or values one tag lookup returns (Tempo API); a larger
    /// `limit` is clamped to it (Grafana asks for 5000).
    pub max_tag_values: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            default_range: Duration::from_secs(3600),
            max_range: Duration::from_secs(7 * 24 * 3600),
            default_limit: 20,
            max_limit: 1000,
            default_spss: 3,
            max_spss: 100,
            max_candidates: 5000,
            max_tag_values: 10_000,
        }
    }
}

impl SearchConfig {
    /// `limit` checked against [`Self::max_limit`] (absent: the default; 0 is refused).
    pub fn limit(&self, requested: Option<usize>) -> Result<usize> {
        bounded("limit", requested, self.default_limit, self.max_limit, "query.search.max_limit")
    }

    /// `spss` checked against [`Self::max_spss`].
    pub fn spss(&self, requested: Option<usize>) -> Result<usize> {
        bounded("spss", requested, self.default_spss, self.max_spss, "query.search.max_spss")
    }

    /// The window `[start, end]` (unix ns, both inclusive) of a search: missing ends
    /// default (end: `now_ns`; start: end minus [`Self::default_range`]); `start > end`
    /// and ranges longer than [`Self::max_range`] are refused.
    pub fn window(&self, start_ns: Option<i64>, end_ns: Option<i64>, now_ns: i64) -> Result<TimeWindow> {
        let default_ns = duration_ns(self.default_range);
        let end = match (start_ns, end_ns) {
            (_, Some(end)) => end,
            (Some(start), None) => now_ns.max(start).min(start.saturating_add(default_ns)),
            (None, None) => now_ns,
        };
        let start = start_ns.unwrap_or_else(|| end.saturating_sub(default_ns));
        if start > end {
            return Err(QueryError::InvalidParameter {
                name: "start",
                reason: format!("start ({start} ns) is after end ({end} ns)"),
            });
        }
        let max_ns = duration_ns(self.max_range);
        if end.saturating_sub(start) > max_ns {
            return Err(QueryError::InvalidParameter {
                name: "start",
                reason: format!(
                    "the time range is {}s, longer than the maximum of {}s (query.search.max_range)",
                    end.saturating_sub(start) / 1_000_000_000,
                    max_ns / 1_000_000_000
                ),
            });
        }
        Ok(TimeWindow { start_ns: start, end_ns: end })
    }
}

/// A search's time window over span start times, unix ns, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    pub start_ns: i64,
    pub end_ns: i64,
}

fn duration_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn bounded(name: &'static str, requested: Option<usize>, default: usize, max: usize, key: &str) -> Result<usize> {
    match requested {
        None => Ok(default.min(max).max(1)),
        Some(0) => Err(QueryError::InvalidParameter { name, reason: "must be at least 1".into() }),
        Some(n) if n > max => {
            Err(QueryError::InvalidParameter { name, reason: format!("{n} is more than the maximum of {max} ({key})") })
        }
        Some(n) => Ok(n),
    }
}
