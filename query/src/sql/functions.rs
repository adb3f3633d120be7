//! SQL functions Osprey adds to DataFusion's: `hex` and `unhex` for ids.
//!
//! Ids are lowercase hex text in every table (`WHERE trace_id = '<hex>'`), so
//! these are for the other direction: `unhex(trace_id)` gives the 16 raw bytes
//! (to join with data that holds ids as bytes, or to export them), and
//! `hex(bytes)` gives the id back as text. They are DataFusion's
//! `decode(x, 'hex')` / `encode(x, 'hex')` with the names other engines use
//! (MySQL, Spark, ClickHouse), except that `unhex` accepts upper case and
//! answers NULL for text that is not hex instead of failing the whole query,
//! and `hex` always writes lowercase, as ids are stored.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};
use datafusion::prelude::SessionContext;

/// Registers Osprey's functions in `ctx`.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(Hex::default()));
    ctx.register_udf(ScalarUDF::new_from_impl(Unhex::default()));
}

/// `hex(bytes or text) -> text`: lowercase hex of the bytes (of the UTF-8 for text).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Hex {
    signature: Signature,
}

impl Default for Hex {
    fn default() -> Self {
        Hex { signature: Signature::new(TypeSignature::UserDefined, Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for Hex {
    fn name(&self) -> &str {
        "hex"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] if is_bytes(t) || is_text(t) || t.is_null() => Ok(vec![DataType::Binary]),
            [t] => plan_err!("hex expects bytes or text, got {t}"),
            _ => plan_err!("hex takes one argument, got {}", arg_types.len()),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        map_one(args, |input| {
            let bytes = input.as_binary_opt::<i32>().ok_or_else(|| wrong_input("hex", input))?;
            let mut out = StringBuilder::with_capacity(bytes.len(), bytes.values().len() * 2);
            let mut text = String::new();
            for value in bytes.iter() {
                match value {
                    Some(v) => {
                        text.clear();
                        for b in v {
                            text.push(HEX_DIGITS[usize::from(b >> 4)] as char);
                            text.push(HEX_DIGITS[usize::from(b & 0xf)] as char);
                        }
                        out.append_value(&text);
                    }
                    None => out.append_null(),
                }
            }
            Ok(Arc::new(out.finish()))
        })
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `unhex(text) -> bytes`: the bytes of a hex string (either case); NULL when
/// the text is not an even number of hex digits.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Unhex {
    signature: Signature,
}

impl Default for Unhex {
    fn default() -> Self {
        Unhex { signature: Signature::new(TypeSignature::UserDefined, Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for Unhex {
    fn name(&self) -> &str {
        "unhex"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] if is_text(t) || t.is_null() => Ok(vec![DataType::Utf8]),
            [t] => plan_err!("unhex expects hex text, got {t}"),
            _ => plan_err!("unhex takes one argument, got {}", arg_types.len()),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        map_one(args, |input| {
            let text = input.as_string_opt::<i32>().ok_or_else(|| wrong_input("unhex", input))?;
            let mut out = BinaryBuilder::with_capacity(text.len(), text.values().len() / 2);
            let mut bytes = Vec::new();
            for value in text.iter() {
                match value.and_then(|v| decode_hex(v, &mut bytes)) {
                    Some(()) => out.append_value(&bytes),
                    None => out.append_null(),
                }
            }
            Ok(Arc::new(out.finish()))
        })
    }
}

/// Decodes `text` into `out`; `None` if it is not an even number of hex digits.
fn decode_hex(text: &str, out: &mut Vec<u8>) -> Option<()> {
    out.clear();
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    for pair in digits.chunks_exact(2) {
        let (hi, lo) = (nibble(*pair.first()?)?, nibble(*pair.get(1)?)?);
        out.push(hi << 4 | lo);
    }
    Some(())
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn is_bytes(t: &DataType) -> bool {
    matches!(t, DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_))
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn wrong_input(name: &str, input: &ArrayRef) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::Internal(format!(
        "{name} got a {} array after type coercion",
        input.data_type()
    ))
}

/// Applies `f` to the one argument as an array; a scalar in gives a scalar out.
fn map_one(args: ScalarFunctionArgs, f: impl Fn(&ArrayRef) -> Result<ArrayRef>) -> Result<ColumnarValue> {
    let [arg] = args.args.as_slice() else {
        return exec_err!("expected one argument, got {}", args.args.len());
    };
    match arg {
        ColumnarValue::Array(array) => Ok(ColumnarValue::Array(f(array)?)),
        ColumnarValue::Scalar(scalar) => {
            let out = f(&scalar.to_array_of_size(1)?)?;
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        }
    }
}

#[cfg(test)]
mod tests;
