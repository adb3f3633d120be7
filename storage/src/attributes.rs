//! Typed attributes in two Arrow columns: a `Map<Utf8, Utf8>` that SQL reads as
//! text (`attributes['http.route']`), and a `Utf8` *type signature* that keeps the
//! OTLP type of every entry so the exact OTLP value can be rebuilt.
//!
//! ## Text form (what SQL sees)
//! | OTLP type | text |
//! |---|---|
//! | string | the string |
//! | int | decimal (`-42`) |
//! | double | shortest round-trip decimal (`0.1`, `1e300`, `NaN`, `inf`, `-inf`) |
//! | bool | `true` / `false` |
//! | bytes | standard base64 |
//! | array | JSON array (`["a",1,true]`) |
//! | kvlist | JSON object (`{"k":"v"}`) |
//! | empty (no value) | NULL |
//!
//! ## Type signature
//! One code per entry, in entry order: `s` string, `i` int, `d` double, `b` bool,
//! `y` bytes, `e` empty, `a[...]` array with the codes of its elements, `k{...}`
//! kvlist with the codes of its values. Inside composites, bytes are base64 JSON
//! strings and non-finite doubles are the JSON strings `"NaN"`, `"inf"`, `"-inf"`;
//! the signature tells them apart from real strings. A signature is the same for
//! every span of the same shape, so Parquet dictionary-encodes it to almost nothing.
//!
//! Duplicate keys inside a kvlist value (invalid OTLP) keep only the last one.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{Array, MapArray, MapBuilder, MapFieldNames, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field, Fields};
use base64::Engine as _;
use serde_json::Value as Json;

use crate::error::StorageError;

/// An attribute value borrowed from the incoming request (no copies for scalars).
#[derive(Debug, Clone, PartialEq)]
pub enum AttrRef<'a> {
    Empty,
    Str(&'a str),
    Int(i64),
    Double(f64),
    Bool(bool),
    Bytes(&'a [u8]),
    Array(Vec<AttrRef<'a>>),
    KvList(Vec<(&'a str, AttrRef<'a>)>),
}

/// An attribute value read back from storage.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Empty,
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    Bytes(Vec<u8>),
    Array(Vec<AttrValue>),
    KvList(Vec<(String, AttrValue)>),
}

impl AttrValue {
    /// The text form SQL sees (NULL for `Empty`).
    pub fn to_text(&self) -> Option<String> {
        let mut text = String::new();
        let mut sig = String::new();
        write_value(&self.as_ref(), &mut text, &mut sig).then_some(text)
    }

    pub fn as_ref(&self) -> AttrRef<'_> {
        match self {
            AttrValue::Empty => AttrRef::Empty,
            AttrValue::Str(s) => AttrRef::Str(s),
            AttrValue::Int(i) => AttrRef::Int(*i),
            AttrValue::Double(d) => AttrRef::Double(*d),
            AttrValue::Bool(b) => AttrRef::Bool(*b),
            AttrValue::Bytes(b) => AttrRef::Bytes(b),
            AttrValue::Array(items) => AttrRef::Array(items.iter().map(AttrValue::as_ref).collect()),
            AttrValue::KvList(kvs) => AttrRef::KvList(kvs.iter().map(|(k, v)| (k.as_str(), v.as_ref())).collect()),
        }
    }
}

/// The Arrow type of an attributes map column.
pub fn map_type() -> DataType {
    DataType::Map(Arc::new(entries_field()), false)
}

fn entries_field() -> Field {
    Field::new(
        "entries",
        DataType::Struct(Fields::from(vec![
            Field::new("keys", DataType::Utf8, false),
            Field::new("values", DataType::Utf8, true),
        ])),
        false,
    )
}

fn field_names() -> MapFieldNames {
    MapFieldNames { entry: "entries".into(), key: "keys".into(), value: "values".into() }
}

/// How many attribute entries a column will hold, and the bytes of their keys and values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntriesCapacity {
    pub entries: usize,
    pub key_bytes: usize,
    pub value_bytes: usize,
}

impl EntriesCapacity {
    /// This capacity `times` over (a resource's attributes repeat on each of its points).
    pub fn times(self, times: usize) -> Self {
        Self { entries: self.entries * times, key_bytes: self.key_bytes * times, value_bytes: self.value_bytes * times }
    }

    pub fn add(&mut self, other: Self) {
        self.entries += other.entries;
        self.key_bytes += other.key_bytes;
        self.value_bytes += other.value_bytes;
    }
}

/// Builds one attributes map column and its signature column, row by row.
pub struct AttributesBuilder {
    map: MapBuilder<StringBuilder, StringBuilder>,
    types: StringBuilder,
    text: String,
    sig: String,
}

impl Default for AttributesBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl AttributesBuilder {
    pub fn new() -> Self {
        Self::with_capacity(1024, 1024)
    }

    /// A builder sized for `rows` rows of `entries` entries in all.
    pub fn with_capacity(rows: usize, entries: usize) -> Self {
        Self::sized(rows, EntriesCapacity { entries, key_bytes: entries * 12, value_bytes: entries * 16 })
    }

    /// A builder sized for `rows` rows holding `capacity` in all.
    pub fn sized(rows: usize, capacity: EntriesCapacity) -> Self {
        let EntriesCapacity { entries, key_bytes, value_bytes } = capacity;
        let keys = StringBuilder::with_capacity(entries, key_bytes);
        let values = StringBuilder::with_capacity(entries, value_bytes);
        let text = |items: usize, bytes_per_item: usize| StringBuilder::with_capacity(items, items * bytes_per_item);
        let map = MapBuilder::with_capacity(Some(field_names()), keys, values, rows)
            .with_keys_field(Arc::new(Field::new("keys", DataType::Utf8, false)))
            .with_values_field(Arc::new(Field::new("values", DataType::Utf8, true)));
        Self { map, types: text(rows, 4), text: String::new(), sig: String::new() }
    }

    /// Appends one row holding the given entries.
    pub fn append_row<'a>(
        &mut self,
        entries: impl IntoIterator<Item = (&'a str, AttrRef<'a>)>,
    ) -> Result<(), StorageError> {
        self.sig.clear();
        for (key, value) in entries {
            self.map.keys().append_value(key);
            if let AttrRef::Str(s) = value {
                // Most values: no detour through the text buffer.
                self.sig.push('s');
                self.map.values().append_value(s);
                continue;
            }
            self.text.clear();
            if write_value(&value, &mut self.text, &mut self.sig) {
                self.map.values().append_value(&self.text);
            } else {
                self.map.values().append_null();
            }
        }
        self.map.append(true)?;
        self.types.append_value(&self.sig);
        Ok(())
    }

    /// Appends one row rendered before (see [`RenderedRow`]).
    pub fn append_rendered(&mut self, row: &RenderedRow) -> Result<(), StorageError> {
        let mut start = 0;
        for &(key_end, value_end, present) in &row.entries {
            // In bounds and on character boundaries by construction (`RenderedRow::new`).
            self.map.keys().append_value(row.text.get(start..key_end).unwrap_or_default());
            match present {
                true => self.map.values().append_value(row.text.get(key_end..value_end).unwrap_or_default()),
                false => self.map.values().append_null(),
            }
            start = value_end;
        }
        self.map.append(true)?;
        self.types.append_value(&row.sig);
        Ok(())
    }

    /// Finishes the (map, signature) column pair.
    pub fn finish(&mut self) -> (MapArray, StringArray) {
        (self.map.finish(), self.types.finish())
    }
}

/// One row of attributes in its stored text form, rendered once to be appended to many rows
/// (a resource's attributes repeat on every data point of it, a series' on every point of it).
/// Its text is one string, so that rendering a row allocates three buffers, not two per entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RenderedRow {
    /// Each entry's key, then its value's text, one after the other.
    text: String,
    /// Per entry: where its key ends in `text`, where its value ends, and whether it has one
    /// (`Empty` is NULL).
    entries: Vec<(usize, usize, bool)>,
    sig: String,
}

impl RenderedRow {
    pub fn new<'a>(entries: impl IntoIterator<Item = (&'a str, AttrRef<'a>)>) -> Self {
        let mut row = Self::default();
        for (key, value) in entries {
            row.text.push_str(key);
            let key_end = row.text.len();
            let present = write_value(&value, &mut row.text, &mut row.sig);
            row.entries.push((key_end, row.text.len(), present));
        }
        row
    }

    /// Bytes it holds (for bounding a cache of rows).
    pub fn bytes(&self) -> usize {
        self.text.len() + self.sig.len() + self.entries.len() * std::mem::size_of::<(usize, usize, bool)>()
    }
}

/// The text form of one value (`None` for `Empty`) and its type signature: the
/// encoding of a single typed value, e.g. a log body.
pub fn value_text(value: &AttrRef<'_>) -> (Option<String>, String) {
    let mut text = String::new();
    let mut sig = String::new();
    let present = write_value(value, &mut text, &mut sig);
    (present.then_some(text), sig)
}

/// Reads back one value written by [`value_text`].
pub fn read_value(text: Option<&str>, sig: &str) -> Result<AttrValue, StorageError> {
    Signature { bytes: sig.as_bytes(), pos: 0 }.read_top(text)
}

/// Writes the text form of `value` into `text` (returns false for `Empty`, which
/// is NULL) and its type code into `sig`.
fn write_value(value: &AttrRef<'_>, text: &mut String, sig: &mut String) -> bool {
    match value {
        AttrRef::Empty => {
            sig.push('e');
            return false;
        }
        AttrRef::Str(s) => {
            sig.push('s');
            text.push_str(s);
        }
        AttrRef::Int(i) => {
            sig.push('i');
            let _ = write!(text, "{i}");
        }
        AttrRef::Double(d) => {
            sig.push('d');
            text.push_str(&double_text(*d));
        }
        AttrRef::Bool(b) => {
            sig.push('b');
            text.push_str(if *b { "true" } else { "false" });
        }
        AttrRef::Bytes(b) => {
            sig.push('y');
            text.push_str(&base64::engine::general_purpose::STANDARD.encode(b));
        }
        AttrRef::Array(_) | AttrRef::KvList(_) => {
            let json = to_json(value, sig);
            text.push_str(&json.to_string());
        }
    }
    true
}

fn double_text(d: f64) -> String {
    if d.is_nan() {
        "NaN".to_string()
    } else if d.is_infinite() {
        if d > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        format!("{d}")
    }
}

/// JSON for a value nested in a composite, pushing its signature.
fn to_json(value: &AttrRef<'_>, sig: &mut String) -> Json {
    match value {
        AttrRef::Empty => {
            sig.push('e');
            Json::Null
        }
        AttrRef::Str(s) => {
            sig.push('s');
            Json::String((*s).to_string())
        }
        AttrRef::Int(i) => {
            sig.push('i');
            Json::from(*i)
        }
        AttrRef::Double(d) => {
            sig.push('d');
            serde_json::Number::from_f64(*d).map(Json::Number).unwrap_or_else(|| Json::String(double_text(*d)))
        }
        AttrRef::Bool(b) => {
            sig.push('b');
            Json::Bool(*b)
        }
        AttrRef::Bytes(b) => {
            sig.push('y');
            Json::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        AttrRef::Array(items) => {
            sig.push_str("a[");
            let out = items.iter().map(|v| to_json(v, sig)).collect();
            sig.push(']');
            Json::Array(out)
        }
        AttrRef::KvList(kvs) => {
            sig.push_str("k{");
            let mut out = serde_json::Map::new();
            for (k, v) in kvs {
                let v = to_json(v, sig);
                out.insert((*k).to_string(), v);
            }
            sig.push('}');
            Json::Object(out)
        }
    }
}

/// Reads the typed entries of one row of a (map, signature) column pair.
pub fn read_row(map: &MapArray, types: &StringArray, row: usize) -> Result<Vec<(String, AttrValue)>, StorageError> {
    if map.is_null(row) {
        return Ok(Vec::new());
    }
    let offsets = map.value_offsets();
    let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
    let keys = map.keys().as_any().downcast_ref::<StringArray>().ok_or_else(|| corrupt("map keys are not Utf8"))?;
    let values =
        map.values().as_any().downcast_ref::<StringArray>().ok_or_else(|| corrupt("map values are not Utf8"))?;
    let sig = if types.is_null(row) { "" } else { types.value(row) };
    let mut sig = Signature { bytes: sig.as_bytes(), pos: 0 };
    let mut out = Vec::with_capacity(end - start);
    for i in start..end {
        let text = (!values.is_null(i)).then(|| values.value(i));
        let value = sig.read_top(text)?;
        out.push((keys.value(i).to_string(), value));
    }
    Ok(out)
}

fn corrupt(msg: &str) -> StorageError {
    StorageError::Corrupt(format!("attributes: {msg}"))
}

struct Signature<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Signature<'_> {
    fn next(&mut self) -> Result<u8, StorageError> {
        let b = *self.bytes.get(self.pos).ok_or_else(|| corrupt("type signature too short"))?;
        self.pos += 1;
        Ok(b)
    }

    fn expect(&mut self, want: u8) -> Result<(), StorageError> {
        if self.next()? == want {
            Ok(())
        } else {
            Err(corrupt("malformed type signature"))
        }
    }

    /// Decodes a top-level entry from its text form.
    fn read_top(&mut self, text: Option<&str>) -> Result<AttrValue, StorageError> {
        let code = self.next()?;
        let Some(text) = text else {
            return if code == b'e' { Ok(AttrValue::Empty) } else { Err(corrupt("NULL text for a typed value")) };
        };
        match code {
            b's' => Ok(AttrValue::Str(text.to_string())),
            b'i' => text.parse().map(AttrValue::Int).map_err(|_| corrupt("bad int text")),
            b'd' => parse_double(text).map(AttrValue::Double),
            b'b' => Ok(AttrValue::Bool(text == "true")),
            b'y' => decode_b64(text).map(AttrValue::Bytes),
            b'a' | b'k' => {
                self.pos -= 1;
                let json: Json = serde_json::from_str(text).map_err(|_| corrupt("bad composite JSON"))?;
                self.read_json(&json)
            }
            _ => Err(corrupt("unknown type code")),
        }
    }

    fn read_json(&mut self, json: &Json) -> Result<AttrValue, StorageError> {
        match (self.next()?, json) {
            (b'e', _) => Ok(AttrValue::Empty),
            (b's', Json::String(s)) => Ok(AttrValue::Str(s.clone())),
            (b'i', Json::Number(n)) => n.as_i64().map(AttrValue::Int).ok_or_else(|| corrupt("bad nested int")),
            (b'd', Json::Number(n)) => n.as_f64().map(AttrValue::Double).ok_or_else(|| corrupt("bad nested double")),
            (b'd', Json::String(s)) => parse_double(s).map(AttrValue::Double),
            (b'b', Json::Bool(b)) => Ok(AttrValue::Bool(*b)),
            (b'y', Json::String(s)) => decode_b64(s).map(AttrValue::Bytes),
            (b'a', Json::Array(items)) => {
                self.expect(b'[')?;
                let out = items.iter().map(|v| self.read_json(v)).collect::<Result<_, _>>()?;
                self.expect(b']')?;
                Ok(AttrValue::Array(out))
            }
            (b'k', Json::Object(map)) => {
                self.expect(b'{')?;
                let mut out = Vec::with_capacity(map.len());
                for (k, v) in map {
                    out.push((k.clone(), self.read_json(v)?));
                }
                self.expect(b'}')?;
                Ok(AttrValue::KvList(out))
            }
            _ => Err(corrupt("type signature does not match the JSON text")),
        }
    }
}

fn parse_double(text: &str) -> Result<f64, StorageError> {
    match text {
        "NaN" => Ok(f64::NAN),
        "inf" => Ok(f64::INFINITY),
        "-inf" => Ok(f64::NEG_INFINITY),
        _ => text.parse().map_err(|_| corrupt("bad double text")),
    }
}

fn decode_b64(text: &str) -> Result<Vec<u8>, StorageError> {
    base64::engine::general_purpose::STANDARD.decode(text).map_err(|_| corrupt("bad base64 bytes"))
}

#[cfg(test)]
mod tests;
