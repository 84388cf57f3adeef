//! Thrift IDL, read and resolved: the parser and resolver that ringrpc's
//! code generator (`ringrpc-build`, at build time) and its generic calls
//! (`ringrpc-generic`, at run time) share.
//!
//! - [`parser`]: one file's text to its syntax tree ([`model`]), following
//!   Apache Thrift's grammar;
//! - [`program`]: a set of files with everything they include, every name
//!   resolved ([`program::Program::load`]).
//!
//! IDL files are input a user hands over, so they are bounded: a file
//! larger than [`MAX_FILE_BYTES`] is refused, nesting (of types, constant
//! values) deeper than [`parser::MAX_NESTING`] is a syntax error, and a
//! chain of typedefs that loops is a resolution error. Errors name the
//! file, line and column.
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("ringrpc-thrift-idl-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let file = dir.join("echo.thrift");
//! std::fs::write(&file, "struct Req { 1: required string msg }\nservice Echo { Req echo(1: Req req) }\n").unwrap();
//! let program = ringrpc_thrift_idl::program::Program::load(&[file], &[]).unwrap();
//! let root = &program.files[program.roots[0]];
//! assert_eq!(root.doc.definitions.len(), 2);
//! ```
#![deny(missing_docs)]

mod error;
pub mod model;
pub mod parser;
pub mod program;

pub use error::Error;

/// The largest IDL file read (16 MiB): a larger one is an
/// [`Error::Io`] of kind `InvalidData`, before it is read whole.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
