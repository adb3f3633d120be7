//! The log search language (`q` of `GET /api/v1/logs`, and `matches(body, '...')` in SQL).
//!
//! ```text
//! query   := or?                         (empty: every log)
//! or      := and ("OR" and)*
//! and     := unary (["AND"] unary)*      (juxtaposition is AND)
//! unary   := ("NOT" | "-") unary | primary
//! primary := "(" or ")" | field ":" value | "\"phrase\"" | word
//! value   := word | "\"phrase\""
//! ```
//! `AND`, `OR`, `NOT` are operators only in upper case; `-` at the start of a term is `NOT`
//! (quote `"-42"` to search for it). Fields: `service`, `severity`,
//! `trace_id`, `span_id`, `body`; any other `key:value` is an attribute (log or resource)
//! whose text equals the value (case-insensitive). A word is searched in the body with the
//! log tokenizer: one token is a term, several a phrase. Errors name the byte position.

use std::fmt;

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum LogQuery {
    /// Every log (the empty query).
    All,
    /// Body contains these query tokens at consecutive positions (one token: a term).
    Body(Vec<String>),
    Service(String),
    Severity(String),
    TraceId(String),
    SpanId(String),
    /// An attribute whose key and text value match, both lower-cased.
    Attribute {
        key: String,
        value: String,
    },
    And(Vec<LogQuery>),
    Or(Vec<LogQuery>),
    Not(Box<LogQuery>),
}

/// A malformed query: what and where (byte offset into the query text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub position: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at position {}", self.message, self.position)
    }
}

impl std::error::Error for ParseError {}

/// Deepest nesting of parentheses and `NOT`s accepted (the parser recurses).
pub const MAX_DEPTH: usize = 64;
/// Longest query text accepted.
pub const MAX_QUERY_BYTES: usize = 16 * 1024;

/// Parses `text` (see the module docs).
pub fn parse(text: &str) -> Result<LogQuery, ParseError> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(ParseError {
            position: MAX_QUERY_BYTES,
            message: format!("query longer than {MAX_QUERY_BYTES} bytes"),
        });
    }
    let tokens = lex(text)?;
    if tokens.is_empty() {
        return Ok(LogQuery::All);
    }
    let mut parser = Parser { tokens, pos: 0, end: text.len() };
    let query = parser.or(0)?;
    if let Some(tok) = parser.peek() {
        return Err(ParseError { position: tok.at, message: format!("unexpected {}", tok.kind) });
    }
    Ok(query)
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Open,
    Close,
    And,
    Or,
    Not,
    Word(String),
    Phrase(String),
    Field(String, Box<Kind>),
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Open => write!(f, "'('"),
            Kind::Close => write!(f, "')'"),
            Kind::And => write!(f, "AND"),
            Kind::Or => write!(f, "OR"),
            Kind::Not => write!(f, "NOT"),
            Kind::Word(w) => write!(f, "{w:?}"),
            Kind::Phrase(p) => write!(f, "\"{p}\""),
            Kind::Field(k, _) => write!(f, "{k}:"),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    at: usize,
}

fn lex(text: &str) -> Result<Vec<Token>, ParseError> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '(' || c == ')' {
            chars.next();
            out.push(Token { kind: if c == '(' { Kind::Open } else { Kind::Close }, at });
        } else if c == '"' {
            chars.next();
            out.push(Token { kind: Kind::Phrase(quoted(text, at, &mut chars)?), at });
        } else if c == '-' && {
            let mut ahead = chars.clone();
            ahead.next();
            ahead.peek().is_some_and(|(_, n)| !n.is_whitespace())
        } {
            chars.next();
            out.push(Token { kind: Kind::Not, at });
        } else {
            let mut word = String::new();
            while let Some(&(_, c)) = chars.peek() {
                if c.is_whitespace() || c == '(' || c == ')' || c == '"' {
                    break;
                }
                word.push(c);
                chars.next();
            }
            out.push(Token { kind: word_kind(text, at, word, &mut chars)?, at });
        }
    }
    Ok(out)
}

/// The text of a `"..."` whose opening quote is at `at` (`\"` and `\\` are escapes).
fn quoted(
    text: &str,
    at: usize,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
) -> Result<String, ParseError> {
    let mut out = String::new();
    while let Some((_, c)) = chars.next() {
        match c {
            '"' => return Ok(out),
            '\\' => match chars.next() {
                Some((_, e)) => out.push(e),
                None => break,
            },
            c => out.push(c),
        }
    }
    let _ = text;
    Err(ParseError { position: at, message: "unterminated quote".into() })
}

fn word_kind(
    text: &str,
    at: usize,
    word: String,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
) -> Result<Kind, ParseError> {
    match word.as_str() {
        "AND" | "&&" => return Ok(Kind::And),
        "OR" | "||" => return Ok(Kind::Or),
        "NOT" => return Ok(Kind::Not),
        _ => {}
    }
    let Some((key, value)) = word.split_once(':') else { return Ok(Kind::Word(word)) };
    if !is_field_name(key) {
        return Ok(Kind::Word(word));
    }
    if !value.is_empty() {
        return Ok(Kind::Field(key.to_string(), Box::new(Kind::Word(value.to_string()))));
    }
    match chars.peek() {
        Some(&(quote_at, '"')) => {
            chars.next();
            let phrase = quoted(text, quote_at, chars)?;
            Ok(Kind::Field(key.to_string(), Box::new(Kind::Phrase(phrase))))
        }
        _ => Err(ParseError { position: at + word.len(), message: format!("field {key:?} has no value after ':'") }),
    }
}

/// `service`, `http.route`, `k8s.pod_name`: starts with a letter, then letters, digits, `._-`.
fn is_field_name(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(char::is_alphabetic)
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn at(&self) -> usize {
        self.peek().map_or(self.end, |t| t.at)
    }

    fn or(&mut self, depth: usize) -> Result<LogQuery, ParseError> {
        let mut items = vec![self.and(depth)?];
        while self.peek().is_some_and(|t| t.kind == Kind::Or) {
            self.pos += 1;
            items.push(self.and(depth)?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { LogQuery::Or(items) })
    }

    fn and(&mut self, depth: usize) -> Result<LogQuery, ParseError> {
        let mut items = vec![self.unary(depth)?];
        loop {
            match self.peek().map(|t| &t.kind) {
                Some(Kind::And) => {
                    self.pos += 1;
                    items.push(self.unary(depth)?);
                }
                Some(Kind::Or | Kind::Close) | None => break,
                Some(_) => items.push(self.unary(depth)?),
            }
        }
        Ok(if items.len() == 1 { items.remove(0) } else { LogQuery::And(items) })
    }

    fn unary(&mut self, depth: usize) -> Result<LogQuery, ParseError> {
        if depth > MAX_DEPTH {
            return Err(ParseError { position: self.at(), message: format!("query nested deeper than {MAX_DEPTH}") });
        }
        let Some(tok) = self.peek().cloned() else {
            return Err(ParseError { position: self.end, message: "expected a term at the end of the query".into() });
        };
        self.pos += 1;
        match tok.kind {
            Kind::Not => Ok(LogQuery::Not(Box::new(self.unary(depth + 1)?))),
            Kind::Open => {
                let inner = self.or(depth + 1)?;
                match self.peek() {
                    Some(t) if t.kind == Kind::Close => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    _ => Err(ParseError { position: tok.at, message: "'(' is never closed".into() }),
                }
            }
            Kind::Word(w) | Kind::Phrase(w) => body(&w, tok.at),
            Kind::Field(key, value) => field(&key, &value, tok.at),
            Kind::Close | Kind::And | Kind::Or => {
                Err(ParseError { position: tok.at, message: format!("expected a term, found {}", tok.kind) })
            }
        }
    }
}

fn body(text: &str, at: usize) -> Result<LogQuery, ParseError> {
    let tokens: Vec<String> =
        super::tokenizer::tokens(text, super::tokenizer::Mode::Query).into_iter().map(|t| t.text).collect();
    if tokens.is_empty() {
        return Err(ParseError { position: at, message: format!("{text:?} has no letters or digits to search for") });
    }
    Ok(LogQuery::Body(tokens))
}

fn field(key: &str, value: &Kind, at: usize) -> Result<LogQuery, ParseError> {
    let (Kind::Word(raw) | Kind::Phrase(raw)) = value else {
        return Err(ParseError { position: at, message: format!("field {key:?} needs a value") });
    };
    let value = raw.to_lowercase();
    Ok(match key.to_lowercase().as_str() {
        "service" | "service_name" | "service.name" => LogQuery::Service(value),
        "severity" | "level" | "severity_text" => LogQuery::Severity(value),
        "trace_id" | "traceid" => LogQuery::TraceId(value),
        "span_id" | "spanid" => LogQuery::SpanId(value),
        "body" => return body(raw, at),
        other => LogQuery::Attribute { key: other.to_string(), value },
    })
}

#[cfg(test)]
mod tests;
