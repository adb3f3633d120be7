//! The Prometheus text exposition format (0.0.4), grouped into points: a counter, gauge or
//! untyped sample is one point; the `_bucket`/`_sum`/`_count` samples of a histogram and the
//! quantile/`_sum`/`_count` samples of a summary with the same labels are one point.
//!
//! `# HELP` and `# TYPE` lines are read with `prometheus-parse`'s [`LineInfo`]. Sample lines
//! are read here: prometheus-parse 0.2.5 splits label pairs on `,` and `=` without honouring
//! quotes, keeps escapes (`\"`, `\n`, `\\`) as written, and drops a line whose label value holds
//! a `}` — so a label value with quotes, commas or newlines would be silently mangled. Like
//! Prometheus, a line that is neither a comment nor a valid sample fails the whole scrape.

use std::collections::HashMap;

use prometheus_parse::{LineInfo, SampleType};

/// A point's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Counter(f64),
    Gauge(f64),
    Untyped(f64),
    /// `(le, cumulative count)` as exposed, `_sum`, `_count`.
    Histogram {
        buckets: Vec<(f64, f64)>,
        sum: Option<f64>,
        count: Option<f64>,
    },
    /// `(quantile, value)`, `_sum`, `_count`.
    Summary {
        quantiles: Vec<(f64, f64)>,
        sum: Option<f64>,
        count: Option<f64>,
    },
}

/// One point of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The family name (`http_request_duration_seconds`, not `..._bucket`).
    pub name: String,
    /// Sorted by name; `le`/`quantile` removed for histograms and summaries.
    pub labels: Vec<(String, String)>,
    pub value: Value,
    /// Milliseconds since the epoch, when the exposition gives one.
    pub timestamp_ms: Option<i64>,
}

/// A parsed exposition.
#[derive(Debug, Default)]
pub struct Exposition {
    pub samples: Vec<Sample>,
    pub help: HashMap<String, String>,
    /// Sample lines read (Prometheus's `scrape_samples_scraped`).
    pub sample_lines: usize,
}

/// Why an exposition was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    pub line: usize,
    pub reason: String,
}

/// Parses a text exposition.
pub fn parse(text: &str) -> Result<Exposition, ParseError> {
    let mut out = Exposition::default();
    let mut types: HashMap<String, SampleType> = HashMap::new();
    // (family, labels) → index in out.samples, for histogram and summary parts.
    let mut grouped: HashMap<(String, Vec<(String, String)>), usize> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let fail = |reason: String| ParseError { line: i + 1, reason };
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with('#') {
            match LineInfo::parse(trimmed) {
                LineInfo::Doc { metric_name, doc } => {
                    out.help.insert(metric_name.to_string(), doc.to_string());
                }
                LineInfo::Type { metric_name, metric_alias, sample_type } => {
                    types.insert(metric_alias.unwrap_or(metric_name), sample_type);
                }
                _ => {}
            }
            continue;
        }
        let line = parse_sample_line(trimmed).map_err(fail)?;
        out.sample_lines += 1;
        let (family, part) = family_of(&line.name, &types);
        let kind = types
            .get(family)
            .copied()
            .or_else(|| openmetrics_counter(&line.name, &types))
            .unwrap_or(SampleType::Untyped);
        match (kind, part) {
            (SampleType::Histogram | SampleType::Summary, _) => {
                let key_label = if kind == SampleType::Histogram { "le" } else { "quantile" };
                let mut labels = line.labels;
                let at = labels.iter().position(|(k, _)| k == key_label);
                let bound = at.map(|at| labels.remove(at).1);
                let key = (family.to_string(), labels);
                let index = *grouped.entry(key.clone()).or_insert_with(|| {
                    out.samples.push(Sample {
                        name: key.0.clone(),
                        labels: key.1.clone(),
                        value: if kind == SampleType::Histogram {
                            Value::Histogram { buckets: vec![], sum: None, count: None }
                        } else {
                            Value::Summary { quantiles: vec![], sum: None, count: None }
                        },
                        timestamp_ms: line.timestamp_ms,
                    });
                    out.samples.len() - 1
                });
                let Some(sample) = out.samples.get_mut(index) else { continue };
                let (Value::Histogram { buckets: points, sum, count }
                | Value::Summary { quantiles: points, sum, count }) = &mut sample.value
                else {
                    continue;
                };
                match part {
                    Part::Sum => *sum = Some(line.value),
                    Part::Count => *count = Some(line.value),
                    Part::Bucket | Part::Whole => {
                        let bound = bound.ok_or_else(|| fail(format!("{} sample without {key_label}", line.name)))?;
                        let bound = parse_float(&bound).ok_or_else(|| fail(format!("{key_label}={bound:?}")))?;
                        points.push((bound, line.value));
                    }
                }
            }
            (kind, _) => {
                let value = match kind {
                    SampleType::Counter => Value::Counter(line.value),
                    SampleType::Gauge => Value::Gauge(line.value),
                    _ => Value::Untyped(line.value),
                };
                out.samples.push(Sample {
                    name: line.name,
                    labels: line.labels,
                    value,
                    timestamp_ms: line.timestamp_ms,
                });
            }
        }
    }
    for sample in &mut out.samples {
        if let Value::Histogram { buckets, .. } | Value::Summary { quantiles: buckets, .. } = &mut sample.value {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Part {
    Whole,
    Bucket,
    Sum,
    Count,
}

/// The family a sample name belongs to: itself, or its base when it is the `_bucket`, `_sum`
/// or `_count` of a declared histogram or summary.
fn family_of<'a>(name: &'a str, types: &HashMap<String, SampleType>) -> (&'a str, Part) {
    for (suffix, part) in [("_bucket", Part::Bucket), ("_sum", Part::Sum), ("_count", Part::Count)] {
        if let Some(base) = name.strip_suffix(suffix) {
            match types.get(base) {
                Some(SampleType::Histogram) => return (base, part),
                Some(SampleType::Summary) if part != Part::Bucket => return (base, part),
                _ => {}
            }
        }
    }
    (name, Part::Whole)
}

/// OpenMetrics names a counter family without `_total` (`# TYPE requests counter`) and its
/// sample with it (`requests_total 7`); the point keeps the sample's name, as Prometheus does.
fn openmetrics_counter(name: &str, types: &HashMap<String, SampleType>) -> Option<SampleType> {
    let base = name.strip_suffix("_total")?;
    (types.get(base) == Some(&SampleType::Counter)).then_some(SampleType::Counter)
}

struct SampleLine {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
    timestamp_ms: Option<i64>,
}

/// `name{label="value",...} value [timestamp]`.
fn parse_sample_line(line: &str) -> Result<SampleLine, String> {
    let name_end = line.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("invalid metric name in {:?}", truncate(line)));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = parse_labels(after, &mut labels)?;
    }
    let mut fields = rest.split_ascii_whitespace();
    let value = fields.next().ok_or_else(|| format!("{name}: no value"))?;
    let value = parse_float(value).ok_or_else(|| format!("{name}: value {value:?} is not a number"))?;
    let timestamp_ms = match fields.next() {
        Some(t) => Some(t.parse::<i64>().map_err(|_| format!("{name}: timestamp {t:?} is not an integer"))?),
        None => None,
    };
    if fields.next().is_some() {
        return Err(format!("{name}: unexpected text after the timestamp"));
    }
    labels.sort();
    Ok(SampleLine { name: name.to_string(), labels, value, timestamp_ms })
}

/// Reads `k="v",...}` (after the `{`) into `labels`; returns the text after the `}`.
fn parse_labels<'a>(mut s: &'a str, labels: &mut Vec<(String, String)>) -> Result<&'a str, String> {
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix('}') {
            return Ok(rest);
        }
        let eq = s.find('=').ok_or("label without '='")?;
        let key = s[..eq].trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("invalid label name {key:?}"));
        }
        s = s[eq + 1..].trim_start().strip_prefix('"').ok_or_else(|| format!("label {key}: value not quoted"))?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(format!("label {key}: unterminated value")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err(format!("label {key}: unterminated value")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        labels.push((key.to_string(), value));
        s = s[end + 1..].trim_start();
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

/// Go's float syntax as Prometheus writes it: `NaN`, `+Inf`, `-Inf`, decimals.
pub fn parse_float(s: &str) -> Option<f64> {
    match s {
        "NaN" | "nan" => Some(f64::NAN),
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        s => s.parse().ok(),
    }
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(80) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests;
