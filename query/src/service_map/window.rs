//! The time window of a service-map or RED query, and the rule that decides which
//! calls belong to it.
//!
//! **Membership rule.** A call belongs to the window `[start, end)` (half-open, in
//! nanoseconds) when its *callee* span — the child span in the other service, or for a
//! call to an uninstrumented peer the client span itself — starts inside it. The
//! *caller* (the parent span) may start anywhere within [`LOOKUP_PADDING`] of the
//! window: it is looked up among spans starting in `[start - padding, end + padding)`.
//! So a window that cuts a trace in half counts exactly the calls whose callee starts
//! inside it, with the right source service even when the caller started before the
//! window; consecutive windows count every call exactly once. A parent that started
//! more than the padding before its child (an hour-long batch job calling out) is not
//! found, and that call is not an edge. The same padded range decides whether a
//! client span "has no child" (uninstrumented peer).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{QueryError, Result};

/// How far outside the window parents (and children of client spans) are looked up.
pub const LOOKUP_PADDING: Duration = Duration::from_secs(3600);

/// Without `start`/`end`, the window is the last hour.
const DEFAULT_SPAN: Duration = Duration::from_secs(3600);

/// A half-open window `[start_ns, end_ns)` in unix nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start_ns: i64,
    pub end_ns: i64,
}

impl Window {
    /// From the native API's `start`/`end` (unix seconds, or RFC 3339); missing ones
    /// default to the last hour up to now. `start > end` is a 400; `start == end` is an
    /// empty window.
    pub fn from_params(start: Option<&str>, end: Option<&str>) -> Result<Window> {
        let end_ns = match end {
            Some(raw) => parse_time("end", raw)?,
            None => now_ns(),
        };
        let start_ns = match start {
            Some(raw) => parse_time("start", raw)?,
            None => end_ns.saturating_sub(nanos(DEFAULT_SPAN)),
        };
        Window::new(start_ns, end_ns)
    }

    /// From Jaeger's `endTs` and `lookback`, both in milliseconds; `endTs` defaults to
    /// now and `lookback` to Jaeger UI's default of one day.
    pub fn from_jaeger(end_ts: Option<&str>, lookback: Option<&str>) -> Result<Window> {
        let end_ns = match end_ts {
            Some(raw) => parse_millis("endTs", raw)?.saturating_mul(1_000_000),
            None => now_ns(),
        };
        let lookback_ns = match lookback {
            Some(raw) => parse_millis("lookback", raw)?.saturating_mul(1_000_000),
            None => 86_400_000_000_000,
        };
        if lookback_ns < 0 {
            return Err(QueryError::InvalidParameter { name: "lookback", reason: "must not be negative".into() });
        }
        Window::new(end_ns.saturating_sub(lookback_ns), end_ns)
    }

    pub fn new(start_ns: i64, end_ns: i64) -> Result<Window> {
        if start_ns > end_ns {
            return Err(QueryError::InvalidParameter {
                name: "start",
                reason: format!("start ({start_ns} ns) is after end ({end_ns} ns)"),
            });
        }
        Ok(Window { start_ns, end_ns })
    }

    /// Where parents and children of the window's calls are looked up.
    pub fn padded(&self) -> Window {
        let pad = nanos(LOOKUP_PADDING);
        Window { start_ns: self.start_ns.saturating_sub(pad), end_ns: self.end_ns.saturating_add(pad) }
    }

    pub fn duration_secs(&self) -> f64 {
        (self.end_ns.saturating_sub(self.start_ns)) as f64 / 1e9
    }
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Now, in whole microseconds (the precision the pre-aggregated map reads windows at).
fn now_ns() -> i64 {
    let ns = SystemTime::now().duration_since(UNIX_EPOCH).map(nanos).unwrap_or(0);
    ns - ns % 1000
}

/// Unix seconds (an integer, or a decimal with up to 9 fractional digits) or RFC 3339.
pub fn parse_time(name: &'static str, raw: &str) -> Result<i64> {
    let raw = raw.trim();
    if let Ok(secs) = raw.parse::<i64>() {
        return secs.checked_mul(1_000_000_000).ok_or_else(|| out_of_range(name, raw));
    }
    if let Some((whole, fraction)) = raw.split_once('.') {
        if let (Ok(secs), true) =
            (whole.parse::<i64>(), fraction.len() <= 9 && fraction.bytes().all(|b| b.is_ascii_digit()))
        {
            // Decimal seconds, read exactly (no float rounding at nanosecond scale).
            let digits = format!("{fraction:0<9}");
            let ns = digits.parse::<i64>().unwrap_or(0);
            let signed = if whole.starts_with('-') { -ns } else { ns };
            return secs
                .checked_mul(1_000_000_000)
                .and_then(|s| s.checked_add(signed))
                .ok_or_else(|| out_of_range(name, raw));
        }
    }
    let time = humantime::parse_rfc3339_weak(raw).map_err(|e| QueryError::InvalidParameter {
        name,
        reason: format!("{raw:?} is neither unix seconds nor an RFC 3339 time ({e})"),
    })?;
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => Ok(nanos(d)),
        Err(_) => Err(out_of_range(name, raw)),
    }
}

fn parse_millis(name: &'static str, raw: &str) -> Result<i64> {
    raw.trim().parse::<i64>().map_err(|_| QueryError::InvalidParameter {
        name,
        reason: format!("{raw:?} is not an integer number of milliseconds"),
    })
}

fn out_of_range(name: &'static str, raw: &str) -> QueryError {
    QueryError::InvalidParameter { name, reason: format!("{raw:?} is out of range") }
}
