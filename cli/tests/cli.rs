//! The `ringrpc` binary as a user runs it: `idl` lists what to call,
//! `idl --check` names the file, line and column of an error, and `mock`
//! serves canned responses that `call` reads back (a declared exception
//! with exit status 1), over loopback, bounded in time.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ringrpc"))
}

fn idl(name: &str) -> String {
    format!("{}/../idl/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn output(cmd: &mut Command) -> (i32, String, String) {
    let o = cmd.stdin(Stdio::null()).output().expect("ringrpc runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8(o.stdout).unwrap(),
        String::from_utf8(o.stderr).unwrap(),
    )
}

#[test]
fn idl_lists_services_methods_and_argument_types() {
    let (code, out, err) = output(bin().args(["idl", &idl("ThriftTest.thrift")]));
    assert_eq!(code, 0, "{err}");
    for line in [
        "service ThriftTest",
        "  void testVoid()",
        "  Xtruct testStruct(1: Xtruct thing)",
        "  map<i32,map<i32,i32>> testMapMap(1: i32 hello)",
        "  Xtruct testMultiException(1: string arg0, 2: string arg1) throws (1: Xception err1, 2: Xception2 err2)",
        "  oneway void testOneway(1: i32 secondsToSleep)",
        "service SecondService",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
}

#[test]
fn idl_check_names_file_line_and_column() {
    let (code, out, _) = output(bin().args(["idl", "--check", &idl("ThriftTest.thrift")]));
    assert_eq!(code, 0);
    assert!(out.starts_with("ok: 2 services"), "{out}");

    let dir = scratch("check");
    let bad = dir.join("bad.thrift");
    std::fs::write(&bad, "struct A {\n  1: i32 a\n  2: strin b\n}\n").unwrap();
    let (code, out, _) = output(bin().args(["idl", "--check", bad.to_str().unwrap()]));
    assert_eq!(code, 1);
    assert!(out.starts_with(&format!("{}:3:", bad.display())), "{out}");

    std::fs::write(&bad, "struct A {\n  1: i32 a\n  2: i32 b = \n").unwrap();
    let (code, out, _) = output(bin().args(["idl", "--check", bad.to_str().unwrap()]));
    assert_eq!(code, 1);
    assert!(out.contains("bad.thrift:4:1:"), "{out}");

    // Unknown types are resolution errors, with their position too.
    std::fs::write(&bad, "service S {\n  Nope get()\n}\n").unwrap();
    let (code, out, _) = output(bin().args(["idl", "--check", bad.to_str().unwrap()]));
    assert_eq!(code, 1);
    assert!(out.contains("bad.thrift:2:3: unknown type `Nope`"), "{out}");

    // `call` with a broken IDL reports the same, as a failure.
    let (code, _, err) = output(bin().args([
        "call",
        "--idl",
        bad.to_str().unwrap(),
        "--addr",
        "127.0.0.1:9",
        "S.get",
        "{}",
    ]));
    assert_eq!(code, 2);
    assert!(err.contains("bad.thrift:2:3"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A running `ringrpc mock`, killed on drop.
struct Mock {
    child: Child,
    addr: String,
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mock(responses: &str) -> Mock {
    let dir = scratch("mock");
    let file = dir.join("mock.json");
    std::fs::write(&file, responses).unwrap();
    let mut child = bin()
        .args([
            "mock",
            "--idl",
            &idl("ThriftTest.thrift"),
            "--addr",
            "127.0.0.1:0",
            "--responses",
        ])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("ringrpc mock starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("mock says where it listens");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .expect("listening on ADDR")
        .to_owned();
    Mock { child, addr }
}

#[test]
fn mock_serves_canned_responses_that_call_reads() {
    let m = mock(
        r#"{
            "testString": {"success": "canned"},
            "ThriftTest.testStruct": {"success": {"string_thing": "s", "byte_thing": 1, "i32_thing": 2, "i64_thing": 3}},
            "testException": {"err1": {"errorCode": 7, "message": "mocked"}},
            "testVoid": {}
        }"#,
    );
    let started = Instant::now();
    let call = |t: &str, method: &str, json: &str| {
        output(bin().args([
            "call",
            "--idl",
            &idl("ThriftTest.thrift"),
            "--addr",
            &m.addr,
            "--transport",
            t,
            "--compact-output",
            method,
            json,
        ]))
    };
    for t in ["framed", "buffered", "ttheader"] {
        let (code, out, err) = call(t, "ThriftTest.testString", r#"{"thing": "anything"}"#);
        assert_eq!((code, out.trim()), (0, r#""canned""#), "{t}: {err}");
        let (code, out, _) = call(t, "ThriftTest.testStruct", r#"{"thing": {}}"#);
        assert_eq!(
            (code, out.trim()),
            (
                0,
                r#"{"string_thing":"s","byte_thing":1,"i32_thing":2,"i64_thing":3}"#
            ),
            "{t}"
        );
        let (code, out, _) = call(t, "ThriftTest.testException", r#"{"arg": "x"}"#);
        assert_eq!(
            (code, out.trim()),
            (1, r#"{"err1":{"errorCode":7,"message":"mocked"}}"#),
            "{t}"
        );
        let (code, out, _) = call(t, "ThriftTest.testVoid", "{}");
        assert_eq!((code, out.trim()), (0, "null"), "{t}");
        // No canned response: an application exception, exit status 2.
        let (code, _, err) = call(t, "ThriftTest.testI32", r#"{"thing": 1}"#);
        assert_eq!(code, 2, "{t}");
        assert!(err.contains("no response for testI32"), "{t}: {err}");
    }
    // Standard input and --data @file carry the arguments too.
    let dir = scratch("data");
    let data = dir.join("args.json");
    std::fs::write(&data, r#"{"thing": "from a file"}"#).unwrap();
    let (code, out, _) = output(bin().args([
        "call",
        "--idl",
        &idl("ThriftTest.thrift"),
        "--addr",
        &m.addr,
        "--data",
        &format!("@{}", data.display()),
        "ThriftTest.testString",
    ]));
    assert_eq!((code, out.trim()), (0, r#""canned""#));
    let mut child = bin()
        .args([
            "call",
            "--idl",
            &idl("ThriftTest.thrift"),
            "--addr",
            &m.addr,
            "ThriftTest.testString",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"thing": "stdin"}"#)
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8(o.stdout).unwrap().trim(), r#""canned""#);
    // A method without arguments needs no JSON (standard input, null here,
    // is not read); a declared exception printed pretty is one document.
    let base = [
        "call",
        "--idl",
        &idl("ThriftTest.thrift"),
        "--addr",
        &m.addr,
    ];
    let (code, out, err) = output(bin().args(base).arg("ThriftTest.testVoid"));
    assert_eq!((code, out.trim()), (0, "null"), "{err}");
    let (code, out, _) = output(
        bin()
            .args(base)
            .args(["ThriftTest.testException", r#"{"arg": "x"}"#]),
    );
    assert_eq!(
        (code, out.trim()),
        (
            1,
            "{\n  \"err1\": {\n    \"errorCode\": 7,\n    \"message\": \"mocked\"\n  }\n}"
        )
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mock_refuses_responses_that_do_not_match_the_idl() {
    let dir = scratch("badmock");
    for (responses, want) in [
        (
            r#"{"testString": {"success": 5}}"#,
            "responses.testString: $.success",
        ),
        (r#"{"nope": {}}"#, "has no method `nope`"),
        (
            r#"{"testException": {"err9": {}}}"#,
            "`err9` is not an exception",
        ),
    ] {
        let file = dir.join("mock.json");
        std::fs::write(&file, responses).unwrap();
        let (code, _, err) = output(
            bin()
                .args([
                    "mock",
                    "--idl",
                    &idl("ThriftTest.thrift"),
                    "--addr",
                    "127.0.0.1:0",
                    "--responses",
                ])
                .arg(&file),
        );
        assert_eq!(code, 2, "{responses}");
        assert!(err.contains(want), "{responses}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
