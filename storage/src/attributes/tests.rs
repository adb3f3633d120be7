use super::*;

fn round_trip(entries: Vec<(&str, AttrRef<'_>)>) -> Vec<(String, AttrValue)> {
    let mut b = AttributesBuilder::new();
    b.append_row(entries).expect("append");
    let (map, types) = b.finish();
    read_row(&map, &types, 0).expect("read")
}

#[test]
fn scalars_keep_their_types_and_text() {
    let bytes = [0u8, 255, 7];
    let got = round_trip(vec![
        ("s", AttrRef::Str("héllo")),
        ("i", AttrRef::Int(-42)),
        ("big", AttrRef::Int(i64::MAX)),
        ("d", AttrRef::Double(0.1)),
        ("nan", AttrRef::Double(f64::NAN)),
        ("inf", AttrRef::Double(f64::NEG_INFINITY)),
        ("b", AttrRef::Bool(true)),
        ("y", AttrRef::Bytes(&bytes)),
        ("e", AttrRef::Empty),
    ]);
    assert_eq!(got[0], ("s".into(), AttrValue::Str("héllo".into())));
    assert_eq!(got[1].1, AttrValue::Int(-42));
    assert_eq!(got[2].1, AttrValue::Int(i64::MAX));
    assert_eq!(got[3].1, AttrValue::Double(0.1));
    assert!(matches!(got[4].1, AttrValue::Double(d) if d.is_nan()));
    assert_eq!(got[5].1, AttrValue::Double(f64::NEG_INFINITY));
    assert_eq!(got[6].1, AttrValue::Bool(true));
    assert_eq!(got[7].1, AttrValue::Bytes(bytes.to_vec()));
    assert_eq!(got[8].1, AttrValue::Empty);
}

#[test]
fn text_form_is_what_sql_sees() {
    let mut b = AttributesBuilder::new();
    b.append_row(vec![
        ("i", AttrRef::Int(7)),
        ("d", AttrRef::Double(2.0)),
        ("a", AttrRef::Array(vec![AttrRef::Str("x"), AttrRef::Int(1), AttrRef::Bool(false)])),
        ("k", AttrRef::KvList(vec![("z", AttrRef::Str("v")), ("a", AttrRef::Double(1.5))])),
        ("e", AttrRef::Empty),
    ])
    .expect("append");
    let (map, types) = b.finish();
    let values = map.values().as_any().downcast_ref::<StringArray>().expect("utf8");
    assert_eq!(values.value(0), "7");
    assert_eq!(values.value(1), "2");
    assert_eq!(values.value(2), r#"["x",1,false]"#);
    assert_eq!(values.value(3), r#"{"z":"v","a":1.5}"#);
    assert!(values.is_null(4));
    assert_eq!(types.value(0), "ida[sib]k{sd}e");
}

#[test]
fn composites_round_trip_exactly() {
    let bytes = [1u8, 2, 3];
    let value = AttrRef::KvList(vec![
        ("list", AttrRef::Array(vec![AttrRef::Double(1.0), AttrRef::Int(1), AttrRef::Double(f64::INFINITY)])),
        ("raw", AttrRef::Bytes(&bytes)),
        ("str_like_bytes", AttrRef::Str("AQID")),
        ("nested", AttrRef::KvList(vec![("deep", AttrRef::Array(vec![AttrRef::Empty, AttrRef::Array(vec![])]))])),
    ]);
    let got = round_trip(vec![("k", value.clone())]);
    let want = AttrValue::KvList(vec![
        (
            "list".into(),
            AttrValue::Array(vec![AttrValue::Double(1.0), AttrValue::Int(1), AttrValue::Double(f64::INFINITY)]),
        ),
        ("raw".into(), AttrValue::Bytes(bytes.to_vec())),
        ("str_like_bytes".into(), AttrValue::Str("AQID".into())),
        (
            "nested".into(),
            AttrValue::KvList(vec![(
                "deep".into(),
                AttrValue::Array(vec![AttrValue::Empty, AttrValue::Array(vec![])]),
            )]),
        ),
    ]);
    assert_eq!(got, vec![("k".to_string(), want.clone())]);
    assert_eq!(want.as_ref(), value);
}

#[test]
fn rows_are_independent_and_empty_rows_work() {
    let mut b = AttributesBuilder::new();
    b.append_row(vec![("a", AttrRef::Int(1))]).expect("append");
    b.append_row(Vec::new()).expect("append");
    b.append_row(vec![("b", AttrRef::Str("x")), ("c", AttrRef::Bool(false))]).expect("append");
    let (map, types) = b.finish();
    assert_eq!(read_row(&map, &types, 0).expect("row 0"), vec![("a".into(), AttrValue::Int(1))]);
    assert!(read_row(&map, &types, 1).expect("row 1").is_empty());
    assert_eq!(
        read_row(&map, &types, 2).expect("row 2"),
        vec![("b".into(), AttrValue::Str("x".into())), ("c".into(), AttrValue::Bool(false))]
    );
}

#[test]
fn corrupt_signature_is_an_error_not_a_panic() {
    let mut b = AttributesBuilder::new();
    b.append_row(vec![("a", AttrRef::Int(1))]).expect("append");
    let (map, _) = b.finish();
    for bad in ["", "q", "s", "a[", "k{s"] {
        let types = StringArray::from(vec![bad]);
        // "s" decodes "1" as a string, which is fine; the others must error.
        let got = read_row(&map, &types, 0);
        if bad != "s" {
            assert!(got.is_err(), "signature {bad:?} should be rejected");
        }
    }
}

/// A row rendered once and appended to many rows stores exactly what appending its entries
/// to each row stores, for every value type (and for an empty row).
#[test]
fn a_rendered_row_appends_what_its_entries_append() {
    let bytes = [1u8, 2, 3];
    let entries = vec![
        ("s", AttrRef::Str("héllo")),
        ("i", AttrRef::Int(-7)),
        ("d", AttrRef::Double(f64::NAN)),
        ("b", AttrRef::Bool(false)),
        ("y", AttrRef::Bytes(&bytes)),
        ("e", AttrRef::Empty),
        ("a", AttrRef::Array(vec![AttrRef::Int(1), AttrRef::Str("x")])),
        ("m", AttrRef::KvList(vec![("k", AttrRef::Bool(true))])),
    ];
    for row in [entries, vec![]] {
        let rendered = RenderedRow::new(row.iter().cloned());
        let (mut by_entries, mut by_rendered) = (AttributesBuilder::new(), AttributesBuilder::new());
        for _ in 0..3 {
            by_entries.append_row(row.iter().cloned()).expect("append");
            by_rendered.append_rendered(&rendered).expect("append");
        }
        assert_eq!(by_rendered.finish(), by_entries.finish());
    }
}
