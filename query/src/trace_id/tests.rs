use super::*;
use crate::error::ErrorClass;

#[test]
fn accepts_32_hex_any_case_and_lowercases() {
    let id = TraceId::parse("0123456789ABCDEFabcdef0123456789").expect("valid");
    assert_eq!(id.as_str(), "0123456789abcdefabcdef0123456789");
}

#[test]
fn pads_64_bit_ids() {
    let id = TraceId::parse("ABCDEF0123456789").expect("valid");
    assert_eq!(id.as_str(), "0000000000000000abcdef0123456789");
}

#[test]
fn rejects_other_lengths_and_non_hex() {
    for bad in ["", "abc", "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdeg", "' OR 1=1 --"] {
        let err = TraceId::parse(bad).expect_err(bad);
        assert_eq!(err.class(), ErrorClass::BadRequest, "{bad}");
    }
    // Multi-byte characters must not be mistaken for hex digits.
    assert!(TraceId::parse("éééééééééééééééé").is_err());
}

#[test]
fn long_garbage_is_echoed_truncated() {
    let err = TraceId::parse(&"x".repeat(10_000)).expect_err("too long");
    assert!(err.to_string().len() < 200, "{err}");
}
