//! `GET /api/v1/traces` — the native search (`api.md`): `service`, `operation`,
//! `tags` (logfmt), `q` (TraceQL), `min_duration`, `max_duration` (`250ms`),
//! `status` (`error`), `start`, `end` (unix seconds or RFC 3339), `limit`.
//! Response `{"traces": [TraceSummary, ...]}`, newest first.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::params::{count_param, duration_param, parse_logfmt, parse_time};
use super::{search, SearchRequest, SpanFilter, TraceSummary};
use crate::error::{QueryError, Result};
use crate::service::QueryService;

#[derive(Debug, Default, Deserialize)]
pub struct SearchParams {
    pub service: Option<String>,
    pub operation: Option<String>,
    pub tags: Option<String>,
    pub q: Option<String>,
    pub min_duration: Option<String>,
    pub max_duration: Option<String>,
    pub status: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub limit: Option<String>,
}

#[derive(Serialize)]
pub struct SearchResponse {
    pub traces: Vec<TraceSummary>,
}

pub async fn get_traces(
    State(service): State<QueryService>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<SearchResponse>> {
    let Query(params) = params.map_err(|e| QueryError::InvalidRequest(e.body_text()))?;
    let config = &service.config().search;
    let filter = span_filter(&params)?;
    let window = config.window(
        time_param("start", params.start.as_deref())?,
        time_param("end", params.end.as_deref())?,
        now_ns(),
    )?;
    let limit = config.limit(count_param("limit", params.limit.as_deref())?)?;
    let q = params.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if let Some(q) = q {
        let traces = crate::traceql::search(&service, q, window, limit, filter.to_condition()).await?;
        return Ok(Json(SearchResponse { traces: traces.into_iter().map(|t| t.summary).collect() }));
    }
    let request = SearchRequest { window, limit, condition: filter.to_condition() };
    Ok(Json(SearchResponse { traces: search(&service, &request).await? }))
}

fn span_filter(params: &SearchParams) -> Result<SpanFilter> {
    let non_empty = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let error = match params.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => false,
        Some("error") => true,
        Some(other) => {
            return Err(QueryError::InvalidParameter {
                name: "status",
                reason: format!("{other:?}: the only status filter is \"error\""),
            })
        }
    };
    Ok(SpanFilter {
        service: non_empty(&params.service),
        operation: non_empty(&params.operation),
        tags: match params.tags.as_deref() {
            Some(tags) => parse_logfmt("tags", tags)?,
            None => Vec::new(),
        },
        min_duration: duration_param("min_duration", params.min_duration.as_deref())?,
        max_duration: duration_param("max_duration", params.max_duration.as_deref())?,
        error,
    })
}

/// An optional time parameter; empty means "not given".
pub fn time_param(name: &'static str, text: Option<&str>) -> Result<Option<i64>> {
    text.map(str::trim).filter(|t| !t.is_empty()).map(|t| parse_time(name, t)).transpose()
}

pub fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)).unwrap_or(0)
}
