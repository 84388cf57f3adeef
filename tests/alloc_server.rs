//! An echo allocates nothing on the server per request once warm, large or
//! small, Framed or TTHeader with the metadata a Kitex client sends: the
//! frame is read into a pooled buffer sized to it, the header is read in
//! place, the string is a slice of the frame, and the reply links it.
//! Counted with a global allocator that counts only the server core's
//! thread. Over TLS too: records are opened and sealed in place in the
//! connection's own buffers.

#[path = "../examples/tls/pki.rs"]
mod pki;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ringrpc::codec::buffer::LinkWriter;
use ringrpc::codec::thrift::{BinaryWriter, Message, MessageIdent, MessageType, ProtocolWriter};
use ringrpc::codec::transport::ttheader::{TtHeader, int_key};
use ringrpc::codec::transport::{self, Codec, Transport};
use ringrpc::engine::context::ServerContext;
use ringrpc::engine::metrics::Metrics;
use ringrpc::engine::server::Server;
use ringrpc_example_idl::echo::{
    EchoRequest, EchoResponse, EchoService, EchoServiceEchoArgs, EchoServiceServer,
};

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}
static SERVER_ALLOCS: AtomicU64 = AtomicU64::new(0);

struct Counting;

// SAFETY: forwards every call to `System` unchanged; the counting touches
// a const-initialised thread-local and an atomic, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTED.try_with(Cell::get).unwrap_or(false) {
            SERVER_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        if COUNTED.try_with(Cell::get).unwrap_or(false) {
            SERVER_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Clone)]
struct Echo;

impl EchoService for Echo {
    async fn echo(
        &self,
        _cx: &mut ServerContext,
        req: EchoRequest,
    ) -> ringrpc::engine::Result<EchoResponse> {
        Ok(EchoResponse { msg: req.msg })
    }
}

/// The int keys a Kitex client sets on a call (`pkg/transmeta/ttheader.go`,
/// `ClientTTHeaderHandler.WriteMeta`), with `isn` as Volo adds it.
fn kitex_header(seqid: i32) -> TtHeader {
    let mut h = TtHeader::new(seqid);
    h.set_int(int_key::TRANSPORT_TYPE, "framed").unwrap();
    h.set_from_service("alloc.client").unwrap();
    h.set_from_method("test").unwrap();
    h.set_to_service("echo.server").unwrap();
    h.set_to_method("echo").unwrap();
    h.set_int(int_key::RPC_TIMEOUT, "1000").unwrap();
    h.set_msg_type(MessageType::Call).unwrap();
    h.set_idl_service_name("EchoService").unwrap();
    h
}

fn call(transport: Transport, seqid: i32, msg: &str) -> Vec<u8> {
    let codec = Codec {
        transport,
        protocol: ringrpc::codec::thrift::Protocol::Binary,
    };
    let header = (transport != Transport::Framed).then(|| kitex_header(seqid));
    let mut w = LinkWriter::new();
    transport::encode_frame(&mut w, codec, header.as_ref(), |out| {
        let mut p = BinaryWriter::new(out);
        p.write_message_begin(&MessageIdent::new("echo".into(), MessageType::Call, seqid));
        EchoServiceEchoArgs {
            req: EchoRequest { msg: msg.into() },
        }
        .encode(&mut p);
        p.write_message_end();
    });
    w.to_vec()
}

fn exchange(s: &mut impl ReadWrite, frame: &[u8], reply: &mut Vec<u8>) {
    s.write_all(frame).expect("write");
    let mut len = [0u8; 4];
    s.read_exact(&mut len).expect("reply length");
    reply.resize(u32::from_be_bytes(len) as usize, 0);
    s.read_exact(reply).expect("reply");
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Without metrics, with them, and over TLS (one test: the count is
/// process-wide).
#[test]
fn an_echo_allocates_nothing_per_request_after_warm_up() {
    echoes_allocate_nothing(None, None);
    let metrics = Metrics::new();
    echoes_allocate_nothing(Some(&metrics), None);
    assert!(metrics.encode().contains("kitex_server_throughput{"));
    let dir = tempfile::tempdir().expect("dir");
    let p = pki::generate(dir.path()).expect("certificates");
    echoes_allocate_nothing(None, Some(&p));
}

fn echoes_allocate_nothing(metrics: Option<&Metrics>, tls: Option<&pki::Pki>) {
    use ringrpc::engine::tls::{ClientTls, ServerTls, rustls};
    let mut builder = Server::builder()
        .addr("127.0.0.1:0".parse().expect("addr"))
        .cores(1)
        .configure(|c| c.pin = false);
    if let Some(m) = metrics {
        builder = builder.tracer(m.tracer());
    }
    if let Some(p) = tls {
        builder = builder.tls(
            ServerTls::builder()
                .cert_file(&p.server_cert)
                .key_file(&p.server_key)
                .client_ca_file(&p.ca)
                .build()
                .expect("server TLS"),
        );
    }
    let client_tls = tls.map(|p| {
        ClientTls::builder()
            .ca_file(&p.ca)
            .cert_file(&p.client_cert)
            .key_file(&p.client_key)
            .build()
            .expect("client TLS")
            .config()
            .clone()
    });
    let server = builder
        .service_per_core(|| {
            // Runs on the core's own thread: count its allocations.
            COUNTED.with(|c| c.set(true));
            EchoServiceServer::new(Echo)
        })
        .start()
        .expect("server starts");
    let cases = [
        (Transport::Framed, 1024),
        (Transport::Framed, 256 * 1024),
        (Transport::Framed, 1024 * 1024),
        (Transport::TtHeader, 1024),
        (Transport::TtHeaderFramed, 1024),
        (Transport::TtHeaderFramed, 256 * 1024),
    ];
    for (transport, size) in cases {
        let mut conns: Vec<Box<dyn ReadWrite>> = (0..4)
            .map(|_| {
                let s = TcpStream::connect(server.local_addr()).expect("connect");
                s.set_read_timeout(Some(Duration::from_secs(20)))
                    .expect("timeout");
                match &client_tls {
                    None => Box::new(s) as Box<dyn ReadWrite>,
                    Some(cfg) => {
                        let c = rustls::ClientConnection::new(
                            cfg.clone(),
                            "localhost".try_into().expect("name"),
                        )
                        .expect("client");
                        Box::new(rustls::StreamOwned::new(c, s))
                    }
                }
            })
            .collect();
        let frame = call(transport, 7, &"z".repeat(size));
        let mut reply = Vec::new();
        for _ in 0..20 {
            for s in &mut conns {
                exchange(s, &frame, &mut reply);
            }
        }
        let before = SERVER_ALLOCS.load(Ordering::Relaxed);
        let n = 50;
        for _ in 0..n {
            for s in &mut conns {
                exchange(s, &frame, &mut reply);
            }
        }
        let allocs = SERVER_ALLOCS.load(Ordering::Relaxed) - before;
        assert!(reply.len() > size, "the reply carries the message");
        assert_eq!(
            allocs,
            0,
            "{allocs} server allocations over {} {transport} echoes of {size} bytes (TLS: {})",
            n * conns.len(),
            tls.is_some()
        );
    }
    server.shutdown();
}
