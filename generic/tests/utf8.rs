//! JSON is UTF-8 (RFC 8259): input that is not is refused whole, before
//! anything is written, with the byte where it stops being UTF-8.

use ringrpc_codec::thrift::Protocol;
use ringrpc_generic::{Error, Idl, JsonCodec};

#[test]
fn json_that_is_not_utf8_is_refused_with_its_position() {
    let idl = Idl::load(
        &[concat!(env!("CARGO_MANIFEST_DIR"), "/../idl/bench.thrift")],
        &[] as &[&str],
    )
    .unwrap();
    let sid = idl.struct_id("Payload").unwrap();
    let codec = JsonCodec::new(idl);
    let mut out = b"kept".to_vec();
    let e = codec
        .encode_into(sid, b"{\"title\": \"caf\xe9\"}", Protocol::Binary, &mut out)
        .unwrap_err();
    assert!(matches!(e, Error::Value { .. }), "{e:?}");
    assert!(e.to_string().contains("not UTF-8 (at byte 14)"), "{e}");
    assert_eq!(out, b"kept");
    // The same text in UTF-8 encodes.
    let ok = codec.encode(sid, "{\"title\": \"café\"}".as_bytes(), Protocol::Compact);
    assert!(ok.is_ok(), "{ok:?}");
}
