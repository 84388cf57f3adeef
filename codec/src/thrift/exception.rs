//! `TApplicationException`: the error a server sends in place of a reply
//! (message type `Exception`), a struct of field 1 `message: string` and
//! field 2 `type: i32`.
//!
//! Codes 0–10 are Apache Thrift's (`TApplicationException.TApplicationExceptionType`);
//! 20 and 21 are Kitex's additions (cloudwego/kitex `pkg/remote/trans_errors.go`:
//! `UnknownService = 20`, `NoServiceName = 21`).

use std::fmt;

use super::{Message, ProtocolReader, ProtocolWriter, TType, Utf8Bytes};
use crate::Result;

/// The kind of an application exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExceptionKind {
    /// 0: unknown.
    Unknown,
    /// 1: the method is not served.
    UnknownMethod,
    /// 2: the message type is wrong.
    InvalidMessageType,
    /// 3: the reply names another method.
    WrongMethodName,
    /// 4: the reply's seqid does not match.
    BadSequenceId,
    /// 5: the reply has no result.
    MissingResult,
    /// 6: the handler failed.
    InternalError,
    /// 7: the payload could not be decoded.
    ProtocolError,
    /// 8: a transform is not supported.
    InvalidTransform,
    /// 9: the protocol is not supported.
    InvalidProtocol,
    /// 10: the client type is not supported.
    UnsupportedClientType,
    /// 20 (Kitex): the service is not served.
    UnknownService,
    /// 21 (Kitex): the request names no service.
    NoServiceName,
    /// Any other code, kept as it came.
    Other(i32),
}

impl ExceptionKind {
    /// The wire code.
    pub fn code(self) -> i32 {
        match self {
            ExceptionKind::Unknown => 0,
            ExceptionKind::UnknownMethod => 1,
            ExceptionKind::InvalidMessageType => 2,
            ExceptionKind::WrongMethodName => 3,
            ExceptionKind::BadSequenceId => 4,
            ExceptionKind::MissingResult => 5,
            ExceptionKind::InternalError => 6,
            ExceptionKind::ProtocolError => 7,
            ExceptionKind::InvalidTransform => 8,
            ExceptionKind::InvalidProtocol => 9,
            ExceptionKind::UnsupportedClientType => 10,
            ExceptionKind::UnknownService => 20,
            ExceptionKind::NoServiceName => 21,
            ExceptionKind::Other(c) => c,
        }
    }

    /// The kind for a wire code.
    pub fn from_code(code: i32) -> Self {
        match code {
            0 => ExceptionKind::Unknown,
            1 => ExceptionKind::UnknownMethod,
            2 => ExceptionKind::InvalidMessageType,
            3 => ExceptionKind::WrongMethodName,
            4 => ExceptionKind::BadSequenceId,
            5 => ExceptionKind::MissingResult,
            6 => ExceptionKind::InternalError,
            7 => ExceptionKind::ProtocolError,
            8 => ExceptionKind::InvalidTransform,
            9 => ExceptionKind::InvalidProtocol,
            10 => ExceptionKind::UnsupportedClientType,
            20 => ExceptionKind::UnknownService,
            21 => ExceptionKind::NoServiceName,
            c => ExceptionKind::Other(c),
        }
    }
}

/// An application exception: a kind and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationException {
    /// What kind of failure.
    pub kind: ExceptionKind,
    /// A human-readable message.
    pub message: Utf8Bytes,
}

impl ApplicationException {
    /// An exception of `kind` with `message`.
    pub fn new(kind: ExceptionKind, message: impl Into<Utf8Bytes>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for ApplicationException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "application exception {:?} ({}): {}",
            self.kind,
            self.kind.code(),
            self.message
        )
    }
}

impl std::error::Error for ApplicationException {}

impl Message for ApplicationException {
    fn encode<W: ProtocolWriter>(&self, w: &mut W) {
        w.write_struct_begin("TApplicationException");
        w.write_field_begin(TType::Binary, 1);
        w.write_string(&self.message);
        w.write_field_end();
        w.write_field_begin(TType::I32, 2);
        w.write_i32(self.kind.code());
        w.write_field_end();
        w.write_field_stop();
        w.write_struct_end();
    }

    fn decode<R: ProtocolReader>(r: &mut R) -> Result<Self> {
        let mut message = Utf8Bytes::default();
        let mut kind = ExceptionKind::Unknown;
        r.read_struct_begin()?;
        loop {
            let f = r.read_field_begin()?;
            match (f.id, f.ttype) {
                (_, TType::Stop) => break,
                (1, TType::Binary) => message = r.read_string()?,
                (2, TType::I32) => kind = ExceptionKind::from_code(r.read_i32()?),
                (_, t) => r.skip(t)?,
            }
            r.read_field_end()?;
        }
        r.read_struct_end()?;
        Ok(Self { kind, message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::LinkWriter;
    use crate::thrift::{BinaryReader, BinaryWriter};
    use bytes::Bytes;

    #[test]
    fn codes_round_trip() {
        for code in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 21, 99] {
            assert_eq!(ExceptionKind::from_code(code).code(), code);
        }
        assert_eq!(ExceptionKind::from_code(20), ExceptionKind::UnknownService);
    }

    #[test]
    fn binary_layout_matches_apache_thrift() {
        let e = ApplicationException::new(ExceptionKind::UnknownMethod, "no");
        let mut out = LinkWriter::new();
        e.encode(&mut BinaryWriter::new(&mut out));
        let bytes = out.to_vec();
        // field 1 string "no", field 2 i32 1, stop.
        assert_eq!(
            bytes,
            b"\x0b\x00\x01\x00\x00\x00\x02no\x08\x00\x02\x00\x00\x00\x01\x00"
        );
        let back =
            ApplicationException::decode(&mut BinaryReader::new(Bytes::from(bytes))).unwrap();
        assert_eq!(back, e);
    }
}
