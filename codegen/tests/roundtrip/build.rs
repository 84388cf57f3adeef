//! Generates the ThriftTest, echo, item and fixture IDLs' Rust into OUT_DIR:
//! with the engine glue (handler traits, dispatch, clients), and the
//! fixtures once more codec-only into OUT_DIR/codec_only.
fn main() {
    let out = std::env::var("OUT_DIR").expect("OUT_DIR is set for build scripts");
    ringrpc_build::Builder::new()
        .codec_path("::ringrpc_codec")
        .engine_path("::ringrpc_engine")
        .compile(&[
            "../../../idl/ThriftTest.thrift",
            "../../../idl/echo.thrift",
            "../../../idl/item.thrift",
            "idl/constructs.thrift",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    ringrpc_build::Builder::new()
        .codec_path("::ringrpc_codec")
        .codec_only()
        .out_dir(format!("{out}/codec_only"))
        .compile(&["idl/constructs.thrift"])
        .unwrap_or_else(|e| panic!("{e}"));
}
