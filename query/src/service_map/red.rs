//! RED series (rate, errors, duration) of one service, or one of its operations, over
//! time: the requests are the service's server and consumer spans, bucketed by start
//! time into `step`-wide buckets aligned on the window's start.

use std::collections::BTreeMap;
use std::time::Duration;

use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use serde::Serialize;

use super::plan::{run, ts, Columns};
use super::rollup::{self, Acc};
use super::window::Window;
use crate::error::{QueryError, Result};

const BUCKET_NS: i64 = osprey_storage::rollup::BUCKET_NS;

/// At most this many buckets per series (Prometheus' limit for range queries).
pub const MAX_BUCKETS: i64 = 11_000;

/// Requests of `$3` starting in `[$1, $2)`, by bucket `(start_time - $5) / $4` (`$5` = start in ns).
const SERVICE_SERIES: &str = concat!(
    "SELECT CAST((CAST(start_time AS BIGINT) - $5) / $4 AS BIGINT) AS bucket, ",
    "COUNT(*) AS calls, CAST(SUM(CASE WHEN status_code = 'error' THEN 1 ELSE 0 END) AS BIGINT) AS errors, ",
    "CAST(ROUND(percentile_cont(0.5) WITHIN GROUP (ORDER BY CAST(duration_ns AS DOUBLE))) AS BIGINT) AS p50, ",
    "CAST(ROUND(percentile_cont(0.95) WITHIN GROUP (ORDER BY CAST(duration_ns AS DOUBLE))) AS BIGINT) AS p95, ",
    "CAST(ROUND(percentile_cont(0.99) WITHIN GROUP (ORDER BY CAST(duration_ns AS DOUBLE))) AS BIGINT) AS p99 ",
    "FROM spans WHERE start_time >= $1 AND start_time < $2 AND service_name = $3 AND kind IN ('server', 'consumer') ",
);

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    /// Start of the bucket, unix nanoseconds.
    pub time_unix_nano: i64,
    pub request_count: i64,
    /// Requests per second over the bucket (the last bucket may be cut by `end`).
    pub rate: f64,
    pub error_count: i64,
    pub p50_ns: Option<i64>,
    pub p95_ns: Option<i64>,
    pub p99_ns: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RedSeries {
    pub service: String,
    pub operation: Option<String>,
    pub start_unix_nano: i64,
    pub end_unix_nano: i64,
    pub step_ns: i64,
    /// Every bucket of the window, empty ones with zero counts and null percentiles.
    pub buckets: Vec<Bucket>,
}

/// `step` as seconds (`60`) or a duration (`30s`, `5m`); default one minute.
pub fn parse_step(raw: Option<&str>) -> Result<i64> {
    let Some(raw) = raw.map(str::trim) else { return Ok(60_000_000_000) };
    let step = match raw.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(raw).map_err(|e| QueryError::InvalidParameter {
            name: "step",
            reason: format!("{raw:?} is neither seconds nor a duration like 30s ({e})"),
        })?,
    };
    let ns = i64::try_from(step.as_nanos()).unwrap_or(i64::MAX);
    if ns < 1_000_000 {
        return Err(QueryError::InvalidParameter { name: "step", reason: "must be at least 1ms".into() });
    }
    Ok(ns)
}

/// The series of `window`: from `service_red` when the session has it, `exact` is not
/// asked for and the window and step are whole minutes (percentiles then from merged
/// sketches, within 1%), else from raw spans (percentiles interpolated exactly).
pub async fn series(
    ctx: &SessionContext,
    window: Window,
    step_ns: i64,
    service: &str,
    operation: Option<&str>,
    exact: bool,
) -> Result<RedSeries> {
    let span = window.end_ns.saturating_sub(window.start_ns);
    let bucket_count = span / step_ns + i64::from(span % step_ns != 0);
    if bucket_count > MAX_BUCKETS {
        return Err(QueryError::InvalidParameter {
            name: "step",
            reason: format!("{bucket_count} buckets in the window, more than {MAX_BUCKETS}: use a larger step"),
        });
    }
    let mut params = vec![
        ts(window.start_ns),
        ts(window.end_ns),
        ScalarValue::Utf8(Some(service.to_string())),
        ScalarValue::Int64(Some(step_ns)),
        ScalarValue::Int64(Some(window.start_ns)),
    ];
    if let Some(operation) = operation {
        params.push(ScalarValue::Utf8(Some(operation.to_string())));
    }
    let aligned = [window.start_ns, window.end_ns, step_ns].iter().all(|v| v.rem_euclid(BUCKET_NS) == 0);
    let found = if !exact && aligned && rollup::available(ctx).await {
        from_buckets(ctx, params, operation.is_some()).await?
    } else {
        from_spans(ctx, params, operation.is_some()).await?
    };
    let buckets = (0..bucket_count)
        .map(|b| {
            let time = window.start_ns.saturating_add(b.saturating_mul(step_ns));
            let width = step_ns.min(window.end_ns.saturating_sub(time)).max(1);
            let (calls, errors, p50, p95, p99) = found.get(&b).copied().unwrap_or((0, 0, None, None, None));
            Bucket {
                time_unix_nano: time,
                request_count: calls,
                rate: calls as f64 / (width as f64 / 1e9),
                error_count: errors,
                p50_ns: p50,
                p95_ns: p95,
                p99_ns: p99,
            }
        })
        .collect();
    Ok(RedSeries {
        service: service.to_string(),
        operation: operation.map(str::to_string),
        start_unix_nano: window.start_ns,
        end_unix_nano: window.end_ns,
        step_ns,
        buckets,
    })
}

/// Per bucket index: requests, errors, p50, p95, p99.
type Found = BTreeMap<i64, (i64, i64, Option<i64>, Option<i64>, Option<i64>)>;

async fn from_spans(ctx: &SessionContext, params: Vec<ScalarValue>, by_operation: bool) -> Result<Found> {
    let sql = if by_operation {
        format!("{SERVICE_SERIES} AND name = $6 GROUP BY 1")
    } else {
        format!("{SERVICE_SERIES} GROUP BY 1")
    };
    let mut found = Found::new();
    for batch in &run(ctx, &sql, params).await? {
        let columns = Columns::new(batch);
        let (index, calls, errors) = (columns.ints("bucket")?, columns.ints("calls")?, columns.ints("errors")?);
        let (p50, p95, p99) = (columns.ints("p50")?, columns.ints("p95")?, columns.ints("p99")?);
        for i in 0..index.len() {
            let at = |v: &Vec<Option<i64>>| v.get(i).copied().flatten();
            if let Some(bucket) = at(&index) {
                found.insert(bucket, (at(&calls).unwrap_or(0), at(&errors).unwrap_or(0), at(&p50), at(&p95), at(&p99)));
            }
        }
    }
    Ok(found)
}

/// The same parameters over `service_red` (operation = `operation` column).
const BUCKET_SERIES: &str = "SELECT CAST((CAST(bucket_start AS BIGINT) - $5) / $4 AS BIGINT) AS bucket, \
    request_count, error_count, duration_sketch FROM service_red \
    WHERE bucket_start >= $1 AND bucket_start < $2 AND service_name = $3 AND kind IN ('server', 'consumer')";

async fn from_buckets(ctx: &SessionContext, params: Vec<ScalarValue>, by_operation: bool) -> Result<Found> {
    let sql = if by_operation { format!("{BUCKET_SERIES} AND operation = $6") } else { BUCKET_SERIES.to_string() };
    let mut accs: BTreeMap<i64, Acc> = BTreeMap::new();
    for batch in &run(ctx, &sql, params).await? {
        let columns = Columns::new(batch);
        let (index, calls, errors) =
            (columns.ints("bucket")?, columns.ints("request_count")?, columns.ints("error_count")?);
        let sketches = rollup::sketches(batch, "duration_sketch")?;
        for i in 0..index.len() {
            let at = |v: &Vec<Option<i64>>| v.get(i).copied().flatten();
            if let Some(bucket) = at(&index) {
                let sketch = sketches.get(i).and_then(|s| s.as_deref());
                accs.entry(bucket).or_default().merge(at(&calls).unwrap_or(0), at(&errors).unwrap_or(0), sketch)?;
            }
        }
    }
    Ok(accs
        .into_iter()
        .map(|(b, acc)| (b, (acc.calls, acc.errors, acc.quantile(0.5), acc.quantile(0.95), acc.quantile(0.99))))
        .collect())
}
