use super::*;

#[test]
fn protobuf_round_trips() {
    let mut status = RpcStatus::new(3, "bad body");
    status.details.push(Any { type_url: "type.googleapis.com/google.rpc.BadRequest".into(), value: vec![1, 2] });
    let bytes = status.to_protobuf();
    assert_eq!(RpcStatus::decode(bytes.as_slice()).unwrap(), status);
}

#[test]
fn json_has_code_and_message() {
    let json: serde_json::Value = serde_json::from_slice(&RpcStatus::new(3, "bad \"body\"").to_json()).unwrap();
    assert_eq!(json, serde_json::json!({"code": 3, "message": "bad \"body\""}));
}
