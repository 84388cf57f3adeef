//! Generates volo-thrift / pilota types for `idl/echo.thrift`: Volo's side of
//! `ringrpc-perf compare`. A peer for measurement only, never ringrpc's code
//! generator.

fn main() {
    let idl = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../idl/echo.thrift");
    println!("cargo:rerun-if-changed={}", idl.display());
    volo_build::Builder::thrift()
        .add_service(idl)
        .filename("volo_echo.rs".into())
        .write()
        .expect("volo-build generates the echo service");
}
