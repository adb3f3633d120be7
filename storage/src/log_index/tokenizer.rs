//! The log tokenizer: what a body is split into, for the tantivy index and for the memtable
//! matcher alike (both call [`tokens`], so a query means the same on flushed and unflushed logs).
//!
//! Rules, chosen for machine-written lines:
//! - a token is a run of Unicode letters and digits; everything else separates (so
//!   `ORD-00010` → `ord` `00010`, `order_id=42` → `order` `id` `42`, `/api/cart` → `api`
//!   `cart`, `10.0.0.1` → `10` `0` `0` `1`, a UUID → its five groups);
//! - lowercase (Unicode), so search is case-insensitive;
//! - a camelCase / PascalCase word (`getUserById`, `HTTPServer`) yields its parts at
//!   consecutive positions, and, when indexing, also the whole word at the first part's
//!   position, so both `user` and `getuserbyid` find it;
//! - tokens longer than [`MAX_TOKEN_BYTES`] are cut (a base64 blob is not a word).
//!
//! A query word that yields several tokens (`ORD-00010`, `order_id=42`, `GetUserById`) is
//! searched as a phrase of them: the separators must be between the same tokens, in order.

/// Longest token kept, in bytes (tantivy refuses terms over 65,530 bytes).
pub const MAX_TOKEN_BYTES: usize = 255;

/// Whether whole camelCase words are emitted too (index) or only their parts (query).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Index,
    Query,
}

/// One token: its position (in tokens) and byte range in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tok {
    pub position: usize,
    pub text: String,
    pub from: usize,
    pub to: usize,
}

/// The tokens of `text` (see the module docs).
pub fn tokens(text: &str, mode: Mode) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut position = 0;
    let mut start = None;
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            word(text, s, i, mode, &mut position, &mut out);
        }
    }
    if let Some(s) = start {
        word(text, s, text.len(), mode, &mut position, &mut out);
    }
    out
}

/// Emits one alphanumeric run: its camelCase parts, and the whole word when indexing.
fn word(text: &str, from: usize, to: usize, mode: Mode, position: &mut usize, out: &mut Vec<Tok>) {
    let Some(run) = text.get(from..to) else { return };
    let parts = camel_parts(run);
    if parts.len() > 1 && mode == Mode::Index {
        out.push(Tok { position: *position, text: lower(run), from, to });
    }
    for (a, b) in parts {
        if let Some(part) = run.get(a..b) {
            out.push(Tok { position: *position, text: lower(part), from: from + a, to: from + b });
            *position += 1;
        }
    }
}

fn lower(s: &str) -> String {
    let mut out = s.to_lowercase();
    if out.len() > MAX_TOKEN_BYTES {
        let mut end = MAX_TOKEN_BYTES;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    out
}

/// Byte ranges of the camelCase parts of an alphanumeric run: a boundary before an upper-case
/// letter that follows a lower-case letter or a digit (`getUser`, `v2Api`), and before the last
/// upper-case letter of a capital run followed by lower case (`HTTPServer` → `HTTP` `Server`).
fn camel_parts(run: &str) -> Vec<(usize, usize)> {
    let chars: Vec<(usize, char)> = run.char_indices().collect();
    let mut parts = Vec::new();
    let mut start = 0;
    for k in 1..chars.len() {
        let (i, c) = chars[k];
        let prev = chars[k - 1].1;
        let next_lower = chars.get(k + 1).is_some_and(|(_, n)| n.is_lowercase());
        let boundary =
            c.is_uppercase() && ((prev.is_lowercase() || prev.is_numeric()) || (prev.is_uppercase() && next_lower));
        if boundary {
            parts.push((start, i));
            start = i;
        }
    }
    parts.push((start, run.len()));
    parts
}

/// The tantivy form of [`tokens`] in [`Mode::Index`], registered as [`super::BODY_TOKENIZER`].
#[derive(Debug, Clone, Default)]
pub struct LogTokenizer;

pub struct LogTokenStream {
    tokens: std::vec::IntoIter<Tok>,
    current: tantivy::tokenizer::Token,
}

impl tantivy::tokenizer::Tokenizer for LogTokenizer {
    type TokenStream<'a> = LogTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> LogTokenStream {
        LogTokenStream { tokens: tokens(text, Mode::Index).into_iter(), current: Default::default() }
    }
}

impl tantivy::tokenizer::TokenStream for LogTokenStream {
    fn advance(&mut self) -> bool {
        let Some(tok) = self.tokens.next() else { return false };
        self.current = tantivy::tokenizer::Token {
            offset_from: tok.from,
            offset_to: tok.to,
            position: tok.position,
            text: tok.text,
            position_length: 1,
        };
        true
    }

    fn token(&self) -> &tantivy::tokenizer::Token {
        &self.current
    }

    fn token_mut(&mut self) -> &mut tantivy::tokenizer::Token {
        &mut self.current
    }
}

#[cfg(test)]
mod tests;
