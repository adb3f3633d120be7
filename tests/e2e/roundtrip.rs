//! Real data round trip: every span of the astronomy recording goes into the
//! real binary over OTLP/HTTP; after a `kill -9` the data dir is opened with
//! the storage engine (WAL replay + Parquet) and every attribute of every span,
//! its resource and its events comes back with its OTLP type and value.

use std::collections::HashMap;
use std::path::PathBuf;

use arrow::array::{Array, AsArray, RecordBatch};
use datafusion::prelude::SessionContext;
use osprey_proto::common::{any_value::Value, AnyValue, KeyValue};
use osprey_proto::ExportTraceServiceRequest;
use osprey_storage::attributes::{read_row, AttrValue};
use osprey_storage::{Storage, StorageConfig, Table};
use prost::Message;

use crate::harness::Osprey;

pub(crate) fn corpus() -> Option<Vec<Vec<u8>>> {
    let path = std::env::var_os("OSPREY_OTEL_DEMO_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/otel-demo"))
        .join("astronomy-oteltraces.zst");
    let file = std::fs::File::open(&path).ok()?;
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut zstd::stream::read::Decoder::new(file).ok()?, &mut data).ok()?;
    let mut records = Vec::new();
    let mut rest = data.as_slice();
    while rest.len() >= 4 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        records.push(rest[4..4 + len].to_vec());
        rest = &rest[4 + len..];
    }
    Some(records)
}

fn to_attr(v: Option<&AnyValue>) -> AttrValue {
    match v.and_then(|v| v.value.as_ref()) {
        None | Some(Value::StringValueStrindex(_)) => AttrValue::Empty,
        Some(Value::StringValue(s)) => AttrValue::Str(s.clone()),
        Some(Value::IntValue(i)) => AttrValue::Int(*i),
        Some(Value::DoubleValue(d)) => AttrValue::Double(*d),
        Some(Value::BoolValue(b)) => AttrValue::Bool(*b),
        Some(Value::BytesValue(b)) => AttrValue::Bytes(b.clone()),
        Some(Value::ArrayValue(a)) => AttrValue::Array(a.values.iter().map(|v| to_attr(Some(v))).collect()),
        Some(Value::KvlistValue(kv)) => {
            AttrValue::KvList(kv.values.iter().map(|k| (k.key.clone(), to_attr(k.value.as_ref()))).collect())
        }
    }
}

fn to_attrs(kvs: &[KeyValue]) -> Vec<(String, AttrValue)> {
    kvs.iter().map(|kv| (kv.key.clone(), to_attr(kv.value.as_ref()))).collect()
}

type Key = (String, String);
#[derive(Debug, PartialEq)]
struct Stored {
    attributes: Vec<(String, AttrValue)>,
    resource: Vec<(String, AttrValue)>,
    events: Vec<(String, Vec<(String, AttrValue)>)>,
}

#[tokio::test]
async fn every_attribute_of_the_astronomy_recording_comes_back_typed() {
    let Some(records) = corpus() else {
        eprintln!("skipped: astronomy-oteltraces.zst not found (set OSPREY_OTEL_DEMO_DIR)");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    // Flush every few MB so the data ends up partly in Parquet, partly in the WAL.
    let mut osprey = Osprey::start(&data_dir, &[("OSPREY_STORAGE__FLUSH__MAX_BYTES", "4000000")]).await;

    let client = reqwest::Client::new();
    let mut expected: HashMap<Key, Stored> = HashMap::new();
    for record in &records {
        let r = client
            .post(osprey.otlp_http("/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(record.clone())
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status().as_u16(), 200);
        let response =
            osprey_proto::ExportTraceServiceResponse::decode(r.bytes().await.expect("body")).expect("response decodes");
        assert!(response.partial_success.is_none(), "{:?}", response.partial_success);
        let request = ExportTraceServiceRequest::decode(record.as_slice()).expect("decode");
        for rs in &request.resource_spans {
            let resource = rs.resource.as_ref().map(|r| to_attrs(&r.attributes)).unwrap_or_default();
            for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
                let key = (hex::encode(&span.trace_id), hex::encode(&span.span_id));
                let events = span.events.iter().map(|e| (e.name.clone(), to_attrs(&e.attributes))).collect();
                let stored = Stored { attributes: to_attrs(&span.attributes), resource: resource.clone(), events };
                expected.insert(key, stored);
            }
        }
    }
    osprey.kill9();

    // Open the same data dir with the storage engine itself.
    let storage =
        Storage::open(StorageConfig { data_dir: data_dir.clone(), disk_reserve_bytes: 0, ..Default::default() })
            .await
            .expect("open after kill -9");
    assert!(!storage.snapshot(Table::Spans).files.is_empty(), "part of the data should be in Parquet");
    let ctx = SessionContext::new();
    ctx.register_table("spans", storage.table_provider(Table::Spans)).expect("register");
    let batches = ctx
        .sql("SELECT trace_id, span_id, attributes, attribute_types, resource_attributes, resource_attribute_types, events FROM spans")
        .await
        .expect("plan")
        .collect()
        .await
        .expect("collect");
    let mut got: HashMap<Key, Stored> = HashMap::new();
    for batch in &batches {
        read_batch(batch, &mut got);
    }
    assert_eq!(got.len(), expected.len(), "every span stored once");
    let mut checked_values = 0usize;
    for (key, want) in &expected {
        let have = got.get(key).unwrap_or_else(|| panic!("span {key:?} missing"));
        assert_eq!(have.attributes.len(), want.attributes.len(), "{key:?}");
        for (h, w) in have.attributes.iter().zip(&want.attributes) {
            assert!(same(&h.1, &w.1) && h.0 == w.0, "span {key:?}: stored {h:?}, sent {w:?}");
        }
        assert_eq!(have.resource, want.resource, "{key:?}");
        assert_eq!(have.events.len(), want.events.len(), "{key:?}");
        for (h, w) in have.events.iter().zip(&want.events) {
            assert_eq!(h, w, "{key:?}");
        }
        checked_values += want.attributes.len() + want.resource.len();
    }
    assert!(checked_values > 64_151, "checked {checked_values} values");
    storage.close().await.expect("close");
}

/// Equality that treats NaN as equal to NaN.
fn same(a: &AttrValue, b: &AttrValue) -> bool {
    match (a, b) {
        (AttrValue::Double(x), AttrValue::Double(y)) => x == y || (x.is_nan() && y.is_nan()),
        _ => a == b,
    }
}

fn read_batch(batch: &RecordBatch, out: &mut HashMap<Key, Stored>) {
    let trace = batch.column(0).as_string::<i32>();
    let span = batch.column(1).as_string::<i32>();
    let (attrs, types) = (batch.column(2).as_map(), batch.column(3).as_string::<i32>());
    let (res, res_types) = (batch.column(4).as_map(), batch.column(5).as_string::<i32>());
    let events = batch.column(6).as_list::<i32>();
    for row in 0..batch.num_rows() {
        let ev = events.value(row);
        let ev = ev.as_struct();
        let names = ev.column_by_name("name").expect("name").as_string::<i32>();
        let ev_attrs = ev.column_by_name("attributes").expect("attributes").as_map();
        let ev_types = ev.column_by_name("attribute_types").expect("types").as_string::<i32>();
        let events = (0..ev.len())
            .map(|i| (names.value(i).to_string(), read_row(ev_attrs, ev_types, i).expect("event attrs")))
            .collect();
        let stored = Stored {
            attributes: read_row(attrs, types, row).expect("attrs"),
            resource: read_row(res, res_types, row).expect("resource"),
            events,
        };
        let previous = out.insert((trace.value(row).to_string(), span.value(row).to_string()), stored);
        assert!(previous.is_none(), "span stored twice");
    }
}
