use super::*;
use LogQuery::*;

fn b(words: &[&str]) -> LogQuery {
    Body(words.iter().map(|w| w.to_string()).collect())
}

#[test]
fn terms_phrases_and_implicit_and() {
    assert_eq!(parse("").unwrap(), All);
    assert_eq!(parse("   ").unwrap(), All);
    assert_eq!(parse("card_expired").unwrap(), b(&["card", "expired"]));
    assert_eq!(
        parse("\"payment failed\" ORD-00010").unwrap(),
        And(vec![b(&["payment", "failed"]), b(&["ord", "00010"])])
    );
}

#[test]
fn boolean_operators_and_precedence() {
    assert_eq!(parse("a OR b c").unwrap(), Or(vec![b(&["a"]), And(vec![b(&["b"]), b(&["c"])])]));
    assert_eq!(
        parse("(a OR b) AND NOT c").unwrap(),
        And(vec![Or(vec![b(&["a"]), b(&["b"])]), Not(Box::new(b(&["c"])))])
    );
    assert_eq!(parse("a -b").unwrap(), And(vec![b(&["a"]), Not(Box::new(b(&["b"])))]));
    assert_eq!(parse("order-id").unwrap(), b(&["order", "id"]), "a dash inside a word is not NOT");
    assert_eq!(parse("and or not").unwrap(), And(vec![b(&["and"]), b(&["or"]), b(&["not"])]));
}

#[test]
fn fields() {
    assert_eq!(parse("service:Payment").unwrap(), Service("payment".into()));
    assert_eq!(parse("severity:ERROR").unwrap(), Severity("error".into()));
    assert_eq!(parse("trace_id:5B8E").unwrap(), TraceId("5b8e".into()));
    assert_eq!(parse("span_id:ab").unwrap(), SpanId("ab".into()));
    assert_eq!(
        parse("http.route:/api/cart").unwrap(),
        Attribute { key: "http.route".into(), value: "/api/cart".into() }
    );
    assert_eq!(parse("user:\"Ann Lee\"").unwrap(), Attribute { key: "user".into(), value: "ann lee".into() });
    assert_eq!(parse("body:timeout").unwrap(), b(&["timeout"]));
    assert_eq!(parse("10:30:00").unwrap(), b(&["10", "30", "00"]), "not a field: starts with a digit");
}

#[test]
fn errors_point_at_the_problem() {
    let err = |q: &str| parse(q).unwrap_err();
    assert_eq!(err("a AND").position, 5);
    assert_eq!(err("(a OR b").position, 0);
    assert!(err("(a OR b").message.contains("never closed"));
    assert_eq!(err("a \"open").position, 2);
    assert!(err("a \"open").message.contains("unterminated quote"));
    assert_eq!(err("a ) b").position, 2);
    assert_eq!(err("OR a").position, 0);
    assert!(err("service:").message.contains("no value"));
    assert!(err("--").message.contains("no letters or digits"));
    let deep = format!("{}a{}", "(".repeat(200), ")".repeat(200));
    assert!(err(&deep).message.contains("nested deeper"));
    assert!(err(&"x ".repeat(20_000)).message.contains("longer than"));
}
