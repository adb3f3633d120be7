use super::*;
use std::io::Write as _;

fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(k.clone(), v.parse().unwrap());
    }
    h
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn content_types() {
    let ok = |ct| BodyEncoding::from_headers(&headers(&[(header::CONTENT_TYPE, ct)])).unwrap();
    assert_eq!(ok("application/x-protobuf"), BodyEncoding::Protobuf);
    assert_eq!(ok("Application/JSON; charset=utf-8"), BodyEncoding::Json);
    assert!(BodyEncoding::from_headers(&headers(&[(header::CONTENT_TYPE, "text/plain")])).is_err());
    assert!(BodyEncoding::from_headers(&HeaderMap::new()).is_err());
}

#[test]
fn content_encodings() {
    let enc = |v| Compression::from_headers(&headers(&[(header::CONTENT_ENCODING, v)]));
    assert_eq!(Compression::from_headers(&HeaderMap::new()).unwrap(), Compression::Identity);
    assert_eq!(enc("gzip").unwrap(), Compression::Gzip);
    assert_eq!(enc("zstd").unwrap(), Compression::Zstd);
    assert_eq!(enc("identity").unwrap(), Compression::Identity);
    assert!(matches!(enc("br"), Err(CollectorError::UnsupportedEncoding(_))));
}

#[test]
fn decompresses_within_the_limit() {
    let data = b"hello otlp".repeat(100);
    assert_eq!(decompress(Bytes::from(gzip(&data)), Compression::Gzip, data.len()).unwrap(), data);
    let z = zstd::encode_all(&data[..], 3).unwrap();
    assert_eq!(decompress(Bytes::from(z), Compression::Zstd, data.len()).unwrap(), data);
}

#[test]
fn stops_at_the_limit() {
    let data = vec![0u8; 1 << 20];
    let err = decompress(Bytes::from(gzip(&data)), Compression::Gzip, (1 << 20) - 1).unwrap_err();
    assert!(matches!(err, CollectorError::TooLarge { .. }));
    let z = zstd::encode_all(&data[..], 3).unwrap();
    assert!(matches!(decompress(Bytes::from(z), Compression::Zstd, 1000), Err(CollectorError::TooLarge { .. })));
    assert!(matches!(decompress(Bytes::from(data), Compression::Identity, 10), Err(CollectorError::TooLarge { .. })));
}

#[test]
fn corrupt_streams_are_undecodable() {
    let mut g = gzip(b"some data to compress");
    g.truncate(g.len() / 2);
    assert!(matches!(decompress(Bytes::from(g), Compression::Gzip, 1 << 20), Err(CollectorError::Undecodable(_))));
    let err = decompress(Bytes::from_static(b"not zstd"), Compression::Zstd, 1 << 20).unwrap_err();
    assert!(matches!(err, CollectorError::Undecodable(_)));
}
