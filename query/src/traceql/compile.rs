//! TraceQL conditions → DataFusion expressions over the `spans` columns.
//!
//! Attributes are `Map<Utf8, Utf8>` text columns (`osprey_storage::attributes`):
//! strings and booleans compare as text; numeric literals compare with
//! `TRY_CAST(text AS DOUBLE)` (a value that is not a number never matches);
//! `= nil` / `!= nil` test absence / presence. Unscoped `.x` is the span's
//! attribute, else the resource's. `resource.service.name` is the `service_name`
//! column. In the find scan, `span.` attributes with a dedicated column
//! (`osprey_storage::spans::dedicated`) are read from it instead of the map. Regexes are fully anchored, as in Tempo (grafana/tempo `pkg/regexp/regexp.go`
//! matches with Prometheus' `FastRegexMatcher`, which anchors both ends).
//!
//! Trace-level intrinsics (`rootName`, `rootServiceName`, `traceDuration`) and
//! event / link fields read columns that exist only after the candidate traces
//! are fetched ([`ENRICHED`] columns). In [`Target::Find`] mode (the time-pruned
//! scan) comparisons on them become `TRUE`: conditions have no negation, so that
//! only widens the candidate set, and the exact evaluation decides.

use arrow::datatypes::DataType;
use datafusion::functions::core::expr_fn::{coalesce, get_field};
use datafusion::functions::regex::expr_fn::regexp_like;
use datafusion::logical_expr::TryCast;
use datafusion::prelude::{col, lit, Expr};
use osprey_storage::spans::col as spans_col;
use osprey_storage::spans::dedicated::{column_of, Form};

use super::ast::{CmpOp, Condition, Field, Intrinsic, Literal, Scope};
use super::error::ParseError;

/// Columns added to the fetched spans for the exact evaluation.
pub mod enriched {
    pub const ROW: &str = "__row";
    pub const ROOT_NAME: &str = "__root_name";
    pub const ROOT_SERVICE: &str = "__root_service";
    pub const TRACE_DURATION: &str = "__trace_duration_ns";
    pub const EVENT_NAME: &str = "__event_name";
    pub const LINK_TRACE_ID: &str = "__link_trace_id";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The scan of the `spans` table: only stored columns.
    Find,
    /// The fetched spans of candidate traces, with the enriched columns.
    Exact,
}

/// Whether a condition reads fields the [`Target::Find`] scan cannot decide.
pub fn needs_exact(condition: &Condition) -> bool {
    fields(condition).iter().any(|f| matches!(f, Field::Intrinsic(i) if !plain(*i)))
}

/// Whether a condition reads event (`event:name`) / link (`link:traceID`) fields.
pub fn reads(condition: &Condition, intrinsic: Intrinsic) -> bool {
    fields(condition).contains(&Field::Intrinsic(intrinsic))
}

/// The fields a condition reads, in order.
pub fn fields(condition: &Condition) -> Vec<Field> {
    let mut out = Vec::new();
    let mut stack = vec![condition];
    while let Some(c) = stack.pop() {
        match c {
            Condition::All => {}
            Condition::Compare { field, .. } => out.push(field.clone()),
            Condition::And(a, b) | Condition::Or(a, b) => {
                stack.push(b);
                stack.push(a);
            }
        }
    }
    out
}

fn plain(i: Intrinsic) -> bool {
    !i.is_trace_level() && !matches!(i, Intrinsic::EventName | Intrinsic::LinkTraceId)
}

/// The condition as a boolean expression (NULL where a field is missing).
pub fn compile(condition: &Condition, target: Target) -> Result<Expr, ParseError> {
    Ok(match condition {
        Condition::All => lit(true),
        Condition::And(a, b) => compile(a, target)?.and(compile(b, target)?),
        Condition::Or(a, b) => compile(a, target)?.or(compile(b, target)?),
        Condition::Compare { field, op, value, pos } => {
            if target == Target::Find && matches!(field, Field::Intrinsic(i) if !plain(*i)) {
                return Ok(lit(true));
            }
            compare(field, *op, value, *pos, target)?
        }
    })
}

/// The value of a field: text for attributes and text intrinsics, ns for durations.
pub fn field_expr(field: &Field) -> Expr {
    match field {
        Field::Attribute(scope, key) => attribute(scope, key),
        Field::Intrinsic(i) => col(match i {
            Intrinsic::Name => spans_col::NAME,
            Intrinsic::Status => spans_col::STATUS_CODE,
            Intrinsic::StatusMessage => spans_col::STATUS_MESSAGE,
            Intrinsic::Kind => spans_col::KIND,
            Intrinsic::Duration => spans_col::DURATION_NS,
            Intrinsic::RootName => enriched::ROOT_NAME,
            Intrinsic::RootServiceName => enriched::ROOT_SERVICE,
            Intrinsic::TraceDuration => enriched::TRACE_DURATION,
            Intrinsic::EventName => enriched::EVENT_NAME,
            Intrinsic::LinkTraceId => enriched::LINK_TRACE_ID,
        }),
    }
}

fn attribute(scope: &Scope, key: &str) -> Expr {
    let span = || get_field(col(spans_col::ATTRIBUTES), key);
    let resource = || match key {
        "service.name" => col(spans_col::SERVICE_NAME),
        _ => get_field(col(spans_col::RESOURCE_ATTRIBUTES), key),
    };
    match scope {
        Scope::Span => span(),
        Scope::Resource => resource(),
        Scope::Any => coalesce(vec![span(), resource()]),
    }
}

/// The dedicated column (`osprey_storage::spans::dedicated`) holding a `span.`-scoped
/// attribute in `form`, in the find scan only: it gives the same rows as the map lookup
/// it replaces, while reading one small column that statistics can prune. The exact
/// evaluation reads the fetched spans' maps.
fn dedicated(field: &Field, form: Form, target: Target) -> Option<Expr> {
    match (target, field) {
        (Target::Find, Field::Attribute(Scope::Span, key)) => column_of(key, form).map(col),
        _ => None,
    }
}

fn compare(field: &Field, op: CmpOp, value: &Literal, pos: usize, target: Target) -> Result<Expr, ParseError> {
    let text = || dedicated(field, Form::Text, target).unwrap_or_else(|| field_expr(field));
    let number = || dedicated(field, Form::Number, target).unwrap_or_else(|| as_number(field_expr(field)));
    let value_expr = text();
    let is_duration = matches!(field, Field::Intrinsic(Intrinsic::Duration | Intrinsic::TraceDuration));
    let (lhs, rhs) = match value {
        Literal::Nil => {
            return Ok(match op {
                CmpOp::Ne => value_expr.is_not_null(),
                _ => value_expr.is_null(),
            })
        }
        Literal::Str(s) if matches!(op, CmpOp::Re | CmpOp::NotRe) => {
            let anchored = format!("^(?:{s})$");
            regex::Regex::new(&anchored).map_err(|e| {
                let reason = e.to_string().lines().last().unwrap_or_default().trim().to_string();
                ParseError::new(pos, "a valid regular expression").found(format!("{s:?} ({reason})"))
            })?;
            let matched = regexp_like(value_expr, lit(anchored), None);
            return Ok(match op {
                CmpOp::NotRe => !matched,
                _ => matched,
            });
        }
        Literal::Str(s) | Literal::Status(s) | Literal::Kind(s) => (value_expr, lit(s.clone())),
        Literal::Bool(b) => (value_expr, lit(if *b { "true" } else { "false" })),
        Literal::Duration(d) if is_duration => (value_expr, lit(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))),
        Literal::Duration(d) => (number(), lit(d.as_nanos() as f64)),
        Literal::Int(i) => (number(), lit(*i as f64)),
        Literal::Float(f) => (number(), lit(*f)),
    };
    Ok(match op {
        CmpOp::Eq | CmpOp::Re => lhs.eq(rhs),
        CmpOp::Ne | CmpOp::NotRe => lhs.not_eq(rhs),
        CmpOp::Gt => lhs.gt(rhs),
        CmpOp::Ge => lhs.gt_eq(rhs),
        CmpOp::Lt => lhs.lt(rhs),
        CmpOp::Le => lhs.lt_eq(rhs),
    })
}

fn as_number(text: Expr) -> Expr {
    Expr::TryCast(TryCast::new(Box::new(text), DataType::Float64))
}
