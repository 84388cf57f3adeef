//! Generated code and `ringrpc-generic` agree byte for byte: every
//! ThriftTest type (and the fixtures' recursive, union and odd-keyed ones),
//! encoded by generated code in either protocol, decodes to JSON and to a
//! dynamic value, and each encodes back to the very same bytes; the JSON
//! read back is the JSON written.

use std::fmt::Debug;
use std::sync::LazyLock;

use bytes::Bytes;
use proptest::collection::{hash_map, vec};
use proptest::option;
use proptest::prelude::*;
use ringrpc_build_roundtrip::generated::thrift_test as tt;
use ringrpc_codec::buffer::LinkWriter;
use ringrpc_codec::thrift::{BinaryWriter, CompactWriter, Message, Protocol};
use ringrpc_generic::{Idl, JsonCodec, JsonReply, value};

mod strategies;
use strategies::*;

static IDL: LazyLock<Idl> = LazyLock::new(|| {
    let dir = env!("CARGO_MANIFEST_DIR");
    Idl::load(
        &[
            format!("{dir}/../../../idl/ThriftTest.thrift"),
            format!("{dir}/idl/constructs.thrift"),
        ],
        &[] as &[&str],
    )
    .unwrap()
});

static JSON: LazyLock<JsonCodec> = LazyLock::new(|| JsonCodec::new(IDL.clone()));

fn encoded<T: Message>(v: &T, protocol: Protocol) -> Bytes {
    let mut out = LinkWriter::new();
    match protocol {
        Protocol::Binary => v.encode(&mut BinaryWriter::new(&mut out)),
        Protocol::Compact => v.encode(&mut CompactWriter::new(&mut out)),
    }
    Bytes::from(out.to_vec())
}

/// `v` through JSON and through a dynamic value, in both protocols: the
/// same bytes as generated code, and the same JSON read back.
fn agrees<T: Message + PartialEq + Debug>(name: &str, v: &T) {
    let sid = IDL.struct_id(name).unwrap();
    for protocol in [Protocol::Binary, Protocol::Compact] {
        let bytes = encoded(v, protocol);
        let json = JSON.decode(sid, bytes.clone(), protocol).unwrap();
        let again = JSON.encode(sid, json.as_bytes(), protocol).unwrap();
        assert_eq!(again, bytes, "{name} in {protocol}: {json}");
        assert_eq!(JSON.decode(sid, again, protocol).unwrap(), json);
        let dynamic = value::decode_struct(&IDL, sid, bytes.clone(), protocol).unwrap();
        let again = value::encode_struct(&IDL, sid, &dynamic, protocol).unwrap();
        assert_eq!(again, bytes, "{name} in {protocol} as a value: {dynamic:?}");
    }
}

// The ThriftTest types the round-trip tests have no strategy for.

fn xception() -> impl Strategy<Value = tt::Xception> {
    (any::<i32>(), utf8()).prop_map(|(error_code, message)| tt::Xception {
        error_code,
        message,
    })
}

fn xception2() -> impl Strategy<Value = tt::Xception2> {
    (any::<i32>(), xtruct()).prop_map(|(error_code, struct_thing)| tt::Xception2 {
        error_code,
        struct_thing,
    })
}

fn small_structs() -> impl Strategy<
    Value = (
        tt::VersioningTestV1,
        tt::ListTypeVersioningV1,
        tt::ListTypeVersioningV2,
        tt::GuessProtocolStruct,
    ),
> {
    (
        (any::<i32>(), utf8(), any::<i32>()).prop_map(|(a, s, b)| tt::VersioningTestV1 {
            begin_in_both: a,
            old_string: s,
            end_in_both: b,
        }),
        (vec(any::<i32>(), 0..4), utf8())
            .prop_map(|(myints, hello)| tt::ListTypeVersioningV1 { myints, hello }),
        (vec(utf8(), 0..4), utf8())
            .prop_map(|(strings, hello)| tt::ListTypeVersioningV2 { strings, hello }),
        hash_map(utf8(), utf8(), 0..4).prop_map(|map_field| tt::GuessProtocolStruct { map_field }),
    )
}

fn nested_lists() -> impl Strategy<
    Value = (
        tt::NestedListsI32x2,
        tt::NestedListsI32x3,
        tt::ListBonks,
        tt::NestedListsBonk,
    ),
> {
    (
        vec(vec(any::<i32>(), 0..3), 0..3)
            .prop_map(|integerlist| tt::NestedListsI32x2 { integerlist }),
        vec(vec(vec(any::<i32>(), 0..3), 0..2), 0..2)
            .prop_map(|integerlist| tt::NestedListsI32x3 { integerlist }),
        vec(bonk(), 0..3).prop_map(|bonk| tt::ListBonks { bonk }),
        vec(vec(vec(bonk(), 0..2), 0..2), 0..2).prop_map(|bonk| tt::NestedListsBonk { bonk }),
    )
}

fn optionals() -> impl Strategy<Value = (tt::BoolTest, tt::StructB, tt::OptionalSetDefaultTest)> {
    let a = || utf8().prop_map(|s| tt::StructA { s });
    (
        (option::of(any::<bool>()), option::of(utf8())).prop_map(|(b, s)| tt::BoolTest { b, s }),
        (option::of(a()), a()).prop_map(|(aa, ab)| tt::StructB { aa, ab }),
        option::of(vec(utf8(), 0..3))
            .prop_map(|with_default| tt::OptionalSetDefaultTest { with_default }),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn thrift_test_types_agree(
        x in xtruct2(),
        i in insanity(),
        u in some_union(),
        v in versioning_v2(),
        n in nested_mixed(),
        o in optional_binary(),
        e in xception(),
        e2 in xception2(),
    ) {
        agrees("ThriftTest.Xtruct", &x.struct_thing);
        agrees("ThriftTest.Xtruct2", &x);
        agrees("ThriftTest.Insanity", &i);
        agrees("ThriftTest.SomeUnion", &u);
        if let tt::SomeUnion::XtructThing(x3) = &u {
            agrees("ThriftTest.Xtruct3", x3);
        }
        agrees("ThriftTest.Bonk", &v.newstruct);
        agrees("ThriftTest.VersioningTestV2", &v);
        agrees("ThriftTest.NestedMixedx2", &n);
        agrees("ThriftTest.OptionalBinary", &o);
        agrees("ThriftTest.Xception", &e);
        agrees("ThriftTest.Xception2", &e2);
    }

    #[test]
    fn deep_wide_and_small_thrift_test_types_agree(
        cn in crazy_nesting(),
        ld in large_deltas(),
        (v1, l1, l2, g) in small_structs(),
        (n2, n3, lb, nb) in nested_lists(),
        (bt, sb, osd) in optionals(),
    ) {
        agrees("ThriftTest.CrazyNesting", &cn);
        agrees("ThriftTest.LargeDeltas", &ld);
        agrees("ThriftTest.Bools", &ld.b1);
        agrees("ThriftTest.VersioningTestV1", &v1);
        agrees("ThriftTest.ListTypeVersioningV1", &l1);
        agrees("ThriftTest.ListTypeVersioningV2", &l2);
        agrees("ThriftTest.GuessProtocolStruct", &g);
        agrees("ThriftTest.NestedListsI32x2", &n2);
        agrees("ThriftTest.NestedListsI32x3", &n3);
        agrees("ThriftTest.ListBonks", &lb);
        agrees("ThriftTest.NestedListsBonk", &nb);
        agrees("ThriftTest.BoolTest", &bt);
        agrees("ThriftTest.StructA", &sb.ab);
        agrees("ThriftTest.StructB", &sb);
        agrees("ThriftTest.OptionalSetDefaultTest", &osd);
        agrees("ThriftTest.EmptyStruct", &tt::EmptyStruct {});
        agrees("ThriftTest.OneField", &tt::OneField { field: tt::EmptyStruct {} });
    }

    /// The fixtures: every base type, uuid, struct- and double-keyed maps,
    /// recursive structs and unions.
    #[test]
    fn fixture_types_agree(e in everything(), k in keys(), r in recursive(), t in tree()) {
        agrees("constructs.Everything", &e);
        agrees("constructs.Keys", &k);
        agrees("constructs.Recursive", &r);
        agrees("constructs.Tree", &t);
    }

    /// Method argument and result structs are the ones generated code
    /// sends, declared exceptions included.
    #[test]
    fn service_structs_agree(x in xtruct(), e in xception()) {
        let m = IDL.method("ThriftTest", "testStruct").unwrap();
        let args = tt::ThriftTestTestStructArgs { thing: x.clone() };
        for protocol in [Protocol::Binary, Protocol::Compact] {
            let bytes = encoded(&args, protocol);
            let json = JSON.decode(m.args, bytes.clone(), protocol).unwrap();
            prop_assert_eq!(JSON.encode(m.args, json.as_bytes(), protocol).unwrap(), bytes);
            let result = encoded(&tt::ThriftTestTestStructResult { success: Some(x.clone()) }, protocol);
            let reply = JSON.decode_result(m, result.clone(), protocol).unwrap();
            prop_assert_eq!(JSON.encode_result(m, &reply, protocol).unwrap(), result);
        }
        let m = IDL.method("ThriftTest", "testException").unwrap();
        for protocol in [Protocol::Binary, Protocol::Compact] {
            let result = encoded(&tt::ThriftTestTestExceptionResult { err1: Some(e.clone()) }, protocol);
            let reply = JSON.decode_result(m, result.clone(), protocol).unwrap();
            let is_err1 = matches!(&reply, JsonReply::Exception { name, .. } if name == "err1");
            prop_assert!(is_err1);
            prop_assert_eq!(JSON.encode_result(m, &reply, protocol).unwrap(), result);
        }
    }
}

#[test]
fn the_json_is_the_documented_mapping() {
    let x = tt::Xtruct {
        string_thing: "hi \"you\"".into(),
        byte_thing: -1,
        i32_thing: 7,
        i64_thing: 1 << 60,
    };
    let sid = IDL.struct_id("Xtruct").unwrap();
    let json = JSON
        .decode(sid, encoded(&x, Protocol::Binary), Protocol::Binary)
        .unwrap();
    assert_eq!(
        json,
        r#"{"string_thing":"hi \"you\"","byte_thing":-1,"i32_thing":7,"i64_thing":1152921504606846976}"#
    );
    // i64 as a string is read, and written with the option.
    let as_string = r#"{"string_thing":"hi \"you\"","byte_thing":-1,"i32_thing":7,"i64_thing":"1152921504606846976"}"#;
    assert_eq!(
        JSON.encode(sid, as_string.as_bytes(), Protocol::Binary)
            .unwrap(),
        encoded(&x, Protocol::Binary)
    );
    let strings = JsonCodec::new(IDL.clone())
        .options(ringrpc_generic::JsonOptions::new().i64_as_string(true));
    assert_eq!(
        strings
            .decode(sid, encoded(&x, Protocol::Binary), Protocol::Binary)
            .unwrap(),
        as_string
    );

    // Enums by name (or number), map keys as strings, binary in base64.
    let i = tt::Insanity {
        user_map: [(tt::Numberz::FIVE, 5)].into_iter().collect(),
        xtructs: vec![],
    };
    let sid = IDL.struct_id("Insanity").unwrap();
    let json = JSON
        .decode(sid, encoded(&i, Protocol::Compact), Protocol::Compact)
        .unwrap();
    assert_eq!(json, r#"{"userMap":{"FIVE":5},"xtructs":[]}"#);
    assert_eq!(
        JSON.encode(
            sid,
            br#"{"userMap":{"5":5},"xtructs":[]}"#,
            Protocol::Compact
        )
        .unwrap(),
        encoded(&i, Protocol::Compact)
    );
    let o = tt::OptionalBinary {
        bin_set: Some(vec![Bytes::from_static(b"hello")]),
        bin_map: None,
    };
    let sid = IDL.struct_id("OptionalBinary").unwrap();
    let json = JSON
        .decode(sid, encoded(&o, Protocol::Binary), Protocol::Binary)
        .unwrap();
    assert_eq!(json, r#"{"bin_set":["aGVsbG8="]}"#);
}
