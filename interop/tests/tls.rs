//! TLS and mutual TLS between ringrpc and real volo-thrift peers over
//! loopback, both ways: Volo clients (ping-pong over Framed and TTHeader,
//! multiplexed over TTHeader) presenting a client certificate to our
//! mutual-TLS server, whose handler reads the verified identity; and our
//! client (long and multiplexed pools) presenting one to a Volo server that
//! requires it. Then the refusals: a Volo client without a certificate, and
//! clients of either side trusting another CA, each fail with an error (no
//! hang), and the server goes on serving good clients.
//!
//! Volo's TLS lives in `volo::net::tls` (rustls through tokio-rustls). Its
//! client takes a rustls `ClientConfig` (`TlsConnector::from`) under
//! `TlsMakeTransport`. volo-thrift's server has no TLS of its own (nothing
//! in it takes volo's `ServerTlsConfig`), but it serves any `MakeIncoming`:
//! [`VoloTlsIncoming`] accepts TCP and runs the handshake with volo's
//! `TlsAcceptor` over a rustls `ServerConfig` that requires client
//! certificates. Every rustls
//! config here names the ring provider: volo's `rustls-ring` feature turns
//! its aws-lc-rs feature on too, and rustls cannot pick a default then.
//!
//! Each test makes its own throwaway PKI in a temporary directory; every
//! call is bounded.

#[path = "../../examples/tls/pki.rs"]
mod pki;

mod common;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use common::*;
use ringrpc::codec::thrift::Protocol;
use ringrpc::codec::transport::Transport;
use ringrpc::engine::client::PoolKind;
use ringrpc::engine::context::ServerContext as OurServerContext;
use ringrpc::engine::server::{Server, ServerHandle};
use ringrpc::engine::tls::{ClientTls, ServerTls};
use ringrpc_example_idl::echo::{
    EchoRequest, EchoResponse, EchoService, EchoServiceClient, EchoServiceServer,
};
use ringrpc_interop::echo as vecho;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use volo::net::Address;
use volo::net::conn::{Conn, ConnInfo, ConnStream};
use volo::net::incoming::{Incoming, MakeIncoming};
use volo::net::tls::{ClientTlsConfig, TlsAcceptor, TlsConnector, TlsStream};

/// What a server's handler answers for `whoami`: the caller's verified
/// certificate subject and URI SANs, as our server reads them.
const WHOAMI: &str = "whoami";

fn want_identity() -> String {
    format!("CN={}|{}", pki::CLIENT_CN, pki::CLIENT_URI)
}

fn pki() -> (tempfile::TempDir, pki::Pki) {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = pki::generate(dir.path()).expect("certificates");
    (dir, p)
}

/// Waits (polling, bounded by [`CALL_TIMEOUT`]) until `done` holds: for
/// what a server records after the client already has its answer.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + CALL_TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

// ------------------------------------------------------- rustls for Volo

fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(path: &std::path::Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .expect("certificate file")
        .collect::<Result<_, _>>()
        .expect("PEM certificates")
}

fn key(path: &std::path::Path) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_file(path).expect("PEM key")
}

fn roots(path: &std::path::Path) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for c in certs(path) {
        roots.add(c).expect("a CA certificate");
    }
    roots
}

/// A Volo client's TLS: trusting `ca`, with the client certificate or
/// without one.
fn volo_client_tls(p: &pki::Pki, ca: &std::path::Path, client_cert: bool) -> ClientTlsConfig {
    let b = ClientConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots(ca));
    let config = if client_cert {
        b.with_client_auth_cert(certs(&p.client_cert), key(&p.client_key))
            .expect("client certificate")
    } else {
        b.with_no_client_auth()
    };
    ClientTlsConfig::new("localhost", TlsConnector::from(Arc::new(config)))
}

/// A Volo server's TLS: our server certificate, client certificates
/// required and verified against the PKI's CA.
fn volo_acceptor(p: &pki::Pki) -> TlsAcceptor {
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots(&p.ca)), ring())
        .build()
        .expect("client verifier");
    let config = ServerConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(&p.server_cert), key(&p.server_key))
        .expect("server certificate");
    TlsAcceptor::from(config)
}

// ------------------------------------------------------- Volo TLS server

/// One handshake a Volo TLS server finished: the peer, and the DER of the
/// leaf certificate it presented (verified by rustls against the CA).
#[derive(Debug, Clone)]
struct Handshake {
    peer: SocketAddr,
    client_cert: Option<Vec<u8>>,
}

/// What a Volo TLS server's accept side saw.
#[derive(Debug, Clone, Default)]
struct Handshakes {
    done: Arc<Mutex<Vec<Handshake>>>,
    /// Handshakes that failed, with rustls's reason.
    failed: Arc<Mutex<Vec<String>>>,
}

impl Handshakes {
    fn done(&self) -> Vec<Handshake> {
        std::mem::take(&mut *self.done.lock().expect("lock"))
    }

    fn failed(&self) -> Vec<String> {
        std::mem::take(&mut *self.failed.lock().expect("lock"))
    }
}

/// A volo server's incoming connections over TLS: a task accepts TCP and
/// hands each connection to a handshake task of its own (a stalled
/// handshake does not hold up the others), which passes the established
/// stream on as a volo `Conn`. A failed handshake is recorded and dropped:
/// volo's server stops at the first error its incoming returns.
struct VoloTlsIncoming {
    conns: tokio::sync::mpsc::Receiver<Conn>,
}

impl std::fmt::Debug for VoloTlsIncoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoloTlsIncoming").finish_non_exhaustive()
    }
}

impl VoloTlsIncoming {
    /// Call on the server's tokio runtime.
    fn new(listener: tokio::net::TcpListener, acceptor: TlsAcceptor, log: Handshakes) -> Self {
        let (tx, conns) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            while let Ok((tcp, peer)) = listener.accept().await {
                let (acceptor, log, tx) = (acceptor.clone(), log.clone(), tx.clone());
                tokio::spawn(async move {
                    let stream =
                        match tokio::time::timeout(CALL_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                log.failed.lock().expect("lock").push(e.to_string());
                                return;
                            }
                            Err(_) => {
                                log.failed
                                    .lock()
                                    .expect("lock")
                                    .push("handshake timed out".into());
                                return;
                            }
                        };
                    let client_cert = match &stream {
                        ConnStream::Tls(TlsStream::Rustls(s)) => s
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|c| c.first())
                            .map(|c| c.as_ref().to_vec()),
                        _ => None,
                    };
                    log.done
                        .lock()
                        .expect("lock")
                        .push(Handshake { peer, client_cert });
                    let info = ConnInfo {
                        peer_addr: Some(Address::Ip(peer)),
                    };
                    let _ = tx.send(Conn::new(stream, info)).await;
                });
            }
        });
        Self { conns }
    }
}

impl Incoming for VoloTlsIncoming {
    async fn accept(&mut self) -> std::io::Result<Option<Conn>> {
        Ok(self.conns.recv().await)
    }
}

impl MakeIncoming for VoloTlsIncoming {
    type Incoming = Self;

    async fn make_incoming(self) -> std::io::Result<Self> {
        Ok(self)
    }
}

/// A Volo echo server requiring client certificates, ping-pong or
/// multiplexed.
fn volo_tls_server(p: &pki::Pki, multiplex: bool) -> (VoloServer, Handshakes) {
    let log = Handshakes::default();
    let (acceptor, hs) = (volo_acceptor(p), log.clone());
    let server = spawn_volo_with(
        move |listener| VoloTlsIncoming::new(listener, acceptor, hs),
        move |incoming, record| {
            vecho::EchoServiceServer::new(VoloEcho)
                .layer_front(record)
                .multiplex(multiplex)
                .run(incoming)
        },
    );
    (server, log)
}

// ----------------------------------------------------- ringrpc TLS server

/// One call our server's handler served.
#[derive(Debug, Clone)]
struct Call {
    transport: Transport,
    peer: Option<SocketAddr>,
    /// The verified client certificate's subject, if any.
    subject: Option<String>,
}

/// Echoes; `whoami` answers with the caller's verified identity (subject
/// and URI SANs, `anonymous` without one). Records every call.
#[derive(Clone, Default)]
struct WhoEcho(Arc<Mutex<Vec<Call>>>);

impl WhoEcho {
    fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
    }
}

impl EchoService for WhoEcho {
    async fn echo(
        &self,
        cx: &mut OurServerContext,
        req: EchoRequest,
    ) -> ringrpc::engine::Result<EchoResponse> {
        let id = cx.peer_identity();
        self.0.lock().expect("lock").push(Call {
            transport: cx.info.codec.transport,
            peer: cx.info.caller.addr,
            subject: id.map(|i| i.subject.clone()),
        });
        if req.msg.as_str() == WHOAMI {
            let msg = match id {
                Some(id) => format!("{}|{}", id.subject, id.uris().collect::<Vec<_>>().join(",")),
                None => "anonymous".to_owned(),
            };
            return Ok(EchoResponse { msg: msg.into() });
        }
        Ok(EchoResponse { msg: req.msg })
    }
}

/// Our echo server on a TLS-only port requiring client certificates from
/// the PKI's CA.
fn our_mtls_server(p: &pki::Pki) -> (ServerHandle, WhoEcho) {
    let tls = ServerTls::builder()
        .cert_file(&p.server_cert)
        .key_file(&p.server_key)
        .client_ca_file(&p.ca)
        .build()
        .expect("server TLS");
    let echo = WhoEcho::default();
    let e = echo.clone();
    let handle = Server::builder()
        .addr("127.0.0.1:0".parse().expect("addr"))
        .cores(1)
        .configure(|c| c.pin = false)
        .tls(tls)
        .service_per_core(move || EchoServiceServer::new(e.clone()))
        .start()
        .expect("our TLS server starts");
    (handle, echo)
}

/// Our client's TLS: trusting `ca`, verifying `localhost`, with the client
/// certificate or without one.
fn our_client_tls(p: &pki::Pki, ca: &std::path::Path, client_cert: bool) -> ClientTls {
    let mut b = ClientTls::builder().ca_file(ca).server_name("localhost");
    if client_cert {
        b = b.cert_file(&p.client_cert).key_file(&p.client_key);
    }
    b.build().expect("client TLS")
}

fn vreq(msg: &str) -> vecho::EchoRequest {
    vecho::EchoRequest {
        msg: volo::FastStr::new(msg),
    }
}

fn req(msg: &str) -> EchoRequest {
    EchoRequest { msg: msg.into() }
}

// ------------------------------------------------------------------ tests

#[test]
fn volo_tls_clients_with_a_client_certificate_call_our_mtls_server() {
    let (_dir, p) = pki();
    let (srv, echo) = our_mtls_server(&p);
    let addr = srv.local_addr();
    let rt = tokio_rt();
    let big = "x".repeat(1 << 20);
    for (t, multiplex) in [
        (VoloTransport::Framed, false),
        (VoloTransport::TtHeaderFramed, false),
        (VoloTransport::TtHeader, true),
    ] {
        rt.block_on(async {
            let tls = volo_client_tls(&p, &p.ca, true);
            let c = volo_echo_client_tls(addr, t, Protocol::Binary, tls, multiplex);
            let who = bounded(c.echo(vreq(WHOAMI))).await;
            assert_eq!(
                who.expect("volo whoami").msg,
                want_identity().as_str(),
                "{t:?}"
            );
            for i in 0..3 {
                let msg = format!("{t:?}/{i}");
                let r = bounded(c.echo(vreq(&msg))).await;
                assert_eq!(r.expect("volo echo").msg, msg.as_str(), "{t:?}");
            }
            let r = bounded(c.echo(vreq(&big))).await;
            assert_eq!(r.expect("volo 1 MiB echo").msg.len(), big.len(), "{t:?}");
            if multiplex {
                // Many calls in flight on the multiplexed connection.
                let mut set = tokio::task::JoinSet::new();
                for i in 0..16 {
                    let c = c.clone();
                    set.spawn(async move {
                        let msg = format!("mux {i}");
                        let r = bounded(c.echo(vreq(&msg))).await;
                        (msg, r)
                    });
                }
                while let Some(done) = set.join_next().await {
                    let (msg, r) = done.expect("task");
                    let r = r.unwrap_or_else(|e| panic!("{t:?} {msg:?}: {e}"));
                    assert_eq!(r.msg, msg.as_str());
                }
            }
        });
        let calls = echo.take();
        let want_calls = if multiplex { 5 + 16 } else { 5 };
        assert_eq!(calls.len(), want_calls, "{t:?}");
        let subject = format!("CN={}", pki::CLIENT_CN);
        for c in &calls {
            assert_eq!(c.transport, t.ours(), "we detected volo's {t:?} as {c:?}");
            assert_eq!(c.subject.as_deref(), Some(subject.as_str()), "{t:?}: {c:?}");
        }
        let mut peers: Vec<_> = calls[..5].iter().filter_map(|c| c.peer).collect();
        peers.sort_unstable();
        peers.dedup();
        if multiplex {
            assert_eq!(peers.len(), 1, "{t:?}: sequential calls share a connection");
        } else {
            // Volo's ping-pong client does not reuse a TLS connection: its
            // pool asks the codec whether the connection closed
            // (`DefaultEncoder::is_closed`, volo-thrift 0.12.7), which asks
            // the socket's readiness (`AsyncExt::ready`), which volo 0.12.4
            // answers with an `Unsupported` error for TLS, taken as
            // "closed". So each of its calls comes on a new connection,
            // with a handshake of its own.
            assert!(!peers.is_empty(), "{t:?}");
        }
    }
    let stats = &srv.stats()[0];
    assert!(stats.tls_handshakes >= 3, "{stats:?}");
    assert_eq!(stats.tls_handshake_failures, 0, "{stats:?}");
    // Close Volo's pooled connections first: our server serves an idle
    // TTHeader connection until its peer closes it or the shutdown timeout
    // passes.
    drop(rt);
    srv.shutdown();
}

#[test]
fn our_tls_client_with_a_client_certificate_calls_volo_tls_servers() {
    let (_dir, p) = pki();
    let (pingpong, pingpong_hs) = volo_tls_server(&p, false);
    let (mux, mux_hs) = volo_tls_server(&p, true);
    let client_der = certs(&p.client_cert)[0].as_ref().to_vec();
    let big = "y".repeat(1 << 20);
    for (t, pool, multiplex_server) in [
        (Transport::Framed, PoolKind::long(), false),
        (Transport::TtHeader, PoolKind::long(), false),
        (Transport::TtHeaderFramed, PoolKind::long(), false),
        (
            Transport::TtHeader,
            PoolKind::Mux { conns_per_addr: 1 },
            false,
        ),
        (
            Transport::TtHeader,
            PoolKind::Mux { conns_per_addr: 1 },
            true,
        ),
    ] {
        let (volo, hs) = if multiplex_server {
            (&mux, &mux_hs)
        } else {
            (&pingpong, &pingpong_hs)
        };
        let is_mux = matches!(pool, PoolKind::Mux { .. });
        let b = our_client("EchoService", volo.addr, t, Protocol::Binary)
            .pool(pool)
            .tls(our_client_tls(&p, &p.ca, true));
        let big = big.clone();
        on_core(async move {
            let c = Rc::new(EchoServiceClient::new(b.build().expect("client")));
            for i in 0..3 {
                let msg = format!("{t:?}/{i}");
                let r = c.echo(req(&msg)).await;
                assert_eq!(r.expect("echo").msg, msg.as_str(), "{t:?}");
            }
            let r = c.echo(req(&big)).await;
            assert_eq!(r.expect("1 MiB echo").msg.len(), big.len(), "{t:?}");
            if is_mux {
                // Calls in flight together on the one TLS connection.
                let tasks: Vec<_> = (0..16)
                    .map(|i| {
                        let c = c.clone();
                        monoio::spawn(async move {
                            let msg = if i % 4 == 0 {
                                "sleep:20".to_string()
                            } else {
                                format!("mux {i}")
                            };
                            let r = c.echo(req(&msg)).await;
                            (msg, r)
                        })
                    })
                    .collect();
                for task in tasks {
                    let (msg, r) = task.await;
                    let r = r.unwrap_or_else(|e| panic!("{t:?} {msg:?}: {e}"));
                    assert_eq!(r.msg, msg.as_str());
                }
            }
        });
        let seen = volo.log.take();
        assert_eq!(seen.len(), if is_mux { 4 + 16 } else { 4 }, "{t:?}");
        let expect = seen_as(t, Protocol::Binary);
        for s in &seen {
            assert_eq!(
                (s.ttheader, s.framed, s.compact),
                expect,
                "volo detected {t:?} as {s:?}"
            );
        }
        let conns = peers(&seen);
        assert_eq!(conns.len(), 1, "{t:?} / {pool:?}: one connection");
        // Each connection Volo served came out of a handshake in which our
        // client presented its certificate, which rustls verified.
        let done = hs.done();
        assert!(hs.failed().is_empty(), "{t:?}");
        for peer in &conns {
            let h = done
                .iter()
                .find(|h| h.peer == *peer)
                .unwrap_or_else(|| panic!("{t:?}: no handshake for {peer}"));
            assert_eq!(
                h.client_cert.as_deref(),
                Some(client_der.as_slice()),
                "{t:?}"
            );
        }
    }
}

#[test]
fn a_volo_client_without_a_certificate_or_trusting_another_ca_fails_against_our_mtls_server() {
    let (_dir, p) = pki();
    let (srv, echo) = our_mtls_server(&p);
    let addr = srv.local_addr();
    let rt = tokio_rt();
    for t in [VoloTransport::Framed, VoloTransport::TtHeader] {
        rt.block_on(async {
            // No client certificate: our server refuses the handshake. With
            // TLS 1.3 the client finishes its side first and learns of it
            // from the alert when it reads the reply: an error, at once.
            let tls = volo_client_tls(&p, &p.ca, false);
            let c = volo_echo_client_tls(addr, t, Protocol::Binary, tls, false);
            let started = Instant::now();
            let err = bounded(c.echo(vreq("no cert")))
                .await
                .expect_err("served without a client certificate");
            let took = started.elapsed();
            assert!(
                took < CALL_TIMEOUT / 2,
                "{t:?}: took {took:?} to fail: {err}"
            );
            let text = err.to_string().to_lowercase();
            assert!(text.contains("alert: certificaterequired"), "{t:?}: {err}");
            // Trusting another CA: the Volo client refuses our server.
            let tls = volo_client_tls(&p, &p.rogue_ca, true);
            let c = volo_echo_client_tls(addr, t, Protocol::Binary, tls, false);
            let err = bounded(c.echo(vreq("rogue")))
                .await
                .expect_err("trusted a server of another CA");
            let text = err.to_string().to_lowercase();
            assert!(
                text.contains("invalid peer certificate: unknownissuer"),
                "{t:?}: {err}"
            );
        });
    }
    assert!(echo.take().is_empty(), "no call got through");
    // Our server counts a refused handshake once it has read the client's
    // alert, which may be after the client returned its error.
    eventually("our server to count 4 failed handshakes", || {
        srv.stats()[0].tls_handshake_failures >= 4
    });
    assert_eq!(srv.stats()[0].tls_handshakes, 0);
    // A good client is still served.
    rt.block_on(async {
        let tls = volo_client_tls(&p, &p.ca, true);
        let c = volo_echo_client_tls(addr, VoloTransport::Framed, Protocol::Binary, tls, false);
        let r = bounded(c.echo(vreq(WHOAMI))).await;
        assert_eq!(r.expect("still served").msg, want_identity().as_str());
    });
    // Close Volo's pooled connections first: our server serves an idle
    // TTHeader connection until its peer closes it or the shutdown timeout
    // passes.
    drop(rt);
    srv.shutdown();
}

#[test]
fn our_client_trusting_another_ca_or_without_a_certificate_fails_against_a_volo_server() {
    let (_dir, p) = pki();
    let (volo, hs) = volo_tls_server(&p, false);
    for (t, pool) in [
        (Transport::Framed, PoolKind::long()),
        (Transport::TtHeader, PoolKind::mux()),
    ] {
        // Trusting another CA: our client refuses Volo's certificate. No
        // client certificate: Volo's server refuses the handshake.
        for (tls, want) in [
            (
                our_client_tls(&p, &p.rogue_ca, true),
                "invalid peer certificate: unknownissuer",
            ),
            (
                our_client_tls(&p, &p.ca, false),
                "alert: certificaterequired",
            ),
        ] {
            let b = our_client("EchoService", volo.addr, t, Protocol::Binary)
                .pool(pool)
                .tls(tls);
            let err = on_core(async move {
                let c = EchoServiceClient::new(b.build().expect("client"));
                let started = Instant::now();
                let err = c.echo(req("refused")).await.expect_err("refused");
                let took = started.elapsed();
                assert!(
                    took < CALL_TIMEOUT / 2,
                    "{t:?}: took {took:?} to fail: {err}"
                );
                err
            });
            let text = err.to_string().to_lowercase();
            assert!(text.contains(want), "{t:?}: {err}");
        }
    }
    assert!(volo.log.take().is_empty(), "no call got through");
    // Volo's side ends its handshake on reading our client's alert, which
    // may be after our client returned its error.
    let mut failed = Vec::new();
    eventually("volo to see 4 failed handshakes", || {
        failed.extend(hs.failed());
        failed.len() >= 4
    });
    // Our client's alert for Volo's certificate, and rustls's refusal of a
    // client that sent none.
    for want in [
        "received fatal alert: UnknownCA",
        "peer sent no certificates",
    ] {
        assert!(
            failed.iter().any(|f| f.contains(want)),
            "{want}: {failed:?}"
        );
    }
    assert!(hs.done().iter().all(|h| h.client_cert.is_some()));
    // Volo's server lives on: a good client is served.
    let b = our_client(
        "EchoService",
        volo.addr,
        Transport::Framed,
        Protocol::Binary,
    )
    .tls(our_client_tls(&p, &p.ca, true));
    on_core(async move {
        let c = EchoServiceClient::new(b.build().expect("client"));
        let r = c.echo(req("still here")).await;
        assert_eq!(r.expect("still served").msg, "still here");
    });
}
