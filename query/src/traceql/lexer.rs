//! TraceQL tokens with their byte offsets in the query text.

use std::time::Duration;

use super::error::ParseError;
use crate::search::params::parse_duration;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    Pipe,
    And,
    Or,
    Not,
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Re,
    NotRe,
    Descendant,
    Ancestor,
    Tilde,
    /// A word: an attribute (`span.x`, `resource.x`, `.x`), an intrinsic, a keyword
    /// or an enum value (`error`, `server`).
    Word(String),
    Str(String),
    Int(i64),
    Float(f64),
    Duration(Duration),
    End,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("`{w}`"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Int(i) => format!("number {i}"),
            Tok::Float(f) => format!("number {f}"),
            Tok::Duration(d) => format!("duration {d:?}"),
            Tok::End => "the end of the query".to_string(),
            other => format!("`{}`", other.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::Comma => ",",
            Tok::Pipe => "|",
            Tok::And => "&&",
            Tok::Or => "||",
            Tok::Not => "!",
            Tok::Eq => "=",
            Tok::Ne => "!=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Re => "=~",
            Tok::NotRe => "!~",
            Tok::Descendant => ">>",
            Tok::Ancestor => "<<",
            Tok::Tilde => "~",
            _ => "",
        }
    }
}

/// A token and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub pos: usize,
}

/// Characters that may continue a word (attribute names carry dots, dashes, slashes, colons).
fn word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | ':' | '-' | '/' | '@')
}

pub fn tokenize(text: &str) -> Result<Vec<Token>, ParseError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(pos, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let two = text.get(pos..pos + 2).unwrap_or("");
        let op = match two {
            "&&" => Some(Tok::And),
            "||" => Some(Tok::Or),
            "!=" => Some(Tok::Ne),
            "!~" => Some(Tok::NotRe),
            "=~" => Some(Tok::Re),
            ">=" => Some(Tok::Ge),
            "<=" => Some(Tok::Le),
            ">>" => Some(Tok::Descendant),
            "<<" => Some(Tok::Ancestor),
            _ => None,
        };
        if let Some(tok) = op {
            chars.next();
            chars.next();
            tokens.push(Token { tok, pos });
            continue;
        }
        let single = match c {
            '{' => Some(Tok::LBrace),
            '}' => Some(Tok::RBrace),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ',' => Some(Tok::Comma),
            '|' => Some(Tok::Pipe),
            '!' => Some(Tok::Not),
            '=' => Some(Tok::Eq),
            '>' => Some(Tok::Gt),
            '<' => Some(Tok::Lt),
            '~' => Some(Tok::Tilde),
            _ => None,
        };
        if let Some(tok) = single {
            chars.next();
            tokens.push(Token { tok, pos });
            continue;
        }
        if c == '"' || c == '`' {
            chars.next();
            let mut value = String::new();
            let mut closed = false;
            while let Some((_, ch)) = chars.next() {
                match ch {
                    ch if ch == c => {
                        closed = true;
                        break;
                    }
                    '\\' if c == '"' => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, 't')) => value.push('\t'),
                        Some((_, other)) => value.push(other),
                        None => break,
                    },
                    ch => value.push(ch),
                }
            }
            if !closed {
                return Err(ParseError::new(pos, "a closing quote for this string"));
            }
            tokens.push(Token { tok: Tok::Str(value), pos });
            continue;
        }
        if c == '-' || c.is_ascii_digit() {
            let mut end = pos + c.len_utf8();
            chars.next();
            while let Some(&(i, ch)) = chars.peek() {
                if !(ch.is_alphanumeric() || ch == '.' || ch == 'µ') {
                    break;
                }
                end = i + ch.len_utf8();
                chars.next();
            }
            tokens.push(Token { tok: number(&text[pos..end], pos)?, pos });
            continue;
        }
        if word_char(c) {
            let mut end = pos;
            while let Some(&(i, ch)) = chars.peek() {
                if !word_char(ch) {
                    break;
                }
                end = i + ch.len_utf8();
                chars.next();
            }
            let mut word = text[pos..end].to_string();
            // `span."key with spaces"`: a quoted attribute name after the scope.
            if word.ends_with('.') && matches!(chars.peek(), Some((_, '"'))) {
                chars.next();
                let mut closed = false;
                for (_, ch) in chars.by_ref() {
                    if ch == '"' {
                        closed = true;
                        break;
                    }
                    word.push(ch);
                }
                if !closed {
                    return Err(ParseError::new(pos, "a closing quote for this attribute name"));
                }
            }
            tokens.push(Token { tok: Tok::Word(word), pos });
            continue;
        }
        return Err(ParseError::new(pos, "a field, a value, an operator or a brace").found(format!("`{c}`")));
    }
    tokens.push(Token { tok: Tok::End, pos: text.len() });
    Ok(tokens)
}

/// An integer, a float or a duration (`-`? digits, then `.digits` or a unit).
fn number(text: &str, pos: usize) -> Result<Tok, ParseError> {
    if let Ok(i) = text.parse::<i64>() {
        return Ok(Tok::Int(i));
    }
    if let Ok(f) = text.parse::<f64>() {
        if f.is_finite() && !text.contains(|c: char| c.is_alphabetic()) {
            return Ok(Tok::Float(f));
        }
    }
    if text.starts_with('-') {
        return Err(ParseError::new(pos, "a number or a non-negative duration").found(format!("`{text}`")));
    }
    parse_duration(text)
        .map(Tok::Duration)
        .map_err(|_| ParseError::new(pos, "a number or a duration like 250ms").found(format!("`{text}`")))
}
