//! Generates the ThriftTest, echo, item and fixture IDLs' Rust into OUT_DIR
//! (with `idl/proto/shop.proto` and what it imports, in the same tree):
//! with the engine glue (handler traits, dispatch, clients), and the
//! fixtures once more codec-only into OUT_DIR/codec_only.
//!
//! The corpus (`idl/corpus/`, see `tests/corpus.rs`) goes in the same tree,
//! with a very long IDL written here (`OUT_DIR/long/long.thrift`); its
//! namespaced files once more with `namespace_modules` (OUT_DIR/ns), and its
//! map-heavy files codec-only with FxHash maps (OUT_DIR/fx).
use std::fmt::Write as _;

fn main() {
    let out = std::env::var("OUT_DIR").expect("OUT_DIR is set for build scripts");
    let long = format!("{out}/long/long.thrift");
    std::fs::create_dir_all(format!("{out}/long")).expect("OUT_DIR is writable");
    std::fs::write(&long, long_idl()).expect("OUT_DIR is writable");
    ringrpc_build::Builder::new()
        .codec_path("::ringrpc_codec")
        .engine_path("::ringrpc_engine")
        // The corpus's cross-enum constants warn by design (the generator's
        // own tests check those warnings): keep the build output quiet.
        .cargo_warnings(false)
        .compile(&[
            "../../../idl/ThriftTest.thrift",
            "../../../idl/echo.thrift",
            "../../../idl/item.thrift",
            "idl/constructs.thrift",
            "idl/corpus/names.thrift",
            "idl/corpus/enums.thrift",
            "idl/corpus/deep.thrift",
            "idl/corpus/recursive.thrift",
            "idl/corpus/containers.thrift",
            "idl/corpus/overrides.thrift",
            &long,
            "idl/proto/shop.proto",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    ringrpc_build::Builder::new()
        .codec_path("::ringrpc_codec")
        .codec_only()
        .out_dir(format!("{out}/codec_only"))
        .compile(&["idl/constructs.thrift"])
        .unwrap_or_else(|e| panic!("{e}"));
    ringrpc_build::Builder::new()
        .codec_path("::ringrpc_codec")
        .engine_path("::ringrpc_engine")
        .namespace_modules()
        .out_dir(format!("{out}/ns"))
        .compile(&["idl/corpus/ns/namespaced.thrift"])
        .unwrap_or_else(|e| panic!("{e}"));
    ringrpc_build::Builder::new()
        .codec_path("::ringrpc_codec")
        .codec_only()
        .map_hasher("::rustc_hash::FxBuildHasher")
        .out_dir(format!("{out}/fx"))
        .compile(&[
            "idl/corpus/containers.thrift",
            "idl/corpus/recursive.thrift",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
}

/// A long IDL, the same every build: many structs (each holding one
/// declared before it), a long enum, a long union, many constants and a
/// service with many methods.
fn long_idl() -> String {
    const STRUCTS: usize = 150;
    const VALUES: usize = 400;
    const METHODS: usize = 60;
    let mut s = String::from("// Written by build.rs: a long file for the corpus test.\n");
    s.push_str("enum LongEnum {\n");
    for i in 0..VALUES {
        let _ = writeln!(s, "  VALUE_{i} = {}", i as i64 * 3 - 100);
    }
    s.push_str("}\n");
    for i in 0..STRUCTS {
        let _ = writeln!(s, "/** Struct {i}. */\nstruct Long{i} {{");
        let _ = writeln!(s, "  1: i32 n = {i}\n  2: string name = \"long{i}\"");
        let _ = writeln!(s, "  3: list<i64> values\n  4: map<string, i32> counts");
        let _ = writeln!(s, "  5: LongEnum kind = LongEnum.VALUE_{}", i % VALUES);
        // Nested by value, halving: a chain of one struct inside the one
        // before, 128 deep, would pass rustc's drop-check recursion limit.
        if i > 0 {
            let _ = writeln!(s, "  6: optional Long{} half", i / 2);
        }
        s.push_str("}\n");
    }
    s.push_str("union LongUnion {\n");
    for i in 0..STRUCTS {
        let _ = writeln!(s, "  {}: Long{i} long{i}", i + 1);
    }
    s.push_str("}\n");
    for i in 0..VALUES {
        let _ = writeln!(s, "const i32 CONST_{i} = {i}");
    }
    s.push_str("service LongService {\n");
    for i in 0..METHODS {
        let _ = writeln!(
            s,
            "  Long{} method{i}(1: Long{i} arg, 2: LongEnum kind, 3: LongUnion u)",
            (i * 7) % STRUCTS
        );
    }
    s.push_str("}\n");
    s
}
