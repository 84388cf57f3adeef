//! Generates the ThriftTest, echo, item and fixture IDLs' Rust into OUT_DIR.
fn main() {
    ringrpc_build::Builder::new()
        .codec_path("::ringrpc_codec")
        .compile(&[
            "../../../idl/ThriftTest.thrift",
            "../../../idl/echo.thrift",
            "../../../idl/item.thrift",
            "idl/constructs.thrift",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
}
