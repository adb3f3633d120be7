//! The read-only wall of the SQL API, on the parsed AST: one statement, and only
//! `SELECT`/`WITH` (queries), `EXPLAIN` of those, `SHOW …` and `DESCRIBE`.
//!
//! Order of the checks, cheapest first: the text size, the parser (with a
//! recursion limit, so deeply parenthesised input is an error rather than a
//! stack overflow), then one walk of the AST that refuses anything that is not
//! read-only (including `INSERT … RETURNING` inside a CTE and `SELECT … INTO`)
//! and expressions or set operations nested deeper than the limit. The parser
//! builds left-deep trees for `1+1+1…` without recursing, so that depth check
//! is what keeps a 5,000-term expression away from the planner.
//!
//! [`check`] must run on a thread with a large stack (see [`crate::sql`]): the
//! AST of a long expression is deep, and dropping it recurses.

use std::collections::VecDeque;
use std::ops::ControlFlow;

use datafusion::error::DataFusionError;
use datafusion::sql::parser::{DFParserBuilder, Statement};
use datafusion::sql::sqlparser::ast::{
    Expr, Query, Select, SetExpr, Statement as SqlStatement, TableFactor, Visit, Visitor,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::ParserError;

use crate::error::QueryError;

/// Bounds of the guard.
#[derive(Debug, Clone, Copy)]
pub struct GuardLimits {
    /// Largest SQL text accepted, in bytes.
    pub max_text_bytes: usize,
    /// The parser's recursion limit (nested parentheses, subqueries).
    pub parser_recursion_limit: usize,
    /// Deepest nesting of expressions, subqueries and set operations accepted.
    pub max_depth: usize,
}

/// Parses `sql` and checks it is one read-only statement within the limits.
pub fn check(sql: &str, limits: GuardLimits) -> Result<Statement, QueryError> {
    if sql.len() > limits.max_text_bytes {
        return Err(QueryError::SqlTooLong { bytes: sql.len(), limit: limits.max_text_bytes });
    }
    let dialect = GenericDialect {};
    let mut statements = DFParserBuilder::new(sql)
        .with_dialect(&dialect)
        .with_recursion_limit(limits.parser_recursion_limit)
        .build()
        .and_then(|mut parser| parser.parse_statements())
        .map_err(|e| parse_error(e, sql))?;
    let statement = single(&mut statements)?;
    check_statement(&statement, limits.max_depth)?;
    Ok(statement)
}

fn single(statements: &mut VecDeque<Statement>) -> Result<Statement, QueryError> {
    match statements.len() {
        0 => Err(QueryError::SqlRefused("the SQL text holds no statement".into())),
        1 => statements.pop_front().ok_or_else(|| QueryError::SqlRefused("no statement".into())),
        n => Err(QueryError::SqlRefused(format!("{n} statements were sent; send one statement per request"))),
    }
}

/// The parser's message (it names the line and column), without DataFusion's
/// wrapping; at the end of the text, where the parser names no position, the
/// position of the end.
fn parse_error(e: DataFusionError, sql: &str) -> QueryError {
    match e.find_root() {
        DataFusionError::SQL(parser_error, _) => match parser_error.as_ref() {
            ParserError::RecursionLimitExceeded => QueryError::SqlTooDeep {
                what: "parentheses or subqueries nested deeper than the parser's limit \
                       (query.sql.parser_recursion_limit)"
                    .into(),
            },
            ParserError::ParserError(m) | ParserError::TokenizerError(m) if m.contains("Line: ") => {
                QueryError::SqlSyntax(m.clone())
            }
            ParserError::ParserError(m) | ParserError::TokenizerError(m) => {
                QueryError::SqlSyntax(format!("{m} at the end of the text ({})", end_position(sql)))
            }
        },
        other => QueryError::SqlSyntax(other.strip_backtrace()),
    }
}

/// `Line: L, Column: C` just past the last character, counted as the parser counts (1-based).
fn end_position(sql: &str) -> String {
    let line = sql.split('\n').count();
    let column = sql.rsplit('\n').next().map_or(0, |last| last.chars().count()) + 1;
    format!("Line: {line}, Column: {column}")
}

fn check_statement(statement: &Statement, max_depth: usize) -> Result<(), QueryError> {
    match statement {
        Statement::Statement(inner) => {
            let mut walk = ReadOnly { depth: 0, max_depth };
            match inner.visit(&mut walk) {
                ControlFlow::Continue(()) => Ok(()),
                ControlFlow::Break(stop) => Err(stop.into_error(max_depth)),
            }
        }
        Statement::Explain(explain) => check_statement(&explain.statement, max_depth),
        Statement::CreateExternalTable(_) => Err(refused("CREATE EXTERNAL TABLE")),
        Statement::CopyTo(_) => Err(refused("COPY")),
        Statement::Reset(_) => Err(refused("RESET")),
    }
}

fn refused(what: &str) -> QueryError {
    QueryError::SqlRefused(format!(
        "{what} is not allowed: the SQL API is read-only (SELECT, WITH, EXPLAIN, SHOW, DESCRIBE)"
    ))
}

/// Why the walk stopped; small, as the visitor's recursion carries it.
enum Stop {
    Refused(Box<str>),
    TooDeep(&'static str),
}

impl Stop {
    fn into_error(self, max_depth: usize) -> QueryError {
        match self {
            Stop::Refused(what) => refused(&what),
            Stop::TooDeep(what) => QueryError::SqlTooDeep {
                what: format!("{what} nested more than {max_depth} levels deep (query.sql.max_depth)"),
            },
        }
    }
}

/// Refuses what is not read-only and measures nesting. Every `pre_` hook that
/// descends adds one level and its `post_` hook removes it, so the walk itself
/// never goes deeper than the limit: it stops there.
struct ReadOnly {
    depth: usize,
    max_depth: usize,
}

impl ReadOnly {
    fn descend(&mut self, what: &'static str) -> ControlFlow<Stop> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return ControlFlow::Break(Stop::TooDeep(what));
        }
        ControlFlow::Continue(())
    }

    fn ascend(&mut self) -> ControlFlow<Stop> {
        self.depth = self.depth.saturating_sub(1);
        ControlFlow::Continue(())
    }
}

impl Visitor for ReadOnly {
    type Break = Stop;

    fn pre_visit_statement(&mut self, statement: &SqlStatement) -> ControlFlow<Stop> {
        if let Some(what) = refused_statement(statement) {
            return ControlFlow::Break(Stop::Refused(what.into()));
        }
        self.descend("statements")
    }

    fn post_visit_statement(&mut self, _: &SqlStatement) -> ControlFlow<Stop> {
        self.ascend()
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<Stop> {
        if set_expr_depth(&query.body) > self.max_depth {
            return ControlFlow::Break(Stop::TooDeep("set operations (UNION, INTERSECT, EXCEPT)"));
        }
        self.descend("subqueries")
    }

    fn post_visit_query(&mut self, _: &Query) -> ControlFlow<Stop> {
        self.ascend()
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<Stop> {
        if select.into.is_some() {
            return ControlFlow::Break(Stop::Refused("SELECT … INTO".into()));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, _: &TableFactor) -> ControlFlow<Stop> {
        self.descend("joins and derived tables")
    }

    fn post_visit_table_factor(&mut self, _: &TableFactor) -> ControlFlow<Stop> {
        self.ascend()
    }

    fn pre_visit_expr(&mut self, _: &Expr) -> ControlFlow<Stop> {
        self.descend("expressions")
    }

    fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<Stop> {
        self.ascend()
    }
}

/// `None` for the read-only statements; else the name of what is refused.
fn refused_statement(statement: &SqlStatement) -> Option<String> {
    match statement {
        SqlStatement::Query(_)
        | SqlStatement::Explain { .. }
        | SqlStatement::ExplainTable { .. }
        | SqlStatement::ShowTables { .. }
        | SqlStatement::ShowColumns { .. }
        | SqlStatement::ShowVariable { .. }
        | SqlStatement::ShowVariables { .. }
        | SqlStatement::ShowFunctions { .. }
        | SqlStatement::ShowSchemas { .. }
        | SqlStatement::ShowDatabases { .. }
        | SqlStatement::ShowCatalogs { .. }
        | SqlStatement::ShowViews { .. }
        | SqlStatement::ShowCreate { .. }
        | SqlStatement::ShowStatus { .. } => None,
        other => Some(statement_name(other)),
    }
}

/// The leading keywords of a statement (`INSERT`, `CREATE TABLE`, `SET`), for the message.
fn statement_name(statement: &SqlStatement) -> String {
    let text = statement.to_string();
    let mut words = text.split_whitespace().map(str::to_ascii_uppercase);
    let first = words.next().unwrap_or_default();
    let two_words = ["CREATE", "DROP", "ALTER", "TRUNCATE"];
    match words.next() {
        Some(second) if two_words.contains(&first.as_str()) && second.chars().all(|c| c.is_ascii_alphabetic()) => {
            format!("{first} {second}")
        }
        _ => first,
    }
}

/// Depth of a tree of set operations, walked without recursion.
fn set_expr_depth(body: &SetExpr) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(body, 1usize)];
    while let Some((node, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        if let SetExpr::SetOperation { left, right, .. } = node {
            stack.push((left, depth + 1));
            stack.push((right, depth + 1));
        }
    }
    deepest
}

#[cfg(test)]
mod tests;
