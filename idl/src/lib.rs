//! The Rust that ringrpc-build generates from the IDLs in this folder, for
//! ringrpc's examples, integration tests and benchmarks. It is a crate of its
//! own so that the `ringrpc` library ships none of it: a user's own
//! `build.rs` generates their IDL the same way (see `build.rs` here).
//!
//! - [`echo`] (`echo.thrift`): `EchoService.echo`, the service the perf
//!   harness and most tests call.
//! - [`item`] (`item.thrift`): the item shop of Kitex's example, with
//!   exceptions and a business status.
//! - [`thrift_test`] (`ThriftTest.thrift`): Apache Thrift's cross-language
//!   test service, for Apache Thrift's own test clients.
//! - [`bench`](mod@bench) (`bench.thrift`): the nested struct of the codec benchmarks
//!   (`Payload`: i64, string, `list<string>`, `map<string, i64>`,
//!   `list<Nested>`), types only.
//! - [`helloworld`] (`greeter.proto`, feature `grpc`): gRPC's greeter with
//!   one method of each kind (`SayHello` unary, `Ticks` server streaming,
//!   `Upload` client streaming, `Chat` bidirectional): prost messages, the
//!   handler trait `Greeter`, `GreeterServer` and `GreeterClient`.
//!
//! Each module holds the IDL's types, and per service the handler trait
//! (`EchoService`), the server adapter (`EchoServiceServer`), the typed
//! client (`EchoServiceClient`) and the argument and result structs.
#![allow(missing_docs)] // generated items carry the IDL's own docs, where it has them

mod common {
    include!(concat!(env!("OUT_DIR"), "/common/ringrpc_gen.rs"));
}
mod thrift_test_gen {
    include!(concat!(env!("OUT_DIR"), "/thrift_test/ringrpc_gen.rs"));
}

mod bench_gen {
    include!(concat!(env!("OUT_DIR"), "/bench/ringrpc_gen.rs"));
}

pub use bench_gen::bench;
#[cfg(feature = "grpc")]
pub use common::helloworld;
pub use common::{echo, item};
pub use thrift_test_gen::thrift_test;
