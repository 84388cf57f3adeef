//! gRPC status codes and the status a call ends with, as carried in the
//! `grpc-status` / `grpc-message` trailers.
//!
//! Wire facts (gRPC's `doc/PROTOCOL-HTTP2.md` and `doc/statuscodes.md`):
//! the code is a decimal integer; the message is percent-encoded UTF-8,
//! where every byte outside printable ASCII (0x20..=0x7E) and `%` itself is
//! written `%XX`; a response that is not gRPC at all maps its HTTP status to
//! a code (`doc/http-grpc-status-mapping.md`).

use std::fmt;

use super::metadata::Metadata;
use super::wire;

/// A gRPC status code (gRPC's numbering, 0 to 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code {
    /// Not an error.
    Ok = 0,
    /// The call was cancelled, typically by the caller.
    Cancelled = 1,
    /// An error with no better code (also: a code this side does not know).
    Unknown = 2,
    /// The client sent a bad argument.
    InvalidArgument = 3,
    /// The deadline passed before the call finished.
    DeadlineExceeded = 4,
    /// Something asked for was not found.
    NotFound = 5,
    /// Something to create exists already.
    AlreadyExists = 6,
    /// The caller may not do this.
    PermissionDenied = 7,
    /// A resource (a quota, a size limit) is exhausted.
    ResourceExhausted = 8,
    /// The system is not in a state the call needs.
    FailedPrecondition = 9,
    /// Aborted, typically by a concurrency conflict.
    Aborted = 10,
    /// Past the valid range.
    OutOfRange = 11,
    /// The method is not implemented (or not known) by the server.
    Unimplemented = 12,
    /// An invariant broke inside the server.
    Internal = 13,
    /// The service is unavailable for now; retrying may help.
    Unavailable = 14,
    /// Data was lost or corrupted.
    DataLoss = 15,
    /// The caller is not authenticated.
    Unauthenticated = 16,
}

impl Code {
    /// The code for a `grpc-status` number; unknown numbers are
    /// [`Code::Unknown`].
    pub fn from_i32(n: i32) -> Code {
        match n {
            0 => Code::Ok,
            1 => Code::Cancelled,
            3 => Code::InvalidArgument,
            4 => Code::DeadlineExceeded,
            5 => Code::NotFound,
            6 => Code::AlreadyExists,
            7 => Code::PermissionDenied,
            8 => Code::ResourceExhausted,
            9 => Code::FailedPrecondition,
            10 => Code::Aborted,
            11 => Code::OutOfRange,
            12 => Code::Unimplemented,
            13 => Code::Internal,
            14 => Code::Unavailable,
            15 => Code::DataLoss,
            16 => Code::Unauthenticated,
            _ => Code::Unknown,
        }
    }

    /// The code's number, as `grpc-status` carries it.
    pub fn as_i32(self) -> i32 {
        self as i32
    }

    /// The `grpc-status` value, without formatting.
    pub(crate) fn header_value(self) -> http::HeaderValue {
        const NUMS: [&str; 17] = [
            "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
            "16",
        ];
        http::HeaderValue::from_static(NUMS[self as usize])
    }

    /// The code for an HTTP status of a response that is not gRPC (gRPC's
    /// `http-grpc-status-mapping.md`).
    pub fn from_http(status: u16) -> Code {
        match status {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// How a call ended: a code, a message and trailing metadata. Boxed, so a
/// `Result<_, Status>` stays small.
#[derive(Clone, PartialEq, Eq)]
pub struct Status(Box<Inner>);

#[derive(Clone, PartialEq, Eq)]
struct Inner {
    code: Code,
    message: String,
    metadata: Metadata,
}

macro_rules! constructors {
    ($($name:ident => $code:ident),* $(,)?) => {$(
        #[doc = concat!("A status with code [`Code::", stringify!($code), "`].")]
        pub fn $name(message: impl Into<String>) -> Status {
            Status::new(Code::$code, message)
        }
    )*};
}

impl Status {
    /// A status with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status(Box::new(Inner {
            code,
            message: message.into(),
            metadata: Metadata::new(),
        }))
    }

    constructors! {
        cancelled => Cancelled,
        unknown => Unknown,
        invalid_argument => InvalidArgument,
        deadline_exceeded => DeadlineExceeded,
        not_found => NotFound,
        already_exists => AlreadyExists,
        permission_denied => PermissionDenied,
        resource_exhausted => ResourceExhausted,
        failed_precondition => FailedPrecondition,
        aborted => Aborted,
        out_of_range => OutOfRange,
        unimplemented => Unimplemented,
        internal => Internal,
        unavailable => Unavailable,
        data_loss => DataLoss,
        unauthenticated => Unauthenticated,
    }

    /// The status code.
    pub fn code(&self) -> Code {
        self.0.code
    }

    /// The status message.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// Trailing metadata sent (server) or received (client) with the status.
    pub fn metadata(&self) -> &Metadata {
        &self.0.metadata
    }

    /// Trailing metadata to send with the status.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.0.metadata
    }

    /// Reads a status from trailers (or from the headers of a trailers-only
    /// response); `None` when `grpc-status` is absent.
    pub(crate) fn from_headers(h: &http::HeaderMap) -> Option<Status> {
        let code = h.get("grpc-status")?;
        let code = std::str::from_utf8(code.as_bytes())
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .map_or(Code::Unknown, Code::from_i32);
        let message = h
            .get("grpc-message")
            .map(|m| percent_decode(m.as_bytes()))
            .unwrap_or_default();
        let mut st = Status::new(code, message);
        st.0.metadata = Metadata::from_headers(h);
        Some(st)
    }

    /// Writes `grpc-status`, `grpc-message` and the status's metadata into
    /// `h`.
    pub(crate) fn write_headers(&self, h: &mut http::HeaderMap) {
        self.0.metadata.write_into(h);
        h.insert(wire::names::GRPC_STATUS, self.0.code.header_value());
        if !self.0.message.is_empty() {
            let enc = percent_encode(&self.0.message);
            if let Ok(v) = http::HeaderValue::from_maybe_shared(bytes::Bytes::from(enc)) {
                h.insert(wire::names::GRPC_MESSAGE, v);
            }
        }
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Status");
        d.field("code", &self.0.code);
        if !self.0.message.is_empty() {
            d.field("message", &self.0.message);
        }
        if !self.0.metadata.is_empty() {
            d.field("metadata", &self.0.metadata);
        }
        d.finish()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "grpc status {}: {}", self.0.code, self.0.message)
    }
}

impl std::error::Error for Status {}

/// Percent-encodes a `grpc-message`: bytes outside 0x20..=0x7E, and `%`.
pub(crate) fn percent_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
    out
}

/// Decodes a percent-encoded `grpc-message`; a malformed escape is kept as
/// it is (gRPC says to decode what can be), invalid UTF-8 is replaced.
pub(crate) fn percent_decode(b: &[u8]) -> String {
    fn hex(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_numbers_are_unknown() {
        for n in 0..=16 {
            assert_eq!(Code::from_i32(n).as_i32(), n);
            assert_eq!(Code::from_i32(n).header_value(), n.to_string().as_str());
        }
        assert_eq!(Code::from_i32(17), Code::Unknown);
        assert_eq!(Code::from_i32(-1), Code::Unknown);
    }

    #[test]
    fn messages_are_percent_encoded_as_grpc_says() {
        assert_eq!(percent_encode("plain text"), "plain text");
        assert_eq!(percent_encode("100%"), "100%25");
        assert_eq!(percent_encode("línea\n"), "l%C3%ADnea%0A");
        for s in ["", "a%b", "é ü 💥", "\r\n\t", "%%%", "x%4"] {
            assert_eq!(percent_decode(percent_encode(s).as_bytes()), s);
        }
        // Malformed escapes are kept.
        assert_eq!(percent_decode(b"50%"), "50%");
        assert_eq!(percent_decode(b"%zz"), "%zz");
    }

    #[test]
    fn status_goes_through_trailers() {
        let mut st = Status::not_found("no such item: 7%");
        st.metadata_mut().insert("x-why", "gone").unwrap();
        let mut h = http::HeaderMap::new();
        st.write_headers(&mut h);
        assert_eq!(h["grpc-status"], "5");
        assert_eq!(h["grpc-message"], "no such item: 7%25");
        let back = Status::from_headers(&h).unwrap();
        assert_eq!(back.code(), Code::NotFound);
        assert_eq!(back.message(), "no such item: 7%");
        assert_eq!(back.metadata().get("x-why"), Some("gone"));
        assert!(Status::from_headers(&http::HeaderMap::new()).is_none());
    }

    #[test]
    fn http_statuses_map_to_codes() {
        assert_eq!(Code::from_http(404), Code::Unimplemented);
        assert_eq!(Code::from_http(503), Code::Unavailable);
        assert_eq!(Code::from_http(500), Code::Unknown);
    }
}
