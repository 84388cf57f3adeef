//! gRPC metadata: the custom headers (and trailers) of a call.
//!
//! Keys are lower-case ASCII (HTTP/2 requires it); values of keys ending in
//! `-bin` are binary, sent base64-encoded by gRPC libraries, and are kept
//! here as the raw header bytes. Headers that belong to the protocol
//! (`content-type`, `te`, `grpc-status`, `grpc-timeout`, ...) are not
//! metadata: they are neither shown nor sent from here.
//!
//! # Metainfo
//!
//! Kitex carries its metainfo over HTTP/2 as headers with the prefixes of
//! bytedance/gopkg `cloud/metainfo` (`http.go`): `rpc-persist-` for
//! persistent values, `rpc-transit-` for transient ones and
//! `rpc-backward-` for backward ones, the key turned into a header name by
//! lower-casing it and writing `_` as `-` (`ABC_DEF` travels as
//! `rpc-persist-abc-def`). [`Metadata::metainfo`] and
//! [`Metadata::set_metainfo`] speak that mapping.

use std::fmt;

use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::metainfo::Kind;

/// The custom headers of a call (see the [module docs](self)).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    map: HeaderMap,
}

/// Why a metadata entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// Not a valid header name, or not lower-case.
    #[error("invalid metadata key {0:?}")]
    Key(String),
    /// A reserved header of the protocol.
    #[error("metadata key {0:?} is reserved by gRPC")]
    Reserved(String),
    /// Not a valid header value (control characters).
    #[error("invalid metadata value for {0:?}")]
    Value(String),
}

/// HTTP's headers that are never metadata (gRPC's are every `grpc-` name
/// but `grpc-status-details-bin`).
static HTTP_RESERVED: [HeaderName; 6] = [
    http::header::CONTENT_TYPE,
    http::header::TE,
    http::header::CONTENT_LENGTH,
    http::header::CONNECTION,
    http::header::HOST,
    http::header::TRANSFER_ENCODING,
];

/// Headers of the protocol, never metadata.
fn reserved(name: &str) -> bool {
    HTTP_RESERVED.iter().any(|h| h.as_str() == name)
        || (name.starts_with("grpc-") && name != "grpc-status-details-bin")
}

impl Metadata {
    /// Empty metadata.
    pub fn new() -> Metadata {
        Metadata::default()
    }

    /// The metadata of a request whose headers are `h`, taking `h` over
    /// (no copy): the protocol headers a request carries are removed from
    /// it. A reserved header outside that list (a `grpc-` name this side
    /// does not know) makes it copy the metadata out instead.
    pub(crate) fn from_request_headers(mut h: HeaderMap) -> Metadata {
        use super::wire::names::*;
        static GRPC: [HeaderName; 5] = [
            GRPC_TIMEOUT,
            GRPC_ENCODING,
            GRPC_ACCEPT_ENCODING,
            GRPC_STATUS,
            GRPC_MESSAGE,
        ];
        let known = || HTTP_RESERVED.iter().chain(&GRPC);
        if h.keys()
            .any(|k| reserved(k.as_str()) && !known().any(|n| n == k))
        {
            return Self::from_headers(&h);
        }
        for name in known() {
            let _ = h.remove(name);
        }
        Metadata { map: h }
    }

    /// The metadata among `h`'s headers (protocol headers left out).
    pub(crate) fn from_headers(h: &HeaderMap) -> Metadata {
        let mut map = HeaderMap::new();
        for (k, v) in h {
            if !reserved(k.as_str()) {
                map.append(k.clone(), v.clone());
            }
        }
        Metadata { map }
    }

    /// Adds every entry to `h`.
    pub(crate) fn write_into(&self, h: &mut HeaderMap) {
        for (k, v) in &self.map {
            h.append(k.clone(), v.clone());
        }
    }

    /// Sets `key` to `value`, replacing what was there.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), MetadataError> {
        let (k, v) = Self::entry(key, value.as_bytes())?;
        self.map.insert(k, v);
        Ok(())
    }

    /// Adds a value to `key`, keeping the ones there.
    pub fn append(&mut self, key: &str, value: &str) -> Result<(), MetadataError> {
        let (k, v) = Self::entry(key, value.as_bytes())?;
        self.map.append(k, v);
        Ok(())
    }

    /// Sets a binary value; `key` must end in `-bin`. The bytes are sent
    /// base64-encoded without padding, as gRPC libraries expect.
    pub fn insert_bin(&mut self, key: &str, value: &[u8]) -> Result<(), MetadataError> {
        if !key.ends_with("-bin") {
            return Err(MetadataError::Key(key.to_owned()));
        }
        let (k, v) = Self::entry(key, base64_encode(value).as_bytes())?;
        self.map.insert(k, v);
        Ok(())
    }

    fn entry(key: &str, value: &[u8]) -> Result<(HeaderName, HeaderValue), MetadataError> {
        if key.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(MetadataError::Key(key.to_owned()));
        }
        let k = HeaderName::from_bytes(key.as_bytes())
            .map_err(|_| MetadataError::Key(key.to_owned()))?;
        if reserved(k.as_str()) {
            return Err(MetadataError::Reserved(key.to_owned()));
        }
        let v = HeaderValue::from_bytes(value).map_err(|_| MetadataError::Value(key.to_owned()))?;
        Ok((k, v))
    }

    /// The first value of `key`, if it is there and is text.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).and_then(|v| v.to_str().ok())
    }

    /// Every text value of `key`.
    pub fn get_all<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.map
            .get_all(key)
            .into_iter()
            .filter_map(|v| v.to_str().ok())
    }

    /// The first value of a `-bin` key, decoded from base64.
    pub fn get_bin(&self, key: &str) -> Option<Vec<u8>> {
        base64_decode(self.map.get(key)?.as_bytes())
    }

    /// Removes `key`; whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        self.map.remove(key).is_some()
    }

    /// Entries (keys and their raw values).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_bytes()))
    }

    /// How many values.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// A metainfo value of `kind` under its metainfo `key` (as set with
    /// Kitex's `metainfo.WithPersistentValue(ctx, "KEY", ..)`).
    pub fn metainfo(&self, kind: Kind, key: &str) -> Option<&str> {
        self.get(&metainfo_header(kind, key))
    }

    /// Every metainfo value of `kind`, with its metainfo key (`ABC_DEF`).
    pub fn metainfo_values(&self, kind: Kind) -> impl Iterator<Item = (String, &str)> {
        let prefix = http_prefix(kind);
        self.map.iter().filter_map(move |(k, v)| {
            let key = k.as_str().strip_prefix(prefix)?;
            if key.is_empty() {
                return None;
            }
            Some((key.replace('-', "_").to_ascii_uppercase(), v.to_str().ok()?))
        })
    }

    /// Sets a metainfo value of `kind`, in the header Kitex reads it from.
    pub fn set_metainfo(
        &mut self,
        kind: Kind,
        key: &str,
        value: &str,
    ) -> Result<(), MetadataError> {
        crate::metainfo::validate(key, value).map_err(|_| MetadataError::Key(key.to_owned()))?;
        self.insert(&metainfo_header(kind, key), value)
    }
}

/// The HTTP header prefix of a metainfo kind (gopkg `cloud/metainfo`).
fn http_prefix(kind: Kind) -> &'static str {
    match kind {
        Kind::Persistent => "rpc-persist-",
        Kind::Transient => "rpc-transit-",
        Kind::Backward => "rpc-backward-",
    }
}

/// The header name of a metainfo key: lower case, `_` as `-`.
fn metainfo_header(kind: Kind, key: &str) -> String {
    let mut h = String::with_capacity(16 + key.len());
    h.push_str(http_prefix(kind));
    h.extend(key.chars().map(|c| {
        if c == '_' {
            '-'
        } else {
            c.to_ascii_lowercase()
        }
    }));
    h
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.map.iter().map(|(k, v)| (k.as_str(), v)))
            .finish()
    }
}

/// base64 as gRPC's `-bin` values use it: written without padding, read
/// with or without (gRPC's PROTOCOL-HTTP2.md says either may arrive).
const BIN: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

fn base64_encode(b: &[u8]) -> String {
    base64::Engine::encode(&BIN, b)
}

fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    base64::Engine::decode(&BIN, s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_headers_are_not_metadata() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            ("grpc-timeout", "1S"),
            ("x-user", "ann"),
            ("grpc-status-details-bin", "AAAA"),
        ] {
            h.insert(k, HeaderValue::from_static(v));
        }
        let md = Metadata::from_headers(&h);
        assert_eq!(md.len(), 2);
        assert_eq!(md.get("x-user"), Some("ann"));
        // Taking a request's headers over leaves the same.
        let md = Metadata::from_request_headers(h.clone());
        assert_eq!(md.len(), 2);
        assert_eq!(md.get("x-user"), Some("ann"));
        assert!(md.get("te").is_none() && md.get("grpc-timeout").is_none());
        // A grpc- name this side does not know is left out too.
        h.insert("grpc-new-thing", HeaderValue::from_static("1"));
        let md = Metadata::from_request_headers(h);
        assert_eq!(md.len(), 2);
        assert!(md.get("grpc-new-thing").is_none());
        let mut m = Metadata::new();
        assert!(matches!(
            m.insert("grpc-timeout", "1S"),
            Err(MetadataError::Reserved(_))
        ));
        assert!(matches!(m.insert("X-Up", "a"), Err(MetadataError::Key(_))));
        assert!(matches!(
            m.insert("x", "a\nb"),
            Err(MetadataError::Value(_))
        ));
    }

    #[test]
    fn metainfo_maps_to_kitex_header_names() {
        let mut m = Metadata::new();
        m.set_metainfo(Kind::Persistent, "LOG_ID", "42").unwrap();
        m.set_metainfo(Kind::Transient, "stress", "1").unwrap();
        assert_eq!(m.get("rpc-persist-log-id"), Some("42"));
        assert_eq!(m.get("rpc-transit-stress"), Some("1"));
        assert_eq!(m.metainfo(Kind::Persistent, "LOG_ID"), Some("42"));
        let all: Vec<_> = m.metainfo_values(Kind::Persistent).collect();
        assert_eq!(all, vec![("LOG_ID".to_owned(), "42")]);
    }

    #[test]
    fn binary_values_are_base64() {
        let mut m = Metadata::new();
        for v in [&b""[..], b"a", b"ab", b"abc", &[0, 255, 128, 7]] {
            m.insert_bin("trace-bin", v).unwrap();
            assert_eq!(m.get_bin("trace-bin").as_deref(), Some(v));
        }
        assert_eq!(base64_encode(b"abcd"), "YWJjZA");
        assert_eq!(base64_decode(b"YWJjZA==").unwrap(), b"abcd");
        assert!(m.insert_bin("trace", b"x").is_err());
    }
}
