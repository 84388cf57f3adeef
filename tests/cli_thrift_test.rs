//! The `ringrpc` command line (run in-process through `ringrpc_cli::run`)
//! against the `thrift_test_server` example's handler, over every
//! transport and both protocols: structs, containers, enums and i64 come
//! back as sent; a declared exception is exit status 1 with its JSON; an
//! application exception and a dead address are exit status 2; JSON that
//! does not match the IDL is refused with its path before anything is
//! sent.

#[path = "../examples/thrift_test/handler.rs"]
mod handler;

use std::net::SocketAddr;

struct Run {
    code: u8,
    out: String,
    err: String,
}

fn ringrpc(args: &[&str]) -> Run {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("ringrpc").chain(args.iter().copied());
    let code = ringrpc_cli::run(argv, &mut std::io::empty(), &mut out, &mut err);
    Run {
        code,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}

fn idl() -> String {
    format!("{}/idl/ThriftTest.thrift", env!("CARGO_MANIFEST_DIR"))
}

fn call(addr: SocketAddr, transport: &str, protocol: &str, method: &str, json: &str) -> Run {
    let addr = addr.to_string();
    let idl = idl();
    ringrpc(&[
        "call",
        "--idl",
        &idl,
        "--addr",
        &addr,
        "--transport",
        transport,
        "--protocol",
        protocol,
        "--timeout",
        "5s",
        "--compact-output",
        method,
        json,
    ])
}

#[test]
fn every_transport_and_protocol() {
    let server =
        handler::start_with("127.0.0.1:0".parse().unwrap(), 1, false, Default::default()).unwrap();
    let addr = server.local_addr();
    let xtruct =
        r#"{"string_thing":"hi","byte_thing":-1,"i32_thing":7,"i64_thing":9007199254740993}"#;
    for transport in ["framed", "buffered", "ttheader", "ttheader-framed"] {
        for protocol in ["binary", "compact"] {
            let at = format!("{transport}/{protocol}");
            let r = call(
                addr,
                transport,
                protocol,
                "ThriftTest.testStruct",
                &format!(r#"{{"thing": {xtruct}}}"#),
            );
            assert_eq!(
                (r.code, r.out.trim(), r.err.as_str()),
                (0, xtruct, ""),
                "{at}"
            );

            let nest = format!(r#"{{"byte_thing":1,"struct_thing":{xtruct},"i32_thing":2}}"#);
            let r = call(
                addr,
                transport,
                protocol,
                "ThriftTest.testNest",
                &format!(r#"{{"thing": {nest}}}"#),
            );
            assert_eq!(r.out.trim(), nest, "{at}: {}", r.err);

            let r = call(
                addr,
                transport,
                protocol,
                "ThriftTest.testMap",
                r#"{"thing": {"1": 2, "-3": 4}}"#,
            );
            // A HashMap on the server: either order.
            let out = r.out.trim();
            assert!(
                out == r#"{"1":2,"-3":4}"# || out == r#"{"-3":4,"1":2}"#,
                "{at}: {out}"
            );

            let r = call(
                addr,
                transport,
                protocol,
                "ThriftTest.testEnum",
                r#"{"thing": "EIGHT"}"#,
            );
            assert_eq!(r.out.trim(), r#""EIGHT""#, "{at}");
            let r = call(
                addr,
                transport,
                protocol,
                "ThriftTest.testEnum",
                r#"{"thing": 5}"#,
            );
            assert_eq!(r.out.trim(), r#""FIVE""#, "{at}");

            let r = call(
                addr,
                transport,
                protocol,
                "ThriftTest.testBinary",
                r#"{"thing": "AAEC/w=="}"#,
            );
            assert_eq!(r.out.trim(), r#""AAEC/w==""#, "{at}");

            let r = call(addr, transport, protocol, "ThriftTest.testVoid", "{}");
            assert_eq!((r.code, r.out.trim()), (0, "null"), "{at}");

            // A declared exception: exit status 1 and its JSON.
            let r = call(
                addr,
                transport,
                protocol,
                "ThriftTest.testException",
                r#"{"arg": "Xception"}"#,
            );
            assert_eq!(r.code, 1, "{at}: {}", r.err);
            assert_eq!(
                r.out.trim(),
                r#"{"err1":{"errorCode":1001,"message":"Xception"}}"#,
                "{at}"
            );
            let r = call(
                addr,
                transport,
                protocol,
                "ThriftTest.testMultiException",
                r#"{"arg0": "Xception2", "arg1": "x"}"#,
            );
            assert_eq!(r.code, 1, "{at}");
            assert!(
                r.out.contains(r#""err2":{"errorCode":2002"#),
                "{at}: {}",
                r.out
            );

            // An application exception (a TException on the server): 2.
            let r = call(
                addr,
                transport,
                protocol,
                "ThriftTest.testException",
                r#"{"arg": "TException"}"#,
            );
            assert_eq!(r.code, 2, "{at}: {}", r.out);
            assert!(r.err.contains("error:"), "{at}: {}", r.err);
        }
    }
    server.shutdown();
}

#[test]
fn json_that_does_not_match_the_idl_is_refused_with_its_path() {
    // Nothing listens here: a refused request must fail before connecting.
    let nowhere: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let cases = [
        (
            "ThriftTest.testStruct",
            r#"{"thing": {"string_thing": 5}}"#,
            "$.thing.string_thing",
        ),
        (
            "ThriftTest.testStruct",
            r#"{"thing": {"nope": 1}}"#,
            "unknown field `nope`",
        ),
        (
            "ThriftTest.testByte",
            r#"{"thing": 300}"#,
            "300 is out of range for i8",
        ),
        (
            "ThriftTest.testI32",
            r#"{"thing": 2147483648}"#,
            "out of range for i32",
        ),
        (
            "ThriftTest.testStruct",
            r#"{"thing": {"i32_thing": "7"}}"#,
            "$.thing.i32_thing",
        ),
        (
            "ThriftTest.testList",
            r#"{"thing": [1, "two"]}"#,
            "$.thing[1]",
        ),
        (
            "ThriftTest.testEnum",
            r#"{"thing": "ELEVEN"}"#,
            "not a value of enum Numberz",
        ),
        (
            "ThriftTest.testStruct",
            r#"{"thing": {"string_thing": "x"#,
            "EOF",
        ),
        ("ThriftTest.nope", "{}", "has no method `nope`"),
    ];
    for (method, json, want) in cases {
        let r = call(nowhere, "framed", "binary", method, json);
        assert_eq!(r.code, 2, "{json}");
        assert!(r.err.contains(want), "{json}: {}", r.err);
        assert!(!r.err.contains("connect"), "{json} was sent: {}", r.err);
    }
    // A required field, in the generic crate's own IDL-driven check.
    let dir = std::env::temp_dir().join(format!("ringrpc-cli-req-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("req.thrift");
    std::fs::write(
        &file,
        "struct R { 1: required i32 a, 2: i32 b }\nservice S { void m(1: R r) }\n",
    )
    .unwrap();
    let r = ringrpc(&[
        "call",
        "--idl",
        file.to_str().unwrap(),
        "--addr",
        "127.0.0.1:9",
        "S.m",
        r#"{"r": {"b": 1}}"#,
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.err.contains("$.r: missing required field `a`"),
        "{}",
        r.err
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_dead_address_is_a_transport_error() {
    let r = call(
        "127.0.0.1:9".parse().unwrap(),
        "framed",
        "binary",
        "ThriftTest.testVoid",
        "{}",
    );
    assert_eq!(r.code, 2);
    assert!(r.err.starts_with("error:"), "{}", r.err);
}
