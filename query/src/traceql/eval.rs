//! Exact evaluation over the fetched spans of candidate traces.
//!
//! Every spanset filter is evaluated by DataFusion over the fetched spans
//! (enriched with the trace-level columns, and unnested per event / link for
//! `event:name` / `link:traceID`), giving per filter the rows it matches. The
//! spanset operators, structural relations and pipeline stages then combine
//! those row sets per trace, which needs the trace's parent links anyway.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field as ArrowField, Int64Type, Schema};
use datafusion::functions::core::expr_fn::get_field;
use datafusion::prelude::{col, SessionContext};
use osprey_storage::spans::col as spans_col;

use super::ast::{Aggregate, CmpOp, Intrinsic, Literal, Structural};
use super::compile::{enriched, reads, Target};
use super::program::{Program, Set, Step};
use crate::error::{QueryError, Result};
use crate::search::plan::column_as;
use crate::search::TraceSummary;
use crate::span_tree::real_parent;

/// One fetched span, as the set algebra needs it.
pub struct SpanInfo {
    pub trace: usize,
    pub span_id: String,
    pub parent: Option<String>,
    pub start: i64,
    pub duration: i64,
}

/// The fetched spans with the columns the exact evaluation reads.
pub struct Candidates {
    pub batches: Vec<RecordBatch>,
    pub spans: Vec<SpanInfo>,
    /// Trace index → its summary.
    pub traces: Vec<TraceSummary>,
}

/// Adds `__row` and the trace-level columns to the fetched batches.
pub fn enrich(batches: Vec<RecordBatch>, traces: Vec<TraceSummary>) -> Result<Candidates> {
    let index: HashMap<&str, usize> = traces.iter().enumerate().map(|(i, t)| (t.trace_id.as_str(), i)).collect();
    let mut spans = Vec::new();
    let mut out = Vec::with_capacity(batches.len());
    for batch in &batches {
        let text = |name: &str| column_as(batch, name, &DataType::Utf8);
        let (trace_ids, span_ids, parents) =
            (text(spans_col::TRACE_ID)?, text(spans_col::SPAN_ID)?, text(spans_col::PARENT_SPAN_ID)?);
        let (trace_ids, span_ids, parents) = (strings(&trace_ids)?, strings(&span_ids)?, strings(&parents)?);
        let start = column_as(batch, spans_col::START_TIME, &DataType::Int64)?;
        let start = start.as_primitive_opt::<Int64Type>().ok_or_else(|| QueryError::Layout("start_time".into()))?;
        let duration = column_as(batch, spans_col::DURATION_NS, &DataType::Int64)?;
        let duration =
            duration.as_primitive_opt::<Int64Type>().ok_or_else(|| QueryError::Layout("duration_ns".into()))?;
        let (mut rows, mut root_names, mut root_services, mut trace_durations) = (vec![], vec![], vec![], vec![]);
        for r in 0..batch.num_rows() {
            let trace = *index
                .get(trace_ids.value(r))
                .ok_or_else(|| QueryError::Layout("a fetched span of an unknown trace".into()))?;
            let summary = traces.get(trace).ok_or_else(|| QueryError::Layout("trace index out of range".into()))?;
            rows.push(spans.len() as i64);
            root_names.push(summary.root_name.clone());
            root_services.push(summary.root_service.clone());
            trace_durations.push(summary.duration_ns);
            let parent = (!parents.is_null(r)).then(|| parents.value(r));
            spans.push(SpanInfo {
                trace,
                span_id: span_ids.value(r).to_string(),
                parent: real_parent(parent).map(str::to_string),
                start: start.value(r),
                duration: duration.value(r),
            });
        }
        let mut fields: Vec<ArrowField> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        let extra: [(&str, DataType, ArrayRef); 4] = [
            (enriched::ROW, DataType::Int64, Arc::new(Int64Array::from(rows))),
            (enriched::ROOT_NAME, DataType::Utf8, Arc::new(StringArray::from(root_names))),
            (enriched::ROOT_SERVICE, DataType::Utf8, Arc::new(StringArray::from(root_services))),
            (enriched::TRACE_DURATION, DataType::Int64, Arc::new(Int64Array::from(trace_durations))),
        ];
        for (name, data_type, array) in extra {
            fields.push(ArrowField::new(name, data_type, true));
            columns.push(array);
        }
        out.push(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?);
    }
    Ok(Candidates { batches: out, spans, traces })
}

fn strings(array: &ArrayRef) -> Result<&StringArray> {
    array.as_string_opt::<i32>().ok_or_else(|| QueryError::Layout("expected a text column".into()))
}

/// For each leaf of `program`, which span rows it matches.
pub async fn leaf_matches(ctx: &SessionContext, program: &Program, candidates: &Candidates) -> Result<Vec<Vec<bool>>> {
    let rows = candidates.spans.len();
    let mut out = vec![vec![false; rows]; program.leaves.len()];
    if rows == 0 {
        return Ok(out);
    }
    let traceql = |e: super::error::ParseError| QueryError::TraceQl(e.render(""));
    for (i, leaf) in program.leaves.iter().enumerate() {
        let mut df = ctx.read_batches(candidates.batches.iter().cloned())?;
        if reads(leaf, Intrinsic::EventName) {
            df = df
                .unnest_columns(&[spans_col::EVENTS])?
                .with_column(enriched::EVENT_NAME, get_field(col(spans_col::EVENTS), "name"))?;
        }
        if reads(leaf, Intrinsic::LinkTraceId) {
            df = df
                .unnest_columns(&[spans_col::LINKS])?
                .with_column(enriched::LINK_TRACE_ID, get_field(col(spans_col::LINKS), "trace_id"))?;
        }
        let expr = program.leaf_expr(i, Target::Exact).map_err(traceql)?;
        let batches = df.filter(expr.is_true())?.select_columns(&[enriched::ROW])?.collect().await?;
        for batch in &batches {
            let Some(ids) = batch.columns().first().and_then(|c| c.as_primitive_opt::<Int64Type>()) else {
                return Err(QueryError::Layout("__row is not an int64 column".into()));
            };
            for id in ids.iter().flatten() {
                if let Some(slot) = usize::try_from(id).ok().and_then(|r| out.get_mut(i)?.get_mut(r)) {
                    *slot = true;
                }
            }
        }
    }
    Ok(out)
}

/// The rows of one trace and the relations between them.
pub struct TraceSpans<'a> {
    pub rows: Vec<usize>,
    spans: &'a [SpanInfo],
    by_id: HashMap<&'a str, usize>,
}

impl<'a> TraceSpans<'a> {
    pub fn new(rows: Vec<usize>, spans: &'a [SpanInfo]) -> Self {
        let by_id = rows.iter().filter_map(|&r| Some((spans.get(r)?.span_id.as_str(), r))).collect();
        TraceSpans { rows, spans, by_id }
    }

    fn parent_id(&self, row: usize) -> Option<&str> {
        self.spans.get(row)?.parent.as_deref()
    }

    fn parent(&self, row: usize) -> Option<usize> {
        self.parent_id(row).and_then(|p| self.by_id.get(p).copied())
    }

    /// Ancestors, nearest first; stops on a cycle.
    fn ancestors(&self, row: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut at = row;
        while let Some(p) = self.parent(at) {
            if p == row || out.len() > self.rows.len() {
                break;
            }
            out.push(p);
            at = p;
        }
        out
    }

    /// The spans of the trace that `set` selects; empty means no match.
    pub fn eval(&self, set: &Set, leaves: &[Vec<bool>]) -> BTreeSet<usize> {
        match set {
            Set::Leaf(i) => self.rows.iter().copied().filter(|&r| matches(leaves, *i, r)).collect(),
            Set::And(a, b) => {
                let (a, b) = (self.eval(a, leaves), self.eval(b, leaves));
                match a.is_empty() || b.is_empty() {
                    true => BTreeSet::new(),
                    false => a.union(&b).copied().collect(),
                }
            }
            Set::Or(a, b) => self.eval(a, leaves).union(&self.eval(b, leaves)).copied().collect(),
            Set::Structural(op, a, b) => {
                let (lhs, rhs) = (self.eval(a, leaves), self.eval(b, leaves));
                rhs.into_iter().filter(|&r| self.related(*op, &lhs, r)).collect()
            }
            Set::Piped(source, steps) => {
                let mut current = self.eval(source, leaves);
                for step in steps {
                    if current.is_empty() {
                        break;
                    }
                    match step {
                        Step::Filter(i) => current.retain(|&r| matches(leaves, *i, r)),
                        Step::Aggregate { func, op, value } => {
                            if !self.aggregate_holds(&current, *func, *op, value) {
                                current.clear();
                            }
                        }
                    }
                }
                current
            }
        }
    }

    /// Whether `r` (a right-hand span) stands in `op` to some span of `lhs`.
    fn related(&self, op: Structural, lhs: &BTreeSet<usize>, r: usize) -> bool {
        match op {
            Structural::Child => self.parent(r).is_some_and(|p| lhs.contains(&p)),
            Structural::Descendant => self.ancestors(r).iter().any(|a| lhs.contains(a)),
            Structural::Parent => lhs.iter().any(|&l| self.parent(l) == Some(r)),
            Structural::Ancestor => lhs.iter().any(|&l| self.ancestors(l).contains(&r)),
            Structural::Sibling => {
                let parent = self.parent_id(r);
                parent.is_some() && lhs.iter().any(|&l| l != r && self.parent_id(l) == parent)
            }
        }
    }

    fn aggregate_holds(&self, set: &BTreeSet<usize>, func: Aggregate, op: CmpOp, value: &Literal) -> bool {
        let durations = set.iter().filter_map(|&r| self.spans.get(r)).map(|s| s.duration as f64);
        let got = match func {
            Aggregate::Count => set.len() as f64,
            Aggregate::Sum => durations.sum(),
            Aggregate::Avg => durations.sum::<f64>() / set.len().max(1) as f64,
            Aggregate::Min => durations.fold(f64::INFINITY, f64::min),
            Aggregate::Max => durations.fold(f64::NEG_INFINITY, f64::max),
        };
        let want = match value {
            Literal::Int(i) => *i as f64,
            Literal::Float(f) => *f,
            Literal::Duration(d) => d.as_nanos() as f64,
            _ => return false,
        };
        match op {
            CmpOp::Eq => got == want,
            CmpOp::Ne => got != want,
            CmpOp::Gt => got > want,
            CmpOp::Ge => got >= want,
            CmpOp::Lt => got < want,
            CmpOp::Le => got <= want,
            CmpOp::Re | CmpOp::NotRe => false,
        }
    }
}

/// Whether leaf `leaf` matched row `row`.
fn matches(leaves: &[Vec<bool>], leaf: usize, row: usize) -> bool {
    leaves.get(leaf).and_then(|m| m.get(row)).copied().unwrap_or(false)
}
