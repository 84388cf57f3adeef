//! Wire compatibility with volo-thrift (the real crate, from crates.io), in
//! both directions, for every transport and both protocols, without sockets:
//! volo's own codec layers and pilota's generated echo types produce and
//! consume the bytes (see `ringrpc_interop`'s crate docs for how).
//!
//! - volo client call  → ringrpc `detect` + `decode_frame` + reader
//! - ringrpc call      → volo server decoder
//! - volo server reply → ringrpc decoder
//! - ringrpc reply     → volo client decoder
//!
//! and byte-for-byte vectors: for the same message, ringrpc's encoding equals
//! volo's, headers included.

use bytes::Bytes;
use ringrpc_codec::buffer::{LinkBuffer, LinkWriter};
use ringrpc_codec::thrift::{
    BinaryReader, BinaryWriter, CompactReader, CompactWriter, MessageIdent, MessageType, Protocol,
    ProtocolReader, ProtocolWriter, TType, Utf8Bytes,
};
use ringrpc_codec::transport::ttheader::int_key;
use ringrpc_codec::transport::{
    Codec, Decoded, Frame, FrameLimits, Transport, TtHeader, decode_frame, detect, encode_frame,
};
use ringrpc_interop::{
    CLIENT_SERVICE, IDL_SERVICE, RPC_TIMEOUT, SERVER_SERVICE, TMessageType, TRANSIENT,
    VoloProtocol, echo,
};
use volo::context::Context;
use volo_thrift::codec::default::framed::HasFramed;
use volo_thrift::codec::default::ttheader::HasTTHeader;
use volo_thrift::context::ThriftContext;
use volo_thrift::{BizError, ProtocolApacheCompact, ProtocolBinary};

const SEQ: i32 = 0x0102_0304;

fn codec(transport: Transport, protocol: Protocol) -> Codec {
    Codec {
        transport,
        protocol,
    }
}

fn volo_protocol(p: Protocol) -> VoloProtocol {
    match p {
        Protocol::Binary => VoloProtocol::Binary,
        Protocol::Compact => VoloProtocol::ApacheCompact,
    }
}

/// Runs `$body` with `$peer` bound to the volo stack for `$codec`.
macro_rules! with_peer {
    ($codec:expr, |$peer:ident| $body:expr) => {{
        let c: Codec = $codec;
        let p = volo_protocol(c.protocol);
        match c.transport {
            Transport::TtHeaderFramed => {
                let $peer = ringrpc_interop::ttheader_framed(p);
                $body
            }
            Transport::TtHeader => {
                let $peer = ringrpc_interop::ttheader(p);
                $body
            }
            Transport::Framed => {
                let $peer = ringrpc_interop::framed(p);
                $body
            }
            Transport::Buffered => {
                let $peer = ringrpc_interop::buffered(p);
                $body
            }
        }
    }};
}

fn all_codecs() -> Vec<Codec> {
    let mut v = Vec::new();
    for t in [
        Transport::TtHeaderFramed,
        Transport::TtHeader,
        Transport::Framed,
        Transport::Buffered,
    ] {
        for p in [Protocol::Binary, Protocol::Compact] {
            v.push(codec(t, p));
        }
    }
    v
}

fn has_ttheader(c: Codec) -> bool {
    matches!(c.transport, Transport::TtHeader | Transport::TtHeaderFramed)
}

fn is_framed(c: Codec) -> bool {
    matches!(c.transport, Transport::Framed | Transport::TtHeaderFramed)
}

// ---------------------------------------------------------------------------
// ringrpc's side: the echo messages written and read by hand with the codec.

/// `echo_args { 1: EchoRequest { 1: msg } }` (call) or
/// `echo_result { 0: EchoResponse { 1: msg } }` (reply).
fn write_echo<W: ProtocolWriter>(w: &mut W, msg_type: MessageType, seqid: i32, msg: &str) {
    w.write_message_begin(&MessageIdent::new(
        Utf8Bytes::from_static("echo"),
        msg_type,
        seqid,
    ));
    w.write_struct_begin("echo_args_or_result");
    w.write_field_begin(
        TType::Struct,
        if msg_type == MessageType::Reply { 0 } else { 1 },
    );
    w.write_struct_begin("EchoRequest_or_Response");
    w.write_field_begin(TType::Binary, 1);
    w.write_string(msg);
    w.write_field_end();
    w.write_field_stop();
    w.write_struct_end();
    w.write_field_end();
    w.write_field_stop();
    w.write_struct_end();
    w.write_message_end();
}

fn read_echo<R: ProtocolReader>(r: &mut R) -> ringrpc_codec::Result<(MessageIdent, String)> {
    let ident = r.read_message_begin()?;
    let want_field = if ident.msg_type == MessageType::Reply {
        0
    } else {
        1
    };
    let mut msg = None;
    r.read_struct_begin()?;
    loop {
        let f = r.read_field_begin()?;
        if f.ttype == TType::Stop {
            break;
        }
        if f.id == want_field && f.ttype == TType::Struct {
            r.read_struct_begin()?;
            loop {
                let g = r.read_field_begin()?;
                if g.ttype == TType::Stop {
                    break;
                }
                if g.id == 1 && g.ttype == TType::Binary {
                    msg = Some(r.read_string()?.to_string());
                } else {
                    r.skip(g.ttype)?;
                }
                r.read_field_end()?;
            }
            r.read_struct_end()?;
        } else {
            r.skip(f.ttype)?;
        }
        r.read_field_end()?;
    }
    r.read_struct_end()?;
    r.read_message_end()?;
    assert_eq!(r.remaining(), 0, "the message fills its frame");
    Ok((ident, msg.expect("the echo string is there")))
}

fn read_payload(protocol: Protocol, payload: Bytes) -> (MessageIdent, String) {
    match protocol {
        Protocol::Binary => read_echo(&mut BinaryReader::new(payload)),
        Protocol::Compact => read_echo(&mut CompactReader::new(payload)),
    }
    .expect("the payload reads as an echo message")
}

/// The header ringrpc's client sends, laid out as volo's client lays out
/// its own (volo-thrift `src/codec/default/ttheader.rs`, `encode`, role
/// Client): string KVs (transients, then `isn`), then int KVs in the order
/// WithMeshHeader, RPCTimeout, FromService, ToMethod, ToService.
fn client_header(seq: i32) -> TtHeader {
    let mut h = TtHeader::new(seq);
    h.set_str(
        format!("RPC_TRANSIT_{}", TRANSIENT.0),
        Bytes::from_static(TRANSIENT.1.as_bytes()),
    )
    .unwrap();
    h.set_idl_service_name(IDL_SERVICE).unwrap();
    h.set_int(int_key::WITH_MESH_HEADER, "3").unwrap();
    h.set_rpc_timeout(RPC_TIMEOUT).unwrap();
    h.set_from_service(CLIENT_SERVICE).unwrap();
    h.set_to_method("echo").unwrap();
    h.set_to_service(SERVER_SERVICE).unwrap();
    h
}

fn ours(c: Codec, header: Option<&TtHeader>, msg_type: MessageType, msg: &str) -> Vec<u8> {
    let mut out = LinkWriter::new();
    encode_frame(&mut out, c, header, |o| match c.protocol {
        Protocol::Binary => write_echo(&mut BinaryWriter::new(o), msg_type, SEQ, msg),
        Protocol::Compact => write_echo(&mut CompactWriter::new(o), msg_type, SEQ, msg),
    });
    out.to_vec()
}

/// What the engine does: detect, then cut frames until the bytes run out.
fn decode_ours(bytes: &[u8]) -> (Codec, Vec<Frame>) {
    let Ok(Decoded::Ready(detected)) = detect(bytes) else {
        panic!("detect fails on {:02x?}", &bytes[..bytes.len().min(8)])
    };
    let mut buf = LinkBuffer::new();
    buf.extend_from_slice(bytes);
    let mut frames = Vec::new();
    loop {
        match decode_frame(&mut buf, detected, &FrameLimits::default()) {
            Ok(Decoded::Ready(f)) => frames.push(f),
            Ok(Decoded::NeedMore(_)) => break,
            Err(e) => panic!("decode_frame: {e}"),
        }
    }
    assert!(buf.is_empty(), "every byte belongs to a frame");
    (detected, frames)
}

// ---------------------------------------------------------------------------

#[test]
fn volo_client_calls_decode_with_ringrpc() {
    for c in all_codecs() {
        let bytes = with_peer!(c, |peer| peer.client_call(SEQ, "hello from volo").unwrap());
        let (detected, frames) = decode_ours(&bytes);
        assert_eq!(frames.len(), 1, "{c:?}");
        let f = &frames[0];
        assert_eq!(
            f.codec, c,
            "the frame reports volo's transport and protocol"
        );
        if has_ttheader(c) {
            assert_eq!(detected.transport, Transport::TtHeader);
            let h = f.header.as_ref().expect("a ttheader");
            assert_eq!(h.seq_id, SEQ);
            assert_eq!(h.to_method(), Some("echo"));
            assert_eq!(h.to_service(), Some(SERVER_SERVICE));
            assert_eq!(h.from_service(), Some(CLIENT_SERVICE));
            assert_eq!(h.rpc_timeout(), Some(RPC_TIMEOUT));
            assert_eq!(h.idl_service_name(), Some(IDL_SERVICE));
            assert_eq!(h.int_str(int_key::WITH_MESH_HEADER), Some("3"));
            assert_eq!(
                h.str_str(&format!("RPC_TRANSIT_{}", TRANSIENT.0)),
                Some(TRANSIENT.1)
            );
            // Volo writes protocol id 0 even over compact (see ttheader.rs).
            assert_eq!(h.protocol, Protocol::Binary);
        } else {
            assert_eq!(detected, c);
            assert!(f.header.is_none());
        }
        let (ident, msg) = read_payload(f.codec.protocol, f.payload.clone());
        assert_eq!(&*ident.name, "echo");
        assert_eq!(ident.msg_type, MessageType::Call);
        assert_eq!(ident.seqid, SEQ);
        assert_eq!(msg, "hello from volo");
    }
}

#[test]
fn ringrpc_calls_decode_with_a_volo_server() {
    for c in all_codecs() {
        let h = client_header(SEQ);
        let bytes = ours(c, Some(&h), MessageType::Call, "hello from ringrpc");
        let (m, cx, left) = with_peer!(c, |peer| peer
            .server_call(&bytes)
            .unwrap_or_else(|e| panic!("{c:?}: volo rejects our call: {e}")));
        assert_eq!(left, 0, "{c:?}: volo consumed the whole frame");
        let echo::EchoServiceRequestRecv::Echo(args) = m.data.expect("a call, not an exception");
        assert_eq!(&*args.req.msg, "hello from ringrpc");
        assert_eq!(m.meta.msg_type, TMessageType::Call);
        assert_eq!(cx.seq_id(), SEQ);
        assert_eq!(&**cx.rpc_info.method(), "echo");
        assert_eq!(cx.extensions().contains::<HasTTHeader>(), has_ttheader(c));
        assert_eq!(cx.extensions().contains::<HasFramed>(), is_framed(c));
        match c.protocol {
            Protocol::Binary => assert!(cx.extensions().contains::<ProtocolBinary>()),
            Protocol::Compact => assert!(cx.extensions().contains::<ProtocolApacheCompact>()),
        }
        if has_ttheader(c) {
            assert_eq!(cx.idl_service_name().map(|s| &**s), Some(IDL_SERVICE));
            assert_eq!(cx.rpc_info.caller().service_name_ref(), CLIENT_SERVICE);
            assert_eq!(cx.rpc_info.callee().service_name_ref(), SERVER_SERVICE);
            assert_eq!(cx.rpc_info.config().rpc_timeout(), Some(RPC_TIMEOUT));
        }
    }
}

#[test]
fn volo_server_replies_decode_with_ringrpc() {
    for c in all_codecs() {
        let call = ours(c, Some(&client_header(SEQ)), MessageType::Call, "ping");
        let bytes = with_peer!(c, |peer| {
            let (_, mut cx, _) = peer.server_call(&call).unwrap();
            cx.stats_mut().set_biz_error(BizError {
                status_code: 1001,
                status_message: "out of stock".into(),
                extra: None,
            });
            cx.transport.set_conn_reset(true);
            peer.server_reply(&mut cx, "pong").unwrap()
        });
        let (_, frames) = decode_ours(&bytes);
        assert_eq!(frames.len(), 1);
        let f = &frames[0];
        assert_eq!(f.codec, c, "volo answers in the codec it detected");
        if has_ttheader(c) {
            let h = f.header.as_ref().unwrap();
            assert_eq!(h.seq_id, SEQ);
            // Volo's server writes MsgType as one raw byte.
            assert_eq!(h.int(int_key::MSG_TYPE).as_deref(), Some(&[2u8][..]));
            assert_eq!(h.msg_type(), Some(MessageType::Reply));
            assert_eq!(h.biz_status(), Some(1001));
            assert_eq!(h.biz_message(), Some("out of stock"));
            assert!(h.connection_ready_to_reset());
        }
        let (ident, msg) = read_payload(f.codec.protocol, f.payload.clone());
        assert_eq!(ident.msg_type, MessageType::Reply);
        assert_eq!(ident.seqid, SEQ);
        assert_eq!(&*ident.name, "echo");
        assert_eq!(msg, "pong");
    }
}

#[test]
fn ringrpc_replies_decode_with_a_volo_client() {
    for c in all_codecs() {
        let mut h = TtHeader::new(SEQ);
        h.set_msg_type(MessageType::Reply).unwrap();
        h.set_biz_status(
            2002,
            "quota",
            Some(Bytes::from_static(b"{\"retry\":\"no\"}")),
        )
        .unwrap();
        h.set_connection_ready_to_reset().unwrap();
        let bytes = ours(c, Some(&h), MessageType::Reply, "pong from ringrpc");
        let (m, cx, left) = with_peer!(c, |peer| peer
            .client_reply(SEQ, &bytes)
            .unwrap_or_else(|e| panic!("{c:?}: volo rejects our reply: {e}")));
        assert_eq!(left, 0);
        assert_eq!(m.meta.msg_type, TMessageType::Reply);
        let echo::EchoServiceResponseRecv::Echo(echo::EchoServiceEchoResultRecv::Ok(resp)) =
            m.data.expect("a reply, not an exception");
        assert_eq!(&*resp.msg, "pong from ringrpc");
        if has_ttheader(c) {
            let biz = cx
                .stats()
                .biz_error()
                .as_ref()
                .expect("volo read the biz status");
            assert_eq!(biz.status_code, 2002);
            assert_eq!(&*biz.status_message, "quota");
            let extra = biz.extra.as_ref().expect("volo parsed biz-extra");
            assert_eq!(extra.get("retry").map(|v| &**v), Some("no"));
            assert!(
                !cx.transport.should_reuse,
                "crrst tells volo to drop the connection"
            );
        }
    }
}

/// The same call, encoded by volo and by ringrpc, is the same bytes: the
/// payloads for every codec, and whole frames too (TTHeader included, with
/// the header's keys in volo's order).
#[test]
fn the_same_call_is_the_same_bytes() {
    for c in all_codecs() {
        let theirs = with_peer!(c, |peer| peer.client_call(SEQ, "same").unwrap());
        let mine = ours(c, Some(&client_header(SEQ)), MessageType::Call, "same");
        if c.protocol == Protocol::Compact && has_ttheader(c) {
            // Volo's client writes protocol id 0 over a compact payload; we
            // write 2 (gopkg ProtocolIDThriftCompact). Everything else agrees.
            assert_eq!((theirs[14], mine[14]), (0, 2), "{c:?}");
            let mut fixed = mine.clone();
            fixed[14] = 0;
            assert_eq!(hex(&theirs), hex(&fixed), "{c:?}");
        } else {
            assert_eq!(hex(&theirs), hex(&mine), "{c:?}");
        }
    }
}

#[test]
fn the_same_reply_is_the_same_payload() {
    for c in all_codecs() {
        let call = ours(c, Some(&client_header(SEQ)), MessageType::Call, "q");
        let theirs = with_peer!(c, |peer| {
            let (_, mut cx, _) = peer.server_call(&call).unwrap();
            peer.server_reply(&mut cx, "same reply").unwrap()
        });
        let (_, frames) = decode_ours(&theirs);
        let mut mine = LinkWriter::new();
        match c.protocol {
            Protocol::Binary => write_echo(
                &mut BinaryWriter::new(&mut mine),
                MessageType::Reply,
                SEQ,
                "same reply",
            ),
            Protocol::Compact => write_echo(
                &mut CompactWriter::new(&mut mine),
                MessageType::Reply,
                SEQ,
                "same reply",
            ),
        }
        assert_eq!(hex(&frames[0].payload), hex(&mine.to_vec()), "{c:?}");
    }
}

/// Pipelined: three volo calls back to back on one stream, cut apart by
/// ringrpc.
#[test]
fn pipelined_volo_calls_cut_apart() {
    for c in all_codecs() {
        let mut stream = Vec::new();
        for i in 0..3 {
            stream.extend(with_peer!(c, |peer| peer
                .client_call(SEQ + i, &format!("call {i}"))
                .unwrap()));
        }
        let (_, frames) = decode_ours(&stream);
        assert_eq!(frames.len(), 3, "{c:?}");
        for (i, f) in frames.iter().enumerate() {
            let (ident, msg) = read_payload(f.codec.protocol, f.payload.clone());
            assert_eq!(ident.seqid, SEQ + i as i32);
            assert_eq!(msg, format!("call {i}"));
        }
    }
}

/// The vector bytes, printed on failure as hex, and kept on disk for
/// inspection (`target/.../interop-vectors/`).
fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn volo_vectors_are_written_out() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-vectors");
    std::fs::create_dir_all(&dir).unwrap();
    for c in all_codecs() {
        let call = with_peer!(c, |peer| peer.client_call(SEQ, "hello").unwrap());
        let reply = with_peer!(c, |peer| {
            let (_, mut cx, _) = peer.server_call(&call).unwrap();
            peer.server_reply(&mut cx, "hello").unwrap()
        });
        let name = format!("{:?}-{:?}", c.transport, c.protocol).to_lowercase();
        std::fs::write(dir.join(format!("{name}-call.hex")), hex(&call)).unwrap();
        std::fs::write(dir.join(format!("{name}-reply.hex")), hex(&reply)).unwrap();
        assert!(!call.is_empty() && !reply.is_empty());
    }
}
