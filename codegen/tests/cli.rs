//! The `ringrpc-build` binary prints the code generated for a file.

use std::process::Command;

fn idl(name: &str) -> String {
    format!("{}/../idl/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn prints_generated_code() {
    let out = Command::new(env!("CARGO_BIN_EXE_ringrpc-build"))
        .args(["--codec-path", "::ringrpc_codec", &idl("item.thrift")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let code = String::from_utf8(out.stdout).unwrap();
    assert!(code.contains("use ::ringrpc_codec::{self as codec, thrift};"));
    assert!(code.contains("pub struct GetItemReq {"));
    assert!(code.contains("pub struct ItemServiceGetItemResult {"));
}

#[test]
fn reports_errors_with_position() {
    let dir = std::env::temp_dir().join(format!("ringrpc-build-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.thrift");
    std::fs::write(&bad, "struct S {\n  1: i32\n}\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ringrpc-build"))
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("bad.thrift:3:1: expected a field name"),
        "{err}"
    );
}

#[test]
fn usage_without_files() {
    let out = Command::new(env!("CARGO_BIN_EXE_ringrpc-build"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage:"));
}

/// `.proto` files print one module per package, the given file's only
/// unless `--all` (its imports are generated too).
#[cfg(feature = "protobuf")]
#[test]
fn prints_protobuf_packages() {
    let dir = std::env::temp_dir().join(format!("ringrpc-build-cli-proto-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("clock.proto");
    std::fs::write(
        &file,
        "syntax = \"proto3\";\npackage clock;\nimport \"google/protobuf/timestamp.proto\";\n\
         service Clock { rpc Now(google.protobuf.Timestamp) returns (google.protobuf.Timestamp); }\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ringrpc-build"))
            .args(args)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let code = run(&[]);
    assert!(
        code.contains("pub trait Clock: Send + Sync + 'static {"),
        "{code}"
    );
    assert!(code.contains("\"/clock.Clock/Now\""), "{code}");
    assert!(!code.contains("pub struct Timestamp {"), "{code}");
    let all = run(&["--all"]);
    assert!(all.contains("pub struct Timestamp {"), "{all}");
    assert!(all.contains("pub trait Clock"), "{all}");

    let bad = dir.join("bad.proto");
    std::fs::write(&bad, "syntax = \"proto3\";\nmessage M { int32 x = 1 }\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ringrpc-build"))
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("bad.proto:2:25: "), "{err}");
}
