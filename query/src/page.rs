//! Paging of a waterfall's span list: `?depth=N` keeps spans at depth ≤ N,
//! then `?offset=` and `?limit=` cut a window out of what is left, in
//! depth-first order. Without parameters every span is returned.

use serde::{Deserialize, Serialize};

use crate::error::{QueryError, Result};
use crate::waterfall::PlacedSpan;

/// The query string as received; values are parsed by [`Page::from_params`]
/// so that bad ones get a clear message.
#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    pub limit: Option<String>,
    pub offset: Option<String>,
    pub depth: Option<String>,
}

/// What part of the span list to return.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Page {
    pub offset: usize,
    pub limit: Option<usize>,
    pub depth: Option<u32>,
}

/// The `page` object of the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PageInfo {
    pub offset: usize,
    pub limit: Option<usize>,
    pub depth: Option<u32>,
    /// Spans passing the depth filter, before `offset` and `limit`.
    pub total: usize,
    /// Spans in this response.
    pub returned: usize,
}

fn parse<T: std::str::FromStr>(name: &'static str, value: &Option<String>) -> Result<Option<T>> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| QueryError::InvalidParameter {
            name,
            reason: format!("{:?} is not a non-negative integer", text.chars().take(32).collect::<String>()),
        }),
    }
}

impl Page {
    pub fn from_params(params: &PageParams) -> Result<Self> {
        Ok(Page {
            offset: parse("offset", &params.offset)?.unwrap_or(0),
            limit: parse("limit", &params.limit)?,
            depth: parse("depth", &params.depth)?,
        })
    }

    /// The spans of this page, and the paging summary.
    pub fn select<'s>(&self, spans: &'s [PlacedSpan]) -> (Vec<&'s PlacedSpan>, PageInfo) {
        let depth = self.depth;
        let matching = spans.iter().filter(move |s| depth.is_none_or(|d| s.depth <= d));
        let total = match depth {
            None => spans.len(),
            Some(_) => matching.clone().count(),
        };
        let selected: Vec<&PlacedSpan> = matching.skip(self.offset).take(self.limit.unwrap_or(usize::MAX)).collect();
        let info =
            PageInfo { offset: self.offset, limit: self.limit, depth: self.depth, total, returned: selected.len() };
        (selected, info)
    }
}
