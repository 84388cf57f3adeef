//! Generates volo-thrift / pilota types for `idl/echo.thrift`: the peer side of
//! the wire-compatibility tests. This is a test oracle, never ringrpc's code
//! generator (see DESIGN.md, "Thrift IDL parsing for codegen").

fn main() {
    let idl = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../idl/echo.thrift");
    println!("cargo:rerun-if-changed={}", idl.display());
    volo_build::Builder::thrift()
        .add_service(idl)
        .filename("volo_echo.rs".into())
        .write()
        .expect("volo-build generates the echo service");
}
