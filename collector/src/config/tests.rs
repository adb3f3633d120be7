use super::*;

#[test]
fn defaults() {
    let config: CollectorConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(config, CollectorConfig::default());
    assert_eq!(config.grpc_listen.port(), 4317);
    assert_eq!(config.http_listen.port(), 4318);
    assert_eq!(config.max_request_bytes, 64 << 20);
    assert_eq!(config.limits.max_value_depth, 32);
    config.validate().unwrap();
}

#[test]
fn partial_override_keeps_other_defaults() {
    let config: CollectorConfig =
        serde_json::from_str(r#"{"http_listen": "127.0.0.1:9999", "limits": {"max_attributes_per_item": 8}}"#).unwrap();
    assert_eq!(config.http_listen.port(), 9999);
    assert_eq!(config.limits.max_attributes_per_item, 8);
    assert_eq!(config.limits.max_attribute_value_bytes, 32 * 1024);
}

#[test]
fn unknown_fields_are_refused() {
    assert!(serde_json::from_str::<CollectorConfig>(r#"{"grpc_lisen": "0.0.0.0:1"}"#).is_err());
    assert!(serde_json::from_str::<CollectorConfig>(r#"{"limits": {"max_depth": 3}}"#).is_err());
}

#[test]
fn depth_ceiling_is_enforced() {
    let mut config = CollectorConfig::default();
    config.limits.max_value_depth = 101;
    assert!(config.validate().is_err());
    config.limits.max_value_depth = 100;
    config.validate().unwrap();
}
