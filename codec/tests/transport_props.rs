//! Property tests of the transports: TTHeader headers round trip; a stream of
//! several frames decodes the same however it is split into reads; a
//! truncated frame only ever asks for more bytes (never errors, never asks for
//! more than is missing); arbitrary bytes never panic; and decoding a typical
//! request header allocates once.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::Bytes;
use proptest::prelude::*;
use ringrpc_codec::buffer::{LinkBuffer, LinkWriter};
use ringrpc_codec::thrift::{
    BinaryWriter, CompactWriter, MessageIdent, MessageType, Protocol, ProtocolWriter, TType,
    Utf8Bytes,
};
use ringrpc_codec::transport::ttheader::{self, flags, int_key};
use ringrpc_codec::transport::{
    Codec, Decoded, Frame, FrameLimits, Transport, TtHeader, decode_frame, detect, encode_frame,
};

// ---------------------------------------------------------------------------
// Allocation counting, per thread so parallel tests do not disturb it.

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; the counter
// is a const-initialised thread-local `Cell` without a destructor, so bumping
// it neither allocates nor re-enters the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_in<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCS.with(Cell::get);
    let out = f();
    (out, ALLOCS.with(Cell::get) - before)
}

// ---------------------------------------------------------------------------
// Messages and frames.

const ALL_CODECS: [Codec; 8] = {
    const fn c(transport: Transport, protocol: Protocol) -> Codec {
        Codec {
            transport,
            protocol,
        }
    }
    [
        c(Transport::TtHeader, Protocol::Binary),
        c(Transport::TtHeader, Protocol::Compact),
        c(Transport::TtHeaderFramed, Protocol::Binary),
        c(Transport::TtHeaderFramed, Protocol::Compact),
        c(Transport::Framed, Protocol::Binary),
        c(Transport::Framed, Protocol::Compact),
        c(Transport::Buffered, Protocol::Binary),
        c(Transport::Buffered, Protocol::Compact),
    ]
};

/// The content of one Thrift message: a CALL with a struct of a string, an
/// i32 and a list of i64 (enough nesting to exercise the Buffered walk).
#[derive(Debug, Clone)]
struct Msg {
    name: String,
    seqid: i32,
    text: String,
    num: i32,
    list: Vec<i64>,
}

fn msg() -> impl Strategy<Value = Msg> {
    (
        "[a-zA-Z_][a-zA-Z0-9_]{0,12}",
        any::<i32>(),
        ".{0,40}",
        any::<i32>(),
        proptest::collection::vec(any::<i64>(), 0..6),
    )
        .prop_map(|(name, seqid, text, num, list)| Msg {
            name,
            seqid,
            text,
            num,
            list,
        })
}

fn write_msg<W: ProtocolWriter>(w: &mut W, m: &Msg) {
    w.write_message_begin(&MessageIdent::new(
        Utf8Bytes::from(m.name.as_str()),
        MessageType::Call,
        m.seqid,
    ));
    w.write_struct_begin("args");
    w.write_field_begin(TType::Binary, 1);
    w.write_string(&m.text);
    w.write_field_end();
    w.write_field_begin(TType::I32, 2);
    w.write_i32(m.num);
    w.write_field_end();
    w.write_field_begin(TType::List, 3);
    w.write_list_begin(TType::I64, m.list.len());
    for v in &m.list {
        w.write_i64(*v);
    }
    w.write_list_end();
    w.write_field_end();
    w.write_field_stop();
    w.write_struct_end();
    w.write_message_end();
}

/// The message alone, in `protocol`.
fn payload_of(protocol: Protocol, m: &Msg) -> Vec<u8> {
    let mut out = LinkWriter::new();
    match protocol {
        Protocol::Binary => write_msg(&mut BinaryWriter::new(&mut out), m),
        Protocol::Compact => write_msg(&mut CompactWriter::new(&mut out), m),
    }
    out.to_vec()
}

fn encode_one(out: &mut LinkWriter, codec: Codec, header: Option<&TtHeader>, m: &Msg) {
    encode_frame(out, codec, header, |o| match codec.protocol {
        Protocol::Binary => write_msg(&mut BinaryWriter::new(o), m),
        Protocol::Compact => write_msg(&mut CompactWriter::new(o), m),
    });
}

fn is_ttheader(codec: Codec) -> bool {
    matches!(
        codec.transport,
        Transport::TtHeader | Transport::TtHeaderFramed
    )
}

fn header() -> impl Strategy<Value = TtHeader> {
    (
        any::<i32>(),
        any::<u16>(),
        proptest::collection::vec(
            (any::<u16>(), proptest::collection::vec(any::<u8>(), 0..24)),
            0..8,
        ),
        proptest::collection::vec(
            (
                proptest::collection::vec(any::<u8>(), 0..12),
                proptest::collection::vec(any::<u8>(), 0..24),
            ),
            0..8,
        ),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)),
    )
        .prop_map(|(seq, fl, ints, strs, acl)| {
            let mut h = TtHeader::new(seq);
            // Streaming frames are a different protocol, refused on decode.
            h.flags = fl & !flags::STREAMING;
            for (k, v) in ints {
                h.set_int(k, v).expect("small values fit");
            }
            for (k, v) in strs {
                h.set_str(k, v).expect("small values fit");
            }
            if let Some(t) = acl {
                h.set_acl_token(t).expect("a small token fits");
            }
            h
        })
}

/// Splits `data` at `cuts` (positions, any order) into reads.
fn chunks<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    at.push(0);
    at.push(data.len());
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| &data[w[0]..w[1]]).collect()
}

/// Feeds reads one by one, detecting the codec from the first bytes and then
/// cutting every whole frame as soon as it is buffered, as the engine does.
fn decode_stream(reads: &[&[u8]], limits: &FrameLimits) -> Result<Vec<Frame>, String> {
    let mut buf = LinkBuffer::new();
    let mut codec = None;
    let mut frames = Vec::new();
    for read in reads {
        buf.extend_from_slice(read);
        if codec.is_none() {
            let first = buf.peek(buf.len().min(8)).map_err(|e| format!("{e:?}"))?;
            match detect(first).map_err(|e| e.to_string())? {
                Decoded::Ready(c) => codec = Some(c),
                Decoded::NeedMore(n) => {
                    if n == 0 {
                        return Err("detect asked for 0 bytes".into());
                    }
                    continue;
                }
            }
        }
        let c = codec.expect("detected");
        loop {
            match decode_frame(&mut buf, c, limits).map_err(|e| e.to_string())? {
                Decoded::Ready(f) => frames.push(f),
                Decoded::NeedMore(n) => {
                    if n == 0 {
                        return Err("decode asked for 0 bytes".into());
                    }
                    break;
                }
            }
        }
    }
    if !buf.is_empty() {
        return Err(format!("{} bytes left over", buf.len()));
    }
    Ok(frames)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any header, with any payload, in TTHeader or TTHeaderFramed, binary or
    /// compact: decoding gives back the header, the codec and the message.
    #[test]
    fn ttheader_round_trips(h in header(), m in msg(), framed in any::<bool>(), compact in any::<bool>()) {
        let codec = Codec {
            transport: if framed { Transport::TtHeaderFramed } else { Transport::TtHeader },
            protocol: if compact { Protocol::Compact } else { Protocol::Binary },
        };
        let mut out = LinkWriter::new();
        encode_one(&mut out, codec, Some(&h), &m);
        let bytes = out.to_vec();
        let info_words = u16::from_be_bytes([bytes[12], bytes[13]]) as usize;
        prop_assert_eq!(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize, bytes.len() - 4);
        let mut buf = LinkBuffer::new();
        buf.extend_from_slice(&bytes);
        let Decoded::Ready(f) = decode_frame(&mut buf, codec, &FrameLimits::default()).unwrap() else {
            panic!("a whole frame")
        };
        prop_assert!(buf.is_empty());
        prop_assert_eq!(f.codec, codec);
        prop_assert_eq!(&f.payload[..], &payload_of(codec.protocol, &m)[..]);
        prop_assert_eq!(
            f.payload.len() + 14 + 4 * info_words + if framed { 4 } else { 0 },
            bytes.len()
        );
        let mut want = h.clone();
        want.protocol = codec.protocol;
        prop_assert_eq!(f.header.unwrap(), want);
    }

    /// Several frames in one codec, split into reads anywhere: detection and
    /// decoding give the same frames as decoding the whole stream at once,
    /// and those are the messages written.
    #[test]
    fn any_split_decodes_the_same(
        which in 0usize..ALL_CODECS.len(),
        msgs in proptest::collection::vec((msg(), header()), 1..5),
        cuts in proptest::collection::vec(any::<usize>(), 0..24),
    ) {
        let codec = ALL_CODECS[which];
        let mut out = LinkWriter::new();
        for (m, h) in &msgs {
            encode_one(&mut out, codec, Some(h), m);
        }
        let stream = out.to_vec();
        let limits = FrameLimits::default();
        let whole = decode_stream(&[&stream], &limits).unwrap();
        let split = decode_stream(&chunks(&stream, &cuts), &limits).unwrap();
        prop_assert_eq!(&whole, &split);
        prop_assert_eq!(whole.len(), msgs.len());
        for (f, (m, h)) in whole.iter().zip(&msgs) {
            prop_assert_eq!(f.codec, codec);
            prop_assert_eq!(&f.payload[..], &payload_of(codec.protocol, m)[..]);
            if is_ttheader(codec) {
                let mut want = h.clone();
                want.protocol = codec.protocol;
                prop_assert_eq!(f.header.as_ref(), Some(&want));
            } else {
                prop_assert!(f.header.is_none());
            }
        }
    }

    /// Every proper prefix of a frame is `NeedMore(n)` with `1 <= n <=`
    /// the bytes missing, and consumes nothing; detection on a prefix never
    /// fails either.
    #[test]
    fn truncation_only_asks_for_more(which in 0usize..ALL_CODECS.len(), m in msg(), h in header()) {
        let codec = ALL_CODECS[which];
        let mut out = LinkWriter::new();
        encode_one(&mut out, codec, Some(&h), &m);
        let bytes = out.to_vec();
        let limits = FrameLimits::default();
        for cut in 0..bytes.len() {
            let mut buf = LinkBuffer::new();
            // Two chunks, so cross-chunk paths run too.
            buf.extend_from_slice(&bytes[..cut / 2]);
            buf.extend_from_slice(&bytes[cut / 2..cut]);
            match decode_frame(&mut buf, codec, &limits) {
                Ok(Decoded::NeedMore(n)) => {
                    prop_assert!(n >= 1 && n <= bytes.len() - cut, "cut {} asked {} of {}", cut, n, bytes.len());
                }
                other => prop_assert!(false, "cut {}: {:?}", cut, other),
            }
            prop_assert_eq!(buf.len(), cut);
            let d = detect(&bytes[..cut.min(8)]);
            prop_assert!(d.is_ok(), "detect on {} bytes: {:?}", cut, d);
        }
    }

    /// Arbitrary bytes, in any codec and any split: detection and decoding
    /// return (a value, a need, or an error) and never panic; a frame that
    /// does decode lies within the input.
    #[test]
    fn random_bytes_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..512),
        which in 0usize..ALL_CODECS.len(),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let _ = detect(&data);
        let codec = ALL_CODECS[which];
        let limits = FrameLimits { max_frame_len: 1024 };
        let mut buf = LinkBuffer::new();
        let mut used = 0usize;
        'reads: for read in chunks(&data, &cuts) {
            buf.extend_from_slice(read);
            loop {
                match decode_frame(&mut buf, codec, &limits) {
                    Ok(Decoded::Ready(f)) => {
                        used += f.payload.len();
                        prop_assert!(used <= data.len());
                    }
                    Ok(Decoded::NeedMore(n)) => {
                        prop_assert!(n >= 1);
                        break;
                    }
                    Err(_) => break 'reads,
                }
            }
        }
    }

    /// Bytes that start like a TTHeader (magic in place, sane length) but are
    /// random after: errors or frames, never panics, never an endless wait
    /// for a frame that is all there.
    #[test]
    fn random_ttheader_bodies_never_panic(
        body in proptest::collection::vec(any::<u8>(), 4..256),
        words in 0u16..80,
    ) {
        let mut f = Vec::new();
        f.extend_from_slice(&((body.len() + 10) as u32).to_be_bytes());
        f.extend_from_slice(&[0x10, 0, 0, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&words.to_be_bytes());
        f.extend_from_slice(&body);
        let mut buf = LinkBuffer::new();
        buf.extend_from_slice(&f);
        let r = ttheader::decode(&mut buf, &FrameLimits::default());
        prop_assert!(!matches!(r, Ok(Decoded::NeedMore(_))), "the whole frame is there: {:?}", r);
    }
}

/// A Kitex-style request header (the int keys Kitex's client handler writes,
/// `pkg/transmeta/ttheader.go`, plus `isn`), decoded from a read chunk as the
/// engine holds it: no allocation, for decoding, cloning or lookups.
#[test]
fn a_typical_request_header_decodes_without_allocating() {
    let mut h = TtHeader::new(1);
    h.set_from_service("item.client").unwrap();
    h.set_from_method("buy").unwrap();
    h.set_to_service("item.stock").unwrap();
    h.set_to_method("GetItem").unwrap();
    h.set_msg_type(MessageType::Call).unwrap();
    h.set_int(int_key::TRANSPORT_TYPE, "framed").unwrap();
    h.set_int(int_key::RPC_TIMEOUT, "1000").unwrap();
    h.set_idl_service_name("StockService").unwrap();
    let m = Msg {
        name: "GetItem".into(),
        seqid: 1,
        text: "item-42".into(),
        num: 1,
        list: vec![],
    };
    let codec = Codec {
        transport: Transport::TtHeaderFramed,
        protocol: Protocol::Binary,
    };
    let mut out = LinkWriter::new();
    encode_one(&mut out, codec, Some(&h), &m);
    let bytes = out.to_vec();

    let mut buf = LinkBuffer::new();
    let mut chunk = buf.read_target();
    chunk.extend_from_slice(&bytes);
    buf.commit_read(chunk);
    let limits = FrameLimits::default();
    let (frame, n) = allocations_in(|| decode_frame(&mut buf, codec, &limits));
    let Ok(Decoded::Ready(f)) = frame else {
        panic!("a whole frame: {frame:?}")
    };
    assert_eq!(n, 0, "the header is read in place");
    let got = f.header.unwrap();
    let (copy, n) = allocations_in(|| got.clone());
    assert_eq!(n, 0, "cloning a decoded header allocates nothing");
    assert_eq!(copy, got);
    let (method, n) = allocations_in(|| (got.to_method(), got.int(int_key::TO_SERVICE)));
    assert_eq!(n, 0, "lookups allocate nothing");
    assert_eq!(method.0, Some("GetItem"));
    assert_eq!(method.1.as_deref(), Some(&b"item.stock"[..]));
    assert_eq!(got.int_kvs().count(), 7);

    // A header without key/value pairs does not allocate at all.
    let mut out = LinkWriter::new();
    encode_one(&mut out, codec, None, &m);
    let bytes = out.to_vec();
    let mut chunk = buf.read_target();
    chunk.extend_from_slice(&bytes);
    buf.commit_read(chunk);
    let (frame, n) = allocations_in(|| decode_frame(&mut buf, codec, &limits));
    assert!(matches!(frame, Ok(Decoded::Ready(_))));
    assert_eq!(n, 0);
}

/// The stream test's helper agrees with `Bytes` slicing: decoded payloads of
/// a single-chunk stream point into that chunk (zero copy end to end).
#[test]
fn frames_from_one_chunk_are_zero_copy() {
    for codec in ALL_CODECS {
        let m = Msg {
            name: "echo".into(),
            seqid: 3,
            text: "zero copy".into(),
            num: 0,
            list: vec![1, 2],
        };
        let mut out = LinkWriter::new();
        encode_one(&mut out, codec, None, &m);
        encode_one(&mut out, codec, None, &m);
        let stream = Bytes::from(out.to_vec());
        let range = stream.as_ptr() as usize..stream.as_ptr() as usize + stream.len();
        let mut buf = LinkBuffer::new();
        buf.push(stream.clone());
        for _ in 0..2 {
            let Ok(Decoded::Ready(f)) = decode_frame(&mut buf, codec, &FrameLimits::default())
            else {
                panic!("{codec:?}: whole frame")
            };
            assert!(
                range.contains(&(f.payload.as_ptr() as usize)),
                "{codec:?}: payload is a slice of the read"
            );
        }
    }
}
