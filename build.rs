//! Generates the Rust of the IDLs the facade and its examples use, with
//! ringrpc-build:
//!
//! - `idl/echo.thrift` and `idl/item.thrift` into `OUT_DIR` (the library's
//!   `ringrpc::idl` module). The library depends on the codec and engine
//!   crates directly and is not `::ringrpc` to itself, so the generated code
//!   names them as `::ringrpc_codec` and `::ringrpc_engine`.
//! - `idl/ThriftTest.thrift` (Apache Thrift's cross-language test service)
//!   into `OUT_DIR/thrift_test`, for the `thrift_test_server` example and the
//!   Python interop test only: the library does not compile it. Those are
//!   other crates, so the generated code goes through the facade
//!   (`::ringrpc::codec`, `::ringrpc::engine`, the defaults).
fn main() {
    let out = std::env::var("OUT_DIR").expect("OUT_DIR is set for build scripts");
    ringrpc_build::Builder::new()
        .codec_path("::ringrpc_codec")
        .engine_path("::ringrpc_engine")
        .compile(&["idl/echo.thrift", "idl/item.thrift"])
        .unwrap_or_else(|e| panic!("{e}"));
    ringrpc_build::Builder::new()
        .out_dir(format!("{out}/thrift_test"))
        .compile(&["idl/ThriftTest.thrift"])
        .unwrap_or_else(|e| panic!("{e}"));
}
