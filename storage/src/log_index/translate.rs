//! [`LogQuery`] → a tantivy query over the fields of [`super::Fields`]. Mirrors
//! [`super::matcher`]: a body word of one token is a term, of several a phrase; exact fields
//! are raw terms (the index holds them lower-cased); `NOT` is `MustNot` next to what must match,
//! or next to every document when nothing else must. A phrase is the documents
//! [`super::phrase::find`] found for it.

use tantivy::query::{AllQuery, BooleanQuery, Occur, PhraseQuery, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::Term;

use super::phrase::PhraseDocs;
use super::query::LogQuery;
use super::rows::attribute_term;
use super::Fields;

pub fn to_tantivy(query: &LogQuery, fields: &Fields, phrases: &PhraseDocs) -> Box<dyn Query> {
    match query {
        LogQuery::All => Box::new(AllQuery),
        LogQuery::Body(words) => {
            if let Some(docs) = phrases.get(words) {
                return docs;
            }
            let terms: Vec<Term> = words.iter().map(|w| Term::from_field_text(fields.body, w)).collect();
            match terms.as_slice() {
                [one] => term(one.clone()),
                _ => Box::new(PhraseQuery::new(terms)),
            }
        }
        LogQuery::Service(v) => text_term(fields.service, v),
        LogQuery::Severity(v) => text_term(fields.severity, v),
        LogQuery::TraceId(v) => text_term(fields.trace_id, v),
        LogQuery::SpanId(v) => text_term(fields.span_id, v),
        LogQuery::Attribute { key, value } => text_term(fields.attribute, &attribute_term(key, value)),
        LogQuery::And(items) => {
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = items
                .iter()
                .map(|q| match q {
                    LogQuery::Not(inner) => (Occur::MustNot, to_tantivy(inner, fields, phrases)),
                    q => (Occur::Must, to_tantivy(q, fields, phrases)),
                })
                .collect();
            if clauses.iter().all(|(occur, _)| *occur == Occur::MustNot) {
                clauses.push((Occur::Must, Box::new(AllQuery)));
            }
            Box::new(BooleanQuery::new(clauses))
        }
        LogQuery::Or(items) => {
            Box::new(BooleanQuery::new(items.iter().map(|q| (Occur::Should, to_tantivy(q, fields, phrases))).collect()))
        }
        LogQuery::Not(inner) => Box::new(BooleanQuery::new(vec![
            (Occur::Must, Box::new(AllQuery)),
            (Occur::MustNot, to_tantivy(inner, fields, phrases)),
        ])),
    }
}

fn term(term: Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(term, IndexRecordOption::Basic))
}

fn text_term(field: Field, value: &str) -> Box<dyn Query> {
    term(Term::from_field_text(field, value))
}
