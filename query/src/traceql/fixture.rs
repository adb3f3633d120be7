//! A fixed hand-built dataset for TraceQL and Tempo API tests.

use osprey_storage::attributes::AttrRef;

use crate::test_support::{batch, service, span, Span};

pub const MS: i64 = 1_000_000;
pub const SEC: i64 = 1_000 * MS;
pub const T1: &str = "11111111111111111111111111111111";
pub const T2: &str = "22222222222222222222222222222222";
pub const T3: &str = "33333333333333333333333333333333";
pub const T4: &str = "44444444444444444444444444444444";
const A: &str = "00000000000000a1";
const B: &str = "00000000000000b2";
const C: &str = "00000000000000c3";
const SERVER: i32 = 2;
const CLIENT: i32 = 3;
const PRODUCER: i32 = 4;
const CONSUMER: i32 = 5;

/// T1 @10s frontend "GET /cart" server 1s (http.status_code=200, cluster=eu)
///          └ checkout "charge" client 300ms, error "card declined", retry=true, amount=12.5, event "exception"
///              └ payment "pay" server 200ms
/// T2 @20s frontend "GET /home" server 2s (http.status_code=500)
///          ├ cache "get" 10ms
///          └ cache "set" 20ms, linked to T1
/// T3 @30s (root not arrived) checkout "charge" producer 50ms └ queue "consume" consumer 40ms
/// T4 @40s queue "publish" producer 5ms, status ok "done" (cluster=us, messaging.system=kafka)
pub fn dataset() -> crate::QueryService {
    dataset_at(0)
}

/// The same dataset, every time shifted by `base` ns (from the test epoch `T0`).
pub fn dataset_at(base: i64) -> crate::QueryService {
    service(traces_at(base).iter().map(|(trace, spans)| batch(trace, spans)).collect())
}

/// The dataset's traces as `(trace id, spans)`, every time shifted by `base` ns.
pub fn traces_at(base: i64) -> Vec<(&'static str, Vec<Span>)> {
    let at = |s: i64| base + s * SEC;
    let t1 = vec![
        Span {
            name: "GET /cart",
            kind: SERVER,
            attributes: vec![("http.status_code", AttrRef::Int(200))],
            resource_attributes: vec![("cluster", AttrRef::Str("eu"))],
            ..span(A, "", "frontend", at(10), at(11))
        },
        Span {
            name: "charge",
            kind: CLIENT,
            status: 2,
            status_message: Some("card declined"),
            attributes: vec![("retry", AttrRef::Bool(true)), ("amount", AttrRef::Double(12.5))],
            events: vec![(at(10) + 200 * MS, "exception", vec![])],
            ..span(B, A, "checkout", at(10) + 100 * MS, at(10) + 400 * MS)
        },
        Span { name: "pay", kind: SERVER, ..span(C, B, "payment", at(10) + 150 * MS, at(10) + 350 * MS) },
    ];
    let t2 = vec![
        Span {
            name: "GET /home",
            kind: SERVER,
            attributes: vec![("http.status_code", AttrRef::Int(500))],
            ..span(A, "", "frontend", at(20), at(22))
        },
        Span { name: "get", ..span(B, A, "cache", at(20) + 10 * MS, at(20) + 20 * MS) },
        Span { name: "set", links: vec![(T1, A, None)], ..span(C, A, "cache", at(20) + 30 * MS, at(20) + 50 * MS) },
    ];
    let t3 = vec![
        Span { name: "charge", kind: PRODUCER, ..span(B, A, "checkout", at(30), at(30) + 50 * MS) },
        Span { name: "consume", kind: CONSUMER, ..span(C, B, "queue", at(30) + 60 * MS, at(30) + 100 * MS) },
    ];
    let t4 = vec![Span {
        name: "publish",
        kind: PRODUCER,
        status: 1,
        status_message: Some("done"),
        attributes: vec![("messaging.system", AttrRef::Str("kafka"))],
        resource_attributes: vec![("cluster", AttrRef::Str("us"))],
        ..span(A, "", "queue", at(40), at(40) + 5 * MS)
    }];
    vec![(T1, t1), (T2, t2), (T3, t3), (T4, t4)]
}
