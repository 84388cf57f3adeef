//! gRPC's framing inside an HTTP/2 stream: length-prefixed messages,
//! message compression, and the `grpc-timeout` header.
//!
//! Wire facts (gRPC's `doc/PROTOCOL-HTTP2.md`): every message is a 5-byte
//! prefix (a compressed-flag byte, 0 or 1, and a big-endian u32 length)
//! followed by that many bytes; a message is compressed when the flag is 1,
//! with the algorithm the stream's `grpc-encoding` header names.
//! `grpc-timeout` is at most 8 ASCII digits and a unit: `H` hours, `M`
//! minutes, `S` seconds, `m` milliseconds, `u` microseconds, `n`
//! nanoseconds.

use std::io::{Read, Write};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message;

use super::status::Status;

/// The message prefix: a flag byte and a u32 length.
pub(crate) const PREFIX_LEN: usize = 5;

/// The default largest message, received or sent: 4 MiB (gRPC's default
/// receive limit, `GRPC_DEFAULT_MAX_RECV_MESSAGE_LENGTH`).
pub const DEFAULT_MAX_MESSAGE: usize = 4 * 1024 * 1024;

/// A message compression algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Encoding {
    /// No compression.
    #[default]
    Identity,
    /// gzip (RFC 1952).
    Gzip,
}

/// gRPC's header names, made once: inserting with a `&str` key copies the
/// name into a new allocation on every call.
pub(crate) mod names {
    use http::HeaderName;

    pub(crate) const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
    pub(crate) const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
    pub(crate) const GRPC_ENCODING: HeaderName = HeaderName::from_static("grpc-encoding");
    pub(crate) const GRPC_ACCEPT_ENCODING: HeaderName =
        HeaderName::from_static("grpc-accept-encoding");
    pub(crate) const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");
}

/// What this side accepts, as `grpc-accept-encoding` says it.
pub(crate) const ACCEPT_ENCODING: &str = "identity,gzip";

impl Encoding {
    /// The algorithm a `grpc-encoding` header names; `Err` with the status
    /// to answer when it is one this side does not speak.
    pub(crate) fn from_header(v: Option<&http::HeaderValue>) -> Result<Encoding, Status> {
        match v.map(|v| v.as_bytes()) {
            None | Some(b"identity") => Ok(Encoding::Identity),
            Some(b"gzip") => Ok(Encoding::Gzip),
            Some(other) => Err(Status::unimplemented(format!(
                "message encoding {:?} is not supported (supported: {ACCEPT_ENCODING})",
                String::from_utf8_lossy(other)
            ))),
        }
    }

    /// Its name in `grpc-encoding`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
        }
    }

    /// Whether a `grpc-accept-encoding` header lists gzip.
    pub(crate) fn accepts_gzip(v: Option<&http::HeaderValue>) -> bool {
        v.is_some_and(|v| {
            v.as_bytes()
                .split(|&b| b == b',')
                .any(|e| e.trim_ascii() == b"gzip")
        })
    }
}

/// Encodes one message with its prefix, compressed with `enc`. Errors when
/// it is larger than `max` (before compression).
pub(crate) fn encode<M: Message>(msg: &M, enc: Encoding, max: usize) -> Result<Bytes, Status> {
    // encode_into reserves what the message needs.
    let mut buf = BytesMut::new();
    encode_into(msg, enc, max, &mut buf)?;
    Ok(buf.freeze())
}

/// [`encode`], appended to `buf` (a batch of a stream's messages). On an
/// error, `buf` holds what it held before.
pub(crate) fn encode_into<M: Message>(
    msg: &M,
    enc: Encoding,
    max: usize,
    buf: &mut BytesMut,
) -> Result<(), Status> {
    let len = msg.encoded_len();
    if len > max {
        return Err(Status::resource_exhausted(format!(
            "message of {len} bytes is larger than the limit of {max}"
        )));
    }
    let start = buf.len();
    match enc {
        Encoding::Identity => {
            buf.reserve(PREFIX_LEN + len);
            buf.put_u8(0);
            buf.put_u32(len as u32);
            if let Err(e) = msg.encode(buf) {
                buf.truncate(start);
                return Err(Status::internal(format!("encoding the message: {e}")));
            }
        }
        Encoding::Gzip => {
            let plain = msg.encode_to_vec();
            buf.reserve(PREFIX_LEN + len / 2 + 32);
            let mut w = std::mem::take(buf).writer();
            w.write_all(&[1, 0, 0, 0, 0]).expect("BytesMut grows");
            let mut gz = flate2::write::GzEncoder::new(w, flate2::Compression::fast());
            gz.write_all(&plain).expect("BytesMut grows");
            *buf = gz.finish().expect("BytesMut grows").into_inner();
            let n = (buf.len() - start - PREFIX_LEN) as u32;
            buf[start + 1..start + PREFIX_LEN].copy_from_slice(&n.to_be_bytes());
        }
    }
    Ok(())
}

/// Cuts messages out of a stream's DATA chunks, without copying when a
/// chunk holds whole messages.
#[derive(Debug)]
pub(crate) struct Deframer {
    /// A chunk not yet copied anywhere (the common case: one DATA frame
    /// holds one message).
    single: Bytes,
    /// Bytes gathered across chunks.
    buf: BytesMut,
    max: usize,
    enc: Encoding,
}

impl Deframer {
    pub(crate) fn new(max: usize, enc: Encoding) -> Self {
        Deframer {
            single: Bytes::new(),
            buf: BytesMut::new(),
            max,
            enc,
        }
    }

    /// Adds a DATA chunk.
    pub(crate) fn push(&mut self, chunk: Bytes) {
        if self.is_empty() {
            self.single = chunk;
        } else {
            self.spill(0);
            self.buf.extend_from_slice(&chunk);
        }
    }

    /// Moves an uncopied chunk into the gathering buffer (a message spans
    /// chunks), making room for a message of `whole` bytes with its prefix.
    fn spill(&mut self, whole: usize) {
        let s = std::mem::take(&mut self.single);
        self.buf
            .reserve(whole.saturating_sub(self.buf.len()).max(s.len()));
        self.buf.extend_from_slice(&s);
    }

    /// Whether bytes of an unfinished message are held.
    pub(crate) fn is_empty(&self) -> bool {
        self.single.is_empty() && self.buf.is_empty()
    }

    /// The next whole message (decompressed), if one is buffered. Errors
    /// when its prefix is bad or it is over the limit: the stream cannot
    /// go on.
    pub(crate) fn next(&mut self) -> Result<Option<Bytes>, Status> {
        let head = if self.single.is_empty() {
            &self.buf[..]
        } else {
            &self.single[..]
        };
        if head.len() < PREFIX_LEN {
            self.spill(0);
            return Ok(None);
        }
        let flag = head[0];
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if flag > 1 {
            return Err(Status::internal(format!(
                "invalid message prefix flag {flag}"
            )));
        }
        if len > self.max {
            return Err(Status::resource_exhausted(format!(
                "message of {len} bytes is larger than the limit of {}",
                self.max
            )));
        }
        if head.len() < PREFIX_LEN + len {
            self.spill(PREFIX_LEN + len);
            return Ok(None);
        }
        let body = if self.single.is_empty() {
            self.buf.advance(PREFIX_LEN);
            self.buf.split_to(len).freeze()
        } else {
            self.single.advance(PREFIX_LEN);
            self.single.split_to(len)
        };
        if flag == 0 {
            return Ok(Some(body));
        }
        match self.enc {
            Encoding::Identity => Err(Status::internal(
                "compressed message on a stream without grpc-encoding",
            )),
            Encoding::Gzip => gunzip(&body, self.max).map(Some),
        }
    }
}

/// Decompresses a gzip message, refusing one that inflates past `max`.
fn gunzip(b: &[u8], max: usize) -> Result<Bytes, Status> {
    let mut out = Vec::with_capacity(b.len().saturating_mul(2).min(max));
    let mut rd = flate2::read::GzDecoder::new(b).take(max as u64 + 1);
    rd.read_to_end(&mut out)
        .map_err(|e| Status::internal(format!("decompressing the message: {e}")))?;
    if out.len() > max {
        return Err(Status::resource_exhausted(format!(
            "decompressed message is larger than the limit of {max}"
        )));
    }
    Ok(Bytes::from(out))
}

/// Decodes a message's bytes.
pub(crate) fn decode<M: Message + Default>(b: Bytes) -> Result<M, Status> {
    M::decode(b).map_err(|e| Status::internal(format!("decoding the message: {e}")))
}

/// Parses a `grpc-timeout` value; `None` when it is malformed.
pub(crate) fn parse_timeout(v: &[u8]) -> Option<Duration> {
    let (digits, unit) = v.split_at(v.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    Some(match unit[0] {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Formats a timeout for `grpc-timeout`, in the finest unit that fits 8
/// digits (rounding up, so the deadline is never earlier than asked).
pub(crate) fn format_timeout(d: Duration) -> String {
    const MAX: u128 = 99_999_999;
    let nanos = d.as_nanos();
    for (unit, per) in [
        ('n', 1u128),
        ('u', 1_000),
        ('m', 1_000_000),
        ('S', 1_000_000_000),
        ('M', 60_000_000_000),
        ('H', 3_600_000_000_000),
    ] {
        let v = nanos.div_ceil(per);
        if v <= MAX {
            return format!("{v}{unit}");
        }
    }
    format!("{MAX}H")
}

/// A message of every wire type, for fuzzing decoders.
#[derive(Clone, PartialEq, prost::Message)]
struct FuzzMessage {
    #[prost(string, tag = "1")]
    text: String,
    #[prost(bytes = "bytes", tag = "2")]
    data: Bytes,
    #[prost(uint64, repeated, tag = "3")]
    numbers: Vec<u64>,
    #[prost(message, optional, boxed, tag = "4")]
    nested: Option<Box<FuzzMessage>>,
    #[prost(fixed32, tag = "5")]
    fixed: u32,
    #[prost(map = "string, sint64", tag = "6")]
    map: std::collections::HashMap<String, i64>,
}

/// The gRPC decoders on arbitrary bytes, for `engine/fuzz`: the first byte
/// picks the stream's encoding, its message limit and how the rest is cut
/// into DATA chunks; every message cut is decoded; the first 16 bytes also
/// go through the `grpc-timeout`, `grpc-message` and binary metadata
/// decoders. Nothing may panic, and no message past the limit is returned.
#[doc(hidden)]
pub fn fuzz_messages(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let head = &rest[..rest.len().min(16)];
    let _ = parse_timeout(head);
    let _ = super::status::percent_decode(head);
    let mut md = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_bytes(head) {
        md.insert("x-fuzz-bin", v);
        let _ = super::Metadata::from_headers(&md).get_bin("x-fuzz-bin");
    }
    let enc = if first & 1 == 0 {
        Encoding::Identity
    } else {
        Encoding::Gzip
    };
    let max = [16, 1024, 1 << 16, DEFAULT_MAX_MESSAGE][(first >> 1 & 3) as usize];
    let stride = 1 + (first >> 3) as usize * 7;
    let mut d = Deframer::new(max, enc);
    for chunk in rest.chunks(stride) {
        d.push(Bytes::copy_from_slice(chunk));
        loop {
            match d.next() {
                Ok(Some(m)) => {
                    assert!(m.len() <= max, "a message past the limit came out");
                    let _ = decode::<FuzzMessage>(m);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, PartialEq, prost::Message)]
    struct Msg {
        #[prost(bytes = "vec", tag = "1")]
        payload: Vec<u8>,
        #[prost(string, tag = "2")]
        name: String,
    }

    fn msg(n: usize) -> Msg {
        Msg {
            payload: (0..n).map(|i| (i % 251) as u8).collect(),
            name: "x".into(),
        }
    }

    #[test]
    fn timeouts_parse_and_format() {
        assert_eq!(parse_timeout(b"1S"), Some(Duration::from_secs(1)));
        assert_eq!(parse_timeout(b"250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_timeout(b"2H"), Some(Duration::from_secs(7200)));
        assert_eq!(
            parse_timeout(b"99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        for bad in [&b""[..], b"S", b"123456789S", b"1x", b"-1S", b"1.5S"] {
            assert_eq!(parse_timeout(bad), None, "{bad:?}");
        }
        assert_eq!(format_timeout(Duration::from_millis(1500)), "1500000u");
        assert_eq!(
            format_timeout(Duration::from_secs(3600 * 24 * 365)),
            "31536000S"
        );
        for d in [1u64, 999, 1_000_001, 5_000_000_000, 86_400_000_000_000] {
            let d = Duration::from_nanos(d);
            let back = parse_timeout(format_timeout(d).as_bytes()).unwrap();
            assert!(back >= d, "{d:?} -> {back:?}");
        }
    }

    #[test]
    fn a_batch_of_messages_deframes_in_order() {
        for enc in [Encoding::Identity, Encoding::Gzip] {
            let mut batch = BytesMut::new();
            for n in [0, 10, 3000] {
                encode_into(&msg(n), enc, 1 << 20, &mut batch).unwrap();
            }
            // One over the limit leaves the batch as it was.
            let before = batch.len();
            assert!(encode_into(&msg(100), enc, 16, &mut batch).is_err());
            assert_eq!(batch.len(), before);
            let mut d = Deframer::new(1 << 20, enc);
            d.push(batch.freeze());
            for n in [0, 10, 3000] {
                let m = Msg::decode(d.next().unwrap().unwrap()).unwrap();
                assert_eq!(m, msg(n), "{enc:?}");
            }
            assert!(d.next().unwrap().is_none());
        }
    }

    #[test]
    fn messages_over_the_limit_are_refused_before_they_are_buffered() {
        let mut d = Deframer::new(16, Encoding::Identity);
        d.push(Bytes::from_static(&[0, 0, 0, 1, 0]));
        let e = d.next().unwrap_err();
        assert_eq!(e.code(), super::super::Code::ResourceExhausted);
        assert!(encode(&msg(100), Encoding::Identity, 16).is_err());
        let mut d = Deframer::new(1024, Encoding::Identity);
        d.push(Bytes::from_static(&[7, 0, 0, 0, 0]));
        assert!(d.next().is_err(), "a flag other than 0 and 1");
    }

    #[test]
    fn gzip_bombs_stop_at_the_limit() {
        let big = msg(100_000);
        let framed = encode(&big, Encoding::Gzip, usize::MAX).unwrap();
        assert!(framed.len() < 10_000, "compressible: {}", framed.len());
        let mut d = Deframer::new(50_000, Encoding::Gzip);
        d.push(framed.clone());
        assert!(d.next().is_err());
        let mut d = Deframer::new(DEFAULT_MAX_MESSAGE, Encoding::Gzip);
        d.push(framed);
        assert_eq!(decode::<Msg>(d.next().unwrap().unwrap()).unwrap(), big);
    }

    #[test]
    fn the_fuzz_body_runs_on_framed_and_garbage_input() {
        let mut input = vec![0u8];
        let m = FuzzMessage {
            text: "hi".into(),
            numbers: vec![1, 2, 3],
            nested: Some(Box::new(FuzzMessage::default())),
            ..Default::default()
        };
        input.extend_from_slice(&encode(&m, Encoding::Identity, 1024).unwrap());
        fuzz_messages(&input);
        let mut gz = vec![1u8 | 6 << 1];
        gz.extend_from_slice(&encode(&m, Encoding::Gzip, 1024).unwrap());
        fuzz_messages(&gz);
        fuzz_messages(&[0xff; 64]);
        fuzz_messages(&[]);
    }

    proptest! {
        #[test]
        fn fuzz_body_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            fuzz_messages(&data);
        }

        #[test]
        fn any_chunking_gives_back_the_messages(
            sizes in proptest::collection::vec(0usize..3000, 1..6),
            cuts in proptest::collection::vec(1usize..700, 1..40),
            gzip in any::<bool>(),
        ) {
            let enc = if gzip { Encoding::Gzip } else { Encoding::Identity };
            let msgs: Vec<Msg> = sizes.iter().map(|&n| msg(n)).collect();
            let mut wire = BytesMut::new();
            for m in &msgs {
                wire.extend_from_slice(&encode(m, enc, DEFAULT_MAX_MESSAGE).unwrap());
            }
            let mut wire = wire.freeze();
            let mut d = Deframer::new(DEFAULT_MAX_MESSAGE, enc);
            let mut out = Vec::new();
            let mut cut = cuts.iter().cycle();
            while !wire.is_empty() {
                let n = (*cut.next().unwrap()).min(wire.len());
                d.push(wire.split_to(n));
                while let Some(b) = d.next().unwrap() {
                    out.push(decode::<Msg>(b).unwrap());
                }
            }
            prop_assert!(d.is_empty());
            prop_assert_eq!(out, msgs);
        }

        #[test]
        fn garbage_never_panics(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8)) {
            let mut d = Deframer::new(1 << 16, Encoding::Gzip);
            for c in chunks {
                d.push(Bytes::from(c));
                while let Ok(Some(b)) = d.next() {
                    let _ = decode::<Msg>(b);
                }
            }
        }
    }
}
