//! Generates the Rust of this folder's IDLs with ringrpc-build, as a user's
//! `build.rs` would: `echo.thrift` and `item.thrift` (the examples, tests
//! and benchmarks), `ThriftTest.thrift` (Apache Thrift's cross-language
//! test service, for the `thrift_test_server` example and the Python interop
//! test) and `bench.thrift` (the codec benchmarks' nested struct). The
//! generated code names `::ringrpc_codec` and `::ringrpc_engine` because
//! this crate depends on them rather than on the facade. With the `grpc`
//! feature, `greeter.proto` too (gRPC's greeter, one method of each kind),
//! by the same builder.
fn main() {
    let out = std::env::var("OUT_DIR").expect("OUT_DIR is set for build scripts");
    // Thrift and Protobuf in one call, one module tree.
    let grpc = std::env::var_os("CARGO_FEATURE_GRPC").is_some();
    let common: &[&str] = if grpc {
        &["echo.thrift", "item.thrift", "greeter.proto"]
    } else {
        &["echo.thrift", "item.thrift"]
    };
    for (dir, files) in [
        ("common", common),
        ("thrift_test", &["ThriftTest.thrift"][..]),
        ("bench", &["bench.thrift"][..]),
    ] {
        ringrpc_build::Builder::new()
            .codec_path("::ringrpc_codec")
            .engine_path("::ringrpc_engine")
            .out_dir(format!("{out}/{dir}"))
            .compile(files)
            .unwrap_or_else(|e| panic!("{e}"));
    }
}
