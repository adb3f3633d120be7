//! Trace ids as the API accepts them: 32 hex characters, any case, or 16 (a
//! 64-bit Jaeger/Zipkin id, left-padded with zeros). Always lowercase inside.

use std::fmt;

use crate::error::QueryError;

/// A validated trace id: exactly 32 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TraceId(String);

/// How much of a rejected id is echoed back in the error message.
const ECHO_LIMIT: usize = 64;

impl TraceId {
    pub fn parse(input: &str) -> Result<Self, QueryError> {
        let valid = matches!(input.len(), 16 | 32) && input.bytes().all(|b| b.is_ascii_hexdigit());
        if !valid {
            let echoed: String = input.chars().take(ECHO_LIMIT).collect();
            return Err(QueryError::InvalidTraceId(echoed));
        }
        let mut id = String::with_capacity(32);
        if input.len() == 16 {
            id.push_str("0000000000000000");
        }
        id.extend(input.chars().map(|c| c.to_ascii_lowercase()));
        Ok(TraceId(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests;
