//! Protobuf: `.proto` files to Rust (feature `protobuf`).
//!
//! The files are parsed and checked by [`protox`] (pure Rust: no `protoc`
//! to install), which also bundles `google/protobuf/*.proto`. Messages and
//! enums are [`prost_build`]'s, written into one module per Protobuf package
//! (`helloworld` → `helloworld`, `google.protobuf` → `google::protobuf`), as
//! prost lays them out, so references between packages are its `super::`
//! paths. Services are ours: prost-build hands each one to a
//! [`prost_build::ServiceGenerator`] ([`service::Collector`]), which keeps
//! it; once every package is generated, [`service`] writes per service the
//! handler trait, the server and the typed client against the engine's
//! `grpc` module, named by [`naming`] so they clash with nothing prost wrote.
//! The module's code (prost's text and the service items) is parsed and
//! printed by prettyplease like the Thrift output.
//!
//! Without the feature, [`generate`] is an error that says to turn it on;
//! this module is the only place that knows whether it is on.

#[cfg(feature = "protobuf")]
mod compile;
#[cfg(feature = "protobuf")]
mod load;
#[cfg(feature = "protobuf")]
mod naming;
#[cfg(feature = "protobuf")]
mod service;

use std::path::PathBuf;

use proc_macro2::TokenStream;

use crate::Error;

/// What Protobuf generation may be told (from the [`crate::Builder`]).
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "protobuf"), allow(dead_code))]
pub(crate) struct Options {
    /// The engine's `grpc` module, e.g. `::ringrpc::engine::grpc`; `None`
    /// for messages only (no services).
    pub(crate) grpc_path: Option<TokenStream>,
    /// The path of the prost crate in derives and field types.
    pub(crate) prost_path: String,
    /// Where `google.protobuf`'s well-known types come from (a re-export of
    /// `prost_types`); `None` generates the ones imported into the tree.
    pub(crate) prost_types_path: Option<String>,
}

/// One Protobuf package's Rust module.
#[derive(Debug)]
pub(crate) struct Package {
    /// Its path from the root of the module tree, as Rust identifiers
    /// (prost's: `r#type` for a keyword); empty for files with no
    /// `package`.
    pub(crate) module: Vec<String>,
    /// The `.proto` files it came from (their paths; the bundled
    /// well-known types by name).
    pub(crate) files: Vec<PathBuf>,
    /// The formatted Rust source.
    pub(crate) code: String,
}

/// The output of one run: every package of the files given and of the files
/// they import, in the order their files were met (imports first).
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) packages: Vec<Package>,
    /// Every `.proto` file read from disk (not the bundled ones).
    pub(crate) read: Vec<PathBuf>,
}

/// Parses `roots` (and what they import, searched in `include_dirs`, then
/// in each root's own folder, then among protox's bundled
/// `google/protobuf/*.proto`) and generates the Rust of every package.
pub(crate) fn generate(
    roots: &[PathBuf],
    include_dirs: &[PathBuf],
    opts: &Options,
) -> Result<Output, Error> {
    #[cfg(feature = "protobuf")]
    {
        compile::generate(roots, include_dirs, opts)
    }
    #[cfg(not(feature = "protobuf"))]
    {
        let _ = (include_dirs, opts);
        Err(Error::InvalidOption {
            message: format!(
                "{}: .proto files need ringrpc-build's `protobuf` feature \
                 (`ringrpc-build = {{ version = \"0.1\", features = [\"protobuf\"] }}`)",
                roots
                    .first()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
        })
    }
}

#[cfg(all(test, feature = "protobuf"))]
mod tests;
