//! Log lines for the logs benchmarks (issue 4), written the way services write them: web access
//! logs, key=value application logs, JSON bodies and stack traces, each in a short (~150 B) and
//! a long (~900 B) variant. Words come from small vocabularies (so common terms repeat, as on
//! real traffic) and ids, numbers and addresses are random (so the term dictionary keeps
//! growing, as it does on real traffic). Deterministic: the same seed gives the same lines.

use osprey_proto::common::any_value::Value;
use osprey_proto::common::{AnyValue, InstrumentationScope, KeyValue};
use osprey_proto::logs::{LogRecord, ResourceLogs, ScopeLogs};
use osprey_proto::resource::Resource;
use osprey_proto::ExportLogsServiceRequest;

/// Which size of line to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Variant {
    /// ~150 bytes a line.
    Short,
    /// ~900 bytes a line.
    Long,
    /// Four short lines to one long one.
    Mixed,
}

/// One generated line and its context.
#[derive(Debug, Clone)]
pub struct Line {
    pub body: String,
    pub severity: i32,
    pub severity_text: &'static str,
    pub service: &'static str,
    pub kind: &'static str,
    pub trace: Option<[u8; 16]>,
    pub span: Option<[u8; 8]>,
}

pub const SERVICES: [&str; 8] = ["frontend", "checkout", "payment", "cart", "shipping", "email", "currency", "ad"];
const METHODS: [&str; 5] = ["GET", "GET", "GET", "POST", "PUT"];
const PATHS: [&str; 10] = [
    "/api/cart",
    "/api/cart/items",
    "/api/checkout",
    "/api/products",
    "/api/products/{id}",
    "/api/recommendations",
    "/api/shipping/quote",
    "/api/currency/convert",
    "/static/js/main.js",
    "/healthz",
];
const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "python-requests/2.32.3",
    "Go-http-client/1.1",
];
const MESSAGES: [&str; 16] = [
    "payment authorized",
    "card_expired while charging card",
    "cache miss for product",
    "connection reset by peer",
    "order placed",
    "retrying request after timeout",
    "inventory reserved",
    "currency conversion failed",
    "shipping quote computed",
    "user session refreshed",
    "slow query detected",
    "email queued for delivery",
    "recommendation model loaded",
    "rate limit exceeded for client",
    "checkout completed",
    "database pool exhausted",
];
const WORDS: [&str; 24] = [
    "product",
    "quantity",
    "warehouse",
    "region",
    "discount",
    "coupon",
    "loyalty",
    "tier",
    "basket",
    "priority",
    "express",
    "standard",
    "gift",
    "wrap",
    "address",
    "postal",
    "fraud",
    "score",
    "risk",
    "review",
    "batch",
    "replica",
    "shard",
    "tenant",
];
const EXCEPTIONS: [&str; 5] = [
    "java.lang.IllegalStateException",
    "java.net.SocketTimeoutException",
    "java.lang.NullPointerException",
    "com.shop.payment.CardDeclinedException",
    "org.postgresql.util.PSQLException",
];
const FRAMES: [&str; 8] = [
    "com.shop.payment.CardValidator.validate(CardValidator.java:{})",
    "com.shop.payment.PaymentService.charge(PaymentService.java:{})",
    "com.shop.checkout.CheckoutController.placeOrder(CheckoutController.java:{})",
    "org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:{})",
    "jakarta.servlet.http.HttpServlet.service(HttpServlet.java:{})",
    "org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:{})",
    "com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:{})",
    "java.base/java.lang.Thread.run(Thread.java:{})",
];

/// Which lines a benchmark uses, as command-line options shared by `logs_load` and
/// `log_index_ceiling`: the same options give both the very same lines, batch by batch.
#[derive(Debug, Clone, clap::Args)]
pub struct LineSet {
    /// Lines in all.
    #[arg(long, default_value_t = 1_000_000)]
    pub lines: u64,
    #[arg(long, value_enum, default_value = "short")]
    pub variant: Variant,
    /// Lines per batch (one OTLP request in `logs_load`).
    #[arg(long, default_value_t = 1000)]
    pub batch: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl LineSet {
    /// Number of batches.
    pub fn batches(&self) -> u64 {
        self.lines.div_ceil(self.batch.max(1))
    }

    /// The lines of batch `b` (each batch has its own generator, so batches can be made in any order).
    pub fn batch_lines(&self, b: u64) -> Vec<Line> {
        let n = self.batch.min(self.lines.saturating_sub(b * self.batch));
        let mut gen = LineGen::new(self.seed.wrapping_mul(1_000_003).wrapping_add(b), self.variant);
        (0..n).map(|_| gen.line()).collect()
    }
}

/// splitmix64: small, fast, and good enough to vary benchmark text.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Generates lines; one generator per seed.
pub struct LineGen {
    rng: Rng,
    variant: Variant,
    count: u64,
    /// The request the next lines belong to: its service, its trace and span (if traced), and
    /// how many more lines it writes. A request writes several lines, as on real services, all
    /// from the service that handles it (a span belongs to one service).
    context: Context,
    context_left: u64,
}

#[derive(Debug, Clone, Copy)]
struct Context {
    service: &'static str,
    ids: Option<([u8; 16], [u8; 8])>,
}

impl LineGen {
    pub fn new(seed: u64, variant: Variant) -> Self {
        LineGen {
            rng: Rng::new(seed),
            variant,
            count: 0,
            context: Context { service: SERVICES[0], ids: None },
            context_left: 0,
        }
    }

    /// 60 % of requests are traced; each writes 1 to 12 lines.
    fn context(&mut self) -> Context {
        if self.context_left == 0 {
            let r = &mut self.rng;
            self.context_left = 1 + r.below(12);
            self.context.service = r.pick(&SERVICES);
            self.context.ids = r.chance(60).then(|| {
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&r.next_u64().to_be_bytes());
                id[8..].copy_from_slice(&r.next_u64().to_be_bytes());
                (id, r.next_u64().to_be_bytes())
            });
        }
        self.context_left -= 1;
        self.context
    }

    /// The next line.
    pub fn line(&mut self) -> Line {
        self.count += 1;
        let long = match self.variant {
            Variant::Short => false,
            Variant::Long => true,
            Variant::Mixed => self.count.is_multiple_of(5),
        };
        let Context { service, ids } = self.context();
        let (trace, span) = (ids.map(|c| c.0), ids.map(|c| c.1));
        let r = &mut self.rng;
        let (kind, body, severity) = match r.below(10) {
            0..=3 => ("access", access(r, long), None),
            4..=6 => kv(r, service, long),
            7..=8 => json(r, service, long),
            _ => ("stack", stack(r, long), Some((17, "ERROR"))),
        };
        let (severity, severity_text) = severity.unwrap_or_else(|| level(r, kind, &body));
        Line { body, severity, severity_text, service, kind, trace, span }
    }
}

/// The level of an access line follows its status; other kinds draw one.
fn level(r: &mut Rng, kind: &str, body: &str) -> (i32, &'static str) {
    if kind == "access" {
        return if body.contains("\" 5") {
            (17, "ERROR")
        } else if body.contains("\" 4") {
            (13, "WARN")
        } else {
            (9, "INFO")
        };
    }
    match r.below(100) {
        0..=69 => (9, "INFO"),
        70..=79 => (5, "DEBUG"),
        80..=91 => (13, "WARN"),
        _ => (17, "ERROR"),
    }
}

fn ip(r: &mut Rng) -> String {
    format!("10.{}.{}.{}", r.below(256), r.below(256), r.below(256))
}

fn uuid(r: &mut Rng) -> String {
    let (a, b) = (r.next_u64(), r.next_u64());
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

fn order(r: &mut Rng) -> String {
    format!("ORD-{:05}", r.below(100_000))
}

fn status(r: &mut Rng) -> u64 {
    match r.below(100) {
        0..=84 => 200,
        85..=89 => 304,
        90..=95 => r.pick(&[400, 404, 429]),
        _ => r.pick(&[500, 502, 503]),
    }
}

fn path(r: &mut Rng) -> String {
    r.pick(&PATHS).replace("{id}", &format!("{}", r.below(5000)))
}

fn words(r: &mut Rng, n: usize) -> String {
    (0..n).map(|_| r.pick(&WORDS)).collect::<Vec<_>>().join(" ")
}

fn access(r: &mut Rng, long: bool) -> String {
    let mut line = format!(
        "{} - - [05/Dec/2026:07:{:02}:{:02} +0000] \"{} {}",
        ip(r),
        r.below(60),
        r.below(60),
        r.pick(&METHODS),
        path(r)
    );
    if long {
        let params: Vec<String> = (0..16).map(|i| format!("{}{i}={}", r.pick(&WORDS), r.below(1_000_000))).collect();
        line.push('?');
        line.push_str(&params.join("&"));
    }
    line.push_str(&format!(" HTTP/1.1\" {} {} ", status(r), r.below(50_000)));
    if long {
        line.push_str(&format!(
            "\"https://shop.example.com{}?session={}\" \"{}\" request_id={} upstream={}:8080 upstream_time={:.3} \
             cookie=\"session_id={}; cart={}; ab_test={}\" x_forwarded_for=\"{}, {}\" tls=TLSv1.3 cipher=TLS_AES_128_GCM_SHA256 ",
            path(r),
            uuid(r),
            r.pick(&AGENTS),
            uuid(r),
            ip(r),
            r.below(3000) as f64 / 1000.0,
            uuid(r),
            uuid(r),
            r.pick(&WORDS),
            ip(r),
            ip(r),
        ));
    } else {
        line.push_str(&format!("\"https://shop.example.com/\" \"{}\" ", r.pick(&AGENTS[2..])));
    }
    line.push_str(&format!("rt={}ms", r.below(2000)));
    line
}

fn kv(r: &mut Rng, service: &str, long: bool) -> (&'static str, String, Option<(i32, &'static str)>) {
    let mut line = format!(
        "level={} service={service} caller={service}/handler.go:{} msg=\"{}\" order_id={} user_id={} latency_ms={}",
        r.pick(&["info", "info", "warn", "debug"]),
        r.below(900),
        r.pick(&MESSAGES),
        order(r),
        r.below(1_000_000),
        r.below(5000)
    );
    line.push_str(&format!(" trace_flags=01 peer={}", ip(r)));
    if long {
        for _ in 0..20 {
            line.push_str(&format!(" {}_{}={}", r.pick(&WORDS), r.pick(&WORDS), r.below(100_000)));
        }
        line.push_str(&format!(
            " sql=\"SELECT id, sku, qty FROM cart_items WHERE cart_id = {} AND tenant = '{}'\" trace_flags=01 \
             note=\"{}\" request_id={} peer={}",
            r.below(10_000_000),
            r.pick(&WORDS),
            words(r, 18),
            uuid(r),
            ip(r)
        ));
    }
    ("kv", line, None)
}

fn json(r: &mut Rng, service: &str, long: bool) -> (&'static str, String, Option<(i32, &'static str)>) {
    let mut line = format!(
        "{{\"msg\":\"{}\",\"service\":\"{service}\",\"order_id\":\"{}\",\"amount\":{}.{:02},\"currency\":\"{}\",\"attempt\":{}",
        r.pick(&MESSAGES),
        order(r),
        r.below(1000),
        r.below(100),
        r.pick(&["USD", "EUR", "JPY", "CHF"]),
        r.below(4)
    );
    line.push_str(&format!(",\"region\":\"eu-west-{}\"", r.below(3)));
    if long {
        let items: Vec<String> = (0..8)
            .map(|_| {
                format!(
                    "{{\"sku\":\"SKU-{:06}\",\"name\":\"{}\",\"qty\":{},\"price\":{}.{:02}}}",
                    r.below(1_000_000),
                    words(r, 3),
                    1 + r.below(5),
                    r.below(300),
                    r.below(100)
                )
            })
            .collect();
        line.push_str(&format!(
            ",\"user\":{{\"id\":\"{}\",\"tier\":\"{}\",\"region\":\"eu-west-{}\"}},\"items\":[{}],\"client_ip\":\"{}\",\"note\":\"{}\"",
            uuid(r),
            r.pick(&WORDS),
            r.below(3),
            items.join(","),
            ip(r),
            words(r, 10)
        ));
    }
    line.push('}');
    ("json", line, None)
}

fn stack(r: &mut Rng, long: bool) -> String {
    let mut line = format!("{}: {} for order {}", r.pick(&EXCEPTIONS), r.pick(&MESSAGES), order(r));
    let frames = if long { 16 } else { 1 };
    for i in 0..frames {
        if long && i == 8 {
            line.push_str(&format!("\nCaused by: {}: {}", r.pick(&EXCEPTIONS), r.pick(&MESSAGES)));
        }
        line.push_str("\n\tat ");
        line.push_str(&r.pick(&FRAMES).replace("{}", &format!("{}", 20 + r.below(400))));
    }
    line
}

fn text(value: &str) -> Option<AnyValue> {
    Some(AnyValue { value: Some(Value::StringValue(value.to_string())) })
}

fn attribute(key: &str, value: &str) -> KeyValue {
    KeyValue { key: key.to_string(), value: text(value), ..Default::default() }
}

/// One OTLP request of `lines`, a resource per service, with `time_ns(i)` as the i-th line's time.
pub fn request(lines: &[Line], time_ns: impl Fn(usize) -> u64) -> ExportLogsServiceRequest {
    let resource_logs = SERVICES
        .iter()
        .filter_map(|&service| {
            let records: Vec<LogRecord> = lines
                .iter()
                .enumerate()
                .filter(|(_, l)| l.service == service)
                .map(|(i, l)| LogRecord {
                    time_unix_nano: time_ns(i),
                    observed_time_unix_nano: time_ns(i),
                    severity_number: l.severity,
                    severity_text: l.severity_text.to_string(),
                    body: text(&l.body),
                    attributes: vec![attribute("log.kind", l.kind)],
                    trace_id: l.trace.map(|t| t.to_vec()).unwrap_or_default(),
                    span_id: l.span.map(|s| s.to_vec()).unwrap_or_default(),
                    ..Default::default()
                })
                .collect();
            (!records.is_empty()).then(|| ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![attribute("service.name", service), attribute("host.name", "bench-1")],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope { name: "osprey-logbench".into(), ..Default::default() }),
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            })
        })
        .collect();
    ExportLogsServiceRequest { resource_logs }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_len(variant: Variant) -> usize {
        let mut g = LineGen::new(7, variant);
        (0..2000).map(|_| g.line().body.len()).sum::<usize>() / 2000
    }

    #[test]
    fn variants_have_their_sizes() {
        let (short, long) = (mean_len(Variant::Short), mean_len(Variant::Long));
        assert!((140..=165).contains(&short), "short lines average {short} B");
        assert!((850..=950).contains(&long), "long lines average {long} B");
    }

    #[test]
    fn same_seed_same_lines_and_every_kind_appears() {
        let (mut a, mut b) = (LineGen::new(1, Variant::Mixed), LineGen::new(1, Variant::Mixed));
        let lines: Vec<Line> = (0..500).map(|_| a.line()).collect();
        assert!(lines.iter().all(|l| l.body == b.line().body));
        for kind in ["access", "kv", "json", "stack"] {
            assert!(lines.iter().any(|l| l.kind == kind), "{kind}");
        }
        let req = request(&lines, |i| i as u64);
        let records: usize = req.resource_logs.iter().map(|r| r.scope_logs[0].log_records.len()).sum();
        assert_eq!(records, 500);
    }
}
