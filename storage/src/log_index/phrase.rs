//! The documents of a query's phrases, found before the query runs.
//!
//! On an index without token positions (`storage.flush.logs_index_positions: false`), a phrase
//! (a quoted `"connection reset by peer"`, or a word that splits into several tokens:
//! `ORD-00010`, `10.1.2.3`, a UUID) is first looked up as the intersection of its tokens, which
//! holds every log containing the phrase. The bodies of those candidates are read from the
//! Parquet file (the `body` column of those rows only), tokenized again, and the candidates
//! holding the tokens at consecutive positions are the phrase's documents. The query then runs
//! with each phrase replaced by its documents ([`PhraseDocs`]), so counts, newest-first order and
//! paging are exact, as with positions, under `NOT` as well. The cost grows with the candidates:
//! a phrase of common words reads most of a file's bodies.
//!
//! On an index with positions, a phrase is tantivy's `PhraseQuery`, except under a `NOT`: there
//! its documents are collected first the same way, because tantivy 0.27's phrase scorer inside an
//! exclusion is asked to seek backwards, which it does not support (a debug assertion; a
//! `NOT "phrase"` search tripped it). Collecting every phrase first cost ~20–30 % more per phrase
//! search.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use tantivy::collector::DocSetCollector;
use tantivy::index::SegmentId;
use tantivy::query::{
    BitSetDocSet, BooleanQuery, ConstScorer, EnableScoring, Explanation, Occur, PhraseQuery, Query, Scorer, TermQuery,
    Weight,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{BitSet, DocAddress, DocId, Score, Searcher, SegmentReader, TantivyError, Term};

use super::matcher::contains_phrase;
use super::query::LogQuery;
use super::tokenizer::{tokens, Mode};
use super::{index_error, OpenIndex};
use crate::error::{Result, StorageError};

/// The documents of the phrases of a query that are found before it runs (see the module docs).
#[derive(Default)]
pub(crate) struct PhraseDocs(HashMap<Vec<String>, DocsQuery>);

impl PhraseDocs {
    /// The documents of `words` as a query, if they were looked up.
    pub(crate) fn get(&self, words: &[String]) -> Option<Box<dyn Query>> {
        self.0.get(words).map(|docs| Box::new(docs.clone()) as Box<dyn Query>)
    }
}

/// Finds the documents of the phrases of `query` that need it in one file's index (every phrase
/// without positions, those under a `NOT` with them): candidates from the index (narrowed by
/// `restrict`, the search's time range), bodies from `parquet`.
pub(crate) fn find(
    searcher: &Searcher,
    index: &OpenIndex,
    parquet: &Path,
    query: &LogQuery,
    restrict: impl Fn(Box<dyn Query>) -> Box<dyn Query>,
) -> Result<PhraseDocs> {
    let mut phrases = Vec::new();
    collect(query, !index.positions, &mut phrases);
    if phrases.is_empty() {
        return Ok(PhraseDocs::default());
    }
    let fields = &index.fields;
    if index.positions {
        let mut out = PhraseDocs::default();
        for words in phrases {
            let terms = words.iter().map(|w| Term::from_field_text(fields.body, w)).collect();
            let phrase = restrict(Box::new(PhraseQuery::new(terms)));
            let docs = searcher.search(&*phrase, &DocSetCollector).map_err(|e| index_error("phrase", e))?;
            out.0.insert(words, DocsQuery::of(searcher, docs.into_iter().map(|doc| (doc, true))));
        }
        return Ok(out);
    }
    let mut candidates = Vec::with_capacity(phrases.len());
    for words in &phrases {
        let terms = words.iter().map(|w| {
            let term = TermQuery::new(Term::from_field_text(fields.body, w), IndexRecordOption::Basic);
            (Occur::Must, Box::new(term) as Box<dyn Query>)
        });
        let all_tokens = restrict(Box::new(BooleanQuery::new(terms.collect())));
        let docs = searcher.search(&*all_tokens, &DocSetCollector).map_err(|e| index_error("phrase", e))?;
        candidates.push(docs);
    }
    let rows = rows_of(searcher, candidates.iter().flatten())?;
    let mut wanted: Vec<usize> = rows.values().copied().collect();
    wanted.sort_unstable();
    wanted.dedup();
    let batch = super::search::read_rows_of(parquet, &wanted, &[crate::logs::col::BODY])?;
    let bodies = batch
        .columns()
        .first()
        .and_then(|c| c.as_string_opt::<i32>())
        .filter(|b| b.len() == wanted.len())
        .ok_or_else(|| StorageError::Internal(format!("{}: body column not read whole", parquet.display())))?;
    let mut out = PhraseDocs::default();
    for (words, docs) in phrases.into_iter().zip(candidates) {
        let verified = docs.into_iter().map(|doc| {
            let body = rows.get(&doc).and_then(|row| wanted.binary_search(row).ok()).filter(|&at| !bodies.is_null(at));
            let holds = body.is_some_and(|at| contains_phrase(&tokens(bodies.value(at), Mode::Index), &words));
            (doc, holds)
        });
        let docs = DocsQuery::of(searcher, verified);
        out.0.insert(words, docs);
    }
    Ok(out)
}

/// The distinct phrases (body words of several tokens) of `query`: all of them if `all`, else
/// those under a `NOT`.
fn collect(query: &LogQuery, all: bool, out: &mut Vec<Vec<String>>) {
    match query {
        LogQuery::Body(words) if all && words.len() > 1 && !out.contains(words) => out.push(words.clone()),
        LogQuery::And(items) | LogQuery::Or(items) => items.iter().for_each(|q| collect(q, all, out)),
        LogQuery::Not(inner) => collect(inner, true, out),
        _ => {}
    }
}

/// The Parquet row of each document of `docs`, from the `row` fast field.
fn rows_of<'a>(
    searcher: &Searcher,
    docs: impl IntoIterator<Item = &'a DocAddress>,
) -> Result<HashMap<DocAddress, usize>> {
    let mut by_segment: BTreeMap<u32, HashSet<DocId>> = BTreeMap::new();
    for doc in docs {
        by_segment.entry(doc.segment_ord).or_default().insert(doc.doc_id);
    }
    let mut out = HashMap::new();
    for (segment, docs) in by_segment {
        let rows =
            searcher.segment_reader(segment).fast_fields().u64("row").map_err(|e| index_error("row column", e))?;
        for doc in docs {
            if let Some(row) = rows.first(doc) {
                out.insert(DocAddress::new(segment, doc), row as usize);
            }
        }
    }
    Ok(out)
}

/// Fixed documents of each segment, as a tantivy query.
#[derive(Clone)]
pub(crate) struct DocsQuery(Arc<HashMap<SegmentId, BitSet>>);

impl DocsQuery {
    /// The documents of `docs` that are marked `true`.
    fn of(searcher: &Searcher, docs: impl IntoIterator<Item = (DocAddress, bool)>) -> Self {
        let mut sets: HashMap<SegmentId, BitSet> = searcher
            .segment_readers()
            .iter()
            .map(|reader| (reader.segment_id(), BitSet::with_max_value(reader.max_doc())))
            .collect();
        for (doc, keep) in docs {
            let segment = searcher.segment_reader(doc.segment_ord).segment_id();
            if let (true, Some(set)) = (keep, sets.get_mut(&segment)) {
                set.insert(doc.doc_id);
            }
        }
        DocsQuery(Arc::new(sets))
    }
}

impl fmt::Debug for DocsQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let docs: usize = self.0.values().map(|set| set.len()).sum();
        write!(f, "DocsQuery({docs} documents)")
    }
}

impl Query for DocsQuery {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl Weight for DocsQuery {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let set = self.0.get(&reader.segment_id()).cloned().unwrap_or_else(|| BitSet::with_max_value(0));
        Ok(Box::new(ConstScorer::new(BitSetDocSet::from(set), boost)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        match self.0.get(&reader.segment_id()) {
            Some(set) if set.contains(doc) => Ok(Explanation::new("phrase found in the body", 1.0)),
            _ => Err(TantivyError::InvalidArgument(format!("document {doc} does not hold the phrase"))),
        }
    }
}

#[cfg(test)]
mod tests;
