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
    let mut stream = LogTokenStream::new(text, mode);
    let mut out = Vec::new();
    while stream.next_token() {
        let t = &stream.current;
        out.push(Tok { position: t.position, text: t.text.clone(), from: t.offset_from, to: t.offset_to });
    }
    out
}

/// The tantivy form of [`tokens`] in [`Mode::Index`], registered as [`super::BODY_TOKENIZER`].
#[derive(Debug, Clone, Default)]
pub struct LogTokenizer;

impl tantivy::tokenizer::Tokenizer for LogTokenizer {
    type TokenStream<'a> = LogTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> LogTokenStream<'a> {
        LogTokenStream::new(text, Mode::Index)
    }
}

/// Tokens one at a time, written into one reused [`Token`](tantivy::tokenizer::Token): no
/// allocation per token (indexing runs this over every byte of every body).
pub struct LogTokenStream<'a> {
    text: &'a str,
    mode: Mode,
    /// Where the scan for the next alphanumeric run resumes.
    cursor: usize,
    /// Position of the next run's first token.
    position: usize,
    /// camelCase parts of the current run (absolute byte ranges), and the next one to emit.
    parts: Vec<(usize, usize)>,
    next_part: usize,
    /// Position of the current run's first part.
    run_position: usize,
    current: tantivy::tokenizer::Token,
}

impl<'a> LogTokenStream<'a> {
    fn new(text: &'a str, mode: Mode) -> Self {
        LogTokenStream {
            text,
            mode,
            cursor: 0,
            position: 0,
            parts: Vec::new(),
            next_part: 0,
            run_position: 0,
            current: Default::default(),
        }
    }

    fn next_token(&mut self) -> bool {
        if let Some(&(from, to)) = self.parts.get(self.next_part) {
            self.emit(from, to, self.run_position + self.next_part);
            self.next_part += 1;
            return true;
        }
        let Some((from, to)) = self.next_run() else { return false };
        camel_parts(self.text, from, to, &mut self.parts);
        self.run_position = self.position;
        self.position += self.parts.len();
        if self.parts.len() > 1 && self.mode == Mode::Index {
            // The whole word first, at its first part's position; the parts follow.
            self.next_part = 0;
            self.emit(from, to, self.run_position);
        } else {
            self.next_part = 1;
            let (a, b) = self.parts.first().copied().unwrap_or((from, to));
            self.emit(a, b, self.run_position);
        }
        true
    }

    /// The next run of letters and digits at or after the cursor, as a byte range.
    fn next_run(&mut self) -> Option<(usize, usize)> {
        let rest = self.text.get(self.cursor..)?;
        let mut chars = rest.char_indices().skip_while(|(_, c)| !c.is_alphanumeric());
        let (start, _) = chars.next()?;
        let end = chars.find(|(_, c)| !c.is_alphanumeric()).map_or(rest.len(), |(i, _)| i);
        self.cursor += end;
        Some((self.cursor - (end - start), self.cursor))
    }

    /// Makes `text[from..to]`, lower-cased and cut to [`MAX_TOKEN_BYTES`], the current token.
    fn emit(&mut self, from: usize, to: usize, position: usize) {
        let word = self.text.get(from..to).unwrap_or_default();
        let text = &mut self.current.text;
        text.clear();
        if word.is_ascii() {
            text.push_str(word);
            text.make_ascii_lowercase();
        } else {
            text.push_str(&word.to_lowercase());
        }
        if text.len() > MAX_TOKEN_BYTES {
            let mut end = MAX_TOKEN_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        self.current.offset_from = from;
        self.current.offset_to = to;
        self.current.position = position;
        self.current.position_length = 1;
    }
}

/// Byte ranges (in `text`) of the camelCase parts of the alphanumeric run `text[from..to]`: a
/// boundary before an upper-case letter that follows a lower-case letter or a digit (`getUser`,
/// `v2Api`), and before the last upper-case letter of a capital run followed by lower case
/// (`HTTPServer` → `HTTP` `Server`).
fn camel_parts(text: &str, from: usize, to: usize, out: &mut Vec<(usize, usize)>) {
    out.clear();
    let run = text.get(from..to).unwrap_or_default();
    let mut chars = run.char_indices().peekable();
    let mut start = 0;
    if let Some((_, mut prev)) = chars.next() {
        while let Some((i, c)) = chars.next() {
            if c.is_uppercase() {
                let next_lower = chars.peek().is_some_and(|(_, n)| n.is_lowercase());
                if prev.is_lowercase() || prev.is_numeric() || (prev.is_uppercase() && next_lower) {
                    out.push((from + start, from + i));
                    start = i;
                }
            }
            prev = c;
        }
    }
    out.push((from + start, to));
}

impl tantivy::tokenizer::TokenStream for LogTokenStream<'_> {
    fn advance(&mut self) -> bool {
        self.next_token()
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
