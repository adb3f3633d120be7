//! OTLP/protobuf read in place: a message's fields as values and slices of the request's own
//! bytes, instead of messages decoded into owned `String`s and `Vec`s first. prost allocates
//! every key and value of every attribute, and freeing them is work too: decoding a metrics
//! request and freeing it was ~20 % of a metrics ingest's CPU (BENCHMARKS.md, issue 5,
//! session 16).
//!
//! The reader follows prost's rules for everything it accepts: a known field of the wrong wire
//! type, a string that is not UTF-8, a length past the end, an end-group without its start, a
//! message nested past prost's recursion limit are all errors, also in fields the conversion
//! does not read (prost would have refused the request); unknown fields are skipped; of a
//! scalar field sent twice the last wins; a packed repeated field and its unpacked form are
//! both read. One legal case it leaves to prost: a singular message field sent more than once,
//! which prost merges ([`WireError::Merge`]). A caller that gets any error decodes the request
//! with prost instead, so the answer is prost's either way ([`crate::metric_points`]).

use osprey_storage::attributes::AttrRef;
use prost::encoding::{decode_key, decode_varint, WireType};

use crate::limits::Limiter;

/// prost's recursion limit: the fields of the top-level message are read with this many levels
/// of nesting left, and a message can be read only with at least one left.
pub const RECURSION_LIMIT: u32 = 100;

/// Why the reader stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Not a valid encoding of the message (prost refuses it too).
    #[error("malformed protobuf: {0}")]
    Malformed(&'static str),
    /// A singular message field occurs more than once: valid protobuf, which prost merges.
    #[error("a singular message field occurs more than once")]
    Merge,
}

pub type Result<T> = std::result::Result<T, WireError>;

fn malformed<T>(what: &'static str) -> Result<T> {
    Err(WireError::Malformed(what))
}

/// One field's value, by wire type.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
    /// A group, skipped already (no OTLP field is a group).
    Group,
}

impl<'a> Value<'a> {
    pub fn varint(self) -> Result<u64> {
        match self {
            Value::Varint(v) => Ok(v),
            _ => malformed("wire type is not varint"),
        }
    }

    pub fn fixed64(self) -> Result<u64> {
        match self {
            Value::Fixed64(v) => Ok(v),
            _ => malformed("wire type is not 64-bit"),
        }
    }

    pub fn double(self) -> Result<f64> {
        self.fixed64().map(f64::from_bits)
    }

    pub fn bytes(self) -> Result<&'a [u8]> {
        match self {
            Value::Bytes(b) => Ok(b),
            _ => malformed("wire type is not length-delimited"),
        }
    }

    pub fn str(self) -> Result<&'a str> {
        std::str::from_utf8(self.bytes()?).or_else(|_| malformed("a string is not UTF-8"))
    }

    /// prost's `int32` (and enums): the varint's low 32 bits.
    pub fn int32(self) -> Result<i32> {
        self.varint().map(|v| v as i32)
    }

    /// prost's `uint32`.
    pub fn uint32(self) -> Result<u32> {
        self.varint().map(|v| v as u32)
    }

    /// prost's `sint32` (zigzag).
    pub fn sint32(self) -> Result<i32> {
        let v = self.varint()? as u32;
        Ok(((v >> 1) as i32) ^ (-((v & 1) as i32)))
    }

    pub fn bool(self) -> Result<bool> {
        self.varint().map(|v| v != 0)
    }

    /// A repeated `fixed64`, packed or not, appended to `out`.
    pub fn fixed64s(self, out: &mut Vec<u64>) -> Result<()> {
        self.each_fixed64(|bits| out.push(bits))
    }

    /// A repeated `double`, packed or not, appended to `out`.
    pub fn doubles(self, out: &mut Vec<f64>) -> Result<()> {
        self.each_fixed64(|bits| out.push(f64::from_bits(bits)))
    }

    /// Each value of a repeated 64-bit field, packed or not, as its bits.
    fn each_fixed64(self, mut each: impl FnMut(u64)) -> Result<()> {
        match self {
            Value::Fixed64(v) => each(v),
            Value::Bytes(b) if b.len() % 8 == 0 => {
                for c in b.chunks_exact(8) {
                    each(u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]));
                }
            }
            Value::Bytes(_) => return malformed("a packed 64-bit field's length is not a multiple of 8"),
            _ => return malformed("wire type is neither 64-bit nor packed"),
        }
        Ok(())
    }

    /// A repeated `uint64`, packed or not, appended to `out`.
    pub fn varints(self, out: &mut Vec<u64>) -> Result<()> {
        match self {
            Value::Varint(v) => out.push(v),
            Value::Bytes(mut b) => {
                while !b.is_empty() {
                    out.push(decode_varint(&mut b).or_else(|_| malformed("a packed varint"))?);
                }
            }
            _ => return malformed("wire type is neither varint nor packed"),
        }
        Ok(())
    }
}

/// The encoded fields of one message, and the nesting prost would still allow below it.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    bytes: &'a [u8],
    budget: u32,
}

impl<'a> Message<'a> {
    /// A whole request.
    pub fn top(bytes: &'a [u8]) -> Self {
        Self { bytes, budget: RECURSION_LIMIT }
    }

    pub fn fields(self) -> Fields<'a> {
        Fields { buf: self.bytes, budget: self.budget }
    }

    /// Its encoded fields.
    pub fn bytes(self) -> &'a [u8] {
        self.bytes
    }

    /// The message a field of this one holds.
    pub fn nested(self, value: Value<'a>) -> Result<Message<'a>> {
        let bytes = value.bytes()?;
        if self.budget == 0 {
            return malformed("messages nested past the recursion limit");
        }
        Ok(Message { bytes, budget: self.budget - 1 })
    }

    /// An unknown field of this message, skipped (prost checks the nesting even then).
    pub fn unknown(self) -> Result<()> {
        if self.budget == 0 {
            return malformed("messages nested past the recursion limit");
        }
        Ok(())
    }
}

/// The fields of a message in order: `(tag, value)`.
pub struct Fields<'a> {
    buf: &'a [u8],
    budget: u32,
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>)>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        Some(self.field())
    }
}

impl<'a> Fields<'a> {
    /// Bytes of the message not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    #[inline]
    fn field(&mut self) -> Result<(u32, Value<'a>)> {
        let (tag, wire_type) = decode_key(&mut self.buf).or_else(|_| malformed("a field key"))?;
        let value = match wire_type {
            WireType::Varint => Value::Varint(decode_varint(&mut self.buf).or_else(|_| malformed("a varint"))?),
            WireType::SixtyFourBit => Value::Fixed64(u64::from_le_bytes(self.take::<8>()?)),
            WireType::ThirtyTwoBit => Value::Fixed32(u32::from_le_bytes(self.take::<4>()?)),
            WireType::LengthDelimited => {
                let len = decode_varint(&mut self.buf).or_else(|_| malformed("a length"))?;
                let len = usize::try_from(len).ok().filter(|n| *n <= self.buf.len());
                let Some(len) = len else { return malformed("a length runs past the end") };
                let (bytes, rest) = self.buf.split_at(len);
                self.buf = rest;
                Value::Bytes(bytes)
            }
            WireType::StartGroup => {
                skip_group(&mut self.buf, tag, self.budget)?;
                Value::Group
            }
            WireType::EndGroup => return malformed("an end-group without its start"),
        };
        Ok((tag, value))
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let Some((head, rest)) = self.buf.split_first_chunk::<N>() else {
            return malformed("a fixed field past the end");
        };
        self.buf = rest;
        Ok(*head)
    }
}

/// Skips a group's fields up to its end-group (prost's `skip_field`: each level needs nesting left).
fn skip_group(buf: &mut &[u8], tag: u32, budget: u32) -> Result<()> {
    if budget == 0 {
        return malformed("groups nested past the recursion limit");
    }
    loop {
        let (inner_tag, wire_type) = decode_key(buf).or_else(|_| malformed("a field key in a group"))?;
        if budget == 1 && wire_type != WireType::EndGroup {
            return malformed("groups nested past the recursion limit");
        }
        let skip = match wire_type {
            WireType::EndGroup if inner_tag == tag => return Ok(()),
            WireType::EndGroup => return malformed("an end-group of another group"),
            WireType::Varint => decode_varint(buf).map(|_| 0).or_else(|_| malformed("a varint"))?,
            WireType::SixtyFourBit => 8,
            WireType::ThirtyTwoBit => 4,
            WireType::LengthDelimited => decode_varint(buf).or_else(|_| malformed("a length"))?,
            WireType::StartGroup => {
                skip_group(buf, inner_tag, budget - 1)?;
                0
            }
        };
        let rest = usize::try_from(skip).ok().and_then(|n| buf.get(n..));
        let Some(rest) = rest else { return malformed("a field in a group runs past the end") };
        *buf = rest;
    }
}

/// A string field's last value (`""` when absent): its bytes, checked as UTF-8 by [`Value::str`].
pub fn last_str<'a>(slot: &mut &'a str, value: Value<'a>) -> Result<()> {
    *slot = value.str()?;
    Ok(())
}

/// Sets a singular message field, refusing a second occurrence ([`WireError::Merge`]).
pub fn once<'a>(slot: &mut Option<Message<'a>>, parent: Message<'a>, value: Value<'a>) -> Result<()> {
    if slot.is_some() {
        return Err(WireError::Merge);
    }
    *slot = Some(parent.nested(value)?);
    Ok(())
}

/// A `KeyValue`: its key and its `AnyValue`, still encoded.
pub fn key_value(kv: Message<'_>) -> Result<(&str, Option<Message<'_>>)> {
    let (mut key, mut value) = ("", None);
    for field in kv.fields() {
        match field? {
            (1, v) => last_str(&mut key, v)?,
            (2, v) => once(&mut value, kv, v)?,
            (3, v) => drop(v.int32()?), // key_strindex (profiles only)
            _ => kv.unknown()?,
        }
    }
    Ok((key, value))
}

/// What an `AnyValue` holds, checked: a string is UTF-8, a composite still encoded.
#[derive(Debug, Clone, Copy)]
enum Variant<'a> {
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(&'a [u8]),
    /// An `ArrayValue` (tag 5) or a `KeyValueList` (tag 6).
    Composite(u32, Value<'a>),
    /// `string_value_strindex` (profiles only).
    Strindex,
}

/// The variant an `AnyValue` holds: the last of its oneof's fields, each checked as prost
/// decodes it (a composite replaced by a later field is still read whole).
fn variant<'a>(any: Message<'a>) -> Result<Option<Variant<'a>>> {
    let mut last: Option<Variant<'a>> = None;
    for field in any.fields() {
        let (tag, value) = field?;
        let now = match tag {
            1 => Variant::Str(value.str()?),
            2 => Variant::Bool(value.bool()?),
            3 => Variant::Int(value.varint()? as i64),
            4 => Variant::Double(value.double()?),
            7 => Variant::Bytes(value.bytes()?),
            8 => {
                value.int32()?;
                Variant::Strindex
            }
            5 | 6 => {
                if matches!(last, Some(Variant::Composite(t, _)) if t == tag) {
                    return Err(WireError::Merge);
                }
                any.nested(value)?;
                Variant::Composite(tag, value)
            }
            _ => {
                any.unknown()?;
                continue;
            }
        };
        if let Some(Variant::Composite(replaced, old)) = last {
            check_composite(any, replaced, old)?;
        }
        last = Some(now);
    }
    Ok(last)
}

/// Reads an `ArrayValue` (tag 5) or `KeyValueList` (tag 6) whole, keeping nothing.
fn check_composite(any: Message<'_>, tag: u32, value: Value<'_>) -> Result<()> {
    let composite = any.nested(value)?;
    for field in composite.fields() {
        match field? {
            (1, v) if tag == 5 => check_any(composite.nested(v)?)?,
            (1, v) => check_key_value(composite.nested(v)?)?,
            _ => composite.unknown()?,
        }
    }
    Ok(())
}

fn check_any(any: Message<'_>) -> Result<()> {
    if let Some(Variant::Composite(tag, value)) = variant(any)? {
        check_composite(any, tag, value)?;
    }
    Ok(())
}

/// Reads a `KeyValue` whole, keeping nothing.
pub fn check_key_value(kv: Message<'_>) -> Result<()> {
    if let (_, Some(value)) = key_value(kv)? {
        check_any(value)?;
    }
    Ok(())
}

/// The value of `service.name` if it is the first attribute of that key and a non-empty
/// string, as [`crate::convert::service_name`] reads a decoded resource.
pub fn service_name<'a>(attributes: &[Message<'a>]) -> Result<Option<&'a str>> {
    for kv in attributes {
        let (key, value) = key_value(*kv)?;
        if key == "service.name" {
            let Some(value) = value else { return Ok(None) };
            return Ok(match variant(value)? {
                Some(Variant::Str(s)) if !s.is_empty() => Some(s),
                _ => None,
            });
        }
    }
    Ok(None)
}

/// The attributes of one item with the limits applied (as [`Limiter::attributes`]), and its
/// dropped count; those past `max_attributes_per_item` are still read whole.
pub fn attributes<'a>(
    limiter: &mut Limiter<'_>,
    kvs: &[Message<'a>],
    dropped: u32,
) -> Result<(Vec<(&'a str, AttrRef<'a>)>, u32)> {
    let keep = kvs.len().min(limiter.max_attributes_per_item());
    let mut out = Vec::with_capacity(keep);
    for kv in &kvs[..keep] {
        let (key, value) = key_value(*kv)?;
        out.push((key, attr(limiter, value, 1)?));
    }
    for kv in &kvs[keep..] {
        check_key_value(*kv)?;
    }
    let extra = kvs.len() - keep;
    limiter.counts.dropped_attributes += extra as u64;
    Ok((out, dropped.saturating_add(u32::try_from(extra).unwrap_or(u32::MAX))))
}

/// An `AnyValue` at nesting `depth` with the limits applied (as [`Limiter::value`]).
fn attr<'a>(limiter: &mut Limiter<'_>, any: Option<Message<'a>>, depth: usize) -> Result<AttrRef<'a>> {
    let Some(any) = any else { return Ok(AttrRef::Empty) };
    let Some(variant) = variant(any)? else { return Ok(AttrRef::Empty) };
    Ok(match variant {
        Variant::Str(s) => AttrRef::Str(limiter.truncate_str(s)),
        Variant::Bool(b) => AttrRef::Bool(b),
        Variant::Int(i) => AttrRef::Int(i),
        Variant::Double(d) => AttrRef::Double(d),
        Variant::Bytes(b) => AttrRef::Bytes(limiter.truncate_bytes(b)),
        Variant::Composite(tag, value) if depth >= limiter.max_value_depth() => {
            check_composite(any, tag, value)?;
            limiter.counts.cut_subtrees += 1;
            AttrRef::Empty
        }
        Variant::Composite(5, value) => {
            let array = any.nested(value)?;
            let mut items = Vec::new();
            for field in array.fields() {
                match field? {
                    (1, v) => items.push(attr(limiter, Some(array.nested(v)?), depth + 1)?),
                    _ => array.unknown()?,
                }
            }
            AttrRef::Array(items)
        }
        Variant::Composite(_, value) => {
            let list = any.nested(value)?;
            let mut entries = Vec::new();
            for field in list.fields() {
                match field? {
                    (1, v) => {
                        let (key, value) = key_value(list.nested(v)?)?;
                        entries.push((key, attr(limiter, value, depth + 1)?));
                    }
                    _ => list.unknown()?,
                }
            }
            AttrRef::KvList(entries)
        }
        // As prost's conversion reads it.
        Variant::Strindex => AttrRef::Empty,
    })
}
