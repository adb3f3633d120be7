//! Starts the real `osprey` binary on ephemeral ports in a temp dir, waits for
//! `/readyz`, and can `kill -9` and restart it on the same data dir.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Osprey {
    child: Option<Child>,
    pub data_dir: PathBuf,
    pub api: SocketAddr,
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    /// Arrow Flight SQL (gRPC).
    pub flight: SocketAddr,
    env: Vec<(String, String)>,
    log: PathBuf,
    config: Option<PathBuf>,
}

fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr")
}

impl Osprey {
    /// Starts Osprey on `data_dir` with extra `OSPREY_…` settings.
    pub async fn start(data_dir: &Path, env: &[(&str, &str)]) -> Osprey {
        let mut o = Osprey {
            child: None,
            data_dir: data_dir.to_path_buf(),
            api: free_port(),
            grpc: free_port(),
            http: free_port(),
            flight: free_port(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            log: data_dir.with_extension("log"),
            config: None,
        };
        o.spawn().await;
        o
    }

    /// Starts Osprey with a config file holding `yaml` (env settings still override it), where
    /// `{api}` stands for the API address (e.g. for Osprey to scrape itself).
    pub async fn start_with_config(data_dir: &Path, yaml: &str) -> Osprey {
        let path = data_dir.with_extension("yaml");
        let api = free_port();
        std::fs::write(&path, yaml.replace("{api}", &api.to_string())).expect("write config file");
        let mut o = Osprey {
            child: None,
            data_dir: data_dir.to_path_buf(),
            api,
            grpc: free_port(),
            http: free_port(),
            flight: free_port(),
            env: Vec::new(),
            log: data_dir.with_extension("log"),
            config: Some(path),
        };
        o.spawn().await;
        o
    }

    async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("open log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_osprey"));
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env("OSPREY_SERVER__LISTEN", self.api.to_string())
            .env("OSPREY_COLLECTOR__GRPC_LISTEN", self.grpc.to_string())
            .env("OSPREY_COLLECTOR__HTTP_LISTEN", self.http.to_string())
            .env("OSPREY_QUERY__FLIGHT_SQL__LISTEN", self.flight.to_string())
            .env("OSPREY_STORAGE__DISK_RESERVE_BYTES", "0")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(config) = &self.config {
            cmd.arg("--config").arg(config);
        }
        self.child = Some(cmd.spawn().expect("spawn osprey"));
        self.wait_ready().await;
    }

    async fn wait_ready(&mut self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(self.url("/readyz")).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("osprey exited with {status} before becoming ready; log:\n{}", self.log_text());
                }
            }
            if Instant::now() > deadline {
                panic!("osprey not ready after 60 s; log:\n{}", self.log_text());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.api, path)
    }

    pub fn otlp_http(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }

    pub fn otlp_grpc(&self) -> String {
        format!("http://{}", self.grpc)
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same data dir and ports.
    pub async fn restart(&mut self) {
        self.kill9();
        self.spawn().await;
    }

    /// GET a JSON document from the API port.
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = reqwest::get(self.url(path)).await.expect("GET");
        let status = r.status().as_u16();
        let body = r.json().await.unwrap_or(serde_json::Value::Null);
        (status, body)
    }

    /// One sample from `/metrics` summed over all label sets of `name`.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(self.url("/metrics")).await.expect("GET /metrics").text().await.expect("text");
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.split(['{', ' ']).next() == Some(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Waits until `name` reaches at least `at_least`.
    pub async fn wait_metric(&self, name: &str, at_least: f64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.metric(name).await;
            if v >= at_least {
                return;
            }
            if Instant::now() > deadline {
                panic!("{name} = {v}, wanted ≥ {at_least} within 30 s; log:\n{}", self.log_text());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Osprey {
    fn drop(&mut self) {
        self.kill9();
    }
}
