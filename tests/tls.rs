//! TLS and mutual TLS over loopback: our client against our server on every
//! transport and both pools, session resumption, a port that takes TLS and
//! plaintext, reloading certificates, and the bad inputs (a plaintext client
//! on a TLS-only port, untrusted, expired and missing certificates, a
//! handshake that stalls, garbage during and after the handshake, random
//! records): each ends that connection with an error, the others carry on.
//! Live peers of other stacks are in `python_interop.rs` (Python's `ssl`)
//! and the interop crate (Volo). Bounded in count and time.

#[path = "../examples/tls/pki.rs"]
mod pki;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use ringrpc::codec::thrift::Protocol;
use ringrpc::codec::transport::Transport;
use ringrpc::engine::Error;
use ringrpc::engine::client::{ClientBuilder, PoolKind};
use ringrpc::engine::context::ServerContext;
use ringrpc::engine::server::{Server, ServerHandle};
use ringrpc::engine::tls::rustls;
use ringrpc::engine::tls::{ClientTls, ServerTls, TlsStream};
use ringrpc_example_idl::echo::{
    EchoRequest, EchoResponse, EchoService, EchoServiceClient, EchoServiceServer,
};

/// Echoes; `whoami` answers with the caller's verified identity.
#[derive(Clone)]
struct Echo;

impl EchoService for Echo {
    async fn echo(
        &self,
        cx: &mut ServerContext,
        req: EchoRequest,
    ) -> ringrpc::engine::Result<EchoResponse> {
        if req.msg.as_str() == "whoami" {
            let msg = match cx.peer_identity() {
                Some(id) => format!(
                    "{}|{}|{}",
                    id.subject,
                    id.dns_names().collect::<Vec<_>>().join(","),
                    id.uris().collect::<Vec<_>>().join(",")
                ),
                None => "anonymous".to_owned(),
            };
            return Ok(EchoResponse { msg: msg.into() });
        }
        Ok(EchoResponse { msg: req.msg })
    }
}

fn pki() -> (tempfile::TempDir, pki::Pki) {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = pki::generate(dir.path()).expect("certificates");
    (dir, p)
}

fn server(tls: ServerTls) -> ServerHandle {
    Server::builder()
        .addr("127.0.0.1:0".parse().expect("addr"))
        .cores(1)
        .tls(tls)
        .configure(|c| {
            c.pin = false;
            c.read_timeout = Duration::from_millis(500);
        })
        .service(EchoServiceServer::new(Echo))
        .start()
        .expect("server starts")
}

fn mtls_server(p: &pki::Pki) -> ServerHandle {
    server(
        ServerTls::builder()
            .cert_file(&p.server_cert)
            .key_file(&p.server_key)
            .client_ca_file(&p.ca)
            .build()
            .expect("server TLS"),
    )
}

fn client_tls(p: &pki::Pki) -> ClientTls {
    ClientTls::builder()
        .ca_file(&p.ca)
        .server_name("localhost")
        .cert_file(&p.client_cert)
        .key_file(&p.client_key)
        .build()
        .expect("client TLS")
}

fn client(addr: SocketAddr, transport: Transport, tls: ClientTls) -> ClientBuilder {
    ClientBuilder::new("EchoService")
        .target(addr)
        .transport(transport)
        .protocol(Protocol::Binary)
        .connect_timeout(Duration::from_secs(5))
        .rpc_timeout(Duration::from_secs(20))
        .tls(tls)
}

fn run<F: Future>(f: F) -> F::Output {
    ringrpc::engine::runtime::block_on(f)
}

async fn echo(c: &EchoServiceClient, msg: &str) -> ringrpc::engine::Result<String> {
    let r = c.echo(EchoRequest { msg: msg.into() }).await?;
    Ok(r.msg.as_str().to_owned())
}

/// A good client still gets served: the server lives on after whatever
/// came before.
fn still_serves(addr: SocketAddr, p: &pki::Pki) {
    run(async {
        let c = EchoServiceClient::new(
            client(addr, Transport::Framed, client_tls(p))
                .build()
                .expect("client"),
        );
        assert_eq!(echo(&c, "still here").await.expect("served"), "still here");
    });
}

#[test]
fn mutual_tls_on_every_transport_and_both_pools() {
    let (_d, p) = pki();
    let srv = mtls_server(&p);
    let addr = srv.local_addr();
    let want = format!(
        "CN={}|{}|{}",
        pki::CLIENT_CN,
        pki::CLIENT_DNS,
        pki::CLIENT_URI
    );
    let big = "x".repeat(1 << 20);
    for (transport, pool) in [
        (Transport::Framed, None),
        (Transport::Buffered, None),
        (Transport::TtHeader, None),
        (Transport::TtHeaderFramed, None),
        (
            Transport::TtHeader,
            Some(PoolKind::Mux { conns_per_addr: 1 }),
        ),
        (
            Transport::TtHeaderFramed,
            Some(PoolKind::Mux { conns_per_addr: 2 }),
        ),
    ] {
        run(async {
            let mut b = client(addr, transport, client_tls(&p));
            if let Some(pool) = pool {
                b = b.pool(pool);
            }
            let c = Rc::new(EchoServiceClient::new(b.build().expect("client")));
            assert_eq!(
                echo(&c, "whoami").await.expect("whoami"),
                want,
                "{transport:?}"
            );
            assert_eq!(echo(&c, &big).await.expect("1 MiB").len(), big.len());
            // Concurrent calls (multiplexed on the mux pool).
            let calls: Vec<_> = (0..16)
                .map(|i| {
                    let c = c.clone();
                    monoio::spawn(async move { echo(&c, &format!("m{i}")).await })
                })
                .collect();
            for (i, h) in calls.into_iter().enumerate() {
                assert_eq!(h.await.expect("call"), format!("m{i}"));
            }
        });
    }
    let stats = &srv.stats()[0];
    assert!(stats.tls_handshakes >= 6, "{stats:?}");
    // One `ClientTls` per client here, each a session cache of its own: the
    // first handshake of each is a full one.
    assert!(stats.tls_resumed < stats.tls_handshakes, "{stats:?}");
    assert_eq!(stats.tls_handshake_failures, 0, "{stats:?}");
    srv.shutdown();
}

#[test]
fn identity_is_optional_when_the_server_says_so() {
    let (_d, p) = pki();
    let srv = server(
        ServerTls::builder()
            .cert_file(&p.server_cert)
            .key_file(&p.server_key)
            .client_ca_file(&p.ca)
            .client_cert_optional(true)
            .build()
            .expect("tls"),
    );
    let addr = srv.local_addr();
    run(async {
        let anonymous = ClientTls::builder()
            .ca_file(&p.ca)
            .server_name("localhost")
            .build()
            .expect("tls");
        let c = EchoServiceClient::new(
            client(addr, Transport::TtHeader, anonymous)
                .build()
                .expect("c"),
        );
        assert_eq!(echo(&c, "whoami").await.expect("served"), "anonymous");
        let c = EchoServiceClient::new(
            client(addr, Transport::TtHeader, client_tls(&p))
                .build()
                .expect("c"),
        );
        assert!(
            echo(&c, "whoami")
                .await
                .expect("served")
                .starts_with("CN=ringrpc-test-client|")
        );
    });
    srv.shutdown();
}

#[test]
fn sessions_resume_across_connections() {
    let (_d, p) = pki();
    let srv = mtls_server(&p);
    let addr = srv.local_addr();
    let tls = client_tls(&p);
    run(async {
        let mut resumed = Vec::new();
        for _ in 0..3 {
            let s = TlsStream::connect(addr, &tls, Duration::from_secs(5))
                .await
                .expect("connect");
            assert_eq!(s.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
            resumed.push(s.resumed());
            // The server sends its session tickets after the handshake;
            // one round trip reads them.
            let mut s = s;
            s.write_all(&framed_echo("r")).await.expect("write");
            read_reply(&mut s).await;
            s.close().await;
        }
        assert_eq!(resumed, [false, true, true]);
    });
    assert_eq!(srv.stats()[0].tls_resumed, 2);
    // The engine's pools: clients sharing one `ClientTls` share its session
    // cache, on both pools.
    let shared_tls = client_tls(&p);
    for (transport, pool) in [
        (Transport::Framed, None),
        (
            Transport::TtHeader,
            Some(PoolKind::Mux { conns_per_addr: 1 }),
        ),
    ] {
        for _ in 0..2 {
            run(async {
                let mut b = client(addr, transport, shared_tls.clone());
                if let Some(pool) = pool {
                    b = b.pool(pool);
                }
                let c = EchoServiceClient::new(b.build().expect("client"));
                assert_eq!(echo(&c, "x").await.expect("call"), "x");
            });
        }
    }
    // Four connections, the first a full handshake, the others resumed.
    assert_eq!(srv.stats()[0].tls_resumed, 2 + 3);
    // Resumption off: every handshake is a full one.
    let full = ClientTls::builder()
        .ca_file(&p.ca)
        .server_name("localhost")
        .cert_file(&p.client_cert)
        .key_file(&p.client_key)
        .resumption(false)
        .build()
        .expect("tls");
    run(async {
        for _ in 0..2 {
            let s = TlsStream::connect(addr, &full, Duration::from_secs(5))
                .await
                .expect("connect");
            assert!(!s.resumed());
        }
    });
    srv.shutdown();
}

/// A Framed, Binary `EchoService.echo(msg)` call frame, seq 1.
fn framed_echo(msg: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&0x8001_0001u32.to_be_bytes());
    body.extend_from_slice(&4u32.to_be_bytes());
    body.extend_from_slice(b"echo");
    body.extend_from_slice(&1i32.to_be_bytes());
    // args { 1: EchoRequest { 1: string msg } }
    body.extend_from_slice(&[12, 0, 1, 11, 0, 1]);
    body.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    body.extend_from_slice(msg.as_bytes());
    body.extend_from_slice(&[0, 0]);
    let mut f = (body.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(&body);
    f
}

/// Reads one Framed reply whole.
async fn read_reply(s: &mut TlsStream) -> usize {
    let mut buf = ringrpc::codec::buffer::LinkBuffer::new();
    loop {
        if buf.len() >= 4 {
            let len = u32::from_be_bytes(buf.peek(4).expect("4").try_into().expect("4")) as usize;
            if buf.len() >= 4 + len {
                return len;
            }
        }
        let n = s.read(&mut buf).await.expect("read");
        assert!(n > 0, "closed before the reply");
    }
}

#[test]
fn a_port_may_take_tls_and_plaintext() {
    let (_d, p) = pki();
    let srv = server(
        ServerTls::builder()
            .cert_file(&p.server_cert)
            .key_file(&p.server_key)
            .accept_plaintext(true)
            .build()
            .expect("tls"),
    );
    let addr = srv.local_addr();
    run(async {
        let tls = ClientTls::builder().ca_file(&p.ca).build().expect("tls");
        for transport in [Transport::Framed, Transport::TtHeader] {
            let plain = EchoServiceClient::new(
                ClientBuilder::new("EchoService")
                    .target(addr)
                    .transport(transport)
                    .build()
                    .expect("client"),
            );
            assert_eq!(echo(&plain, "plain").await.expect("plaintext"), "plain");
            // Verified against the IP address (the certificate has it).
            let secure =
                EchoServiceClient::new(client(addr, transport, tls.clone()).build().expect("c"));
            assert_eq!(echo(&secure, "whoami").await.expect("tls"), "anonymous");
        }
    });
    srv.shutdown();
}

#[test]
fn a_plaintext_client_on_a_tls_only_port_is_closed() {
    let (_d, p) = pki();
    let srv = mtls_server(&p);
    let addr = srv.local_addr();
    run(async {
        let plain = EchoServiceClient::new(
            ClientBuilder::new("EchoService")
                .target(addr)
                .rpc_timeout(Duration::from_secs(5))
                .build()
                .expect("client"),
        );
        let err = echo(&plain, "hi").await.expect_err("refused");
        assert!(matches!(err, Error::Io(_)), "{err:?}");
    });
    still_serves(addr, &p);
    assert_eq!(srv.stats()[0].tls_handshake_failures, 1);
    srv.shutdown();
}

/// The error a Framed call with `tls` to `addr` fails with.
fn refused(addr: SocketAddr, tls: ClientTls) -> String {
    run(async {
        let c = EchoServiceClient::new(client(addr, Transport::Framed, tls).build().expect("c"));
        handshake_error(echo(&c, "hi").await.expect_err("refused"))
    })
}

fn handshake_error(err: Error) -> String {
    match err {
        Error::Connect { source, .. } | Error::Io(source) => source.to_string(),
        e => panic!("not a connection error: {e:?}"),
    }
}

#[test]
fn untrusted_and_expired_server_certificates_fail_the_client() {
    let (_d, p) = pki();
    let expired = server(
        ServerTls::builder()
            .cert_file(&p.expired_cert)
            .key_file(&p.expired_key)
            .build()
            .expect("tls"),
    );
    let good = mtls_server(&p);
    let trusting = |ca: &std::path::Path, name: &str| {
        ClientTls::builder()
            .ca_file(ca)
            .server_name(name)
            .build()
            .expect("tls")
    };
    for (addr, tls, why) in [
        (expired.local_addr(), client_tls(&p), "expired"),
        (
            good.local_addr(),
            trusting(&p.rogue_ca, "localhost"),
            "UnknownIssuer",
        ),
        (
            good.local_addr(),
            trusting(&p.ca, "elsewhere.example"),
            "not valid for name",
        ),
    ] {
        assert!(refused(addr, tls).contains(why), "{why}");
    }
    still_serves(good.local_addr(), &p);
    expired.shutdown();
    good.shutdown();
}

#[test]
fn a_client_without_a_good_certificate_is_refused() {
    let (_d, p) = pki();
    let srv = mtls_server(&p);
    let addr = srv.local_addr();
    let none = ClientTls::builder()
        .ca_file(&p.ca)
        .server_name("localhost")
        .build()
        .expect("tls");
    let rogue = ClientTls::builder()
        .ca_file(&p.ca)
        .server_name("localhost")
        .cert_file(&p.rogue_cert)
        .key_file(&p.rogue_key)
        .build()
        .expect("tls");
    for (tls, why) in [(none, "CertificateRequired"), (rogue, "UnknownCA")] {
        let e = refused(addr, tls);
        assert!(e.contains(why), "{e}");
    }
    still_serves(addr, &p);
    assert_eq!(srv.stats()[0].tls_handshake_failures, 2);
    let metrics = ringrpc::engine::metrics::Metrics::new();
    metrics.add_server(&srv);
    let text = metrics.encode();
    assert!(
        text.contains("ringrpc_server_tls_handshake_failures_total 2"),
        "{text}"
    );
    assert!(
        text.contains("ringrpc_server_tls_handshakes_total 1"),
        "{text}"
    );
    srv.shutdown();
}

/// Reads until the server closes; panics if it does not within `limit`.
fn closed_within(mut s: TcpStream, limit: Duration) -> Duration {
    s.set_read_timeout(Some(limit)).expect("timeout");
    let t = Instant::now();
    let mut b = [0u8; 4096];
    loop {
        match s.read(&mut b) {
            Ok(0) => return t.elapsed(),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return t.elapsed(),
            Err(e) => panic!("not closed after {:?}: {e}", t.elapsed()),
        }
    }
}

#[test]
fn a_stalled_handshake_is_closed_after_the_read_timeout() {
    let (_d, p) = pki();
    let srv = mtls_server(&p);
    let addr = srv.local_addr();
    // A ClientHello's first bytes, then nothing.
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .expect("write");
    let took = closed_within(s, Duration::from_secs(10));
    assert!(took >= Duration::from_millis(300), "{took:?}");
    still_serves(addr, &p);
    srv.shutdown();
}

/// A blocking rustls client over `sock` with the test PKI's client
/// certificate, handshake done.
fn std_tls(
    addr: SocketAddr,
    p: &pki::Pki,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let cfg = client_tls(p).config().clone();
    let conn =
        rustls::ClientConnection::new(cfg, "localhost".try_into().expect("name")).expect("conn");
    let sock = TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("t");
    let mut s = rustls::StreamOwned::new(conn, sock);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).expect("handshake");
    }
    s
}

#[test]
fn garbage_after_the_handshake_closes_only_that_connection() {
    let (_d, p) = pki();
    let srv = mtls_server(&p);
    let addr = srv.local_addr();
    // Not a Thrift transport, inside good records.
    let mut s = std_tls(addr, &p);
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
    let mut b = [0u8; 64];
    assert!(matches!(s.read(&mut b), Ok(0) | Err(_)), "closed");
    // Not TLS records at all, after a good call on the same connection.
    let mut s = std_tls(addr, &p);
    s.write_all(&framed_echo("ok")).expect("write");
    let mut reply = [0u8; 4];
    s.read_exact(&mut reply).expect("reply");
    s.sock.write_all(&[0xde; 64]).expect("garbage");
    closed_within(s.sock, Duration::from_secs(10));
    still_serves(addr, &p);
    srv.shutdown();
}

/// Server settings from copies of `p`'s server files, which a test may
/// rewrite: the folder, the certificate and key paths, the settings.
fn renewable(
    p: &pki::Pki,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    std::path::PathBuf,
    ServerTls,
) {
    let dir = tempfile::tempdir().expect("dir");
    let (cert, key) = (dir.path().join("s.pem"), dir.path().join("s.key"));
    std::fs::copy(&p.server_cert, &cert).expect("copy");
    std::fs::copy(&p.server_key, &key).expect("copy");
    let tls = ServerTls::builder()
        .cert_file(&cert)
        .key_file(&key)
        .build()
        .expect("tls");
    (dir, cert, key, tls)
}

#[test]
fn reload_takes_new_certificates_for_new_connections() {
    let (_d, p) = pki();
    let (_d2, q) = pki();
    let (_dir, cert, key, tls) = renewable(&p);
    let srv = server(tls.clone());
    let addr = srv.local_addr();
    let trusts = |pki: &pki::Pki| {
        ClientTls::builder()
            .ca_file(&pki.ca)
            .server_name("localhost")
            .build()
            .expect("tls")
    };
    let connects = |t: &ClientTls| {
        let t = t.clone();
        run(async move {
            TlsStream::connect(addr, &t, Duration::from_secs(5))
                .await
                .is_ok()
        })
    };
    let (old, new) = (trusts(&p), trusts(&q));
    assert!(connects(&old) && !connects(&new));
    // A broken file: the reload fails and the settings in use stay.
    std::fs::write(&cert, "not a certificate").expect("write");
    assert!(tls.reload().is_err());
    assert!(connects(&old));
    std::fs::copy(&q.server_cert, &cert).expect("copy");
    std::fs::copy(&q.server_key, &key).expect("copy");
    tls.reload().expect("reload");
    assert!(!connects(&old) && connects(&new));
    srv.shutdown();
}

#[test]
fn the_watch_reloads_when_the_files_change() {
    let (_d, p) = pki();
    let (_d2, q) = pki();
    let (_dir, cert, key, tls) = renewable(&p);
    let before = tls.config();
    let _watch = tls.watch(Duration::from_millis(20));
    // Let the watch note the files' times first, then change them (a
    // second later, so the times differ on coarse filesystems too).
    std::thread::sleep(Duration::from_millis(100));
    let later = std::time::SystemTime::now() + Duration::from_secs(2);
    std::fs::copy(&q.server_cert, &cert).expect("copy");
    std::fs::copy(&q.server_key, &key).expect("copy");
    for f in [&cert, &key] {
        std::fs::File::options()
            .write(true)
            .open(f)
            .and_then(|f| f.set_modified(later))
            .expect("mtime");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Arc::ptr_eq(&before, &tls.config()) {
        assert!(Instant::now() < deadline, "the watch never reloaded");
        std::thread::sleep(Duration::from_millis(20));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random bytes behind a TLS record header (a ClientHello's first byte,
    /// so the server takes the TLS path): the connection is refused or
    /// times out, never served, and the server carries on.
    #[test]
    fn random_records_never_take_the_server_down(
        version in prop::sample::select(vec![0x00u8, 0x01, 0x03, 0xff]),
        len in 0u16..0xffff,
        body in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        let (srv, p) = shared();
        let mut s = TcpStream::connect(srv).expect("connect");
        let mut bytes = vec![0x16, 0x03, version];
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(&body);
        let _ = s.write_all(&bytes);
        closed_within(s, Duration::from_secs(10));
        still_serves(srv, p);
    }
}

/// One mTLS server for the property test's cases.
fn shared() -> (SocketAddr, &'static pki::Pki) {
    use std::sync::OnceLock;
    static SERVER: OnceLock<(SocketAddr, pki::Pki)> = OnceLock::new();
    let (addr, p) = SERVER.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("ringrpc-tls-prop-{}", std::process::id()));
        let p = pki::generate(&dir).expect("pki");
        let srv = mtls_server(&p);
        let addr = srv.local_addr();
        // Serves until the test process exits.
        std::mem::forget(srv);
        (addr, p)
    });
    (*addr, p)
}

#[test]
fn quiet_tls_connections_park_and_wake() {
    let (_d, p) = pki();
    let srv = mtls_server(&p);
    let addr = srv.local_addr();
    let big = "y".repeat(300 * 1024);
    run(async {
        for transport in [Transport::Framed, Transport::TtHeader] {
            let c = EchoServiceClient::new(
                client(addr, transport, client_tls(&p))
                    .build()
                    .expect("client"),
            );
            for round in 0..3 {
                assert_eq!(echo(&c, &big).await.expect("big").len(), big.len());
                // Quiet for several sweeps: the server parks the
                // connection and frees its TLS buffers.
                monoio::time::sleep(Duration::from_millis(150)).await;
                assert_eq!(
                    echo(&c, "again").await.expect("after a park"),
                    "again",
                    "{round}"
                );
            }
        }
    });
    // One connection per client: parking is not reconnecting. Each quiet
    // spell parked its connection, TTHeader's too.
    let stats = &srv.stats()[0];
    assert_eq!(stats.tls_handshakes, 2);
    assert!(stats.parks >= 6, "{stats:?}");
    srv.shutdown();
}
