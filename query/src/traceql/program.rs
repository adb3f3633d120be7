//! A parsed query laid out for evaluation: every spanset filter (a *leaf*) gets
//! an index; the spanset operators and pipeline stages refer to leaves by index.
//! From it come the find plan's [`TraceCondition`] (pushed into the time-pruned
//! scan) and whether that condition alone decides the query.

use datafusion::prelude::Expr;

use super::ast::{Aggregate, CmpOp, Condition, Field, Literal, Pipeline, SpansetExpr, Stage, Structural};
use super::compile::{compile, fields, needs_exact, Target};
use super::error::ParseError;
use crate::search::TraceCondition;

#[derive(Debug, Clone, PartialEq)]
pub enum Set {
    Leaf(usize),
    And(Box<Set>, Box<Set>),
    Or(Box<Set>, Box<Set>),
    Structural(Structural, Box<Set>, Box<Set>),
    Piped(Box<Set>, Vec<Step>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Aggregate { func: Aggregate, op: CmpOp, value: Literal },
    Filter(usize),
}

pub struct Program {
    pub set: Set,
    pub leaves: Vec<Condition>,
    /// Attributes and intrinsics to report with matched spans: those the query
    /// compares, then those it `select`s.
    pub reported: Vec<Field>,
}

impl Program {
    pub fn new(pipeline: &Pipeline) -> Program {
        let mut program = Program { set: Set::Leaf(0), leaves: Vec::new(), reported: Vec::new() };
        program.set = program.pipeline(pipeline);
        for leaf in &program.leaves {
            for field in fields(leaf) {
                if !program.reported.contains(&field) {
                    program.reported.push(field);
                }
            }
        }
        let mut selected = Vec::new();
        collect_selects(pipeline, &mut selected);
        for field in selected {
            if !program.reported.contains(&field) {
                program.reported.push(field);
            }
        }
        program
    }

    fn leaf(&mut self, condition: &Condition) -> usize {
        self.leaves.push(condition.clone());
        self.leaves.len() - 1
    }

    fn pipeline(&mut self, pipeline: &Pipeline) -> Set {
        let source = self.spanset(&pipeline.source);
        let steps: Vec<Step> = pipeline
            .stages
            .iter()
            .filter_map(|stage| match stage {
                Stage::Aggregate { func, op, value, .. } => {
                    Some(Step::Aggregate { func: *func, op: *op, value: value.clone() })
                }
                Stage::Filter(c) => Some(Step::Filter(self.leaf(c))),
                Stage::Select(_) => None,
            })
            .collect();
        match steps.is_empty() {
            true => source,
            false => Set::Piped(Box::new(source), steps),
        }
    }

    fn spanset(&mut self, expr: &SpansetExpr) -> Set {
        match expr {
            SpansetExpr::Filter(c) => Set::Leaf(self.leaf(c)),
            SpansetExpr::And(a, b) => Set::And(Box::new(self.spanset(a)), Box::new(self.spanset(b))),
            SpansetExpr::Or(a, b) => Set::Or(Box::new(self.spanset(a)), Box::new(self.spanset(b))),
            SpansetExpr::Structural(op, a, b) => {
                Set::Structural(*op, Box::new(self.spanset(a)), Box::new(self.spanset(b)))
            }
            SpansetExpr::Nested(p) => self.pipeline(p),
        }
    }

    /// The condition of the find plan: necessary for a match, and sufficient when
    /// [`Self::is_exact`].
    pub fn condition(&self) -> Result<TraceCondition, ParseError> {
        self.condition_of(&self.set)
    }

    fn condition_of(&self, set: &Set) -> Result<TraceCondition, ParseError> {
        Ok(match set {
            Set::Leaf(i) => TraceCondition::Span(self.leaf_expr(*i, Target::Find)?),
            Set::And(a, b) | Set::Structural(_, a, b) => {
                TraceCondition::All(vec![self.condition_of(a)?, self.condition_of(b)?])
            }
            Set::Or(a, b) => TraceCondition::Any(vec![self.condition_of(a)?, self.condition_of(b)?]),
            Set::Piped(source, steps) => {
                let mut all = vec![self.condition_of(source)?];
                for step in steps {
                    if let Step::Filter(i) = step {
                        all.push(TraceCondition::Span(self.leaf_expr(*i, Target::Find)?));
                    }
                }
                TraceCondition::All(all)
            }
        })
    }

    pub fn leaf_expr(&self, leaf: usize, target: Target) -> Result<Expr, ParseError> {
        match self.leaves.get(leaf) {
            Some(condition) => compile(condition, target),
            None => Err(ParseError::new(0, "a spanset filter")),
        }
    }

    /// Whether the find plan's condition decides the query by itself (no
    /// structural operator, pipeline or field that only the fetched traces have).
    pub fn is_exact(&self) -> bool {
        fn simple(set: &Set) -> bool {
            match set {
                Set::Leaf(_) => true,
                Set::And(a, b) | Set::Or(a, b) => simple(a) && simple(b),
                Set::Structural(..) | Set::Piped(..) => false,
            }
        }
        simple(&self.set) && !self.leaves.iter().any(needs_exact)
    }
}

fn collect_selects(pipeline: &Pipeline, out: &mut Vec<Field>) {
    fn spanset(expr: &SpansetExpr, out: &mut Vec<Field>) {
        match expr {
            SpansetExpr::Filter(_) => {}
            SpansetExpr::And(a, b) | SpansetExpr::Or(a, b) | SpansetExpr::Structural(_, a, b) => {
                spanset(a, out);
                spanset(b, out);
            }
            SpansetExpr::Nested(p) => collect_selects(p, out),
        }
    }
    spanset(&pipeline.source, out);
    for stage in &pipeline.stages {
        if let Stage::Select(fields) = stage {
            out.extend(fields.iter().cloned());
        }
    }
}
