//! Volo's generated types for `idl/echo.thrift` (by `build.rs`, with
//! volo-build), shared by the package's two binaries: the echo server
//! (`src/main.rs`, for `ringrpc-perf compare`) and the client load
//! generator (`src/bin/volo-load.rs`, for `ringrpc-perf client-compare`).

#[allow(missing_docs, missing_debug_implementations, clippy::all, unused)]
pub mod generated {
    include!(concat!(env!("OUT_DIR"), "/volo_echo.rs"));
}
