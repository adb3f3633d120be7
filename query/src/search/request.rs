//! What a search asks for, as DataFusion expressions over the `spans` columns.
//! Values always travel as literals (`lit(...)`), never as SQL text.

use std::time::Duration;

use datafusion::functions::core::expr_fn::get_field;
use datafusion::prelude::{col, lit, Expr};
use osprey_storage::spans::col as spans_col;

use super::config::TimeWindow;

/// A validated search: the window and limit come from [`super::SearchConfig`],
/// which bounds them.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub window: TimeWindow,
    /// Most traces returned.
    pub limit: usize,
    /// What a trace must contain; `None` matches every trace with a span in the window.
    pub condition: Option<TraceCondition>,
}

/// What a trace must contain to match, decided by one aggregation per trace over
/// its spans in the window (`bool_or` of each leaf, combined in `HAVING`).
#[derive(Debug, Clone, PartialEq)]
pub enum TraceCondition {
    /// Some span of the trace satisfies the expression (over the `spans` columns).
    Span(Expr),
    /// Every condition holds (each may be met by a different span).
    All(Vec<TraceCondition>),
    /// Some condition holds.
    Any(Vec<TraceCondition>),
}

impl TraceCondition {
    /// The span-level expressions, left to right.
    pub fn leaves(&self) -> Vec<&Expr> {
        let mut out = Vec::new();
        self.collect_leaves(&mut out);
        out
    }

    fn collect_leaves<'a>(&'a self, out: &mut Vec<&'a Expr>) {
        match self {
            TraceCondition::Span(e) => out.push(e),
            TraceCondition::All(parts) | TraceCondition::Any(parts) => {
                parts.iter().for_each(|p| p.collect_leaves(out));
            }
        }
    }

    /// The condition over per-trace boolean columns, leaf `i` being `column(i)`
    /// (the order of [`Self::leaves`]).
    pub fn having(&self, column: &dyn Fn(usize) -> Expr) -> Expr {
        let mut next = 0;
        self.having_from(column, &mut next)
    }

    fn having_from(&self, column: &dyn Fn(usize) -> Expr, next: &mut usize) -> Expr {
        match self {
            TraceCondition::Span(_) => {
                let e = column(*next);
                *next += 1;
                e
            }
            TraceCondition::All(parts) => {
                parts.iter().map(|p| p.having_from(column, next)).reduce(Expr::and).unwrap_or(lit(true))
            }
            TraceCondition::Any(parts) => {
                parts.iter().map(|p| p.having_from(column, next)).reduce(Expr::or).unwrap_or(lit(false))
            }
        }
    }
}

/// The classic search form (native API, Tempo's legacy `tags`, Jaeger): every
/// given criterion must hold for the *same* span, as in Jaeger's search.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanFilter {
    pub service: Option<String>,
    /// Span name.
    pub operation: Option<String>,
    /// `key = value` on the span's attributes or, failing that, its resource's.
    /// Compared as text: an int attribute `500` matches `"500"`, a bool `true` matches `"true"`.
    pub tags: Vec<(String, String)>,
    pub min_duration: Option<Duration>,
    pub max_duration: Option<Duration>,
    /// Only spans with status error.
    pub error: bool,
}

impl SpanFilter {
    /// The filter as one span-level expression (`None` when it names nothing).
    pub fn to_expr(&self) -> Option<Expr> {
        let mut parts = Vec::new();
        if let Some(service) = &self.service {
            parts.push(col(spans_col::SERVICE_NAME).eq(lit(service.as_str())));
        }
        if let Some(operation) = &self.operation {
            parts.push(col(spans_col::NAME).eq(lit(operation.as_str())));
        }
        for (key, value) in &self.tags {
            parts.push(attribute_equals(key, value));
        }
        if let Some(min) = self.min_duration {
            parts.push(col(spans_col::DURATION_NS).gt_eq(lit(nanos(min))));
        }
        if let Some(max) = self.max_duration {
            parts.push(col(spans_col::DURATION_NS).lt_eq(lit(nanos(max))));
        }
        if self.error {
            parts.push(col(spans_col::STATUS_CODE).eq(lit("error")));
        }
        parts.into_iter().reduce(Expr::and)
    }

    /// The filter as a trace condition.
    pub fn to_condition(&self) -> Option<TraceCondition> {
        self.to_expr().map(TraceCondition::Span)
    }
}

/// `attributes[key] = value OR resource_attributes[key] = value` (text form; see
/// `osprey_storage::attributes`).
pub fn attribute_equals(key: &str, value: &str) -> Expr {
    let on = |column: &str| get_field(col(column), key).eq(lit(value.to_string()));
    on(spans_col::ATTRIBUTES).or(on(spans_col::RESOURCE_ATTRIBUTES))
}

pub fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}
