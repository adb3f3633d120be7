//! TraceQL errors: where (byte offset in the query) and what was expected.

use crate::error::QueryError;

#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// Byte offset in the query text.
    pub pos: usize,
    pub expected: String,
    pub found: Option<String>,
}

impl ParseError {
    pub fn new(pos: usize, expected: impl Into<String>) -> Self {
        ParseError { pos, expected: expected.into(), found: None }
    }

    pub fn found(mut self, found: impl Into<String>) -> Self {
        self.found = Some(found.into());
        self
    }

    /// The message for a user: line and column (1-based, in characters) and what went wrong.
    pub fn render(&self, query: &str) -> String {
        let before = query.get(..self.pos).unwrap_or(query);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        match &self.found {
            Some(found) => format!("line {line}, column {column}: expected {}, found {found}", self.expected),
            None => format!("line {line}, column {column}: expected {}", self.expected),
        }
    }

    pub fn into_query_error(self, query: &str) -> QueryError {
        QueryError::TraceQl(self.render(query))
    }
}
