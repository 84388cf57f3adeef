//! The crate's one error type.

use std::fmt;

use ringrpc_codec::thrift::ApplicationException;

/// Where in a value an error is: fields by name, list elements by index,
/// map entries by key (or by index when the key was not kept).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Path(pub(crate) Vec<Segment>);

/// One step of a [`Path`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A struct field (or an argument) by name.
    Field(String),
    /// A list or set element.
    Index(usize),
    /// A map entry by key.
    Key(String),
}

impl Path {
    /// The steps, outermost first.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// Adds an outer step (errors are built from the inside out).
    pub(crate) fn push_outer(&mut self, seg: Segment) {
        self.0.push(seg);
    }

    /// Puts the steps outermost first, once the error reached the top.
    pub(crate) fn finish(&mut self) {
        self.0.reverse();
    }
}

impl fmt::Display for Path {
    /// `$` for the top, then `.field`, `[3]`, `["key"]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("$")?;
        for s in &self.0 {
            match s {
                Segment::Field(n) => write!(f, ".{n}")?,
                Segment::Index(i) => write!(f, "[{i}]")?,
                Segment::Key(k) => write!(f, "[{k:?}]")?,
            }
        }
        Ok(())
    }
}

/// What went wrong in a generic call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The IDL could not be read or does not resolve (file:line:col).
    #[error(transparent)]
    Idl(#[from] ringrpc_thrift_idl::Error),
    /// No service of that name in the IDL.
    #[error("no service `{0}` in the IDL")]
    UnknownService(String),
    /// No method of that name in the service.
    #[error("service `{service}` has no method `{method}`")]
    UnknownMethod {
        /// The service.
        service: String,
        /// The method asked for.
        method: String,
    },
    /// No struct, union or exception of that name in the IDL (or several
    /// files declare one: name it `file.Name`).
    #[error("no single struct `{0}` in the IDL")]
    UnknownType(String),
    /// The service name is ambiguous: several IDL files declare it.
    #[error("several IDL files declare a service `{0}`: name it `file.{0}`")]
    AmbiguousService(String),
    /// A JSON (or dynamic) value does not match the IDL: wrong type,
    /// missing required field, unknown field, number out of range, or JSON
    /// that does not parse. Nothing was sent.
    #[error("{path}: {message}")]
    Value {
        /// Where in the value.
        path: Path,
        /// What was wrong.
        message: String,
    },
    /// Bytes off the wire do not decode as the IDL says (a reply or a
    /// request that does not match the IDL, or is malformed).
    #[error("{path}: {message}")]
    Wire {
        /// Where in the value.
        path: Path,
        /// What was wrong.
        message: String,
    },
    /// The call failed in the engine: connect, timeout, transport,
    /// protocol, an application exception, a business status.
    #[error(transparent)]
    Call(#[from] ringrpc_engine::Error),
}

impl Error {
    /// The application exception the server replied with, if that is
    /// what this error is.
    pub fn application_exception(&self) -> Option<&ApplicationException> {
        match self {
            Error::Call(ringrpc_engine::Error::Application(ex)) => Some(ex),
            _ => None,
        }
    }
}

/// The crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
