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

/// The tokenizer as first written (a `Vec` of owned tokens, a `Vec` of chars per word): kept as
/// the reference the streaming one must equal.
fn reference_tokens(text: &str, mode: Mode) -> Vec<Tok> {
    fn lower(s: &str) -> String {
        let mut out = s.to_lowercase();
        if out.len() > MAX_TOKEN_BYTES {
            let mut end = MAX_TOKEN_BYTES;
            while !out.is_char_boundary(end) {
                end -= 1;
            }
            out.truncate(end);
        }
        out
    }
    fn camel(run: &str) -> Vec<(usize, usize)> {
        let chars: Vec<(usize, char)> = run.char_indices().collect();
        let mut parts = Vec::new();
        let mut start = 0;
        for k in 1..chars.len() {
            let (i, c) = chars[k];
            let prev = chars[k - 1].1;
            let next_lower = chars.get(k + 1).is_some_and(|(_, n)| n.is_lowercase());
            if c.is_uppercase() && ((prev.is_lowercase() || prev.is_numeric()) || (prev.is_uppercase() && next_lower)) {
                parts.push((start, i));
                start = i;
            }
        }
        parts.push((start, run.len()));
        parts
    }
    let mut out = Vec::new();
    let mut position = 0;
    let mut runs = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            runs.push((s, i));
        }
    }
    if let Some(s) = start {
        runs.push((s, text.len()));
    }
    for (from, to) in runs {
        let run = &text[from..to];
        let parts = camel(run);
        if parts.len() > 1 && mode == Mode::Index {
            out.push(Tok { position, text: lower(run), from, to });
        }
        for (a, b) in parts {
            out.push(Tok { position, text: lower(&run[a..b]), from: from + a, to: from + b });
            position += 1;
        }
    }
    out
}

#[test]
fn streaming_tokenizer_equals_the_reference() {
    let long = "a".repeat(300) + "Ω" + &"ß".repeat(200);
    let texts = [
        "",
        "getUserById took 12ms on HTTPServer v2Api XMLHttpRequest",
        "ORD-00010 order_id=42 /api/cart/items 10.0.12.1 6f1c2a9e-3b4d-4e5f-9a0b-1c2d3e4f5a6b",
        "Zahlung fehlgeschlagen: Größe ungültig ΣΊΣΥΦΟΣ ΟΔΥΣΣΕΥΣ İstanbul ǅemal",
        "日本語のログ 東京 2026年 x1Y2z3 ABCdef abcDEF A a 1 __ -- \t\n\u{200b}",
        "java.lang.IllegalStateException: card_expired\n\tat com.shop.CardValidator.validate(CardValidator.java:87)",
        long.as_str(),
        "trailingCamelX endsWithDigit9 ÉcoleNormale éCole",
    ];
    for text in texts {
        for mode in [Mode::Index, Mode::Query] {
            assert_eq!(tokens(text, mode), reference_tokens(text, mode), "{text:?} {mode:?}");
        }
    }
    // And over generated text mixing the above, cut at every char boundary.
    let all = texts.join(" ");
    for (i, _) in all.char_indices().step_by(7) {
        let text = &all[i..];
        assert_eq!(tokens(text, Mode::Index), reference_tokens(text, Mode::Index), "{text:?}");
    }
}
