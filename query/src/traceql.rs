//! TraceQL (Grafana Tempo's trace query language), compiled to DataFusion plans.
//!
//! `lexer` → `parser` (with byte positions; errors say where and what was
//! expected) → `ast` → `program` (spanset filters numbered as leaves) →
//! `compile` (each leaf to a DataFusion `Expr` over the `spans` columns).
//!
//! A search runs the [`crate::search`] plans: the leaves' `OR` is pushed into the
//! time-pruned scan and the spanset `&&`/`||` become a `HAVING` over per-trace
//! `bool_or` flags, so a query made of spanset filters on span fields is decided
//! by that one plan. Structural operators, pipelines and trace-level / event /
//! link fields need the trace: the newest `query.search.max_candidates` traces
//! passing the relaxed condition are fetched, each leaf is evaluated by DataFusion
//! over their spans, and the set algebra runs per trace ([`eval`]).
//!
//! Supported: `{ }` filters with `span.`/`resource.`/`.` attributes and the
//! intrinsics `name status statusMessage kind duration rootName rootServiceName
//! traceDuration event:name link:traceID` (and their `span:`/`trace:` spellings),
//! `= != > >= < <= =~ !~`, `&&`, `||`, parentheses, typed literals (strings,
//! ints, floats, booleans, durations, `nil`, statuses, kinds); spanset `&&`, `||`,
//! `>`, `>>`, `<`, `<<`, `~`; pipelines `count()`, `avg|min|max|sum(duration)`
//! compared to a value, `select(...)` and `{ ... }` stages. Not supported:
//! arithmetic, `by()`, negated structural operators, metrics queries.

use std::collections::HashMap;

use osprey_storage::attributes::AttrValue;

use crate::error::{QueryError, Result};
use crate::search::{plan, summary, TimeWindow, TraceCondition, TraceSummary};
use crate::service::QueryService;
use crate::span_rows::{self, SpanRows};

pub mod ast;
pub mod compile;
pub mod error;
pub mod eval;
pub mod lexer;
pub mod parser;
pub mod program;

use ast::{Field, Scope};
use compile::Target;
use program::Program;

/// A parsed and checked query.
pub struct Query {
    pub program: Program,
    pub condition: TraceCondition,
}

/// Longest TraceQL text accepted (a query is text from the network).
pub const MAX_QUERY_BYTES: usize = 16 << 10;

/// Parses `text`; a 400 naming the position and what was expected on error.
pub fn parse(text: &str) -> Result<Query> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(QueryError::TraceQl(format!(
            "the query is {} bytes, more than the limit of {MAX_QUERY_BYTES}",
            text.len()
        )));
    }
    let pipeline = parser::parse(text).map_err(|e| e.into_query_error(text))?;
    let program = Program::new(&pipeline);
    for i in 0..program.leaves.len() {
        program.leaf_expr(i, Target::Exact).map_err(|e| e.into_query_error(text))?;
    }
    let condition = program.condition().map_err(|e| e.into_query_error(text))?;
    Ok(Query { program, condition })
}

/// A trace matching a query, with the spans it matched.
#[derive(Debug, Clone)]
pub struct TraceMatch {
    pub summary: TraceSummary,
    /// Matched spans, earliest first, at most `spss`.
    pub spans: Vec<MatchedSpan>,
    /// How many spans matched in all.
    pub matched: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MatchedSpan {
    pub span_id: String,
    pub name: String,
    pub service: String,
    pub start_time_unix_nano: i64,
    pub duration_ns: i64,
    /// The attributes the query compared or selected that the span has, typed,
    /// plus `service.name`.
    pub attributes: Vec<(String, AttrValue)>,
}

/// What a TraceQL search found, and how much it looked at.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Newest first.
    pub traces: Vec<TraceMatch>,
    /// Candidate traces fetched and evaluated.
    pub inspected_traces: usize,
    /// Their spans.
    pub inspected_spans: usize,
}

/// Searches with a TraceQL query, default `spss`.
pub async fn search(
    service: &QueryService,
    text: &str,
    window: TimeWindow,
    limit: usize,
    filter: Option<TraceCondition>,
) -> Result<Vec<TraceMatch>> {
    let spss = service.config().search.default_spss;
    Ok(search_spss(service, text, window, limit, spss, filter).await?.traces)
}

/// Searches with a TraceQL query (and an optional classic filter that must hold
/// too), under the query timeout; newest first, at most `limit`.
pub async fn search_spss(
    service: &QueryService,
    text: &str,
    window: TimeWindow,
    limit: usize,
    spss: usize,
    filter: Option<TraceCondition>,
) -> Result<Outcome> {
    let query = parse(text)?;
    let timeout = service.config().timeout;
    tokio::time::timeout(timeout, run(service, &query, window, limit, spss, filter))
        .await
        .map_err(|_| QueryError::Timeout(timeout))?
}

async fn run(
    service: &QueryService,
    query: &Query,
    window: TimeWindow,
    limit: usize,
    spss: usize,
    filter: Option<TraceCondition>,
) -> Result<Outcome> {
    let ctx = service.context();
    let exact = query.program.is_exact();
    let candidates = if exact { limit } else { service.config().search.max_candidates.max(limit) };
    let condition = match filter {
        Some(f) => TraceCondition::All(vec![f, query.condition.clone()]),
        None => query.condition.clone(),
    };
    let ids = plan::find_trace_ids(ctx, window, Some(&condition), candidates).await?;
    let mut columns: Vec<&str> = summary::COLUMNS.to_vec();
    columns.extend(span_rows::COLUMNS.iter().filter(|c| !summary::COLUMNS.contains(c)));
    let batches = plan::fetch_traces(ctx, &ids, &columns).await?;
    let traces = summary::summarize(&batches)?;
    let candidates = eval::enrich(batches, traces)?;
    let leaves = eval::leaf_matches(ctx, &query.program, &candidates).await?;
    let rows = SpanRows::new(&candidates.batches)?;
    let mut by_trace: Vec<Vec<usize>> = vec![Vec::new(); candidates.traces.len()];
    for (row, span) in candidates.spans.iter().enumerate() {
        if let Some(rows) = by_trace.get_mut(span.trace) {
            rows.push(row);
        }
    }
    let mut out = Vec::new();
    // Summaries are newest first: the first `limit` matches are the answer.
    for (trace, summary) in candidates.traces.iter().enumerate() {
        if out.len() >= limit {
            break;
        }
        let rows_of_trace = by_trace.get_mut(trace).map(std::mem::take).unwrap_or_default();
        let spans = eval::TraceSpans::new(rows_of_trace, &candidates.spans);
        let matched = spans.eval(&query.program.set, &leaves);
        if matched.is_empty() {
            continue;
        }
        let mut ordered: Vec<usize> = matched.iter().copied().collect();
        ordered.sort_by_key(|&r| (candidates.spans.get(r).map_or(0, |s| s.start), r));
        let listed = ordered
            .iter()
            .take(spss)
            .filter_map(|&r| Some((r, candidates.spans.get(r)?)))
            .map(|(r, info)| matched_span(&rows, info, r, &query.program.reported))
            .collect::<Result<Vec<_>>>()?;
        out.push(TraceMatch { summary: summary.clone(), spans: listed, matched: matched.len() });
    }
    tracing::debug!(candidates = ids.len(), exact, matched = out.len(), "TraceQL search served");
    Ok(Outcome { traces: out, inspected_traces: candidates.traces.len(), inspected_spans: candidates.spans.len() })
}

fn matched_span(rows: &SpanRows, info: &eval::SpanInfo, row: usize, reported: &[Field]) -> Result<MatchedSpan> {
    let span_attributes: HashMap<String, AttrValue> = rows.attributes(row)?.into_iter().collect();
    let resource_attributes: HashMap<String, AttrValue> = rows.resource_attributes(row)?.into_iter().collect();
    let service = rows.service(row).to_string();
    let mut attributes = vec![("service.name".to_string(), AttrValue::Str(service.clone()))];
    for field in reported {
        let Field::Attribute(scope, key) = field else { continue };
        if key == "service.name" || attributes.iter().any(|(k, _)| k == key) {
            continue;
        }
        let value = match scope {
            Scope::Span => span_attributes.get(key),
            Scope::Resource => resource_attributes.get(key),
            Scope::Any => span_attributes.get(key).or_else(|| resource_attributes.get(key)),
        };
        if let Some(value) = value {
            attributes.push((key.clone(), value.clone()));
        }
    }
    Ok(MatchedSpan {
        span_id: info.span_id.clone(),
        name: rows.name(row).to_string(),
        service,
        start_time_unix_nano: info.start,
        duration_ns: info.duration,
        attributes,
    })
}

#[cfg(test)]
pub(crate) mod fixture;
#[cfg(test)]
mod tests;
