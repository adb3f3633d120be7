//! `google.rpc.Status`: the body of every OTLP/HTTP 4xx/5xx response (protobuf for
//! protobuf requests, proto3 JSON for JSON requests).

use base64::Engine as _;
use prost::Message as _;

/// `google.rpc.Status` (`google/rpc/status.proto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    /// A `google.rpc.Code` value; OTLP clients do not act on it.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// A developer-facing message in English.
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<Any>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Any {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

impl RpcStatus {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), details: Vec::new() }
    }

    /// The binary protobuf encoding.
    pub fn to_protobuf(&self) -> Vec<u8> {
        self.encode_to_vec()
    }

    /// The proto3 JSON encoding: `{"code":3,"message":"..."}`. Details, which would need
    /// their message types to be rendered field by field, are written as
    /// `{"@type": type_url, "value": base64}`.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::Map::new();
        if self.code != 0 {
            out.insert("code".into(), self.code.into());
        }
        if !self.message.is_empty() {
            out.insert("message".into(), self.message.clone().into());
        }
        if !self.details.is_empty() {
            let details = self
                .details
                .iter()
                .map(|d| {
                    serde_json::json!({
                        "@type": d.type_url,
                        "value": base64::engine::general_purpose::STANDARD.encode(&d.value),
                    })
                })
                .collect();
            out.insert("details".into(), serde_json::Value::Array(details));
        }
        serde_json::Value::Object(out).to_string().into_bytes()
    }
}

#[cfg(test)]
mod tests;
