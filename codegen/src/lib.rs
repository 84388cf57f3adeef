//! ringrpc-build: Thrift IDL and Protobuf to Rust for ringrpc, run from
//! `build.rs`. (Protobuf, with the `protobuf` feature: see
//! [Protobuf](#protobuf).)
//!
//! It parses IDL with its own parser (the whole language: includes,
//! typedefs, constants, enums, structs, unions, exceptions, services), and
//! writes readable, formatted Rust: types that implement the codec's
//! `Message` trait, so one `decode` serves the binary and the compact
//! protocol, and per service method the argument and result structs that
//! Apache Thrift, Kitex and Volo put on the wire.
//!
//! # Use
//!
//! In `Cargo.toml`:
//!
//! ```toml
//! [dependencies]
//! ringrpc = "0.1"
//! bytes = "1"          # `binary` fields are `bytes::Bytes`
//!
//! [build-dependencies]
//! ringrpc-build = "0.1"
//! ```
//!
//! In `build.rs`'s `main`:
//!
//! ```no_run
//! ringrpc_build::Builder::new()
//!     .compile(&["idl/echo.thrift"])
//!     .unwrap_or_else(|e| panic!("{e}"));
//! ```
//!
//! In the crate, one module tree holds every IDL file compiled and every
//! file they include, one module each, named after the file (`echo.thrift`
//! → `echo`, `ThriftTest.thrift` → `thrift_test`):
//!
//! ```ignore
//! pub mod idl {
//!     include!(concat!(env!("OUT_DIR"), "/ringrpc_gen.rs"));
//! }
//! use idl::echo::{EchoRequest, EchoResponse};
//! ```
//!
//! Serving and calling a service (for `echo.thrift`):
//!
//! ```ignore
//! use idl::echo::*;
//! use ringrpc::engine::{context::ServerContext, server::Server};
//!
//! #[derive(Clone)]
//! struct Echo;
//! impl EchoService for Echo {
//!     async fn echo(&self, _cx: &mut ServerContext, req: EchoRequest)
//!         -> ringrpc::engine::Result<EchoResponse> {
//!         Ok(EchoResponse { msg: req.msg })
//!     }
//! }
//! let server = Server::builder().service(EchoServiceServer::new(Echo)).start()?;
//! // On a core:
//! let client = EchoServiceClient::new(EchoServiceClient::builder().target(addr).build()?);
//! let resp = client.echo(EchoRequest { msg: "hi".into() }).await?;
//! // With per-call options:
//! let resp = client.with_options(&CallOptions::new().rpc_timeout(t)).echo(req).await?;
//! ```
//!
//! Per service the generated code holds the handler trait (`EchoService`),
//! the server adapter (`EchoServiceServer`, which knows its descriptor, so
//! `Server::builder().service(..)` takes it alone; `service_per_core(|| ..)`
//! builds one per core for handlers that are not `Clone` or `Send`), the
//! typed client (`EchoServiceClient`, with `builder()` naming the service),
//! and the descriptor (`EchoServiceDescriptor`) the engine decodes with.
//!
//! A method that declares exceptions returns `Result<T, <Service><Method>Error>`:
//! one variant per exception (they travel in the result struct) and `Other`
//! for the engine's errors (sent as application exceptions); `From` impls let
//! `?` and `.into()` build it. Other methods return `ringrpc::engine::Result<T>`.
//!
//! A crate that depends on `ringrpc-codec` alone sets
//! `.codec_path("::ringrpc_codec").codec_only()`: types and argument/result
//! structs only, with application exceptions where engine errors would be.
//! One that depends on the engine crate directly sets
//! `.engine_path("::ringrpc_engine")`.
//!
//! To see what a file becomes: `cargo run -p ringrpc-build -- idl/echo.thrift`.
//!
//! # What the IDL becomes
//!
//! | IDL | Rust |
//! |---|---|
//! | `bool`, `i8`/`byte`, `i16`, `i32`, `i64`, `double` | `bool`, `i8`, `i16`, `i32`, `i64`, `f64` |
//! | `string` | `Utf8Bytes` (a zero-copy slice of the payload when decoded) |
//! | `binary` | `bytes::Bytes` (zero copy) |
//! | `uuid` | `[u8; 16]` |
//! | `list<T>` | `Vec<T>` |
//! | `set<T>` | `Vec<T>`: wire order kept, duplicates not removed, no `Hash` needed on `T` (Kitex also uses slices; Volo uses `AHashSet`) |
//! | `map<K, V>` | `HashMap<K, V>` (std's hasher unless [`Builder::map_hasher`] says otherwise); `Vec<(K, V)>` when `K` cannot be hashed (`double`, maps, structs holding them) |
//! | `typedef T Name` | `pub type Name = T;` |
//! | `const` | `pub const` for scalars, strings, binary, uuid and enums; `pub static NAME: LazyLock<T>` for containers and structs |
//! | `enum` | `pub struct E(pub i32)` with an associated constant per value, so unknown values survive |
//! | `struct` | a struct: `required` and default fields are `T`, `optional` ones `Option<T>`; a field that recurses back to its struct is `Option<Box<T>>` |
//! | `union` | an enum, one variant per field plus `Unset` |
//! | `exception` | a struct that implements `Display` and `std::error::Error` |
//! | `service` | per method `<Service><Method>Args` and `<Service><Method>Result` (Apache Thrift's `method_args` / `method_result`), `<Service><Method>Error` when it declares exceptions; and, against the engine: the handler trait `<Service>` (an `async fn` per method on `&self` with the `ServerContext`, no `Send` bound, `extends` as a supertrait), `<Service>Descriptor` (the engine's `ThriftService`), `<Service>Server<H>` (runs a handler) and `<Service>Client<S>` (typed client) |
//!
//! Encoding writes what Apache Thrift writes: fields in declaration order,
//! `None` optionals skipped. Decoding skips unknown fields, fills defaults,
//! and fails with `Error::MissingField` when a `required` field is absent.
//! IDL comments become doc comments.
//!
//! ## Names
//!
//! Names become Rust's: `snake_case` fields, methods, parameters and
//! modules, `UpperCamelCase` types and variants, `SHOUTY_CASE` constants
//! and enum values; keywords become raw identifiers (`r#type`), or take a
//! trailing `_` where Rust has no raw form (`self_`), and a type named like
//! a prelude type the generated code uses takes one too (`Option_`).
//!
//! When two IDL names become one Rust name (`the_edge_case`, `theEdgeCase`
//! and `TheEdgeCase` are three fields in Thrift and one in Rust), the rule
//! is, in each Rust scope: a rename annotation is taken as written (see
//! [Annotations](#annotations)); then a name already in its Rust case keeps
//! it; then the others, in declaration order, get their converted name, or
//! that name with a suffix when it is taken: the field id for what has one
//! (fields, arguments, declared exceptions, union members:
//! `the_edge_case_2`, `the_edge_case_n1` for the auto id -1), else a counter
//! from 2 (`get_item_2`, `GetItem2`, `MY_CONST_2`). On an `UpperCamelCase`
//! name the suffix is appended (`TheEdgeCase4`; `Xtruct2_3` after a digit).
//! The scopes are: a file's module (types, services, constants, then the
//! per-method `<Service><Method>Args`/`Result`/`Error` names, then the
//! per-service `Request`/`Response`/`Descriptor`/`Server`/`Client` names,
//! so a declared `FooBarArgs` keeps its name and the generated one becomes
//! `FooBarArgs2`); a struct's fields; a union's variants (`Unset` yields:
//! `Unset_`); an enum's values (`VALUES` and `name` are reserved); a
//! service's methods with every inherited one (`new` and `inner`, the
//! client's own, are reserved), their snake and camel forms suffixed
//! together; a method's parameters (clear of `cx` and `opts`).
//!
//! The rule only renames Rust identifiers: struct, field and method names
//! on the wire, and field ids, stay the IDL's. A caveat of "names already
//! in Rust case come first": adding `the_edge_case` to a struct that had
//! only `theEdgeCase` moves the older field to `the_edge_case_<id>`.
//!
//! As Apache Thrift does, two types, services or constants of one name in
//! a file, two fields of one id or name, two values of one name in an enum,
//! and a method defined twice in a service or the services it extends are
//! errors.
//!
//! ## Constants
//!
//! A constant given for an enum-typed value is read as Apache Thrift reads
//! it: by the last part of its name, in the enum of the field's type, so
//! `1: MyEnum2 me2_2 = MyEnum1.ME2_2` is `MyEnum2::ME2_2` (with a
//! [`Warning`], printed as a `cargo:warning`). Integers must fit their type
//! (and i64, where the error names the file, line and column).
//!
//! ## Annotations
//!
//! Annotations that act (every other one is parsed and ignored):
//!
//! | annotation | on | effect |
//! |---|---|---|
//! | `pilota.name = "x"` (pilota's key, `pilota-build/src/tags.rs`), or `rust.name = "x"` | struct, union, exception, enum, typedef, service, field, enum value, method | the Rust name, taken as written (no case change, as pilota does); a method's derived names use its `UpperCamelCase` (`SvcXArgs`). The wire keeps the IDL name. |
//! | `pilota.rust_type = "string"` (pilota's key and values, `pilota-build/src/resolve.rs`), or `rust.type` | a `string` field of a struct, union or exception | `String` instead of `Utf8Bytes` |
//! | `pilota.rust_type = "vec"` | a `binary` field | `Vec<u8>` instead of `bytes::Bytes` |
//! | `pilota.rust_type = "btree"` | a field holding sets or maps | `BTreeSet` / `BTreeMap` at every depth (sorted; a set's duplicates dropped on decode); elements and keys must be ordered types, else an error |
//!
//! Parsed and ignored with a [`Warning`]: `pilota.rust_type = "ordered_f64"`
//! (pilota's `OrderedFloat`), unknown `rust_type` values or ones that do not
//! fit the field's type, and type overrides on method arguments and declared
//! exceptions (the handler's and client's signatures keep the default
//! types). Parsed and ignored silently: every other annotation
//! (`pilota.rust_wrapper_arc`, `pilota.serde_attribute`, `go.tag`,
//! `cpp.*`, `python.*`, annotations on types in `list<T> (..)`, ...), and
//! annotations on typedefs other than renames.
//!
//! ## Options that shape the output
//!
//! - [`Builder::namespace_modules`]: a file's module is its `namespace rs`
//!   path (`example::shop::item`) instead of its stem (`item`).
//! - [`Builder::map_hasher`]: `HashMap<K, V, H>` with a faster hasher
//!   (FxHash, AHash); the crate then depends on the hasher's crate.
//!
//! # Protobuf
//!
//! With the `protobuf` feature, files ending in `.proto` given to the same
//! [`Builder::compile`] (`.compile(&["echo.thrift", "greeter.proto"])`) are
//! read by [protox](https://docs.rs/protox) (pure Rust: building needs no
//! `protoc`) and their messages and enums written by
//! [prost-build](https://docs.rs/prost-build), as prost lays them out; the
//! services are ringrpc's, against the engine's gRPC module
//! (`ringrpc::engine::grpc`, the engine's `grpc` feature). The feature is
//! off by default, so a Thrift-only build does not compile protox and
//! prost-build; a `.proto` file without it is an error that says so.
//!
//! ```toml
//! [dependencies]
//! ringrpc = { version = "0.1", features = ["grpc"] }
//!
//! [build-dependencies]
//! ringrpc-build = { version = "0.1", features = ["protobuf"] }
//! ```
//!
//! No `prost` dependency is needed: the messages derive through the
//! engine's re-export (`<engine path>::grpc::prost`; [`Builder::prost_path`]
//! changes it, [`Builder::codec_only`] makes it `::prost` and writes no
//! services).
//!
//! Each Protobuf package is one module of the tree, beside the Thrift
//! files' modules: `package helloworld;` → `idl::helloworld`,
//! `package shop.v1;` → `idl::shop::v1` (a file without a package is
//! included at the root of the tree). A package and a Thrift file that
//! would share a module are an error. The files a `.proto` file imports
//! are generated too, each package once. Imports are searched in the
//! [`Builder::include_dir`] folders, then in the folders of the `.proto`
//! files given, then among protox's bundled `google/protobuf/*.proto`.
//!
//! | Protobuf | Rust |
//! |---|---|
//! | messages, enums, `oneof`s, maps, scalars | prost-build's (prost's defaults), except: |
//! | `bytes` | `Bytes` (prost's `bytes`), as Thrift's `binary`: decoded without a copy |
//! | `google.protobuf.*` (well-known types) | generated into module `google::protobuf` like any imported package; [`Builder::prost_types_path`] takes them from `prost_types` instead (`Empty` is then `()`) |
//! | `service Greeter` | the handler trait `Greeter`, `GreeterServer<T>` and `GreeterClient` (below) |
//! | a package with services | `FILE_DESCRIPTOR_SET`: the encoded `google.protobuf.FileDescriptorSet` of the package's files and every file they import (no source locations), for the engine's reflection service (`grpc::reflection::Reflection::file_descriptor_set`) |
//!
//! For `service Greeter` in `package helloworld` (`Request`, `Response`,
//! `Status`, ... are the engine's `grpc` module's):
//!
//! | method | handler trait (`async fn`) | client (`GreeterClient`) |
//! |---|---|---|
//! | `rpc SayHello(HelloRequest) returns (HelloReply)` | `say_hello(&self, req: Request<HelloRequest>) -> Result<Response<HelloReply>, Status>` | `say_hello(&self, req: impl IntoRequest<HelloRequest>) -> Result<Response<HelloReply>, Status>` |
//! | `rpc Ticks(TickRequest) returns (stream Tick)` | `ticks(&self, req: Request<TickRequest>, tx: ResponseSink<Tick>) -> Result<(), Status>` | `ticks(&self, req) -> Result<Response<Streaming<Tick>>, Status>` |
//! | `rpc Upload(stream Chunk) returns (Summary)` | `upload(&self, req: Request<Streaming<Chunk>>) -> Result<Response<Summary>, Status>` | `upload(&self, req: impl IntoRequest<()>) -> Result<ClientStreamingCall<Chunk, Summary>, Status>` |
//! | `rpc Chat(stream ChatMessage) returns (stream ChatMessage)` | `chat(&self, req: Request<Streaming<ChatMessage>>, tx: ResponseSink<ChatMessage>) -> Result<(), Status>` | `chat(&self, req: impl IntoRequest<()>) -> Result<(RequestSink<ChatMessage>, Streaming<ChatMessage>), Status>` |
//!
//! The handler trait is `Send + Sync + 'static` (one handler serves every
//! core) and its futures need not be `Send` (each call runs on its
//! connection's core). `GreeterServer::new(handler)` is a
//! `grpc::GrpcService` named `helloworld.Greeter`: given to the server
//! builder, it registers each method's path (`/helloworld.Greeter/SayHello`,
//! ...) with the router method of its kind (`unary`, `server_streaming`,
//! `client_streaming`, `bidi_streaming`). `GreeterClient::new(channel)`
//! calls over a `grpc::Channel`; a client or bidirectional streaming call
//! takes a `Request<()>` (or `()`) for its metadata and timeout.
//!
//! Names: prost's conversions (`snake_case` methods, `UpperCamelCase`
//! service traits, keywords as raw identifiers, `Self` as `Self_`). What a
//! service adds to its package's module yields to what prost wrote there,
//! by the rule of [Names](#names): messages and enums keep their names,
//! then each service's trait in declaration order, then each service's
//! `<Trait>Server` and `<Trait>Client`; a name taken gets a counter from 2
//! (`GreeterClient2`). In a service, `new` and `channel` are the client's
//! own, then methods whose `.proto` name is already `snake_case` keep it,
//! then the others get theirs or it with a counter (`get_item_2`). The
//! generated code names `grpc` (or `grpc_` when a message made a module
//! of that name) and the prelude's `Result` (`::core::result::Result` when
//! a message is called `Result`). The paths on the wire keep the `.proto`
//! names.
//!
//! Errors in `.proto` files are [`Error::Parse`] (syntax) or
//! [`Error::Resolve`] (an unknown type, an import not found, a name
//! defined twice), with protox's file, line and column.
#![deny(missing_docs)]

mod error;
mod generate;
mod names;
mod naming;
pub mod program;
mod protobuf;

/// The IDL syntax tree, from the shared [`ringrpc_thrift_idl`] crate.
pub use ringrpc_thrift_idl::model;
/// The IDL parser, from the shared [`ringrpc_thrift_idl`] crate.
pub use ringrpc_thrift_idl::parser;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub use error::{Error, Warning};

/// The name of the module-tree file written into the output folder.
pub const TREE_FILE: &str = "ringrpc_gen.rs";

/// One generated Rust file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// The IDL file it came from (for a Protobuf package, its first file).
    pub idl: PathBuf,
    /// Its module name in the tree.
    pub module: String,
    /// The formatted Rust source.
    pub code: String,
    /// What was accepted in this IDL file with a warning (each once, even
    /// when other files' code met it too).
    pub warnings: Vec<Warning>,
}

/// Generates Rust from Thrift IDL files; see the [crate docs](crate).
#[derive(Debug, Clone)]
pub struct Builder {
    codec_path: String,
    engine_path: Option<String>,
    out_dir: Option<PathBuf>,
    include_dirs: Vec<PathBuf>,
    rerun_if_changed: bool,
    cargo_warnings: bool,
    namespace_modules: bool,
    map_hasher: Option<String>,
    prost_path: Option<String>,
    prost_types_path: Option<String>,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// A builder with the defaults: codec at `::ringrpc::codec`, engine glue
    /// (handler traits, dispatch, clients) against `::ringrpc::engine`, output in
    /// `OUT_DIR`, includes searched next to the including file only, and
    /// `cargo:rerun-if-changed` printed for every IDL file read.
    pub fn new() -> Self {
        Self {
            codec_path: "::ringrpc::codec".to_owned(),
            engine_path: Some("::ringrpc::engine".to_owned()),
            out_dir: None,
            include_dirs: Vec::new(),
            rerun_if_changed: true,
            cargo_warnings: true,
            namespace_modules: false,
            map_hasher: None,
            prost_path: None,
            prost_types_path: None,
        }
    }

    /// The path generated code uses for the codec crate. Default
    /// `::ringrpc::codec` (the facade); `::ringrpc_codec` for a crate that
    /// depends on the codec alone.
    pub fn codec_path(mut self, path: impl Into<String>) -> Self {
        self.codec_path = path.into();
        self
    }

    /// The path generated code uses for the engine crate, for the service
    /// glue: handler traits, dispatch and clients. Default
    /// `::ringrpc::engine` (the facade); `::ringrpc_engine` for a crate that
    /// depends on the engine crate directly.
    pub fn engine_path(mut self, path: impl Into<String>) -> Self {
        self.engine_path = Some(path.into());
        self
    }

    /// Generates types only, with no engine glue, for a crate that depends
    /// on the codec alone: per method the argument and result structs (and
    /// error enums) are still generated, with application exceptions where
    /// engine errors would be.
    pub fn codec_only(mut self) -> Self {
        self.engine_path = None;
        self
    }

    /// Where [`compile`](Self::compile) writes. Default: the `OUT_DIR` Cargo
    /// gives build scripts.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Another folder to search for `include`d files, after the including
    /// file's own folder (Apache Thrift's `-I`); and for `import`ed
    /// `.proto` files (`protoc`'s `-I`), before the folders of the `.proto`
    /// files given to [`compile`](Self::compile), and the bundled
    /// `google/protobuf/*.proto`, which are searched last.
    pub fn include_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.include_dirs.push(dir.into());
        self
    }

    /// Whether [`compile`](Self::compile) prints `cargo:rerun-if-changed`
    /// for every IDL file it reads. Default on.
    pub fn rerun_if_changed(mut self, print: bool) -> Self {
        self.rerun_if_changed = print;
        self
    }

    /// Whether [`compile`](Self::compile) prints each [`Warning`] as a
    /// `cargo:warning`. Default on; [`generate`](Self::generate) returns
    /// them either way.
    pub fn cargo_warnings(mut self, print: bool) -> Self {
        self.cargo_warnings = print;
        self
    }

    /// Places each file that declares `namespace rs a.b.c` at module
    /// `a::b::c` of the tree (segments in `snake_case`; `codec`, `thrift`
    /// and `engine` below the top take a trailing `_`), as pilota does
    /// (`pilota-thrift-parser/src/parser/thrift.rs`, though pilota falls
    /// back to `namespace go`, and this does not). Files without one keep
    /// their stem's module. Two files may not share a module: that is an
    /// error naming both.
    ///
    /// Default off: each file is the module named after it
    /// (`item.thrift` → `item`), whatever its namespace.
    pub fn namespace_modules(mut self) -> Self {
        self.namespace_modules = true;
        self
    }

    /// The `BuildHasher` generated `HashMap`s use, as a Rust path to a type
    /// that implements `BuildHasher + Default`: for example
    /// `"::ahash::RandomState"` (what Volo's pilota uses for maps) or
    /// `"::rustc_hash::FxBuildHasher"`. The crate that compiles the
    /// generated code must then depend on that crate. Maps built with it
    /// are `HashMap<K, V, H>`, so `HashMap::new()` and `HashMap::from`
    /// do not apply to them: use `Default::default()` and `collect()`.
    ///
    /// Default: std's `RandomState` (SipHash-1-3, resistant to hash
    /// flooding, which a faster hasher may not be: weigh that for maps
    /// decoded from untrusted peers). `cargo bench -p ringrpc-interop
    /// --bench codegen_vs_pilota` measures the difference.
    pub fn map_hasher(mut self, path: impl Into<String>) -> Self {
        self.map_hasher = Some(path.into());
        self
    }

    /// The path generated Protobuf messages use for the prost crate (in
    /// their derives and field types). Default: the engine's re-export,
    /// `<engine path>::grpc::prost`, so the crate that compiles them needs
    /// no `prost` dependency of its own; `::prost` with
    /// [`codec_only`](Self::codec_only).
    pub fn prost_path(mut self, path: impl Into<String>) -> Self {
        self.prost_path = Some(path.into());
        self
    }

    /// Where generated Protobuf code takes `google.protobuf`'s well-known
    /// types from: the path of the `prost_types` crate, or of a re-export
    /// of it (`"::prost_types"` when the crate depends on it). Fields and
    /// methods of those types are then prost-types' own (`Timestamp` with
    /// its conversions), and `Empty` and the wrappers (`StringValue`, ...)
    /// become `()` and the plain Rust types, as prost-build maps them.
    ///
    /// Default: none; the well-known types the files import are generated
    /// into the tree like any package, as module `google::protobuf`.
    pub fn prost_types_path(mut self, path: impl Into<String>) -> Self {
        self.prost_types_path = Some(path.into());
        self
    }

    /// Generates the Rust for `files` and every file they include, in
    /// memory, without writing anything: one [`GeneratedFile`] per Thrift
    /// file, then one per Protobuf package (its `idl` the package's first
    /// `.proto` file, imported packages first).
    pub fn generate(&self, files: &[impl AsRef<Path>]) -> Result<Vec<GeneratedFile>, Error> {
        let loaded = self.load(files)?;
        let mut out = Vec::new();
        if let Some((program, opts)) = &loaded.thrift {
            let mut warnings = BTreeSet::new();
            for (i, f) in program.files.iter().enumerate() {
                let (code, w) = generate::generate_file(program, i, opts)?;
                warnings.extend(w);
                out.push(GeneratedFile {
                    idl: f.path.clone(),
                    module: program.module(i),
                    code,
                    warnings: Vec::new(),
                });
            }
            for w in warnings {
                if let Some(g) = out.iter_mut().find(|g| g.idl == w.path) {
                    g.warnings.push(w);
                }
            }
        }
        for p in loaded.protobuf.into_iter().flat_map(|o| o.packages) {
            out.push(GeneratedFile {
                idl: p.files.first().cloned().unwrap_or_default(),
                module: p.module.join("::"),
                code: p.code,
                warnings: Vec::new(),
            });
        }
        Ok(out)
    }

    /// Generates the Rust for `files` and every file they include into the
    /// output folder: `ringrpc_gen/<module>.rs` per Thrift file,
    /// `ringrpc_gen/protobuf/<package>.rs` per Protobuf package, and
    /// [`TREE_FILE`] (`ringrpc_gen.rs`), the module tree to `include!`:
    ///
    /// ```ignore
    /// include!(concat!(env!("OUT_DIR"), "/ringrpc_gen.rs"));
    /// ```
    ///
    /// Files whose contents did not change are not rewritten, so Cargo does
    /// not rebuild for nothing.
    pub fn compile(&self, files: &[impl AsRef<Path>]) -> Result<(), Error> {
        let out = match &self.out_dir {
            Some(d) => d.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or(Error::NoOutDir)?,
        };
        let loaded = self.load(files)?;
        let dir = out.join("ringrpc_gen");
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        let dir = dir.canonicalize().map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        let mut entries = Vec::new();
        if let Some((program, opts)) = &loaded.thrift {
            let mut paths = Vec::new();
            let mut warnings = BTreeSet::new();
            for (i, f) in program.files.iter().enumerate() {
                if self.rerun_if_changed {
                    println!("cargo:rerun-if-changed={}", f.path.display());
                }
                let (code, w) = generate::generate_file(program, i, opts)?;
                warnings.extend(w);
                let path = dir.join(format!("{}.rs", program.module_path(i).join(".")));
                write_if_changed(&path, &code)?;
                paths.push(path);
            }
            for w in warnings.iter().filter(|_| self.cargo_warnings) {
                println!("cargo:warning={w}");
            }
            entries = generate::thrift_tree_entries(program, &paths);
        }
        if let Some(output) = loaded.protobuf {
            // Apart from the Thrift files: a package and a namespace may
            // spell the same file name without being the same module.
            let dir = dir.join("protobuf");
            std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
                path: dir.clone(),
                source,
            })?;
            if self.rerun_if_changed {
                for f in &output.read {
                    println!("cargo:rerun-if-changed={}", f.display());
                }
            }
            for p in output.packages {
                let name = if p.module.is_empty() {
                    "_".to_owned()
                } else {
                    p.module.join(".")
                };
                let path = dir.join(format!("{name}.rs"));
                write_if_changed(&path, &p.code)?;
                entries.push(generate::TreeEntry {
                    module: p.module,
                    idl: p
                        .files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect::<Vec<_>>()
                        .join("`, `"),
                    file: path.to_string_lossy().into_owned(),
                    protobuf: true,
                });
            }
        }
        let tree = generate::module_tree(&entries);
        write_if_changed(&out.join(TREE_FILE), &tree)
    }

    /// Splits `files` into Thrift and Protobuf (`.proto`) files and loads
    /// each kind; the Thrift program is loaded when there are no files at
    /// all, too.
    fn load(&self, files: &[impl AsRef<Path>]) -> Result<Loaded, Error> {
        let (proto, thrift): (Vec<PathBuf>, Vec<PathBuf>) = files
            .iter()
            .map(|f| f.as_ref().to_path_buf())
            .partition(|p| {
                p.extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("proto"))
            });
        let thrift = if thrift.is_empty() && !proto.is_empty() {
            None
        } else {
            Some(self.load_thrift(&thrift)?)
        };
        let protobuf = if proto.is_empty() {
            None
        } else {
            Some(protobuf::generate(
                &proto,
                &self.include_dirs,
                &self.protobuf_options()?,
            )?)
        };
        if let (Some((program, _)), Some(output)) = (&thrift, &protobuf) {
            let thrift_modules =
                generate::thrift_tree_entries(program, &vec![""; program.files.len()]);
            for p in &output.packages {
                if let Some((i, _)) = thrift_modules
                    .iter()
                    .enumerate()
                    .find(|(_, t)| t.module == p.module)
                {
                    return Err(Error::Resolve {
                        path: p.files.first().cloned().unwrap_or_default(),
                        line: 1,
                        column: 1,
                        message: format!(
                            "this file's package and {} would both become module `{}`",
                            program.files[i].path.display(),
                            p.module.join("::")
                        ),
                    });
                }
            }
        }
        Ok(Loaded { thrift, protobuf })
    }

    fn protobuf_options(&self) -> Result<protobuf::Options, Error> {
        let grpc_path = match &self.engine_path {
            Some(p) => Some(parse_path("engine path", &format!("{p}::grpc"))?),
            None => None,
        };
        let prost_path = match (&self.prost_path, &self.engine_path) {
            (Some(p), _) => p.clone(),
            (None, Some(engine)) => format!("{engine}::grpc::prost"),
            (None, None) => "::prost".to_owned(),
        };
        parse_path("prost path", &prost_path)?;
        if let Some(p) = &self.prost_types_path {
            parse_path("prost-types path", p)?;
        }
        Ok(protobuf::Options {
            grpc_path,
            prost_path,
            prost_types_path: self.prost_types_path.clone(),
        })
    }

    fn load_thrift(
        &self,
        files: &[PathBuf],
    ) -> Result<(program::Program, generate::Options), Error> {
        let codec_path = parse_path("codec path", &self.codec_path)?;
        let engine_path = match &self.engine_path {
            Some(p) => Some(parse_path("engine path", p)?),
            None => None,
        };
        let map_hasher = match &self.map_hasher {
            Some(p) => Some(parse_path("map hasher", p)?),
            None => None,
        };
        let mut program = program::Program::load(files, &self.include_dirs)?;
        if self.namespace_modules {
            program.place_by_namespace()?;
        }
        Ok((
            program,
            generate::Options {
                codec_path,
                engine_path,
                map_hasher,
            },
        ))
    }
}

/// What [`Builder::load`] read: the Thrift program, and the Protobuf
/// packages (generated already: prost-build works on whole sets of files).
struct Loaded {
    thrift: Option<(program::Program, generate::Options)>,
    protobuf: Option<protobuf::Output>,
}

/// Parses a Rust path given as an option.
fn parse_path(what: &str, path: &str) -> Result<proc_macro2::TokenStream, Error> {
    let invalid = |e: String| Error::InvalidOption {
        message: format!("{what} {path:?}: {e}"),
    };
    let tokens: proc_macro2::TokenStream = path
        .parse()
        .map_err(|e: proc_macro2::LexError| invalid(e.to_string()))?;
    syn::parse2::<syn::Path>(tokens.clone()).map_err(|e| invalid(e.to_string()))?;
    Ok(tokens)
}

fn write_if_changed(path: &Path, code: &str) -> Result<(), Error> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == code) {
        return Ok(());
    }
    std::fs::write(path, code).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests;
