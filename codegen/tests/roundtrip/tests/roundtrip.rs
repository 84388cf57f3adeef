//! Generated code, compiled and run: round trips through the binary and
//! compact protocols (proptest), the exact bytes Apache Thrift writes,
//! skipping of unknown fields, required-field checks, defaults, unknown
//! enum values, unions, constants and the service argument/result structs.

use std::collections::HashMap;
use std::fmt::Debug;

use bytes::Bytes;
use proptest::prelude::*;
use ringrpc_build_roundtrip::generated::{constructs as c, echo, shared, thrift_test as tt};
use ringrpc_codec::buffer::LinkWriter;
use ringrpc_codec::thrift::{
    BinaryReader, BinaryWriter, CompactReader, CompactWriter, Message, ProtocolReader, Utf8Bytes,
};

fn binary<T: Message>(v: &T) -> Bytes {
    let mut out = LinkWriter::new();
    v.encode(&mut BinaryWriter::new(&mut out));
    Bytes::from(out.to_vec())
}

fn compact<T: Message>(v: &T) -> Bytes {
    let mut out = LinkWriter::new();
    v.encode(&mut CompactWriter::new(&mut out));
    Bytes::from(out.to_vec())
}

fn from_binary<T: Message>(b: Bytes) -> ringrpc_codec::Result<T> {
    let mut r = BinaryReader::new(b);
    let v = T::decode(&mut r)?;
    assert_eq!(r.remaining(), 0, "decode left bytes behind");
    Ok(v)
}

fn from_compact<T: Message>(b: Bytes) -> ringrpc_codec::Result<T> {
    let mut r = CompactReader::new(b);
    let v = T::decode(&mut r)?;
    assert_eq!(r.remaining(), 0, "decode left bytes behind");
    Ok(v)
}

/// Encodes and decodes `v` with both protocols; both must give `v` back.
fn round_trip<T: Message + PartialEq + Debug>(v: &T) {
    assert_eq!(&from_binary::<T>(binary(v)).unwrap(), v, "binary");
    assert_eq!(&from_compact::<T>(compact(v)).unwrap(), v, "compact");
}

mod strategies;
use strategies::*;

proptest! {
    #[test]
    fn thrift_test_structs_round_trip(
        x in xtruct2(),
        i in insanity(),
        u in some_union(),
        v in versioning_v2(),
        n in nested_mixed(),
        o in optional_binary(),
    ) {
        round_trip(&x);
        round_trip(&i);
        round_trip(&u);
        round_trip(&v);
        round_trip(&n);
        round_trip(&o);
    }

    #[test]
    fn deep_and_wide_structs_round_trip(cn in crazy_nesting(), ld in large_deltas()) {
        round_trip(&cn);
        round_trip(&ld);
    }

    #[test]
    fn fixture_structs_round_trip(
        e in everything(),
        k in keys(),
        r in recursive(),
        t in tree(),
    ) {
        round_trip(&e);
        round_trip(&k);
        round_trip(&r);
        round_trip(&t);
    }

    /// A newer struct's extra fields are skipped by an older reader, in
    /// both protocols, and the shared fields survive. Field 3 is a string
    /// in V1 and a byte in V2: a known id with another type is skipped too.
    #[test]
    fn unknown_fields_are_skipped(v in versioning_v2()) {
        let expect = tt::VersioningTestV1 {
            begin_in_both: v.begin_in_both,
            old_string: Utf8Bytes::default(),
            end_in_both: v.end_in_both,
        };
        prop_assert_eq!(from_binary::<tt::VersioningTestV1>(binary(&v)).unwrap(), expect.clone());
        prop_assert_eq!(from_compact::<tt::VersioningTestV1>(compact(&v)).unwrap(), expect);
    }

    /// Enum values the IDL does not declare survive a round trip.
    #[test]
    fn unknown_enum_values_survive(n in any::<i32>()) {
        let args = tt::ThriftTestTestEnumArgs { thing: tt::Numberz(n) };
        round_trip(&args);
    }
}

#[test]
fn binary_bytes_are_apache_thrifts() {
    let x = tt::Xtruct {
        string_thing: "hi".into(),
        byte_thing: -1,
        i32_thing: 7,
        i64_thing: 1 << 40,
    };
    // Fields in declaration order: string 1, byte 4, i32 9, i64 11, stop.
    let want: &[u8] = b"\x0b\x00\x01\x00\x00\x00\x02hi\
        \x03\x00\x04\xff\
        \x08\x00\x09\x00\x00\x00\x07\
        \x0a\x00\x0b\x00\x00\x01\x00\x00\x00\x00\x00\
        \x00";
    assert_eq!(&binary(&x)[..], want);

    // None optionals are not written; a set optional is.
    let b = tt::StructB {
        aa: None,
        ab: tt::StructA { s: "s".into() },
    };
    assert_eq!(
        &binary(&b)[..],
        b"\x0c\x00\x02\x0b\x00\x01\x00\x00\x00\x01s\x00\x00"
    );

    // Containers: a list header is element type and count; a map's is key
    // type, value type and count.
    let args = tt::ThriftTestTestMapArgs {
        thing: HashMap::from([(1, 2)]),
    };
    assert_eq!(
        &binary(&args)[..],
        b"\x0d\x00\x01\x08\x08\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x02\x00"
    );
}

#[test]
fn compact_bytes_are_apache_thrifts() {
    // Field header: delta 1 << 4 | type (i32 = 5); zigzag varint 7 = 14.
    let args = tt::ThriftTestTestI32Args { thing: 7 };
    assert_eq!(&compact(&args)[..], b"\x15\x0e\x00");
    // A bool field carries its value in the header (true = 1).
    let b = tt::Bools {
        im_true: true,
        im_false: false,
    };
    assert_eq!(&compact(&b)[..], b"\x11\x12\x00");
}

#[test]
fn auto_ids_are_negative() {
    let d = c::Defaults {
        auto_a: 5,
        ..c::Defaults::default()
    };
    let b = binary(&d);
    // `i32 auto_a` has no id: Apache gives it -1 (0xffff).
    let needle = b"\x08\xff\xff\x00\x00\x00\x05";
    assert!(b.windows(needle.len()).any(|w| w == needle), "{b:?}");
    round_trip(&d);
}

#[test]
fn required_fields_are_checked() {
    // StructB's `ab` is required: an empty struct lacks it.
    let empty = Bytes::from_static(b"\x00");
    let err = from_binary::<tt::StructB>(empty.clone()).unwrap_err();
    assert_eq!(
        err,
        ringrpc_codec::Error::MissingField {
            name: "StructB",
            field: "ab"
        }
    );
    assert!(matches!(
        from_binary::<echo::EchoRequest>(empty.clone()),
        Err(ringrpc_codec::Error::MissingField { field: "msg", .. })
    ));
    // A required field behind a Box (Pong.ping recurses through Ping).
    assert!(matches!(
        from_binary::<c::Pong>(empty),
        Err(ringrpc_codec::Error::MissingField {
            name: "Pong",
            field: "ping"
        })
    ));
}

#[test]
fn defaults_fill_absent_fields() {
    // Only the required field on the wire.
    let d: c::Defaults =
        from_binary(Bytes::from_static(b"\x08\x00\x01\x00\x00\x00\x09\x00")).unwrap();
    assert_eq!(d.req, 9);
    assert_eq!(d.plain, 7);
    assert_eq!(d.opt, None);
    // An absent optional stays None even with a default; Default has it.
    assert_eq!(d.opt_default, None);
    assert_eq!(c::Defaults::default().opt_default.as_deref(), Some("hi"));
    assert_eq!(d.list_default, [1, 2]);
    assert_eq!(d.color, shared::Color::BLUE);
    assert_eq!(
        d.points[&Utf8Bytes::from_static("o")],
        shared::Point { x: 1, y: 2 }
    );
    assert_eq!(d.ratio, 0.5);
    assert_eq!(d.auto_b, 3);
    assert_eq!(&d.blob[..], b"bytes");
    assert_eq!(d.name, "n");
    assert_eq!(d.named[&Utf8Bytes::from_static("o")], c::ORIGIN.clone());
    assert_eq!(d.tags, ["a", "b"]);

    // ThriftTest's own defaults.
    let bt = tt::BoolTest::default();
    assert_eq!((bt.b, bt.s.as_deref()), (Some(true), Some("true")));
    assert_eq!(
        tt::OptionalSetDefaultTest::default().with_default,
        Some(vec![Utf8Bytes::from("test")])
    );
}

#[test]
fn enums_keep_names_and_unknown_values() {
    assert_eq!(tt::Numberz::FIVE.0, 5);
    assert_eq!(tt::Numberz::SIX.0, 6, "implicit value follows the previous");
    assert_eq!(shared::Color::RED.0, 0);
    assert_eq!(shared::Color::BLUE.0, 6);
    assert_eq!(format!("{:?}", tt::Numberz::EIGHT), "EIGHT");
    assert_eq!(format!("{:?}", tt::Numberz(42)), "Numberz(42)");
    assert_eq!(tt::Numberz(42).name(), None);
    assert_eq!(i32::from(tt::Numberz::TWO), 2);
    assert_eq!(tt::MY_NUMBERZ, tt::Numberz::ONE);
}

#[test]
fn unions_decode_unset_from_empty_or_unknown() {
    assert_eq!(
        from_binary::<tt::SomeUnion>(Bytes::from_static(b"\x00")).unwrap(),
        tt::SomeUnion::Unset
    );
    // Field 9 (unknown), i32.
    assert_eq!(
        from_binary::<tt::SomeUnion>(Bytes::from_static(b"\x08\x00\x09\x00\x00\x00\x01\x00"))
            .unwrap(),
        tt::SomeUnion::Unset
    );
    assert_eq!(&binary(&tt::SomeUnion::Unset)[..], b"\x00");
    // A field named `unset` pushes the catch-all variant's name aside.
    round_trip(&c::Recursive::Unset("x".into()));
    round_trip(&c::Recursive::Unset_);
}

#[test]
fn constants_have_their_values() {
    assert_eq!(c::SMALL, -16);
    assert_eq!(c::MEDIUM, 300);
    assert_eq!(c::BIG, i64::MAX);
    assert_eq!(c::MOST_NEGATIVE, i64::MIN);
    assert_eq!(c::EXP, -1500.0);
    assert_eq!(c::FROM_INT, 2.0);
    const { assert!(c::YES && !c::NO) };
    assert_eq!(c::SINGLE, "single \"quoted\"");
    assert_eq!(c::DOUBLE, "double 'quoted'\n");
    assert_eq!(&c::RAW[..], b"raw");
    assert_eq!(c::ID[0..2], [0x00, 0x11]);
    assert_eq!(*c::PRIMES, [2, 3, 5, 7]);
    assert_eq!(*c::TAGS, ["a", "b"]);
    assert_eq!(
        c::AGES[&Utf8Bytes::from_static("bob")],
        42,
        "a reference to an included constant"
    );
    assert_eq!(c::NESTED[&2], Vec::<Utf8Bytes>::new());
    assert_eq!(c::FAVOURITE, shared::Color::GREEN);
    assert_eq!(c::BY_NUMBER, shared::Color::BLUE);
    assert_eq!(c::UNDECLARED, shared::Color(99));
    assert_eq!(c::COPY, 300);
    assert_eq!(c::ENUM_AS_INT, 6);
    assert_eq!(*c::ORIGIN, shared::Point { x: 0, y: 0 });
    assert_eq!(*c::UNIT, c::Shape::Circle(1.0));
    assert_eq!(shared::ANSWER, 42);
}

#[test]
fn exceptions_are_errors() {
    let e = tt::Xception {
        error_code: 1001,
        message: "boom".into(),
    };
    let as_error: &dyn std::error::Error = &e;
    let shown = as_error.to_string();
    assert!(shown.starts_with("Xception"), "{shown}");
    assert!(shown.contains("boom"), "{shown}");
    round_trip(&e);
}

#[test]
fn service_args_and_results_are_apache_thrifts() {
    // testMultiException's result: success is field 0, err1 field 1, err2
    // field 2; only the set one is written.
    let r = tt::ThriftTestTestMultiExceptionResult {
        success: None,
        err1: None,
        err2: Some(tt::Xception2 {
            error_code: 2,
            struct_thing: tt::Xtruct::default(),
        }),
    };
    let b = binary(&r);
    assert_eq!(&b[..3], b"\x0c\x00\x02");
    round_trip(&r);
    let ok = tt::ThriftTestTestStringResult {
        success: Some("x".into()),
    };
    assert_eq!(&binary(&ok)[..], b"\x0b\x00\x00\x00\x00\x00\x01x\x00");
    // void: an empty result.
    assert_eq!(&binary(&tt::ThriftTestTestVoidResult {})[..], b"\x00");
    // Multiple arguments keep their ids.
    let m = tt::ThriftTestTestMultiArgs {
        arg0: 1,
        arg1: 2,
        arg2: 3,
        arg3: HashMap::from([(4, "four".into())]),
        arg4: tt::Numberz::FIVE,
        arg5: 6,
    };
    round_trip(&m);
    // Methods of an extended service, and oneway methods (no result).
    round_trip(&shared::BasePingResult {
        success: Some("pong".into()),
    });
    round_trip(&c::ShopFireArgs { at: 9 });
    round_trip(&c::ShopTreesArgs {
        depth: 1,
        defaults: c::Defaults::default(),
    });
    round_trip(&c::ShopFindResult {
        success: None,
        not_found: Some(shared::NotFound {
            message: "gone".into(),
            id: Some(3),
        }),
        oops: None,
    });
}

#[test]
fn strings_decode_without_copying() {
    let e = echo::EchoRequest {
        msg: "x".repeat(100).into(),
    };
    let b = binary(&e);
    let back: echo::EchoRequest = from_binary(b.clone()).unwrap();
    assert_eq!(back.msg.as_bytes().as_ptr(), b[7..].as_ptr());
}

#[test]
fn keywords_and_prelude_names() {
    let k = c::Keywords {
        r#type: 1,
        self_: "s".into(),
        r: true,
        field: 4,
        r#match: 5,
        value: 6,
    };
    round_trip(&k);
    round_trip(&c::Option_ { some: 1 });
    round_trip(&c::Node {
        value: 1,
        next: Some(Box::new(c::Node {
            value: 2,
            next: None,
        })),
    });
    round_trip(&c::Ping {
        pong: Some(Box::new(c::Pong {
            ping: Some(Box::new(c::Ping { pong: None })),
        })),
    });
}
