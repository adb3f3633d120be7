//! The TraceQL syntax tree. Positions are byte offsets into the query text.

use std::time::Duration;

/// A whole query: a spanset expression and the pipeline stages after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub source: SpansetExpr,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SpansetExpr {
    /// `{ condition }`; `{ }` matches every span.
    Filter(Condition),
    And(Box<SpansetExpr>, Box<SpansetExpr>),
    Or(Box<SpansetExpr>, Box<SpansetExpr>),
    /// `lhs op rhs`: the spans of `rhs` in the relation `op` to some span of `lhs`.
    Structural(Structural, Box<SpansetExpr>, Box<SpansetExpr>),
    /// `( spanset | stage ... )`
    Nested(Box<Pipeline>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Structural {
    /// `>`: rhs spans whose parent is an lhs span.
    Child,
    /// `>>`: rhs spans with an lhs ancestor.
    Descendant,
    /// `<`: rhs spans that are the parent of an lhs span.
    Parent,
    /// `<<`: rhs spans that are an ancestor of an lhs span.
    Ancestor,
    /// `~`: rhs spans sharing a parent with an lhs span (not themselves).
    Sibling,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    All,
    Compare { field: Field, op: CmpOp, value: Literal, pos: usize },
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Re,
    NotRe,
}

impl CmpOp {
    /// The operator with its sides swapped (`1 < x` is `x > 1`); regexes have no mirror.
    pub fn mirrored(self) -> Option<CmpOp> {
        Some(match self {
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Eq | CmpOp::Ne => self,
            CmpOp::Re | CmpOp::NotRe => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Span,
    Resource,
    /// `.attr`: the span's attribute, else the resource's.
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Attribute(Scope, String),
    Intrinsic(Intrinsic),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Intrinsic {
    Name,
    Status,
    StatusMessage,
    Kind,
    Duration,
    RootName,
    RootServiceName,
    TraceDuration,
    EventName,
    LinkTraceId,
}

impl Intrinsic {
    /// Every spelling Tempo accepts, with its intrinsic.
    pub const NAMES: [(&'static str, Intrinsic); 17] = [
        ("name", Intrinsic::Name),
        ("span:name", Intrinsic::Name),
        ("status", Intrinsic::Status),
        ("span:status", Intrinsic::Status),
        ("statusMessage", Intrinsic::StatusMessage),
        ("span:statusMessage", Intrinsic::StatusMessage),
        ("kind", Intrinsic::Kind),
        ("span:kind", Intrinsic::Kind),
        ("duration", Intrinsic::Duration),
        ("span:duration", Intrinsic::Duration),
        ("rootName", Intrinsic::RootName),
        ("trace:rootName", Intrinsic::RootName),
        ("rootServiceName", Intrinsic::RootServiceName),
        ("trace:rootService", Intrinsic::RootServiceName),
        ("traceDuration", Intrinsic::TraceDuration),
        ("trace:duration", Intrinsic::TraceDuration),
        ("event:name", Intrinsic::EventName),
    ];

    pub fn from_name(name: &str) -> Option<Intrinsic> {
        if name == "link:traceID" {
            return Some(Intrinsic::LinkTraceId);
        }
        Self::NAMES.iter().find(|(n, _)| *n == name).map(|(_, i)| *i)
    }

    /// The name Tempo lists under the `intrinsic` scope of `/api/v2/search/tags`.
    pub fn canonical(self) -> &'static str {
        match self {
            Intrinsic::Name => "name",
            Intrinsic::Status => "status",
            Intrinsic::StatusMessage => "statusMessage",
            Intrinsic::Kind => "kind",
            Intrinsic::Duration => "duration",
            Intrinsic::RootName => "rootName",
            Intrinsic::RootServiceName => "rootServiceName",
            Intrinsic::TraceDuration => "traceDuration",
            Intrinsic::EventName => "event:name",
            Intrinsic::LinkTraceId => "link:traceID",
        }
    }

    /// Decided per trace, from the whole trace (not the span's own columns).
    pub fn is_trace_level(self) -> bool {
        matches!(self, Intrinsic::RootName | Intrinsic::RootServiceName | Intrinsic::TraceDuration)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Duration(Duration),
    /// `error`, `ok`, `unset`
    Status(String),
    /// `server`, `client`, `producer`, `consumer`, `internal`, `unspecified`
    Kind(String),
    Nil,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// `count() > 2`, `avg(duration) > 1s`: keeps the spanset when the comparison holds.
    Aggregate { func: Aggregate, op: CmpOp, value: Literal, pos: usize },
    /// `select(span.a, resource.b, name)`: fields to report with the matched spans.
    Select(Vec<Field>),
    /// `| { condition }`: narrows the spanset.
    Filter(Condition),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Count,
    Avg,
    Min,
    Max,
    Sum,
}
