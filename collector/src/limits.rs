//! Limits applied to accepted data, with counts of what they cut:
//! attribute value bytes, attributes per item, AnyValue nesting depth ([`Limiter`]), and
//! spans per trace over a bounded table of recent traces ([`TraceTable`]).

use std::collections::HashMap;
use std::sync::Mutex;

use osprey_proto::common::{any_value::Value, AnyValue, KeyValue};
use osprey_storage::attributes::AttrRef;

use crate::config::LimitsConfig;

/// What the limits cut while converting one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitCounts {
    /// String/bytes values truncated to `max_attribute_value_bytes`.
    pub truncated_values: u64,
    /// Attributes dropped past `max_attributes_per_item`.
    pub dropped_attributes: u64,
    /// AnyValue subtrees replaced by an empty value past `max_value_depth`.
    pub cut_subtrees: u64,
    /// Spans rejected past `max_spans_per_trace`.
    pub spans_over_trace_limit: u64,
    /// Log bodies truncated to `max_log_body_bytes`.
    pub truncated_log_bodies: u64,
}

impl LimitCounts {
    /// What was counted since the counts were `before`.
    pub fn since(self, before: LimitCounts) -> LimitCounts {
        LimitCounts {
            truncated_values: self.truncated_values.saturating_sub(before.truncated_values),
            dropped_attributes: self.dropped_attributes.saturating_sub(before.dropped_attributes),
            cut_subtrees: self.cut_subtrees.saturating_sub(before.cut_subtrees),
            spans_over_trace_limit: self.spans_over_trace_limit.saturating_sub(before.spans_over_trace_limit),
            truncated_log_bodies: self.truncated_log_bodies.saturating_sub(before.truncated_log_bodies),
        }
    }
}

impl std::ops::AddAssign for LimitCounts {
    fn add_assign(&mut self, other: Self) {
        self.truncated_values += other.truncated_values;
        self.dropped_attributes += other.dropped_attributes;
        self.cut_subtrees += other.cut_subtrees;
        self.spans_over_trace_limit += other.spans_over_trace_limit;
        self.truncated_log_bodies += other.truncated_log_bodies;
    }
}

/// Converts OTLP attributes to [`AttrRef`]s, applying the value limits.
pub struct Limiter<'c> {
    limits: &'c LimitsConfig,
    pub counts: LimitCounts,
}

impl<'c> Limiter<'c> {
    pub fn new(limits: &'c LimitsConfig) -> Self {
        Self { limits, counts: LimitCounts::default() }
    }

    /// The attributes of one item (at most `max_attributes_per_item`) and its dropped count
    /// (`dropped` from the sender plus what was dropped here, saturating).
    pub fn attributes<'a>(&mut self, kvs: &'a [KeyValue], dropped: u32) -> (Vec<(&'a str, AttrRef<'a>)>, u32) {
        let keep = kvs.len().min(self.limits.max_attributes_per_item);
        let extra = kvs.len() - keep;
        self.counts.dropped_attributes += extra as u64;
        let out = kvs[..keep].iter().map(|kv| (kv.key.as_str(), self.value(kv.value.as_ref(), 1))).collect();
        (out, dropped.saturating_add(u32::try_from(extra).unwrap_or(u32::MAX)))
    }

    /// A value at nesting `depth` (a top-level attribute value is at depth 1). A composite at
    /// `max_value_depth` or deeper becomes `Empty`, so nothing kept is deeper than the limit.
    pub fn value<'a>(&mut self, value: Option<&'a AnyValue>, depth: usize) -> AttrRef<'a> {
        let Some(value) = value.and_then(|v| v.value.as_ref()) else { return AttrRef::Empty };
        match value {
            Value::StringValue(s) => AttrRef::Str(self.truncate_str(s)),
            Value::BoolValue(b) => AttrRef::Bool(*b),
            Value::IntValue(i) => AttrRef::Int(*i),
            Value::DoubleValue(d) => AttrRef::Double(*d),
            Value::BytesValue(b) => AttrRef::Bytes(self.truncate_bytes(b)),
            Value::StringValueStrindex(_) => AttrRef::Empty,
            Value::ArrayValue(_) | Value::KvlistValue(_) if depth >= self.limits.max_value_depth => {
                self.counts.cut_subtrees += 1;
                AttrRef::Empty
            }
            Value::ArrayValue(array) => {
                AttrRef::Array(array.values.iter().map(|v| self.value(Some(v), depth + 1)).collect())
            }
            Value::KvlistValue(kvlist) => AttrRef::KvList(
                kvlist.values.iter().map(|kv| (kv.key.as_str(), self.value(kv.value.as_ref(), depth + 1))).collect(),
            ),
        }
    }

    pub(crate) fn max_attributes_per_item(&self) -> usize {
        self.limits.max_attributes_per_item
    }

    pub(crate) fn max_value_depth(&self) -> usize {
        self.limits.max_value_depth
    }

    /// `s` cut to `max_attribute_value_bytes` (at a character boundary), counted if cut.
    pub(crate) fn truncate_str<'a>(&mut self, s: &'a str) -> &'a str {
        let max = self.limits.max_attribute_value_bytes;
        if s.len() <= max {
            return s;
        }
        self.counts.truncated_values += 1;
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        &s[..end]
    }

    pub(crate) fn truncate_bytes<'a>(&mut self, b: &'a [u8]) -> &'a [u8] {
        let max = self.limits.max_attribute_value_bytes;
        if b.len() <= max {
            return b;
        }
        self.counts.truncated_values += 1;
        &b[..max]
    }
}

/// Span counts of recently seen traces, bounded to about `capacity` traces: two generations,
/// the older one dropped when the newer fills half the capacity.
pub struct TraceTable {
    max_spans: u32,
    half_capacity: usize,
    generations: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    current: HashMap<[u8; 16], u32>,
    previous: HashMap<[u8; 16], u32>,
}

impl Generations {
    fn get(&self, trace: &[u8; 16]) -> u32 {
        self.current.get(trace).or_else(|| self.previous.get(trace)).copied().unwrap_or(0)
    }
}

/// Spans a request adds per trace: the count seen before it, and how many it adds.
#[derive(Debug, Default)]
pub struct TraceTally {
    traces: HashMap<[u8; 16], (u32, u32)>,
}

impl TraceTable {
    pub fn new(max_spans: u32, capacity: usize) -> Self {
        Self { max_spans, half_capacity: (capacity / 2).max(1), generations: Mutex::new(Generations::default()) }
    }

    /// Whether one more span of `trace` fits; if so it is added to `tally` (not yet to the table).
    pub fn try_add(&self, tally: &mut TraceTally, trace: [u8; 16]) -> bool {
        let entry = tally.traces.entry(trace).or_insert_with(|| (self.lock().get(&trace), 0));
        if entry.0.saturating_add(entry.1) >= self.max_spans {
            return false;
        }
        entry.1 += 1;
        true
    }

    /// Whether every trace of `spans` (spans per trace of one request) can take all of them.
    pub fn all_fit(&self, spans: &HashMap<[u8; 16], u32>) -> bool {
        let g = self.lock();
        spans.iter().all(|(trace, n)| g.get(trace).saturating_add(*n) <= self.max_spans)
    }

    /// Records the spans of a request once they are stored.
    pub fn commit(&self, tally: TraceTally) {
        let mut g = self.lock();
        for (trace, (_, added)) in tally.traces {
            let seen = g.get(&trace).saturating_add(added);
            g.current.insert(trace, seen);
            if g.current.len() >= self.half_capacity {
                g.previous = std::mem::take(&mut g.current);
            }
        }
    }

    /// Traces remembered now (at most about the capacity).
    pub fn len(&self) -> usize {
        let g = self.lock();
        g.current.len() + g.previous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        self.generations.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests;
