use super::*;
use std::io::Write;

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(text.as_bytes()).expect("write");
    f
}

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

#[test]
fn defaults_need_no_file() {
    let c = Config::load(None, no_env()).expect("defaults load");
    assert_eq!(c.server.listen.port(), 3200);
    assert_eq!(c.collector.grpc_listen.port(), 4317);
    assert_eq!(c.collector.http_listen.port(), 4318);
    assert_eq!(c.query.flight_sql.listen.port(), 50051);
    assert!(c.query.flight_sql.enabled);
    assert_eq!(c.storage.data_dir, PathBuf::from("./osprey-data"));
    assert!(c.storage.wal.fsync);
}

#[test]
fn the_example_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/osprey.example.yaml");
    let text = std::fs::read_to_string(&path).expect("example exists");
    parse_file(&path, &text).expect("example parses");
}

#[test]
fn unknown_key_names_its_line() {
    let f = file("server:\n  listen: 127.0.0.1:3200\nstorage:\n  data_dir: /tmp/x\n  wal:\n    fsynk: true\n");
    let err = Config::load(Some(f.path()), no_env()).expect_err("typo must fail");
    match err {
        ConfigError::Invalid { line, message, .. } => {
            assert_eq!(line, 6, "{message}");
            assert!(message.contains("fsynk"), "{message}");
        }
        other => panic!("expected a located error, got {other}"),
    }
}

#[test]
fn wrong_type_names_its_line() {
    let f = file("storage:\n  memory_budget_bytes: lots\n");
    let err = Config::load(Some(f.path()), no_env()).expect_err("bad type");
    assert!(matches!(err, ConfigError::Invalid { line: 2, .. }), "{err}");
}

#[test]
fn env_overrides_win_over_the_file() {
    let f = file("storage:\n  data_dir: /from/file\n  wal:\n    group_commit_window: 5ms\n");
    let env = vec![
        ("OSPREY_STORAGE__DATA_DIR".to_string(), "/from/env".to_string()),
        ("OSPREY_STORAGE__WAL__FSYNC".to_string(), "false".to_string()),
        ("OSPREY_SERVER__LISTEN".to_string(), "127.0.0.1:9999".to_string()),
        ("OSPREY_CONFIG".to_string(), "ignored: not a path".to_string()),
        ("PATH".to_string(), "/usr/bin".to_string()),
    ];
    let c = Config::load(Some(f.path()), env).expect("load");
    assert_eq!(c.storage.data_dir, PathBuf::from("/from/env"));
    assert!(!c.storage.wal.fsync);
    assert_eq!(c.storage.wal.group_commit_window, std::time::Duration::from_millis(5));
    assert_eq!(c.server.listen.port(), 9999);
}

#[test]
fn bad_env_override_names_the_variable() {
    let env = vec![("OSPREY_STORAGE__MEMORY_BUDGET_BYTES".to_string(), "many".to_string())];
    let err = Config::load(None, env).expect_err("bad env");
    assert!(err.to_string().contains("OSPREY_STORAGE__MEMORY_BUDGET_BYTES"), "{err}");
}

#[test]
fn the_bad_one_of_several_env_overrides_is_named() {
    let good = ("OSPREY_SERVER__LISTEN".to_string(), "127.0.0.1:3999".to_string());
    let bad = ("OSPREY_STORAGE__FLUSH__NO_SUCH_KEY".to_string(), "1".to_string());
    let also_good = ("OSPREY_STORAGE__FLUSH__ZSTD_LEVEL".to_string(), "3".to_string());
    let err = Config::load(None, vec![good, bad, also_good]).expect_err("unknown key");
    let text = err.to_string();
    assert!(text.contains("OSPREY_STORAGE__FLUSH__NO_SUCH_KEY"), "{text}");
    assert!(!text.contains("OSPREY_SERVER__LISTEN") && !text.contains("ZSTD_LEVEL"), "{text}");
}

#[test]
fn clashing_listeners_are_rejected() {
    let f = file("server:\n  listen: 0.0.0.0:4317\n");
    let err = Config::load(Some(f.path()), no_env()).expect_err("clash");
    assert!(err.to_string().contains("collector.grpc_listen"), "{err}");
}

#[test]
fn zstd_levels_must_be_in_range() {
    for key in ["zstd_level", "logs_zstd_level"] {
        for bad in ["0", "23", "-1"] {
            let f = file(&format!("storage:\n  flush:\n    {key}: {bad}\n"));
            let err = Config::load(Some(f.path()), no_env()).expect_err("out of range");
            assert!(err.to_string().contains(&format!("storage.flush.{key} ")), "{err}");
        }
        let f = file(&format!("storage:\n  flush:\n    {key}: 22\n"));
        Config::load(Some(f.path()), no_env()).expect("22 is fine");
    }
}

#[test]
fn empty_file_means_defaults() {
    let f = file("");
    Config::load(Some(f.path()), no_env()).expect("empty file is fine");
}

#[test]
fn query_limits_come_from_the_file_and_env() {
    let f = file("query:\n  sql:\n    max_rows: 10\n    timeout: 5s\n");
    let env = vec![("OSPREY_QUERY__SQL__TIMEOUT".to_string(), "1s".to_string())];
    let c = Config::load(Some(f.path()), env).expect("load");
    assert_eq!(c.query.sql.max_rows, 10);
    assert_eq!(c.query.sql.timeout, std::time::Duration::from_secs(1));
    let f = file("query:\n  sql:\n    max_concurrent: 0\n");
    let err = Config::load(Some(f.path()), no_env()).expect_err("zero");
    assert!(err.to_string().contains("query.sql.max_concurrent"), "{err}");
}
