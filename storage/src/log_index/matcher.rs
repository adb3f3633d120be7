//! Evaluates a [`LogQuery`] on rows held in memory (the memtables: logs acknowledged but not
//! flushed yet), with the semantics of the tantivy index: the same tokenizer, the same
//! lower-cased exact fields (see [`super::translate`] for the index side).

use super::query::LogQuery;
use super::rows::{attribute_term, LogRows};
use super::tokenizer::{tokens, Mode, Tok};

/// The rows of `rows` (in `range`, inclusive nanoseconds) that match `query`.
pub fn matching_rows(rows: &LogRows<'_>, query: &LogQuery, range: (i64, i64)) -> Vec<usize> {
    (0..rows.len())
        .filter(|&row| {
            let t = rows.time(row);
            t >= range.0 && t <= range.1 && Row { rows, row, body: None }.matches(query)
        })
        .collect()
}

struct Row<'r, 'a> {
    rows: &'r LogRows<'a>,
    row: usize,
    /// The body's tokens, computed on first use.
    body: Option<Vec<Tok>>,
}

impl Row<'_, '_> {
    fn matches(&mut self, query: &LogQuery) -> bool {
        match query {
            LogQuery::All => true,
            LogQuery::Body(words) => self.body_has(words),
            LogQuery::Service(v) => self.rows.service(self.row) == *v,
            LogQuery::Severity(v) => self.rows.severities(self.row).iter().any(|s| s == v),
            LogQuery::TraceId(v) => self.rows.trace_id(self.row) == Some(v.as_str()),
            LogQuery::SpanId(v) => self.rows.span_id(self.row) == Some(v.as_str()),
            LogQuery::Attribute { key, value } => {
                let want = attribute_term(key, value);
                self.rows.attribute_terms(self.row).contains(&want)
            }
            LogQuery::And(items) => items.iter().all(|q| self.matches(q)),
            LogQuery::Or(items) => items.iter().any(|q| self.matches(q)),
            LogQuery::Not(inner) => !self.matches(inner),
        }
    }

    /// Whether the body holds `words` at consecutive positions.
    fn body_has(&mut self, words: &[String]) -> bool {
        let rows = self.rows;
        let row = self.row;
        let toks = self.body.get_or_insert_with(|| rows.body(row).map(|b| tokens(b, Mode::Index)).unwrap_or_default());
        contains_phrase(toks, words)
    }
}

/// Whether the tokens of a body (in [`Mode::Index`]) hold `words` at consecutive positions.
pub(crate) fn contains_phrase(toks: &[Tok], words: &[String]) -> bool {
    let Some(first) = words.first() else { return false };
    toks.iter().filter(|t| t.text == *first).any(|start| {
        words
            .iter()
            .enumerate()
            .skip(1)
            .all(|(i, w)| toks.iter().any(|t| t.position == start.position + i && t.text == *w))
    })
}
