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
