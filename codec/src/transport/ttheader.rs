//! TTHeader: CloudWeGo's transport header, the default transport of Kitex
//! and Volo. A header of metadata (method, timeout, caller, service name,
//! business status, ...) travels in front of each Thrift message.
//!
//! # Layout
//!
//! From cloudwego/gopkg `protocol/ttheader/encode.go` (the layout comment,
//! `TTHeaderMetaSize`, `TTHeaderMagic`, `InfoID*`, `ProtocolID*`) and
//! `decode.go` (`Decode`, `readKVInfo`), Kitex
//! `pkg/remote/codec/header_codec.go`, and volo-thrift
//! `src/codec/default/ttheader.rs` (`encode`, `decode`). All integers are
//! big-endian.
//!
//! ```text
//! offset  size  field
//!  0      4     LENGTH: bytes after this field (header and payload)
//!  4      2     MAGIC 0x1000
//!  6      2     FLAGS
//!  8      4     SEQUENCE ID
//! 12      2     HEADER SIZE: length of the header info, in 4-byte words
//! 14      1     PROTOCOL ID (0 binary, 2 compact, ...; a u8, as Kitex and
//!               Volo read it, not Apache THeader's varint)
//! 15      1     NUM TRANSFORMS, then that many transform ids (u8 each)
//!  ..           INFO blocks, each an id byte:
//!                 0x00 padding (one byte; may appear anywhere)
//!                 0x01 string KVs: u16 count, then count x (u16 len, key,
//!                      u16 len, value)
//!                 0x10 int KVs: u16 count, then count x (u16 key, u16 len,
//!                      value)
//!                 0x11 ACL token: u16 len, token
//!               zero padding up to 14 + 4 * HEADER SIZE
//! 14+4*HS       PAYLOAD: the Thrift message; for TTHeaderFramed, a 4-byte
//!               Framed length first
//! ```
//!
//! # TTHeader vs TTHeaderFramed
//!
//! Kitex decides per message, after the header, by peeking the payload's first
//! 8 bytes (`checkPayload` in `pkg/remote/codec/default_codec.go`): a strict
//! binary version `0x8001` in bytes 0..2 means TTHeader (unframed payload), in
//! bytes 4..6 it means TTHeaderFramed (a Framed length, then the message).
//! Volo's default codec stacks TTHeader over Framed over Thrift
//! (`MakeTTHeaderCodec<MakeFramedCodec<..>>`), whose Framed decoder peeks the
//! same way (`is_framed` in `src/codec/default/framed.rs`). [`decode`] does the
//! same (for compact, byte 0 or byte 4 is `0x82`), and reports what it found in
//! [`Frame::codec`]. The payload it returns is always the Thrift message
//! itself, without the inner Framed length.
//!
//! # Protocol
//!
//! The protocol id names the payload's protocol, but the payload's own first
//! bytes decide it, as they do in Volo's decoder: a Volo client speaking
//! compact over TTHeader sends protocol id 0 (binary), because its encoder
//! takes the id from a context extension that only the server side sets
//! (volo-thrift `src/codec/default/ttheader.rs`, `encode`). So
//! [`Frame::codec`] carries the payload's real protocol and
//! [`TtHeader::protocol`] what the id said. Ids ringrpc cannot serve (Kitex
//! protobuf, fbthrift compact v2, TTHeader streaming) are errors.
//!
//! # Allocation
//!
//! Decoding takes the whole frame as one [`Bytes`] (zero copy when it lies in
//! one chunk of the [`LinkBuffer`]); the payload and the header's info block
//! are slices of it. A decoded [`TtHeader`] reads its key/value pairs in place
//! from that block, which [`decode`] validated, so decoding allocates nothing
//! and cloning a decoded header allocates nothing. Lookups scan the block
//! (headers hold a dozen pairs, where a scan beats a map). Only a header that
//! is changed (a setter or a remove) copies its pairs into a `Vec`, of slices
//! of the same block.
//!
//! # Hostile input
//!
//! The total length is checked against [`FrameLimits::max_frame_len`] before
//! anything else is waited for; the header size against the total length;
//! every count and u16 length against the bytes present. An unknown info id is
//! an error (as in Kitex's `readKVInfo`), never skipped, and every loop
//! consumes input. Nothing here panics.

use bytes::Bytes;

use super::framed;
use super::{Codec, Decoded, Frame, FrameLimits, Transport};
use crate::buffer::{LinkBuffer, LinkWriter};
use crate::thrift::Protocol;
use crate::{Error, Result};

mod header;

use header::too_big;
pub use header::{TtHeader, int_key, str_key};

/// The magic in bytes 4..6 of every TTHeader frame (gopkg's `TTHeaderMagic`
/// is `0x10000000` over bytes 4..8, flags in the low half).
pub const MAGIC: u16 = 0x1000;

/// The fixed part before the header info: length, magic, flags, sequence id,
/// header size (gopkg's `TTHeaderMetaSize`).
pub const META_LEN: usize = 14;

/// The fewest bytes a TTHeader frame can take: the fixed part and one word of
/// header info (protocol id, transform count, two bytes of padding).
pub const MIN_FRAME_LEN: usize = META_LEN + 4;

/// The most bytes of header info a frame can declare (gopkg's `MaxHeaderSize`:
/// the u16 word count times four).
pub const MAX_INFO_LEN: usize = 4 * u16::MAX as usize;

/// Header flags (gopkg `protocol/ttheader/encode.go`, `HeaderFlags`).
pub mod flags {
    /// `HeaderFlagSupportOutOfOrder`.
    pub const SUPPORT_OUT_OF_ORDER: u16 = 0x01;
    /// `HeaderFlagsStreaming`: a TTHeader streaming frame, not a ping-pong
    /// message.
    pub const STREAMING: u16 = 0x02;
    /// `HeaderFlagDuplexReverse`.
    pub const DUPLEX_REVERSE: u16 = 0x08;
    /// `HeaderFlagSASL`.
    pub const SASL: u16 = 0x10;
}

/// Protocol ids of the payload (gopkg `ProtocolID*`; volo-thrift `ProtocolId`).
pub mod protocol_id {
    /// `ProtocolIDThriftBinary`.
    pub const THRIFT_BINARY: u8 = 0x00;
    /// `ProtocolIDThriftCompact` (Apache Thrift compact).
    pub const THRIFT_COMPACT: u8 = 0x02;
    /// `ProtocolIDThriftCompactV2` (fbthrift's compact; not served).
    pub const THRIFT_COMPACT_V2: u8 = 0x03;
    /// `ProtocolIDKitexProtobuf` (not served).
    pub const KITEX_PROTOBUF: u8 = 0x04;
    /// `ProtocolIDThriftStruct`: TTHeader streaming (not served).
    pub const THRIFT_STRUCT: u8 = 0x10;
    /// `ProtocolIDProtobufStruct`: TTHeader streaming (not served).
    pub const PROTOBUF_STRUCT: u8 = 0x11;
}

/// Info block ids (gopkg `InfoID*`).
pub mod info_id {
    /// `InfoIDPadding`: one byte of padding.
    pub const PADDING: u8 = 0x00;
    /// `InfoIDKeyValue`: string keys and values.
    pub const KEY_VALUE: u8 = 0x01;
    /// `InfoIDIntKeyValue`: u16 keys, string values.
    pub const INT_KEY_VALUE: u8 = 0x10;
    /// `InfoIDACLToken`: one token.
    pub const ACL_TOKEN: u8 = 0x11;
}

/// A range in the frame, kept during the validating pass.
type Span = std::ops::Range<usize>;

/// One item of the header info.
enum Item {
    Int(u16, Span),
    Str(Span, Span),
    Acl(Span),
}

/// A cursor over the header info (`info` starts at frame offset `base`).
struct Cursor<'a> {
    info: &'a [u8],
    pos: usize,
    base: usize,
}

impl Cursor<'_> {
    fn u8(&mut self) -> Result<u8> {
        let b = *self
            .info
            .get(self.pos)
            .ok_or(Error::BadTransportHeader("ttheader info truncated"))?;
        self.pos += 1;
        Ok(b)
    }

    fn u16(&mut self) -> Result<u16> {
        match self.info.get(self.pos..self.pos + 2) {
            Some(s) => {
                self.pos += 2;
                Ok(u16::from_be_bytes([s[0], s[1]]))
            }
            None => Err(Error::BadTransportHeader("ttheader info truncated")),
        }
    }

    /// A u16-length-prefixed string, as a span of the frame.
    fn string(&mut self) -> Result<Span> {
        let n = self.u16()? as usize;
        if self.info.len() - self.pos < n {
            return Err(Error::BadTransportHeader(
                "ttheader string runs past the header",
            ));
        }
        let start = self.base + self.pos;
        self.pos += n;
        Ok(start..start + n)
    }
}

/// The items of the info blocks (after protocol id and transforms), in wire
/// order. Yields an error (and then nothing) at the first malformed byte;
/// every step consumes input, so a hostile header cannot make it spin.
struct Items<'a> {
    c: Cursor<'a>,
    /// The kind of the block being read, and how many items it has left.
    kind: u8,
    left: u16,
    failed: bool,
}

impl<'a> Items<'a> {
    fn new(c: Cursor<'a>) -> Self {
        Self {
            c,
            kind: info_id::PADDING,
            left: 0,
            failed: false,
        }
    }

    fn step(&mut self) -> Result<Option<Item>> {
        loop {
            if self.left > 0 {
                self.left -= 1;
                return Ok(Some(if self.kind == info_id::KEY_VALUE {
                    let k = self.c.string()?;
                    Item::Str(k, self.c.string()?)
                } else {
                    let k = self.c.u16()?;
                    Item::Int(k, self.c.string()?)
                }));
            }
            if self.c.pos >= self.c.info.len() {
                return Ok(None);
            }
            match self.c.u8()? {
                info_id::PADDING => {}
                id @ (info_id::KEY_VALUE | info_id::INT_KEY_VALUE) => {
                    self.kind = id;
                    self.left = self.c.u16()?;
                }
                info_id::ACL_TOKEN => return Ok(Some(Item::Acl(self.c.string()?))),
                _ => return Err(Error::BadTransportHeader("unknown ttheader info id")),
            }
        }
    }
}

impl Iterator for Items<'_> {
    type Item = Result<Item>;

    fn next(&mut self) -> Option<Result<Item>> {
        if self.failed {
            return None;
        }
        let r = self.step();
        self.failed = r.is_err();
        r.transpose()
    }
}

/// The items of info bytes that [`parse`] has already validated (a decoded
/// header's `wire`): spans are offsets into `info`.
fn valid_items(info: &[u8]) -> impl Iterator<Item = Item> + '_ {
    Items::new(Cursor {
        info,
        pos: 0,
        base: 0,
    })
    .map_while(Result::ok)
}

/// The payload protocol for a TTHeader protocol id.
fn protocol_of(id: u8) -> Result<Protocol> {
    match id {
        protocol_id::THRIFT_BINARY => Ok(Protocol::Binary),
        protocol_id::THRIFT_COMPACT => Ok(Protocol::Compact),
        protocol_id::THRIFT_COMPACT_V2 => Err(Error::Unsupported("fbthrift compact v2")),
        protocol_id::KITEX_PROTOBUF => Err(Error::Unsupported("kitex protobuf")),
        protocol_id::THRIFT_STRUCT | protocol_id::PROTOBUF_STRUCT => {
            Err(Error::Unsupported("ttheader streaming"))
        }
        _ => Err(Error::BadTransportHeader("unknown ttheader protocol id")),
    }
}

fn protocol_id_of(p: Protocol) -> u8 {
    match p {
        Protocol::Binary => protocol_id::THRIFT_BINARY,
        Protocol::Compact => protocol_id::THRIFT_COMPACT,
    }
}

/// How many payload bytes [`sniff_payload`] looks at: a message marker (2
/// bytes) after a Framed length (4).
const SNIFF_LEN: usize = 6;

/// Whether `b` starts with a strict message header of a protocol: binary's
/// version `0x8001`, or compact's id `0x82` and a version byte whose low five
/// bits are 1 (Apache Thrift `doc/specs/thrift-compact-protocol.md`).
fn marker(b: &[u8]) -> Option<Protocol> {
    match b {
        [0x80, 0x01, ..] => Some(Protocol::Binary),
        [0x82, v, ..] if v & 0x1f == 1 => Some(Protocol::Compact),
        _ => None,
    }
}

/// The payload's real protocol and whether a Framed length starts it, from
/// its first bytes: the message marker at byte 0 (unframed) or byte 4
/// (framed), as Kitex's `isThriftBinary` / `isThriftFramedBinary` decide.
///
/// The payload wins over the header's protocol id, because Volo's client
/// writes the id from a context extension that only its server side sets: a
/// Volo client speaking compact sends protocol id 0 (binary) over a compact
/// payload (volo-thrift `src/codec/default/ttheader.rs`, `encode`), and
/// Volo's own decoder sniffs the payload too (`thrift.rs`, `detect`). When
/// neither position holds a marker (an old non-strict binary message), the
/// payload is taken as unframed in the header's protocol.
fn sniff_payload(rest: &[u8], named: Protocol) -> (Protocol, bool) {
    if let Some(p) = marker(rest) {
        return (p, false);
    }
    match rest.get(4..).and_then(marker) {
        Some(p) => (p, true),
        None => (named, false),
    }
}

/// Checks what the first (up to [`META_LEN`]) bytes say; returns the total
/// frame length once the length field is present.
fn check_meta(head: &[u8], limits: &FrameLimits) -> Result<Option<usize>> {
    let mut total = None;
    if let Some(l) = head.get(..4) {
        let len = u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize;
        if len > limits.max_frame_len {
            return Err(too_big("frame", len, limits.max_frame_len));
        }
        if len < MIN_FRAME_LEN - 4 {
            return Err(Error::BadTransportHeader("ttheader length too small"));
        }
        total = Some(len + 4);
    }
    if let Some(m) = head.get(4..6)
        && m != MAGIC.to_be_bytes()
    {
        return Err(Error::BadTransportHeader("not a ttheader (magic)"));
    }
    if let (Some(h), Some(total)) = (head.get(12..14), total) {
        let info = 4 * u16::from_be_bytes([h[0], h[1]]) as usize;
        if info < 2 {
            return Err(Error::BadTransportHeader("ttheader header size too small"));
        }
        if META_LEN + info > total {
            return Err(Error::BadTransportHeader(
                "ttheader header size exceeds the frame",
            ));
        }
    }
    Ok(total)
}

/// Cuts one TTHeader frame off `buf` and decodes its header.
///
/// Checks the length, magic and header size as soon as their bytes are there,
/// so garbage fails fast rather than waiting for a bogus length. Consumes
/// nothing unless it returns a frame. The returned [`Frame::codec`] says
/// the payload's protocol and whether the payload was framed inside
/// ([`Transport::TtHeaderFramed`]); the payload is the Thrift message alone.
/// Zero copy when the frame lies in one chunk; allocates once for the
/// key/value pairs (see the module docs).
pub fn decode(buf: &mut LinkBuffer, limits: &FrameLimits) -> Result<Decoded<Frame>> {
    let have = buf.len();
    let head = match buf.peek(have.min(META_LEN)) {
        Ok(h) => h,
        Err(m) => return Ok(Decoded::NeedMore(m.0)),
    };
    let Some(total) = check_meta(head, limits)? else {
        return Ok(Decoded::NeedMore(MIN_FRAME_LEN - have));
    };
    if have < total {
        return Ok(Decoded::NeedMore(total - have));
    }
    // Parse the header and the payload's first bytes before consuming, so a
    // bad frame leaves the buffer as it was. Only that much is peeked: when
    // it spans chunks it is copied, and the payload is not copied twice.
    let head = match buf.peek(META_LEN) {
        Ok(h) => h,
        Err(m) => return Ok(Decoded::NeedMore(m.0)),
    };
    let info_end = META_LEN + 4 * u16::from_be_bytes([head[12], head[13]]) as usize;
    let frame = match buf.peek(total.min(info_end + SNIFF_LEN)) {
        Ok(f) => parse(f, total, limits)?,
        Err(m) => return Ok(Decoded::NeedMore(m.0)),
    };
    let bytes = match buf.next(total) {
        Ok(b) => b,
        Err(m) => return Ok(Decoded::NeedMore(m.0)),
    };
    Ok(Decoded::Ready(frame.build(bytes)))
}

/// What [`parse`] found, as offsets into the frame.
struct Parsed {
    seq_id: i32,
    flags: u16,
    protocol: Protocol,
    payload_protocol: Protocol,
    framed: bool,
    info: Span,
    acl: Option<Span>,
    payload: Span,
}

/// Validates a frame's header and counts its entries (the first pass). `f` is
/// the frame's start: the header and up to [`SNIFF_LEN`] bytes of payload;
/// `total` the whole frame's length.
fn parse(f: &[u8], total: usize, limits: &FrameLimits) -> Result<Parsed> {
    // `check_meta` has vouched for the fixed part and the header size.
    let be32 = |at: usize| u32::from_be_bytes([f[at], f[at + 1], f[at + 2], f[at + 3]]);
    let flags = u16::from_be_bytes([f[6], f[7]]);
    let seq_id = be32(8) as i32;
    let info_end = META_LEN + 4 * u16::from_be_bytes([f[12], f[13]]) as usize;
    let info = &f[META_LEN..info_end];
    let protocol = protocol_of(info[0])?;
    let transforms = info[1] as usize;
    if transforms > 0 {
        // Kitex writes none and ignores them on read; a transform (zlib,
        // snappy) would change the payload bytes, which we could not read.
        return Err(Error::Unsupported("ttheader transforms"));
    }
    if flags & flags::STREAMING != 0 {
        return Err(Error::Unsupported("ttheader streaming"));
    }
    let start = META_LEN + 2;
    let mut acl = None;
    for item in Items::new(Cursor {
        info: &f[start..info_end],
        pos: 0,
        base: start,
    }) {
        if let Item::Acl(t) = item? {
            acl = Some(t);
        }
    }
    let rest = &f[info_end..];
    let (payload_protocol, framed) = sniff_payload(rest, protocol);
    let mut payload = info_end..total;
    if framed {
        let n = framed::frame_len([rest[0], rest[1], rest[2], rest[3]], limits)?;
        if n != total - info_end - framed::PREFIX_LEN {
            return Err(Error::BadTransportHeader(
                "framed length inside ttheader disagrees with its length",
            ));
        }
        payload.start += framed::PREFIX_LEN;
    }
    Ok(Parsed {
        seq_id,
        flags,
        protocol,
        payload_protocol,
        framed,
        info: start..info_end,
        acl,
        payload,
    })
}

impl Parsed {
    /// Builds the frame over its bytes. The header keeps its info block as
    /// one slice of the frame and reads pairs from it in place, so this
    /// allocates nothing.
    fn build(self, frame: Bytes) -> Frame {
        Frame {
            codec: Codec {
                transport: if self.framed {
                    Transport::TtHeaderFramed
                } else {
                    Transport::TtHeader
                },
                protocol: self.payload_protocol,
            },
            header: Some(TtHeader {
                seq_id: self.seq_id,
                flags: self.flags,
                protocol: self.protocol,
                wire: Some(frame.slice(self.info)),
                entries: Vec::new(),
                acl_token: self.acl.map(|t| frame.slice(t)),
            }),
            size: frame.len(),
            payload: frame.slice(self.payload),
        }
    }
}

fn put_string(out: &mut LinkWriter, s: &[u8]) {
    // The setters keep every string within u16.
    out.put_u16(s.len() as u16);
    out.put_slice(s);
}

/// Writes one TTHeader frame: the header (`header`, or an empty one with
/// sequence id 0), then for [`Transport::TtHeaderFramed`] a Framed length,
/// then whatever `payload` writes; back-fills the lengths and header size.
///
/// Blocks are written in gopkg's order: ACL token, string KVs, int KVs, then
/// zero padding to a 4-byte boundary. The protocol id is `codec.protocol`'s.
/// Never fails: the setters of [`TtHeader`] refuse what would not fit.
pub fn encode(
    out: &mut LinkWriter,
    codec: Codec,
    header: Option<&TtHeader>,
    payload: impl FnOnce(&mut LinkWriter),
) {
    let empty = TtHeader::default();
    let h = header.unwrap_or(&empty);
    let total = out.reserve(4);
    out.put_u16(MAGIC);
    out.put_u16(h.flags);
    out.put_i32(h.seq_id);
    let size = out.reserve(2);
    let info_start = out.len();
    out.put_u8(protocol_id_of(codec.protocol));
    out.put_u8(0); // no transforms
    if let Some(t) = &h.acl_token {
        out.put_u8(info_id::ACL_TOKEN);
        put_string(out, t);
    }
    let strs = h.str_kvs().count();
    if strs > 0 {
        out.put_u8(info_id::KEY_VALUE);
        out.put_u16(strs as u16);
        for (k, v) in h.str_kvs() {
            put_string(out, k);
            put_string(out, v);
        }
    }
    let ints = h.int_kvs().count();
    if ints > 0 {
        out.put_u8(info_id::INT_KEY_VALUE);
        out.put_u16(ints as u16);
        for (k, v) in h.int_kvs() {
            out.put_u16(k);
            put_string(out, v);
        }
    }
    let info_len = out.len() - info_start;
    let pad = (4 - info_len % 4) % 4;
    out.put_slice(&[0u8; 3][..pad]);
    out.backfill(size, &(((info_len + pad) / 4) as u16).to_be_bytes());
    if codec.transport == Transport::TtHeaderFramed {
        framed::encode(out, payload);
    } else {
        payload(out);
    }
    let n = out.written_since(total) - 4;
    out.backfill(total, &(n as u32).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::thrift::MessageType;

    fn binary_ttheader() -> Codec {
        Codec {
            transport: Transport::TtHeader,
            protocol: Protocol::Binary,
        }
    }

    /// A strict binary CALL `echo`, seqid 7, with an empty args struct
    /// (Apache Thrift doc/specs/thrift-binary-protocol.md).
    const CALL: &[u8] = b"\x80\x01\x00\x01\x00\x00\x00\x04echo\x00\x00\x00\x07\x00";

    /// A request as volo-thrift's client `encode` lays it out
    /// (src/codec/default/ttheader.rs): string KVs (`isn`), then int KVs
    /// (WithMeshHeader "3", RPCTimeout, FromService, ToMethod, ToService),
    /// padding, then (Volo's default codec stacks Framed inside) a Framed
    /// length and the message.
    fn volo_request() -> Vec<u8> {
        let mut info: Vec<u8> = vec![0x00, 0x00]; // protocol binary, 0 transforms
        info.extend_from_slice(b"\x01\x00\x01\x00\x03isn\x00\x0bEchoService");
        info.extend_from_slice(b"\x10\x00\x05");
        info.extend_from_slice(b"\x00\x10\x00\x013");
        info.extend_from_slice(b"\x00\x0c\x00\x041000");
        info.extend_from_slice(b"\x00\x03\x00\x06client");
        info.extend_from_slice(b"\x00\x09\x00\x04echo");
        info.extend_from_slice(b"\x00\x06\x00\x04echo");
        while !info.len().is_multiple_of(4) {
            info.push(0);
        }
        let mut f = Vec::new();
        let len = 10 + info.len() + 4 + CALL.len();
        f.extend_from_slice(&(len as u32).to_be_bytes());
        f.extend_from_slice(&[0x10, 0x00, 0x00, 0x00]); // magic, flags 0
        f.extend_from_slice(&7u32.to_be_bytes()); // seq id
        f.extend_from_slice(&((info.len() / 4) as u16).to_be_bytes());
        f.extend_from_slice(&info);
        f.extend_from_slice(&(CALL.len() as u32).to_be_bytes());
        f.extend_from_slice(CALL);
        f
    }

    fn decode_all(bytes: &[u8]) -> Result<Decoded<Frame>> {
        let mut b = LinkBuffer::new();
        b.extend_from_slice(bytes);
        decode(&mut b, &FrameLimits::default())
    }

    fn ready(bytes: &[u8]) -> Frame {
        match decode_all(bytes) {
            Ok(Decoded::Ready(f)) => f,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[test]
    fn decodes_a_volo_style_request() {
        let f = ready(&volo_request());
        assert_eq!(
            f.codec,
            Codec {
                transport: Transport::TtHeaderFramed,
                protocol: Protocol::Binary
            }
        );
        assert_eq!(&f.payload[..], CALL, "the inner Framed length is cut off");
        let h = f.header.unwrap();
        assert_eq!(h.seq_id, 7);
        assert_eq!(h.flags, 0);
        assert_eq!(h.to_method(), Some("echo"));
        assert_eq!(h.to_service(), Some("echo"));
        assert_eq!(h.from_service(), Some("client"));
        assert_eq!(h.rpc_timeout(), Some(Duration::from_millis(1000)));
        assert_eq!(h.int_str(int_key::WITH_MESH_HEADER), Some("3"));
        assert_eq!(h.idl_service_name(), Some("EchoService"));
        assert_eq!(h.connect_timeout(), None);
        assert_eq!(h.int_kvs().count(), 5);
        assert_eq!(h.str_kvs().count(), 1);
    }

    #[test]
    fn values_are_slices_of_the_frame() {
        let bytes = volo_request();
        let mut b = LinkBuffer::new();
        b.push(Bytes::from(bytes));
        let base = b.first_chunk().as_ptr() as usize;
        let end = base + b.len();
        let Decoded::Ready(f) = decode(&mut b, &FrameLimits::default()).unwrap() else {
            panic!("whole")
        };
        let h = f.header.unwrap();
        let p = h.int(int_key::TO_METHOD).unwrap().as_ptr() as usize;
        assert!((base..end).contains(&p), "zero copy");
        assert!((base..end).contains(&(f.payload.as_ptr() as usize)));
    }

    #[test]
    fn a_changed_decoded_header_keeps_its_pairs() {
        let h = ready(&volo_request()).header.unwrap();
        let mut g = h.clone();
        g.set_to_method("other").unwrap();
        assert_eq!(g.to_method(), Some("other"));
        assert_eq!(g.to_service(), Some("echo"));
        assert_eq!(g.idl_service_name(), Some("EchoService"));
        assert_eq!(g.int_kvs().count(), 5, "replaced, not added");
        assert_eq!(
            g.remove_str(str_key::IDL_SERVICE_NAME).as_deref(),
            Some(&b"EchoService"[..])
        );
        assert_eq!(g.str_kvs().count(), 0);
        let mut back = g.clone();
        back.set_to_method("echo").unwrap();
        back.set_idl_service_name("EchoService").unwrap();
        assert_eq!(
            back.int_kvs().collect::<Vec<_>>(),
            h.int_kvs().collect::<Vec<_>>()
        );
        assert_eq!(
            back.str_kvs().collect::<Vec<_>>(),
            h.str_kvs().collect::<Vec<_>>()
        );
        // What a changed header encodes decodes to the same pairs.
        let mut out = LinkWriter::new();
        encode(&mut out, binary_ttheader(), Some(&g), |o| o.put_slice(CALL));
        let again = ready(&out.to_vec()).header.unwrap();
        assert_eq!(again, g);
        assert!(!again.is_empty());
        let mut none = again.clone();
        for (k, _) in again.int_kvs() {
            none.remove_int(k);
        }
        assert!(none.is_empty());
    }

    #[test]
    fn encodes_the_documented_layout() {
        let mut h = TtHeader::new(0x0102_0304);
        h.flags = flags::SUPPORT_OUT_OF_ORDER;
        h.set_to_method("echo").unwrap();
        let mut out = LinkWriter::new();
        encode(&mut out, binary_ttheader(), Some(&h), |o| o.put_slice(CALL));
        let got = out.to_vec();
        // info: proto 0, 0 transforms, 0x10 count 1, key 9, "echo" = 13
        // bytes, padded to 16: header size 4 words.
        let mut want: Vec<u8> = Vec::new();
        want.extend_from_slice(&((10 + 16 + CALL.len()) as u32).to_be_bytes());
        want.extend_from_slice(b"\x10\x00\x00\x01\x01\x02\x03\x04\x00\x04");
        want.extend_from_slice(b"\x00\x00\x10\x00\x01\x00\x09\x00\x04echo\x00\x00\x00");
        want.extend_from_slice(CALL);
        assert_eq!(got, want);
    }

    #[test]
    fn round_trips_framed_and_unframed() {
        let mut h = TtHeader::new(-5);
        h.set_msg_type(MessageType::Reply).unwrap();
        h.set_biz_status(
            1001,
            "out of stock",
            Some(Bytes::from_static(b"{\"k\":\"v\"}")),
        )
        .unwrap();
        h.set_connection_ready_to_reset().unwrap();
        h.set_acl_token("token").unwrap();
        for transport in [Transport::TtHeader, Transport::TtHeaderFramed] {
            let codec = Codec {
                transport,
                protocol: Protocol::Binary,
            };
            let mut out = LinkWriter::new();
            encode(&mut out, codec, Some(&h), |o| o.put_slice(CALL));
            let bytes = out.to_vec();
            let info_len = 4 * u16::from_be_bytes([bytes[12], bytes[13]]) as usize;
            let framed_len = if transport == Transport::TtHeaderFramed {
                4
            } else {
                0
            };
            assert_eq!(bytes.len(), META_LEN + info_len + framed_len + CALL.len());
            let f = ready(&bytes);
            assert_eq!(f.codec, codec);
            assert_eq!(&f.payload[..], CALL);
            let g = f.header.unwrap();
            assert_eq!(g, h);
            assert_eq!(g.msg_type(), Some(MessageType::Reply));
            assert_eq!(g.biz_status(), Some(1001));
            assert_eq!(g.biz_message(), Some("out of stock"));
            assert_eq!(g.biz_extra(), Some("{\"k\":\"v\"}"));
            assert!(g.connection_ready_to_reset());
            assert_eq!(g.acl_token().map(|t| &t[..]), Some(&b"token"[..]));
        }
    }

    #[test]
    fn msg_type_reads_kitex_text_and_volo_raw_byte() {
        let mut h = TtHeader::new(1);
        h.set_int(int_key::MSG_TYPE, Bytes::from_static(b"2"))
            .unwrap();
        assert_eq!(h.msg_type(), Some(MessageType::Reply));
        h.set_int(int_key::MSG_TYPE, Bytes::from_static(&[2]))
            .unwrap();
        assert_eq!(h.msg_type(), Some(MessageType::Reply));
        assert_eq!(h.int_kvs().count(), 1, "set replaces");
        h.set_int(int_key::MSG_TYPE, Bytes::from_static(b"9"))
            .unwrap();
        assert_eq!(h.msg_type(), None);
    }

    #[test]
    fn compact_protocol_id_and_framed_compact_payload() {
        let compact_call = b"\x82\x21\x07\x04echo\x00";
        let codec = Codec {
            transport: Transport::TtHeaderFramed,
            protocol: Protocol::Compact,
        };
        let mut out = LinkWriter::new();
        encode(&mut out, codec, None, |o| o.put_slice(compact_call));
        let bytes = out.to_vec();
        assert_eq!(bytes[14], protocol_id::THRIFT_COMPACT);
        let f = ready(&bytes);
        assert_eq!(f.codec, codec);
        assert_eq!(f.header.unwrap().protocol, Protocol::Compact);
        assert_eq!(&f.payload[..], compact_call);
    }

    #[test]
    fn the_payload_decides_its_protocol() {
        // What a Volo client using compact sends: protocol id 0 (binary), a
        // framed compact payload (volo-thrift src/codec/default/ttheader.rs
        // takes the id from a server-side context extension).
        let compact_call = b"\x82\x21\x07\x04echo\x00";
        let mut out = LinkWriter::new();
        encode(&mut out, binary_ttheader(), None, |o| {
            o.put_u32(compact_call.len() as u32);
            o.put_slice(compact_call);
        });
        let bytes = out.to_vec();
        assert_eq!(bytes[14], protocol_id::THRIFT_BINARY);
        let f = ready(&bytes);
        assert_eq!(
            f.codec,
            Codec {
                transport: Transport::TtHeaderFramed,
                protocol: Protocol::Compact
            }
        );
        assert_eq!(f.header.unwrap().protocol, Protocol::Binary);
        assert_eq!(&f.payload[..], compact_call);
    }

    #[test]
    fn waits_for_the_whole_frame_and_consumes_only_it() {
        let mut bytes = volo_request();
        let n = bytes.len();
        bytes.extend_from_slice(&volo_request());
        let limits = FrameLimits::default();
        let mut b = LinkBuffer::new();
        b.extend_from_slice(&bytes[..3]);
        assert_eq!(
            decode(&mut b, &limits).unwrap(),
            Decoded::NeedMore(MIN_FRAME_LEN - 3)
        );
        b.extend_from_slice(&bytes[3..20]);
        assert_eq!(decode(&mut b, &limits).unwrap(), Decoded::NeedMore(n - 20));
        b.extend_from_slice(&bytes[20..]);
        assert!(matches!(
            decode(&mut b, &limits).unwrap(),
            Decoded::Ready(_)
        ));
        assert_eq!(b.len(), n);
        assert!(matches!(
            decode(&mut b, &limits).unwrap(),
            Decoded::Ready(_)
        ));
        assert!(b.is_empty());
    }

    /// A frame with the given header info and an unframed CALL after it.
    fn with_info(info: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&((10 + info.len() + CALL.len()) as u32).to_be_bytes());
        f.extend_from_slice(&[0x10, 0, 0, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&((info.len() / 4) as u16).to_be_bytes());
        f.extend_from_slice(info);
        f.extend_from_slice(CALL);
        f
    }

    #[test]
    fn hostile_headers_are_errors() {
        let bad = |info: &[u8]| match decode_all(&with_info(info)) {
            Err(e) => e,
            Ok(d) => panic!("accepted {info:?}: {d:?}"),
        };
        // A string KV count of 1 whose key length runs past the header.
        assert!(matches!(
            bad(b"\x00\x00\x01\x00\x01\x00\xff\x00"),
            Error::BadTransportHeader(_)
        ));
        // Int KVs: count says 2, one is there.
        assert!(matches!(
            bad(b"\x00\x00\x10\x00\x02\x00\x09\x00\x01x\x00\x00"),
            Error::BadTransportHeader(_)
        ));
        // An unknown info id (Kitex's readKVInfo fails on it too).
        assert_eq!(
            bad(b"\x00\x00\x07\x00"),
            Error::BadTransportHeader("unknown ttheader info id")
        );
        // An unknown protocol id, protobuf, transforms.
        assert!(matches!(
            bad(b"\x09\x00\x00\x00"),
            Error::BadTransportHeader(_)
        ));
        assert_eq!(
            bad(b"\x04\x00\x00\x00"),
            Error::Unsupported("kitex protobuf")
        );
        assert_eq!(
            bad(b"\x00\x01\x01\x00"),
            Error::Unsupported("ttheader transforms")
        );
        // An ACL token longer than what is left.
        assert!(matches!(
            bad(b"\x00\x00\x11\x00\x09abc"),
            Error::BadTransportHeader(_)
        ));
    }

    #[test]
    fn hostile_lengths_fail_before_waiting() {
        let limits = FrameLimits {
            max_frame_len: 1000,
        };
        let mut b = LinkBuffer::new();
        b.extend_from_slice(&1001u32.to_be_bytes());
        assert!(matches!(
            decode(&mut b, &limits),
            Err(Error::SizeLimit { .. })
        ));
        // A header size past the frame, known from 14 bytes.
        let mut b = LinkBuffer::new();
        b.extend_from_slice(&[0, 0, 0, 20, 0x10, 0, 0, 0, 0, 0, 0, 1, 0, 9]);
        assert_eq!(
            decode(&mut b, &limits),
            Err(Error::BadTransportHeader(
                "ttheader header size exceeds the frame"
            ))
        );
        // Header size 0 (gopkg's TestDecodeHeaderSizeCheck: "invalid header length").
        let mut b = LinkBuffer::new();
        b.extend_from_slice(&[0, 0, 0, 20, 0x10, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert!(decode(&mut b, &limits).is_err());
        // Wrong magic, from 6 bytes.
        let mut b = LinkBuffer::new();
        b.extend_from_slice(&[0, 0, 0, 20, 0x80, 0x01]);
        assert!(decode(&mut b, &limits).is_err());
        // A length below the minimum.
        let mut b = LinkBuffer::new();
        b.extend_from_slice(&[0, 0, 0, 4]);
        assert!(decode(&mut b, &limits).is_err());
    }

    #[test]
    fn framed_length_inside_must_match() {
        let mut bytes = volo_request();
        let at = bytes.len() - CALL.len() - 4;
        bytes[at + 3] += 1;
        assert!(matches!(
            decode_all(&bytes),
            Err(Error::BadTransportHeader(_))
        ));
    }

    #[test]
    fn setters_refuse_what_does_not_fit() {
        let mut h = TtHeader::new(1);
        let big = Bytes::from(vec![b'x'; u16::MAX as usize + 1]);
        assert!(h.set_int(1, big.clone()).is_err());
        assert!(h.set_str(big.clone(), "v").is_err());
        assert!(h.set_acl_token(big).is_err());
        assert!(h.is_empty(), "a refused set changes nothing");
        // Four values of 60000 bytes outgrow the 262140-byte header.
        let v = Bytes::from(vec![b'y'; 60_000]);
        for k in 0..4 {
            h.set_int(k, v.clone()).unwrap();
        }
        assert!(h.set_int(4, v.clone()).is_err());
        // Replacing a value with one of the same size still fits.
        h.set_int(0, v).unwrap();
        let mut out = LinkWriter::new();
        encode(&mut out, binary_ttheader(), Some(&h), |o| o.put_slice(CALL));
        let f = ready(&out.to_vec());
        assert_eq!(f.header.unwrap(), h);
    }

    #[test]
    fn padding_may_sit_between_blocks() {
        // gopkg's readKVInfo skips a 0x00 info id wherever it appears.
        let f = ready(&with_info(
            b"\x00\x00\x00\x00\x10\x00\x01\x00\x09\x00\x01m\x00\x00\x00\x00",
        ));
        assert_eq!(f.header.unwrap().to_method(), Some("m"));
        assert_eq!(f.codec.transport, Transport::TtHeader);
    }
}
