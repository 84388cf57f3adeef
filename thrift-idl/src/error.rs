//! The crate's one error type.

use std::path::PathBuf;

/// What went wrong while reading IDL: a file that cannot be read, a syntax
/// error, or a name that means nothing. Syntax and resolution errors name
/// the file, line and column.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An IDL file could not be read.
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
    /// constant, a duplicate name, an include that is not found.
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
}
