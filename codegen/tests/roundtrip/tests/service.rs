//! The generated service glue: handler traits (with `extends`), error enums,
//! outcome conversions, the engine descriptor and server adapter (driven
//! without sockets), and the typed client against a real server over
//! loopback. Also the codec-only variant of the same IDL.

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use ringrpc_build_roundtrip::codec_only as co;
use ringrpc_build_roundtrip::generated::{constructs as c, shared, thrift_test as tt};
use ringrpc_codec::buffer::LinkWriter;
use ringrpc_codec::thrift::{
    ApplicationException, BinaryReader, BinaryWriter, CompactReader, CompactWriter, ExceptionKind,
    Message, Protocol, Utf8Bytes,
};
use ringrpc_codec::transport::{Codec, Transport};
use ringrpc_engine::client::{CallOptions, ClientBuilder};
use ringrpc_engine::codegen::{MethodKind, ThriftService};
use ringrpc_engine::context::{Endpoint, RpcInfo, ServerContext};
use ringrpc_engine::middleware::Service;
use ringrpc_engine::server::Server;

/// Runs a future that never waits (the handlers here don't).
fn ready<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the handler waited"),
    }
}

fn encode<T: Message>(v: &T) -> Bytes {
    let mut out = LinkWriter::new();
    v.encode(&mut BinaryWriter::new(&mut out));
    Bytes::from(out.to_vec())
}

/// Sends a value over the wire and back.
fn wire<T: Message>(v: &T) -> T {
    T::decode(&mut BinaryReader::new(encode(v))).expect("decodes")
}

/// A per-core handler: not `Send` (it holds an `Rc`), which the trait allows.
#[derive(Default)]
struct Shop {
    calls: Rc<Cell<u32>>,
    fired: Rc<Cell<i64>>,
}

impl shared::Base for Shop {
    async fn ping(&self, _cx: &mut ServerContext) -> ringrpc_engine::Result<Utf8Bytes> {
        Ok("pong".into())
    }
}

impl c::Shop for Shop {
    async fn find(
        &self,
        cx: &mut ServerContext,
        name: Utf8Bytes,
        hint: Option<i32>,
    ) -> Result<shared::Point, c::ShopFindError> {
        self.calls.set(self.calls.get() + 1);
        match name.as_str() {
            "origin" => Ok(shared::Point {
                x: 0,
                y: hint.unwrap_or(0),
            }),
            "method" => Ok(shared::Point {
                x: cx.info.method.len() as i32,
                y: 0,
            }),
            "gone" => Err(shared::NotFound {
                message: name,
                id: hint.map(i64::from),
            }
            .into()),
            "oops" => Err(c::Oops {
                message: "oops".into(),
                code: 500,
            }
            .into()),
            "app" => Err(ApplicationException::new(ExceptionKind::InternalError, "broken").into()),
            _ => Err(ringrpc_engine::Error::handler("no luck").into()),
        }
    }

    async fn touch(&self, _cx: &mut ServerContext) -> ringrpc_engine::Result<()> {
        Ok(())
    }

    async fn fire(&self, _cx: &mut ServerContext, at: i64) -> ringrpc_engine::Result<()> {
        self.fired.set(at);
        Ok(())
    }

    async fn trees(
        &self,
        _cx: &mut ServerContext,
        depth: i32,
        _defaults: c::Defaults,
    ) -> ringrpc_engine::Result<Vec<c::Tree>> {
        Ok((0..depth).map(|_| c::Tree::default()).collect())
    }
}

fn server_context(method: &str) -> ServerContext {
    ServerContext::new(RpcInfo {
        caller: Endpoint::default(),
        callee: Endpoint::default(),
        method: Utf8Bytes::from(method),
        seqid: 1,
        deadline: None,
        timeout: None,
        codec: Codec {
            transport: Transport::Framed,
            protocol: Protocol::Binary,
        },
    })
}

/// What the server does with one call's arguments, without sockets: decode
/// them with the descriptor, run the handler, encode the response.
fn dispatch<A: Message>(method: &str, args: &A) -> ringrpc_engine::Result<Bytes> {
    let mut r = BinaryReader::new(encode(args));
    let req = c::ShopDescriptor::decode_request(method, &mut r).expect("arguments decode");
    let server = c::ShopServer::new(Shop::default());
    let resp = ready(server.call(&mut server_context(method), req))?;
    let mut out = LinkWriter::new();
    c::ShopDescriptor::encode_response(&resp, &mut BinaryWriter::new(&mut out));
    Ok(Bytes::from(out.to_vec()))
}

#[test]
fn descriptor_knows_every_method_including_inherited() {
    assert_eq!(c::ShopDescriptor::NAME, "Shop");
    assert_eq!(c::ShopDescriptor::method("find"), Some(MethodKind::Call));
    assert_eq!(c::ShopDescriptor::method("fire"), Some(MethodKind::Oneway));
    assert_eq!(c::ShopDescriptor::method("ping"), Some(MethodKind::Call));
    assert_eq!(c::ShopDescriptor::method("nope"), None);
    assert!(
        c::ShopDescriptor::decode_request("nope", &mut BinaryReader::new(Bytes::new())).is_err()
    );
    assert_eq!(c::EmptyDescriptor::method("find"), None);
}

#[test]
fn dispatch_runs_the_handler_and_encodes_the_result() {
    let args = c::ShopFindArgs {
        name: "origin".into(),
        hint: Some(4),
    };
    let bytes = dispatch("find", &args).expect("success");
    let result = c::ShopFindResult::decode(&mut BinaryReader::new(bytes)).expect("result");
    assert_eq!(
        result.into_outcome().expect("ok"),
        shared::Point { x: 0, y: 4 }
    );

    // A declared exception is put in the result struct.
    let args = c::ShopFindArgs {
        name: "gone".into(),
        hint: Some(7),
    };
    let bytes = dispatch("find", &args).expect("a result struct");
    let result = c::ShopFindResult::decode(&mut BinaryReader::new(bytes)).expect("result");
    assert_eq!(result.not_found.as_ref().map(|e| e.id), Some(Some(7)));

    // Any other failure is the engine's error (sent as an application
    // exception by the server).
    let args = c::ShopFindArgs {
        name: "app".into(),
        hint: None,
    };
    match dispatch("find", &args) {
        Err(ringrpc_engine::Error::Application(e)) => {
            assert_eq!(e.kind, ExceptionKind::InternalError)
        }
        other => panic!("{other:?}"),
    }

    // An inherited method.
    let bytes = dispatch("ping", &shared::BasePingArgs {}).expect("pong");
    let result = shared::BasePingResult::decode(&mut BinaryReader::new(bytes)).expect("result");
    assert_eq!(result.into_outcome().expect("ok"), "pong");
}

#[test]
fn outcomes_convert_both_ways() {
    // void: success is an empty struct; decoding it gives Ok(()).
    let r = tt::ThriftTestTestVoidResult::from_outcome(Ok(())).expect("result");
    assert!(wire(&r).into_outcome().is_ok());
    // A void method that throws: the exception comes back.
    let x = tt::Xception {
        error_code: 1001,
        message: "Xception".into(),
    };
    let r = tt::ThriftTestTestExceptionResult::from_outcome(Err(x.clone().into())).expect("result");
    match wire(&r).into_outcome() {
        Err(tt::ThriftTestTestExceptionError::Err1(e)) => assert_eq!(e, x),
        other => panic!("{other:?}"),
    }
    // A result with nothing set, for a method with a return value, is
    // Apache's "unknown result".
    match tt::ThriftTestTestStringResult::default().into_outcome() {
        Err(ringrpc_engine::Error::Application(e)) => {
            assert_eq!(e.kind, ExceptionKind::MissingResult);
            assert_eq!(e.message, "testString failed: unknown result");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        tt::ThriftTestTestMultiExceptionResult::default().into_outcome(),
        Err(tt::ThriftTestTestMultiExceptionError::Other(
            ringrpc_engine::Error::Application(_)
        ))
    ));
}

#[test]
fn codec_only_outcomes_use_application_exceptions() {
    let app = ApplicationException::new(ExceptionKind::InternalError, "no");
    assert_eq!(
        co::constructs::ShopTreesResult::from_outcome(Err(app.clone())),
        Err(app.clone())
    );
    let e: co::constructs::ShopFindError = app.clone().into();
    assert_eq!(
        co::constructs::ShopFindResult::from_outcome(Err(e)),
        Err(app)
    );
    match co::constructs::ShopFindResult::default().into_outcome() {
        Err(co::constructs::ShopFindError::Other(e)) => {
            assert_eq!(e.kind, ExceptionKind::MissingResult)
        }
        other => panic!("{other:?}"),
    }
    // The codec-only types are the same on the wire.
    let r = co::constructs::ShopFindResult {
        success: None,
        not_found: None,
        oops: Some(co::constructs::Oops {
            message: "m".into(),
            code: 1,
        }),
    };
    let mut out = LinkWriter::new();
    r.encode(&mut CompactWriter::new(&mut out));
    let back = c::ShopFindResult::decode(&mut CompactReader::new(Bytes::from(out.to_vec())))
        .expect("decodes as the engine flavour");
    assert_eq!(back.oops.map(|o| o.code), Some(1));
}

struct Fixture {
    addr: SocketAddr,
    fired: std::sync::Arc<std::sync::atomic::AtomicI64>,
    _server: ringrpc_engine::server::ServerHandle,
}

/// A handler that reports oneway calls to the test thread.
struct Reporting {
    inner: Shop,
    fired: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl shared::Base for Reporting {
    async fn ping(&self, cx: &mut ServerContext) -> ringrpc_engine::Result<Utf8Bytes> {
        shared::Base::ping(&self.inner, cx).await
    }
}

impl c::Shop for Reporting {
    async fn find(
        &self,
        cx: &mut ServerContext,
        name: Utf8Bytes,
        hint: Option<i32>,
    ) -> Result<shared::Point, c::ShopFindError> {
        c::Shop::find(&self.inner, cx, name, hint).await
    }

    async fn touch(&self, cx: &mut ServerContext) -> ringrpc_engine::Result<()> {
        c::Shop::touch(&self.inner, cx).await
    }

    async fn fire(&self, _cx: &mut ServerContext, at: i64) -> ringrpc_engine::Result<()> {
        self.fired.store(at, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    async fn trees(
        &self,
        cx: &mut ServerContext,
        depth: i32,
        defaults: c::Defaults,
    ) -> ringrpc_engine::Result<Vec<c::Tree>> {
        c::Shop::trees(&self.inner, cx, depth, defaults).await
    }
}

fn start() -> Fixture {
    let fired = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let f = fired.clone();
    let server = Server::builder()
        .addr("127.0.0.1:0".parse().expect("addr"))
        .cores(1)
        .configure(|c| c.pin = false)
        .service_per_core(move || {
            c::ShopServer::new(Reporting {
                inner: Shop::default(),
                fired: f.clone(),
            })
        })
        .start()
        .expect("server starts");
    Fixture {
        addr: server.local_addr(),
        fired,
        _server: server,
    }
}

#[test]
fn generated_client_calls_generated_server() {
    let fx = start();
    for protocol in [Protocol::Binary, Protocol::Compact] {
        let builder = ClientBuilder::new("Shop")
            .target(fx.addr)
            .protocol(protocol)
            .connect_timeout(Duration::from_secs(2))
            .rpc_timeout(Duration::from_secs(10));
        ringrpc_engine::runtime::block_on(async move {
            let client = c::ShopClient::new(builder.build().expect("client"));
            let opts = CallOptions::new().rpc_timeout(Duration::from_secs(5));
            let p = client.find("origin".into(), Some(2)).await;
            assert_eq!(p.expect("found"), shared::Point { x: 0, y: 2 });
            // The handler's context names the method: `find`, 4 bytes. The
            // same call with per-call options.
            let p = client.with_options(&opts).find("method".into(), None).await;
            assert_eq!(p.expect("found").x, 4);
            match client.find("gone".into(), Some(9)).await {
                Err(c::ShopFindError::NotFound(e)) => {
                    assert_eq!((e.message.as_str(), e.id), ("gone", Some(9)))
                }
                other => panic!("{other:?}"),
            }
            match client.find("oops".into(), None).await {
                Err(c::ShopFindError::Oops(e)) => assert_eq!(e.code, 500),
                other => panic!("{other:?}"),
            }
            match client.find("else".into(), None).await {
                Err(c::ShopFindError::Other(ringrpc_engine::Error::Application(e))) => {
                    assert_eq!(e.kind, ExceptionKind::InternalError)
                }
                other => panic!("{other:?}"),
            }
            client.touch().await.expect("void");
            assert_eq!(client.ping().await.expect("inherited"), "pong");
            let trees = client
                .trees(3, c::Defaults::default())
                .await
                .expect("trees");
            assert_eq!(trees.len(), 3);
            client
                .with_options(&opts)
                .fire(42)
                .await
                .expect("oneway written");
        });
    }
    // The oneway call arrives; wait for it with a bound.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while fx.fired.load(std::sync::atomic::Ordering::SeqCst) != 42 {
        assert!(
            std::time::Instant::now() < deadline,
            "oneway call never arrived"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
