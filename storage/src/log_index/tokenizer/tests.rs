use super::*;

fn words(text: &str, mode: Mode) -> Vec<String> {
    tokens(text, mode).into_iter().map(|t| t.text).collect()
}

fn positions(text: &str, mode: Mode) -> Vec<(usize, String)> {
    tokens(text, mode).into_iter().map(|t| (t.position, t.text)).collect()
}

#[test]
fn identifiers_split_on_punctuation() {
    assert_eq!(words("ORD-00010", Mode::Index), ["ord", "00010"]);
    assert_eq!(words("order_id=42", Mode::Index), ["order", "id", "42"]);
    assert_eq!(words("card_expired", Mode::Index), ["card", "expired"]);
}

#[test]
fn paths_ips_and_uuids() {
    assert_eq!(words("GET /api/v1/cart/items?id=7", Mode::Index), ["get", "api", "v1", "cart", "items", "id", "7"]);
    assert_eq!(words("from 10.0.12.1:8080", Mode::Index), ["from", "10", "0", "12", "1", "8080"]);
    assert_eq!(
        words("6f1c2a9e-3b4d-4e5f-9a0b-1c2d3e4f5a6b", Mode::Index),
        ["6f1c2a9e", "3b4d", "4e5f", "9a0b", "1c2d3e4f5a6b"]
    );
}

#[test]
fn camel_case_yields_parts_and_the_whole_word_when_indexing() {
    assert_eq!(
        positions("call getUserById now", Mode::Index),
        [
            (0, "call".into()),
            (1, "getuserbyid".into()),
            (1, "get".into()),
            (2, "user".into()),
            (3, "by".into()),
            (4, "id".into()),
            (5, "now".into())
        ]
    );
    assert_eq!(words("getUserById", Mode::Query), ["get", "user", "by", "id"]);
    assert_eq!(words("HTTPServer", Mode::Query), ["http", "server"]);
    assert_eq!(words("v2Api", Mode::Query), ["v2", "api"]);
}

#[test]
fn case_insensitive_and_non_ascii() {
    assert_eq!(words("ERROR Payment FAILED", Mode::Index), ["error", "payment", "failed"]);
    assert_eq!(words("Überweisung fehlgeschlagen: Größe", Mode::Index), ["überweisung", "fehlgeschlagen", "größe"]);
    assert_eq!(words("ошибка оплаты", Mode::Index), ["ошибка", "оплаты"]);
    assert_eq!(words("支付失败 order", Mode::Index), ["支付失败", "order"]);
}

#[test]
fn long_tokens_are_cut_and_empty_text_has_none() {
    let long = "a".repeat(1000);
    assert_eq!(tokens(&long, Mode::Index)[0].text.len(), MAX_TOKEN_BYTES);
    assert!(tokens("", Mode::Index).is_empty());
    assert!(tokens(" -- // ", Mode::Index).is_empty());
}

#[test]
fn tantivy_stream_matches_tokens() {
    use tantivy::tokenizer::{TokenStream as _, Tokenizer as _};
    let mut tokenizer = LogTokenizer;
    let mut stream = tokenizer.token_stream("getUser ORD-1");
    let mut seen = Vec::new();
    while stream.advance() {
        seen.push((stream.token().position, stream.token().text.clone()));
    }
    assert_eq!(seen, positions("getUser ORD-1", Mode::Index));
}
