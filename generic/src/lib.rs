//! Generic calls: call and serve any Thrift service from its IDL, loaded at
//! run time, with no generated code, in JSON, dynamic values, or raw
//! bytes, as Kitex's generic call does (and wire compatible with it).
//!
//! - [`Idl`] ([`descriptor`]): `.thrift` files (with their includes) read
//!   at run time by the parser and resolver `ringrpc-build` uses
//!   (`ringrpc-thrift-idl`), into services, methods, and types.
//! - [`JsonCodec`] ([`json`]): JSON text straight to Thrift binary or
//!   compact and back, guided by the IDL, with no tree in between (JSON
//!   is read with `serde_json` and each value written as it is read).
//! - [`Value`] ([`value`]): dynamic values typed by Thrift, for code that
//!   builds requests programmatically.
//! - [`GenericClient`] ([`client`]): calls a service's methods with JSON,
//!   values or raw argument bytes, through the engine's client.
//! - [`JsonService`], [`JsonServer`], [`RawService`] ([`server`]): serve
//!   any method of an IDL service through one handler (a mock, a proxy),
//!   with the engine's server
//!   ([`ServerBuilder::dynamic_service`](ringrpc_engine::server::ServerBuilder::dynamic_service)).
//!
//! The `ringrpc` command line (`ringrpc-cli`) is built on this crate.
//!
//! # The JSON mapping
//!
//! A call's arguments are a JSON object keyed by the method's argument
//! names (`{"thing": {...}}` for `testStruct(1: Xtruct thing)`); a reply
//! is the return value's JSON, or a declared exception's
//! ([`JsonReply`]).
//!
//! | Thrift | JSON written | JSON read |
//! |---|---|---|
//! | `bool` | `true` / `false` | the same |
//! | `i8`, `i16`, `i32` | a number | a number in range (out of range is an error: `300` for an `i8`) |
//! | `i64` | a number; a string with [`JsonOptions::i64_as_string`] | a number or a decimal string (`"9007199254740993"`, which a double cannot hold) |
//! | `double` | a number; `"NaN"`, `"Infinity"`, `"-Infinity"` (JSON has no such numbers) | a number (integers too), or one of those three strings |
//! | `string` | a string | a string |
//! | `binary` | base64, standard alphabet, padded (Kitex's JSON generic call encodes binary so by default: `pkg/generic/jsonthrift_codec.go`, `binaryWithBase64`) | base64, padded or not |
//! | `uuid` | `"00112233-4455-6677-8899-aabbccddeeff"` | that, any case, or the 32 hex digits alone |
//! | enum | the value's name (`"FIVE"`); its number when the IDL does not declare it, or with [`JsonOptions::enums_as_numbers`] | a name or a number (any `i32`: unknown values survive, as generated code keeps them) |
//! | `list<T>`, `set<T>` | an array (a set in wire order; duplicates are not removed or checked) | an array |
//! | `map<K, V>`, `K` a scalar (every type above) | an object, keys as strings: numbers in decimal (`{"1": ...}`), bools as `"true"`/`"false"`, enums by name, binary in base64, doubles as numbers are written | the same (any key form the value form accepts) |
//! | `map<K, V>`, `K` a struct or container | an array of `[key, value]` pairs (JSON keys can only be strings) | the same |
//! | struct, exception | an object keyed by the IDL's field names (fields the message does not carry are left out) | an object: see below |
//! | union | an object with its one field set (`{}` when none) | an object with at most one field |
//!
//! Reading a struct:
//!
//! - **Unknown fields** are an error naming the path (`$.thing.nope:
//!   unknown field ...`). A field given twice is an error.
//! - **`null`** stands for an absent field.
//! - **Required** fields must be given unless the IDL gives them a default;
//!   a missing one is an error naming the struct's path.
//! - **Defaults**: a field that is neither `required` nor `optional` and
//!   has a default in the IDL is written with it when absent (as generated
//!   code sends it); other absent fields are not written (the receiver
//!   fills in its own zero value or default). An absent `optional` field
//!   is never written.
//! - Fields are written in the order the JSON gives them (a receiver reads
//!   any order); JSON in declaration order gives the bytes generated code
//!   writes.
//!
//! The JSON text must be UTF-8 (RFC 8259); input that is not is refused
//! whole, with the byte offset where it stops being UTF-8.
//!
//! Errors carry the path of the value that failed ([`Path`]: `$` is the
//! arguments object, then `.field`, `[index]`, `["key"]`), and nothing is
//! sent. Kitex's dynamicgo writes a missing required field with its zero
//! value instead (`WriteRequireField`, on in
//! `DefaultJSONDynamicgoConvOpts`); ringrpc refuses it, so a typo does
//! not become a zero on the server.
//!
//! Reading a reply, unknown field ids and fields whose wire type is not
//! the IDL's are skipped, as generated code skips them; a missing required
//! field is an error ([`Error::Wire`]).
//!
//! # Cost
//!
//! Encoding JSON allocates nothing per field: keys and strings are read in
//! place from the input (`serde_json` borrows them unless they hold
//! escapes; the input is checked as UTF-8 once, whole), base64 is decoded
//! straight into the output, and container headers are filled in once
//! their count is known (`wire`). Decoding reads strings and binaries as
//! slices of the message and writes JSON through `serde_json`'s formatter.
//! Into a reused buffer ([`JsonCodec::encode_into`],
//! [`JsonCodec::decode_into`]) neither allocates at all, however many
//! fields, elements and nested structs (`tests/alloc.rs` counts).
//!
//! `benches/json.rs` times both against generated code on the codegen
//! bench's nested struct (692 bytes in binary). On a shared 2-core box
//! (December 2026, criterion medians, several runs): decoding to JSON
//! takes 1.4-1.5x the generated decode (which builds the struct), in
//! either protocol; encoding from JSON takes 4.0-4.6x the generated encode
//! in binary and 2.2-3.6x in compact (generated code writes a struct
//! already in memory). About two thirds of the encode is `serde_json`
//! tokenizing the text (its string scan, map and key access); reading the
//! text and throwing it away is already 1.2-2.1x the generated binary
//! encode. `sonic-rs` 0.5 in `serde_json`'s place (through its serde
//! `Deserializer`, the same seeds) measured within noise of it (2.63 µs
//! against 2.72 µs for the binary encode), so the crate stays on
//! `serde_json`.
#![deny(missing_docs)]
#![allow(async_fn_in_trait)] // per-core futures are deliberately not `Send`

pub mod client;
pub mod descriptor;
mod error;
pub mod json;
pub mod server;
pub mod value;
mod wire;

pub use client::{GenericClient, ValueReply};
pub use descriptor::Idl;
pub use error::{Error, Path, Result, Segment};
pub use json::{JsonCodec, JsonOptions, JsonReply};
pub use server::{
    EncodedResult, JsonHandler, JsonRequest, JsonServer, JsonService, RawRequest, RawService,
};
pub use value::{StructValue, Value};
