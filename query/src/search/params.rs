//! The text forms of search parameters shared by the HTTP APIs: times (unix
//! seconds or RFC 3339), Go-style durations (`250ms`, `1.5s`, `1h30m`, as Tempo,
//! Jaeger and TraceQL write them) and logfmt tag lists (`k=v k2="v 2"`).

use std::time::Duration;

use crate::error::{QueryError, Result};

/// A time as unix seconds (`1700000000`, fractions allowed) or RFC 3339
/// (`2023-11-14T22:13:20Z`, `…+02:00`), in unix ns.
pub fn parse_time(name: &'static str, text: &str) -> Result<i64> {
    let text = text.trim();
    let bad = |reason: String| QueryError::InvalidParameter { name, reason };
    if let Ok(seconds) = text.parse::<i64>() {
        return seconds.checked_mul(1_000_000_000).ok_or_else(|| bad(format!("{text} seconds is out of range")));
    }
    if let Ok(seconds) = text.parse::<f64>() {
        let ns = seconds * 1e9;
        if ns.is_finite() && ns.abs() < i64::MAX as f64 {
            return Ok(ns as i64);
        }
        return Err(bad(format!("{text} seconds is out of range")));
    }
    let parsed = chrono::DateTime::parse_from_rfc3339(text)
        .map_err(|e| bad(format!("{text:?} is neither unix seconds nor an RFC 3339 time ({e})")))?;
    parsed.timestamp_nanos_opt().ok_or_else(|| bad(format!("{text} is out of range")))
}

/// A Go duration (`time.ParseDuration`): a sequence of decimal numbers, each
/// with a unit `ns`, `us`/`µs`, `ms`, `s`, `m`, `h` (`300ms`, `1.5h`, `2h45m`).
/// Negative durations are refused. A bare `0` is zero.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_len);
        let value: f64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 250ms, 1.5s or 1h30m"))?;
        let unit_len = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("{text:?} is missing a unit (ns, us, ms, s, m, h)")),
            other => return Err(format!("unknown unit {other:?} in duration {text:?} (ns, us, ms, s, m, h)")),
        };
        total += value * scale;
        rest = tail;
    }
    if !total.is_finite() || total >= u64::MAX as f64 {
        return Err(format!("duration {text:?} is out of range"));
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

/// A duration query parameter; an empty value means "not given" (Jaeger UI sends
/// `minDuration=`).
pub fn duration_param(name: &'static str, text: Option<&str>) -> Result<Option<Duration>> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => parse_duration(t).map(Some).map_err(|reason| QueryError::InvalidParameter { name, reason }),
    }
}

/// logfmt `k=v k2="quoted value" k3=` (a bare `k` means an empty value);
/// backslash escapes inside quotes.
pub fn parse_logfmt(name: &'static str, text: &str) -> Result<Vec<(String, String)>> {
    let bad = |reason: String| QueryError::InvalidParameter { name, reason };
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            return Err(bad(format!("expected key=value pairs in {text:?}")));
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => value.extend(chars.next()),
                        c => value.push(c),
                    }
                }
                if !closed {
                    return Err(bad(format!("unterminated quote in {text:?}")));
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        pairs.push((key, value));
    }
}

/// An optional count parameter (`limit`, `spss`); empty means "not given".
pub fn count_param(name: &'static str, text: Option<&str>) -> Result<Option<usize>> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => t
            .parse::<usize>()
            .map(Some)
            .map_err(|_| QueryError::InvalidParameter { name, reason: format!("{t:?} is not a non-negative integer") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("start", "1700000000").unwrap(), 1_700_000_000_000_000_000);
        assert_eq!(parse_time("start", "1700000000.5").unwrap(), 1_700_000_000_500_000_000);
        assert_eq!(parse_time("start", "2023-11-14T22:13:20Z").unwrap(), 1_700_000_000_000_000_000);
        assert_eq!(parse_time("start", "2023-11-15T00:13:20+02:00").unwrap(), 1_700_000_000_000_000_000);
        let err = parse_time("start", "yesterday").unwrap_err();
        assert!(err.to_string().contains("invalid parameter start"), "{err}");
        assert!(parse_time("start", "99999999999999999999").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("10us").unwrap(), Duration::from_micros(10));
        assert_eq!(parse_duration("10µs").unwrap(), Duration::from_micros(10));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("10").unwrap_err().contains("missing a unit"));
        assert!(parse_duration("10d").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("-1s").is_err());
        assert_eq!(duration_param("minDuration", Some("")).unwrap(), None);
    }

    #[test]
    fn logfmt() {
        let pairs =
            parse_logfmt("tags", r#"http.status_code=500  error=true name="GET /a b" esc="a\"b" bare"#).unwrap();
        let want: Vec<(String, String)> =
            [("http.status_code", "500"), ("error", "true"), ("name", "GET /a b"), ("esc", "a\"b"), ("bare", "")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(pairs, want);
        assert!(parse_logfmt("tags", "a=\"open").is_err());
        assert!(parse_logfmt("tags", "=v").is_err());
        assert_eq!(parse_logfmt("tags", "  ").unwrap(), vec![]);
    }
}
