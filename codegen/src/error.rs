//! The generator's one error type.

use std::path::PathBuf;

/// What went wrong while reading IDL or writing Rust.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An IDL file could not be read, or an output file written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An IDL file is not valid Thrift syntax.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The line, 1-based.
        line: usize,
        /// The column, 1-based.
        column: usize,
        /// What was wrong.
        message: String,
    },
    /// An IDL file is valid syntax but means nothing: an unknown type or
    /// constant, a constant that does not fit its type, an include that is
    /// not found.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Resolve {
        /// The file.
        path: PathBuf,
        /// The line, 1-based.
        line: usize,
        /// The column, 1-based.
        column: usize,
        /// What was wrong.
        message: String,
    },
    /// A builder option is malformed (a codec path that is not a Rust path).
    #[error("invalid option: {message}")]
    InvalidOption {
        /// What was wrong.
        message: String,
    },
    /// `compile` was called outside a build script with no output folder
    /// set (`OUT_DIR` is unset and `Builder::out_dir` was not called).
    #[error("OUT_DIR is not set: call from build.rs, or set Builder::out_dir")]
    NoOutDir,
    /// The generator produced Rust that does not parse: a bug in
    /// ringrpc-build.
    #[error("generated code for {} does not parse (a ringrpc-build bug): {message}", path.display())]
    Internal {
        /// The IDL file being generated.
        path: PathBuf,
        /// syn's message.
        message: String,
    },
}

/// Something the IDL says that ringrpc-build accepts, as Apache Thrift
/// does, but that may not mean what it seems to: [`Builder::compile`]
/// prints each as a `cargo:warning`.
///
/// [`Builder::compile`]: crate::Builder::compile
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Warning {
    /// The file.
    pub path: PathBuf,
    /// The line, 1-based.
    pub line: usize,
    /// The column, 1-based.
    pub column: usize,
    /// What was found, and how it was read.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

impl From<ringrpc_thrift_idl::Error> for Error {
    fn from(e: ringrpc_thrift_idl::Error) -> Self {
        match e {
            ringrpc_thrift_idl::Error::Io { path, source } => Error::Io { path, source },
            ringrpc_thrift_idl::Error::Parse {
                path,
                line,
                column,
                message,
            } => Error::Parse {
                path,
                line,
                column,
                message,
            },
            ringrpc_thrift_idl::Error::Resolve {
                path,
                line,
                column,
                message,
            } => Error::Resolve {
                path,
                line,
                column,
                message,
            },
            // The shared crate's error is non-exhaustive; a variant added
            // there reads as a resolution error here until mapped.
            other => Error::InvalidOption {
                message: other.to_string(),
            },
        }
    }
}
