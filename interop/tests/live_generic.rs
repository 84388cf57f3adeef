//! Generic calls against real volo-thrift peers over loopback: the
//! `ringrpc` command line (in-process, `ringrpc_cli::run`) calls Volo's
//! echo and shop servers on every transport Volo serves, and Volo's echo
//! client calls ringrpc's generic JSON server (the server `ringrpc mock`
//! runs) on every transport and protocol. No generated code on ringrpc's
//! side: the IDL is read at run time.

mod common;

use common::*;
use ringrpc::codec::thrift::Protocol;
use ringrpc::engine::context::ServerContext;
use ringrpc::engine::server::Server;
use ringrpc_generic::{Idl, JsonHandler, JsonReply, JsonServer, JsonService};
use ringrpc_interop::{echo as vecho, item as vitem};

struct Run {
    code: u8,
    out: String,
    err: String,
}

fn ringrpc(args: &[&str]) -> Run {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("ringrpc").chain(args.iter().copied());
    let code = ringrpc_cli::run(argv, &mut std::io::empty(), &mut out, &mut err);
    Run {
        code,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}

fn idl(name: &str) -> String {
    format!("{}/../idl/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The transports and protocols a Volo server takes, as the CLI names them.
const VOLO_SERVES: &[(&str, &str)] = &[
    ("ttheader-framed", "binary"),
    ("ttheader", "compact"),
    ("framed", "binary"),
    ("framed", "compact"),
    ("buffered", "binary"),
];

fn call(file: &str, addr: std::net::SocketAddr, t: &str, p: &str, method: &str, json: &str) -> Run {
    let (idl, addr) = (idl(file), addr.to_string());
    ringrpc(&[
        "call",
        "--idl",
        &idl,
        "--addr",
        &addr,
        "--transport",
        t,
        "--protocol",
        p,
        "--timeout",
        "5s",
        "--compact-output",
        method,
        json,
    ])
}

#[test]
fn the_cli_calls_volo_echo_on_every_transport() {
    let volo = spawn_volo(|incoming, record| {
        vecho::EchoServiceServer::new(VoloEcho)
            .layer_front(record)
            .run(incoming)
    });
    for &(t, p) in VOLO_SERVES {
        let r = call(
            "echo.thrift",
            volo.addr,
            t,
            p,
            "EchoService.echo",
            r#"{"req": {"msg": "hi \u00e9"}}"#,
        );
        assert_eq!(
            (r.code, r.out.trim(), r.err.as_str()),
            (0, r#"{"msg":"hi é"}"#, ""),
            "{t}/{p}"
        );
        // Volo's application exception: exit status 2, its message shown.
        let r = call(
            "echo.thrift",
            volo.addr,
            t,
            p,
            "EchoService.echo",
            r#"{"req": {"msg": "fail"}}"#,
        );
        assert_eq!(r.code, 2, "{t}/{p}: {}", r.out);
        assert!(r.err.contains("no luck"), "{t}/{p}: {}", r.err);
    }
    // Volo saw each transport as sent.
    let seen = volo.log.take();
    assert_eq!(seen.len(), VOLO_SERVES.len() * 2);
}

#[test]
fn the_cli_shops_at_volo() {
    let volo = spawn_volo(|incoming, record| {
        vitem::ItemServiceServer::new(VoloShop)
            .layer_front(record)
            .run(incoming)
    });
    for &(t, p) in VOLO_SERVES {
        let id = i64::MAX / 10;
        let r = call(
            "item.thrift",
            volo.addr,
            t,
            p,
            "ItemService.GetItem",
            &format!(r#"{{"req": {{"id": {id}}}}}"#),
        );
        assert_eq!(r.code, 0, "{t}/{p}: {}", r.err);
        let want = format!(
            r#"{{"item":{{"id":{id},"title":"Volo","description":"item {id} served by volo","stock":{}}}}}"#,
            id.wrapping_mul(10)
        );
        assert_eq!(r.out.trim(), want, "{t}/{p}");
        // An i64 given as a string is the same call.
        let r = call(
            "item.thrift",
            volo.addr,
            t,
            p,
            "ItemService.GetItem",
            r#"{"req": {"id": "7"}}"#,
        );
        assert!(r.out.contains(r#""id":7"#), "{t}/{p}: {} {}", r.out, r.err);
    }
}

/// Echoes the request's message back, from JSON.
#[derive(Clone)]
struct JsonEcho;

impl JsonHandler for JsonEcho {
    async fn call(
        &self,
        _cx: &mut ServerContext,
        method: &str,
        args: String,
    ) -> ringrpc::engine::Result<JsonReply> {
        assert_eq!(method, "echo");
        let v: serde_json::Value = serde_json::from_str(&args).expect("args are JSON");
        Ok(JsonReply::success(v["req"].to_string()))
    }
}

#[test]
fn volo_clients_call_the_generic_json_server() {
    let idl = Idl::load(&[idl("echo.thrift")], &[] as &[&str]).unwrap();
    let desc = JsonService::new(idl, "EchoService").unwrap();
    let server = Server::builder()
        .addr("127.0.0.1:0".parse().unwrap())
        .cores(1)
        .configure(|c| c.pin = false)
        .dynamic_service(desc.clone(), JsonServer::new(desc, JsonEcho))
        .start()
        .unwrap();
    let addr = server.local_addr();
    let rt = tokio_rt();
    for t in VoloTransport::ALL {
        for p in [Protocol::Binary, Protocol::Compact] {
            rt.block_on(async {
                let c = volo_echo_client(addr, t, p);
                for msg in ["one", "two \"quoted\" ☃"] {
                    let r = bounded(c.echo(vecho::EchoRequest {
                        msg: volo::FastStr::new(msg),
                    }))
                    .await;
                    assert_eq!(r.expect("volo echo").msg, msg, "{t:?}/{p:?}");
                }
            });
        }
    }
    server.shutdown();
}
