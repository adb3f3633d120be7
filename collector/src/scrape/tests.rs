use std::collections::BTreeMap;
use std::time::Duration;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Float64Type;
use axum::routing::get;
use tokio::io::AsyncReadExt as _;

use super::*;
use crate::fixtures::*;
use crate::{Collector, CollectorConfig, MemorySink};

/// Serves `body` at `/metrics` on a free loopback port.
async fn exporter(body: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/metrics", get(move || async move { body }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr.to_string()
}

/// Accepts connections and never answers.
async fn hanging() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            held.push(socket);
        }
    });
    addr.to_string()
}

/// A port nothing listens on.
async fn down() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().to_string()
}

fn job(name: &str, targets: Vec<String>) -> ScrapeConfig {
    ScrapeConfig {
        job_name: name.into(),
        scrape_interval: Duration::from_millis(300),
        scrape_timeout: Duration::from_millis(200),
        metrics_path: "/metrics".into(),
        scheme: "http".into(),
        params: BTreeMap::new(),
        honor_labels: false,
        static_configs: vec![StaticConfig { targets, labels: BTreeMap::from([("team".into(), "core".into())]) }],
    }
}

/// `(metric_name, job, instance, value)` of every stored row.
fn rows(sink: &MemorySink) -> Vec<(String, String, String, Option<f64>)> {
    let mut out = Vec::new();
    for batch in sink.batches() {
        let names = strings(&batch, "metric_name");
        let values = batch.column_by_name("value").unwrap().as_primitive::<Float64Type>().clone();
        for (row, name) in names.into_iter().enumerate() {
            let labels: BTreeMap<_, _> = attrs(&batch, "attributes", "attribute_types", row)
                .into_iter()
                .map(|(k, v)| (k, v.to_text().unwrap_or_default()))
                .collect();
            let value = values.is_valid(row).then(|| values.value(row));
            out.push((name.unwrap(), labels["job"].clone(), labels["instance"].clone(), value));
        }
    }
    out
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_down_malformed_and_hanging_targets() {
    let sink = MemorySink::new();
    let collector = Collector::new(CollectorConfig::default(), sink.clone()).unwrap();
    let good = exporter("# TYPE requests_total counter\nrequests_total{code=\"200\"} 7\nfree_bytes NaN\n").await;
    let malformed = exporter("requests_total 1\nthis is { not prometheus\n").await;
    let (down, hanging) = (down().await, hanging().await);
    let configs =
        vec![job("good", vec![good.clone()]), job("bad", vec![down.clone(), malformed.clone(), hanging.clone()])];
    let scraper = Scraper::start(&configs, collector.metrics_ingest()).unwrap();
    let up = |instance: &str| rows(&sink).into_iter().find(|r| r.0 == "up" && r.2 == instance).and_then(|r| r.3);
    wait_for("every target scraped", || [&good, &down, &malformed, &hanging].iter().all(|t| up(t).is_some())).await;
    assert_eq!(up(&good), Some(1.0));
    for target in [&down, &malformed, &hanging] {
        assert_eq!(up(target), Some(0.0), "{target}");
    }
    let stored = rows(&sink);
    let good_rows: Vec<_> = stored.iter().filter(|r| r.2 == good).collect();
    assert!(good_rows.iter().any(|r| r.0 == "requests_total" && r.1 == "good" && r.3 == Some(7.0)));
    assert!(good_rows.iter().any(|r| r.0 == "free_bytes" && r.3.is_some_and(f64::is_nan)));
    assert!(good_rows.iter().any(|r| r.0 == "scrape_samples_scraped" && r.3 == Some(2.0)));
    assert!(!stored.iter().any(|r| r.2 == malformed && r.0 == "requests_total"), "a malformed scrape stores nothing");
    // Scrapes are handed over encoded: their WAL frames hold the request (which the sink converts
    // again and compares), not the batch.
    assert!(sink.source_frames() >= 4, "source frames: {}", sink.source_frames());
    let m = scraper.metrics();
    wait_for("errors counted", || {
        m.errors("bad", "connect") > 0 && m.errors("bad", "parse") > 0 && m.errors("bad", "timeout") > 0
    })
    .await;
    assert_eq!(m.errors("good", "connect") + m.errors("good", "parse") + m.errors("good", "timeout"), 0);
    let received = collector.metrics().value("received", &[("signal", "metrics"), ("transport", "scrape")]);
    assert!(received >= 5 + 3 * 3, "received {received}");
    scraper.stop().await;
}

#[test]
fn configs_parse_from_prometheus_yaml_and_are_validated() {
    let yaml = r#"
- job_name: node
  scrape_interval: 15s
  scrape_timeout: 5s
  metrics_path: /metrics
  scheme: http
  params: {module: [if_mib]}
  honor_labels: true
  static_configs:
    - targets: ["localhost:9100", "10.0.0.2:9100"]
      labels: {env: prod}
- job_name: defaults
  static_configs: [{targets: ["localhost:9090"]}]
"#;
    let configs: Vec<ScrapeConfig> = serde_yaml_ng::from_str(yaml).unwrap();
    config::validate(&configs).unwrap();
    assert_eq!(configs[0].scrape_interval, Duration::from_secs(15));
    assert_eq!(configs[0].params["module"], ["if_mib"]);
    assert_eq!(configs[1].scrape_interval, Duration::from_secs(60));
    assert_eq!(configs[1].scrape_timeout, Duration::from_secs(10));
    assert_eq!(configs[1].metrics_path, "/metrics");
    let bad = |edit: fn(&mut ScrapeConfig)| {
        let mut c = configs.clone();
        edit(&mut c[0]);
        config::validate(&c).unwrap_err()
    };
    assert!(bad(|c| c.scrape_timeout = Duration::from_secs(60)).contains("scrape_timeout"));
    assert!(bad(|c| c.scheme = "https".into()).contains("https"));
    assert!(bad(|c| c.job_name = "defaults".into()).contains("twice"));
    assert!(bad(|c| c.static_configs[0].targets.push("http://x/y".into())).contains("host:port"));
    assert!(serde_yaml_ng::from_str::<Vec<ScrapeConfig>>("- job_name: x\n  relabel_configs: []\n").is_err());
}
