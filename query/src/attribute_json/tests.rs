use serde_json::json;

use super::*;

fn render(entries: &[(String, AttrValue)]) -> serde_json::Value {
    serde_json::to_value(AttributeMap(entries)).expect("serializes")
}

#[test]
fn a_repeated_key_keeps_its_last_value() {
    let entries = vec![
        ("k".to_string(), AttrValue::Int(1)),
        ("other".to_string(), AttrValue::Bool(true)),
        ("k".to_string(), AttrValue::Str("last".into())),
    ];
    assert_eq!(serde_json::to_string(&AttributeMap(&entries)).expect("json"), r#"{"other":true,"k":"last"}"#);
}

#[test]
fn long_lists_dedupe_too() {
    let mut entries: Vec<(String, AttrValue)> = (0..40).map(|i| (format!("k{i}"), AttrValue::Int(i))).collect();
    entries.push(("k3".to_string(), AttrValue::Double(0.5)));
    let value = render(&entries);
    assert_eq!(value.as_object().map(|o| o.len()), Some(40));
    assert_eq!(value["k3"], json!(0.5));
    assert_eq!(value["k39"], json!(39));
}

#[test]
fn nested_values() {
    let entries = vec![(
        "kv".to_string(),
        AttrValue::KvList(vec![
            ("bytes".to_string(), AttrValue::Bytes(vec![0xff])),
            ("empty".to_string(), AttrValue::Empty),
            ("list".to_string(), AttrValue::Array(vec![AttrValue::Double(f64::NAN), AttrValue::Array(vec![])])),
        ]),
    )];
    assert_eq!(render(&entries), json!({"kv": {"bytes": "/w==", "empty": null, "list": ["NaN", []]}}));
}
