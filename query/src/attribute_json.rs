//! Typed attribute values as JSON, serialized straight from the decoded values:
//! string → string, int → number (i64), double → number (`"NaN"`, `"inf"`,
//! `"-inf"` as strings), bool → bool, bytes → base64 string, array → array,
//! kvlist → object, empty → null. A key repeated within one map (invalid OTLP)
//! appears once, with its last value.

use std::collections::HashMap;

use base64::Engine as _;
use osprey_storage::attributes::AttrValue;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

/// An attribute list as a JSON object.
pub struct AttributeMap<'a>(pub &'a [(String, AttrValue)]);

/// One attribute value as JSON.
pub struct AttributeValue<'a>(pub &'a AttrValue);

impl Serialize for AttributeMap<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_entries(self.0, serializer)
    }
}

impl Serialize for AttributeValue<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            AttrValue::Empty => serializer.serialize_none(),
            AttrValue::Str(s) => serializer.serialize_str(s),
            AttrValue::Int(i) => serializer.serialize_i64(*i),
            AttrValue::Double(d) if d.is_finite() => serializer.serialize_f64(*d),
            AttrValue::Double(d) if d.is_nan() => serializer.serialize_str("NaN"),
            AttrValue::Double(d) => serializer.serialize_str(if *d > 0.0 { "inf" } else { "-inf" }),
            AttrValue::Bool(b) => serializer.serialize_bool(*b),
            AttrValue::Bytes(b) => serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b)),
            AttrValue::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&AttributeValue(item))?;
                }
                seq.end()
            }
            AttrValue::KvList(entries) => serialize_entries(entries, serializer),
        }
    }
}

/// Lists above this size find repeated keys with a hash map rather than a scan.
const SCAN_LIMIT: usize = 16;

fn serialize_entries<S: Serializer>(entries: &[(String, AttrValue)], serializer: S) -> Result<S::Ok, S::Error> {
    // Index of the last occurrence of each key, only needed for long lists.
    let last: Option<HashMap<&str, usize>> =
        (entries.len() > SCAN_LIMIT).then(|| entries.iter().enumerate().map(|(i, (k, _))| (k.as_str(), i)).collect());
    let shadowed = |i: usize, key: &str| match &last {
        Some(last) => last.get(key).is_some_and(|&j| j != i),
        None => entries[i + 1..].iter().any(|(k, _)| k == key),
    };
    let mut map = serializer.serialize_map(None)?;
    for (i, (key, value)) in entries.iter().enumerate() {
        if !shadowed(i, key) {
            map.serialize_entry(key, &AttributeValue(value))?;
        }
    }
    map.end()
}

#[cfg(test)]
mod tests;
