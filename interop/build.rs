//! Generates the two sides the interop tests and benchmarks compare:
//!
//! - volo-build / pilota types for `idl/echo.thrift` and `idl/item.thrift`
//!   (`volo_gen.rs`): the peer side of the wire-compatibility tests and the
//!   live Volo servers and clients. A test oracle, never ringrpc's code
//!   generator (see DESIGN.md, "Thrift IDL parsing for codegen").
//! - the benchmark IDL `idl/bench.thrift` (shared with the generic JSON
//!   bench) twice: by volo-build (`volo_bench.rs`) and by ringrpc-build,
//!   codec-only
//!   (`OUT_DIR/ringrpc_bench/ringrpc_gen.rs`), and by ringrpc-build again
//!   with FxHash and AHash maps (`OUT_DIR/ringrpc_bench_fx`,
//!   `OUT_DIR/ringrpc_bench_ahash`; the benchmark includes those itself).

use std::path::Path;

fn main() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let echo = here.join("../idl/echo.thrift");
    let item = here.join("../idl/item.thrift");
    let bench = here.join("../idl/bench.thrift");
    for idl in [&echo, &item, &bench] {
        println!("cargo:rerun-if-changed={}", idl.display());
    }
    volo_build::Builder::thrift()
        .add_service(echo)
        .add_service(item)
        .filename("volo_gen.rs".into())
        .write()
        .expect("volo-build generates the echo and item services");
    volo_build::Builder::thrift()
        .add_service(&bench)
        .filename("volo_bench.rs".into())
        // The IDL has no service: keep its types anyway.
        .ignore_unused(false)
        .write()
        .expect("volo-build generates the bench types");
    let out = std::env::var("OUT_DIR").expect("OUT_DIR is set for build scripts");
    ringrpc_build::Builder::new()
        .codec_path("::ringrpc_codec")
        .codec_only()
        .out_dir(format!("{out}/ringrpc_bench"))
        .compile(&[&bench])
        .unwrap_or_else(|e| panic!("{e}"));
    // The same types with faster map hashers (Builder::map_hasher), for the
    // bench's decode/ours_fx and decode/ours_ahash.
    for (dir, hasher) in [
        ("ringrpc_bench_fx", "::rustc_hash::FxBuildHasher"),
        ("ringrpc_bench_ahash", "::ahash::RandomState"),
    ] {
        ringrpc_build::Builder::new()
            .codec_path("::ringrpc_codec")
            .codec_only()
            .map_hasher(hasher)
            .out_dir(format!("{out}/{dir}"))
            .compile(&[&bench])
            .unwrap_or_else(|e| panic!("{e}"));
    }
}
