//! Wire-compatibility tests of ringrpc against real peers; the tests live in
//! `tests/` (the live gRPC ones against tonic in `tests/grpc_tonic_*.rs`).
//!
//! The peer is volo-thrift itself, driven without sockets: its codec is a
//! stack of `ZeroCopyEncoder` / `ZeroCopyDecoder` layers
//! (`volo_thrift::codec::default::{ttheader, framed, thrift}`), each with a
//! synchronous `encode(cx, &mut LinkedBytes, msg)` and `decode(cx, &mut
//! Bytes)`; the async socket loop (`DefaultEncoder` / `DefaultDecoder`) only
//! moves those bytes. So [`VoloPeer`] calls the very layers a Volo client or
//! server runs, with a real `ClientContext` / `ServerContext`, inside the
//! `METAINFO` task-local scope the TTHeader layer reads, and hands bytes in
//! and out.
//!
//! [`echo`] holds the types volo-build generates for `idl/echo.thrift`: the
//! peer's messages are encoded by pilota's generated code, not ours.

use std::cell::RefCell;
use std::time::Duration;

use metainfo::{Forward, MetaInfo};
use volo::FastStr;
use volo::context::{Endpoint, Role, RpcInfo};
use volo_thrift::codec::default::{MakeZeroCopyCodec, ZeroCopyDecoder, ZeroCopyEncoder};
use volo_thrift::context::{ClientContext, Config, ServerContext, ThriftContext};
use volo_thrift::{EntryMessage, LinkedBytes, ThriftMessage};

pub use pilota::thrift::TMessageType;
pub use volo_thrift::codec::default::framed::MakeFramedCodec;
pub use volo_thrift::codec::default::thrift::{MakeThriftCodec, Protocol as VoloProtocol};
pub use volo_thrift::codec::default::ttheader::MakeTTHeaderCodec;
pub use volo_thrift::{Bytes, ThriftException};

#[allow(
    missing_docs,
    missing_debug_implementations,
    clippy::all,
    unused,
    unreachable_pub
)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/volo_gen.rs"));
}

/// volo-build's types for `idl/echo.thrift` (namespace `rs echo`).
pub use generated::volo_gen::echo;
/// volo-build's types for `idl/item.thrift` (namespace
/// `rs example.shop.item`).
pub use generated::volo_gen::example::shop::item;

/// The codec benchmark's IDL (`idl/bench.thrift`), generated twice.
pub mod bench {
    /// By volo-build: pilota's types.
    #[allow(
        missing_docs,
        missing_debug_implementations,
        clippy::all,
        unused,
        unreachable_pub
    )]
    pub mod pilota_gen {
        include!(concat!(env!("OUT_DIR"), "/volo_bench.rs"));
    }
    /// By ringrpc-build, codec-only.
    pub mod ours {
        include!(concat!(env!("OUT_DIR"), "/ringrpc_bench/ringrpc_gen.rs"));
    }
}

/// The caller's service name the peer's client puts in its TTHeader.
pub const CLIENT_SERVICE: &str = "interop-client";
/// The callee's service name the peer's client puts in its TTHeader.
pub const SERVER_SERVICE: &str = "echo-server";
/// The IDL service name (`isn`) the peer's client sends.
pub const IDL_SERVICE: &str = "EchoService";
/// The RPC timeout the peer's client sends.
pub const RPC_TIMEOUT: Duration = Duration::from_millis(1500);
/// A forward metainfo entry the peer's client sends (as the string key
/// `RPC_TRANSIT_` + this key).
pub const TRANSIENT: (&str, &str) = ("tenant", "blue");

/// A volo-thrift codec stack, as a client or a server uses it.
#[derive(Debug)]
pub struct VoloPeer<Mk> {
    make: Mk,
}

/// Runs `f` inside the `METAINFO` scope volo-thrift's TTHeader layer reads
/// (a tokio task-local; entering it needs no runtime).
fn with_metainfo<T>(mi: MetaInfo, f: impl FnOnce() -> T) -> T {
    volo::METAINFO.sync_scope(RefCell::new(mi), f)
}

/// A client context as volo-thrift's generated client makes one for `echo`.
pub fn client_cx(seq_id: i32) -> ClientContext {
    let mut config = Config::new();
    config.set_rpc_timeout(Some(RPC_TIMEOUT));
    let ri = RpcInfo::new(
        Role::Client,
        FastStr::from_static_str("echo"),
        Endpoint::new(FastStr::from_static_str(CLIENT_SERVICE)),
        Endpoint::new(FastStr::from_static_str(SERVER_SERVICE)),
        config,
    );
    let mut cx = ClientContext::new(seq_id, ri, TMessageType::Call);
    cx.set_idl_service_name(FastStr::from_static_str(IDL_SERVICE));
    cx
}

fn flatten(lb: LinkedBytes) -> Vec<u8> {
    lb.concat().to_vec()
}

impl<Mk: MakeZeroCopyCodec> VoloPeer<Mk> {
    /// A peer speaking through this codec stack.
    pub fn new(make: Mk) -> Self {
        Self { make }
    }

    fn encode<Msg: EntryMessage + Send, Cx: ThriftContext>(
        &self,
        cx: &mut Cx,
        msg: ThriftMessage<Msg>,
        mi: MetaInfo,
    ) -> Result<Vec<u8>, ThriftException> {
        let (mut enc, _) = self.make.make_codec();
        with_metainfo(mi, || {
            let (_, malloc) = enc.size(cx, &msg)?;
            let mut lb = LinkedBytes::with_capacity(malloc);
            enc.encode(cx, &mut lb, msg)?;
            Ok(flatten(lb))
        })
    }

    fn decode<Msg: EntryMessage + Send, Cx: ThriftContext>(
        &self,
        cx: &mut Cx,
        bytes: &[u8],
    ) -> Result<(ThriftMessage<Msg>, usize), ThriftException> {
        let (_, mut dec) = self.make.make_codec();
        let mut b = Bytes::copy_from_slice(bytes);
        with_metainfo(MetaInfo::default(), || {
            let m = dec
                .decode::<Msg, Cx>(cx, &mut b)?
                .ok_or_else(|| ThriftException::from(anyhow_like("no message")))?;
            Ok((m, b.len()))
        })
    }

    /// A volo client's `echo(req)` call with sequence id `seq_id`, as bytes:
    /// with a forward metainfo entry ([`TRANSIENT`]), the IDL service name
    /// and the RPC timeout.
    pub fn client_call(&self, seq_id: i32, msg: &str) -> Result<Vec<u8>, ThriftException> {
        let mut cx = client_cx(seq_id);
        let req = echo::EchoServiceRequestSend::Echo(echo::EchoServiceEchoArgsSend {
            req: echo::EchoRequest {
                msg: FastStr::new(msg),
            },
        });
        let msg = ThriftMessage::mk_client_msg(&cx, req);
        let mut mi = MetaInfo::default();
        mi.set_transient(
            FastStr::from_static_str(TRANSIENT.0),
            FastStr::from_static_str(TRANSIENT.1),
        );
        self.encode(&mut cx, msg, mi)
    }

    /// Decodes a reply as a volo client with sequence id `seq_id` does.
    /// Returns the message, the client context (biz status, connection reset
    /// flag) and the bytes left over.
    pub fn client_reply(
        &self,
        seq_id: i32,
        bytes: &[u8],
    ) -> Result<
        (
            ThriftMessage<echo::EchoServiceResponseRecv>,
            ClientContext,
            usize,
        ),
        ThriftException,
    > {
        let mut cx = client_cx(seq_id);
        let (m, left) = self.decode(&mut cx, bytes)?;
        Ok((m, cx, left))
    }

    /// Decodes a call as a volo server does. Returns the message, the server
    /// context (method, seq id, timeout, caller, `isn`, and what it detected:
    /// TTHeader, Framed, protocol) and the bytes left over.
    pub fn server_call(
        &self,
        bytes: &[u8],
    ) -> Result<
        (
            ThriftMessage<echo::EchoServiceRequestRecv>,
            ServerContext,
            usize,
        ),
        ThriftException,
    > {
        let mut cx = ServerContext::default();
        let (m, left) = self.decode(&mut cx, bytes)?;
        Ok((m, cx, left))
    }

    /// A volo server's reply `EchoResponse { msg }` to a call it decoded with
    /// `cx` (so it answers in the transport and protocol it detected), as
    /// bytes.
    pub fn server_reply(
        &self,
        cx: &mut ServerContext,
        msg: &str,
    ) -> Result<Vec<u8>, ThriftException> {
        cx.msg_type = Some(TMessageType::Reply);
        let resp = echo::EchoServiceResponseSend::Echo(echo::EchoServiceEchoResultSend::Ok(
            echo::EchoResponse {
                msg: FastStr::new(msg),
            },
        ));
        let m = ThriftMessage::mk_server_resp(cx, Ok(resp));
        self.encode(cx, m, MetaInfo::default())
    }
}

fn anyhow_like(msg: &'static str) -> pilota::thrift::ProtocolException {
    pilota::thrift::ProtocolException::new(pilota::thrift::ProtocolExceptionKind::InvalidData, msg)
}

/// Volo's default stack, TTHeader over Framed over binary
/// (`volo_thrift::codec::default` docs: "the default codec protocol is
/// `TTHeader<Framed<Binary>>`").
pub fn ttheader_framed(
    protocol: VoloProtocol,
) -> VoloPeer<MakeTTHeaderCodec<MakeFramedCodec<MakeThriftCodec>>> {
    VoloPeer::new(MakeTTHeaderCodec::new(MakeFramedCodec::new(
        MakeThriftCodec::new().with_protocol(protocol),
    )))
}

/// TTHeader with the message directly inside.
pub fn ttheader(protocol: VoloProtocol) -> VoloPeer<MakeTTHeaderCodec<MakeThriftCodec>> {
    VoloPeer::new(MakeTTHeaderCodec::new(
        MakeThriftCodec::new().with_protocol(protocol),
    ))
}

/// Framed.
pub fn framed(protocol: VoloProtocol) -> VoloPeer<MakeFramedCodec<MakeThriftCodec>> {
    VoloPeer::new(MakeFramedCodec::new(
        MakeThriftCodec::new().with_protocol(protocol),
    ))
}

/// Buffered: the message alone.
pub fn buffered(protocol: VoloProtocol) -> VoloPeer<MakeThriftCodec> {
    VoloPeer::new(MakeThriftCodec::new().with_protocol(protocol))
}
