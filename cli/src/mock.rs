//! `ringrpc mock`: the generic server from the command line, answering
//! each method with a canned response.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::ToSocketAddrs;

use ringrpc_codec::thrift::{ApplicationException, ExceptionKind, Protocol};
use ringrpc_engine::context::ServerContext;
use ringrpc_engine::server::{Server, ServerHandle};
use ringrpc_generic::{Idl, JsonHandler, JsonReply, JsonServer, JsonService};
use serde_json::value::RawValue;

use crate::{Failure, MockArgs, OK};

pub(crate) const HELP: &str = "\
The responses file is a JSON object with one entry per method (named METHOD or
SERVICE.METHOD), each the method's result as a JSON object:
  {\"success\": VALUE}        the method returns VALUE
  {}                        a void method returns
  {\"<name>\": {...}}         the method throws its declared exception <name>
Every entry is checked against the IDL at start. A method with no entry is
answered with an application exception.

Prints `listening on ADDR` once it serves; stops on SIGINT or SIGTERM.

Example mock.json for idl/ThriftTest.thrift:
  {\"testString\": {\"success\": \"canned\"},
   \"testException\": {\"err1\": {\"errorCode\": 1, \"message\": \"mocked\"}},
   \"testVoid\": {}}

Examples:
  ringrpc mock --idl idl/ThriftTest.thrift --addr 127.0.0.1:9090 --responses mock.json
  ringrpc mock --idl idl/echo.thrift --service EchoService --responses echo.json";

/// Answers every call from the canned responses.
#[derive(Debug, Clone)]
struct Canned(std::sync::Arc<HashMap<String, JsonReply>>);

impl JsonHandler for Canned {
    async fn call(
        &self,
        _cx: &mut ServerContext,
        method: &str,
        _args: String,
    ) -> ringrpc_engine::Result<JsonReply> {
        self.0.get(method).cloned().ok_or_else(|| {
            ringrpc_engine::Error::Application(ApplicationException::new(
                ExceptionKind::UnknownMethod,
                format!("ringrpc mock has no response for {method}"),
            ))
        })
    }
}

/// Reads the responses file into a reply per method of `desc`, each
/// checked against the IDL.
fn responses(desc: &JsonService, text: &str) -> Result<HashMap<String, JsonReply>, Failure> {
    // Raw values keep the file's text, fields in the order written.
    type ResultStruct = BTreeMap<String, Box<RawValue>>;
    let entries: BTreeMap<String, ResultStruct> = serde_json::from_str(text).map_err(|e| {
        Failure(format!(
            "responses: {e} (expected {{\"METHOD\": {{\"success\": VALUE}}, ...}})"
        ))
    })?;
    let svc = &desc.service().name;
    let mut out = HashMap::new();
    for (key, result) in &entries {
        let name = key
            .strip_prefix(svc.as_str())
            .and_then(|k| k.strip_prefix('.'))
            .unwrap_or(key);
        let method = desc
            .method(name)
            .ok_or_else(|| Failure(format!("responses: `{svc}` has no method `{key}`")))?;
        let obj = result;
        let reply = match obj.iter().next() {
            None => JsonReply::success("null"),
            Some((k, v)) if obj.len() == 1 && k == "success" => JsonReply::success(v.get()),
            Some((k, v)) if obj.len() == 1 => JsonReply::exception(k.clone(), v.get()),
            Some(_) => {
                return Err(Failure(format!(
                    "responses.{key}: one entry: \"success\" or one exception"
                )));
            }
        };
        for protocol in [Protocol::Binary, Protocol::Compact] {
            desc.codec()
                .encode_result(method, &reply, protocol)
                .map_err(|e| Failure(format!("responses.{key}: {e}")))?;
        }
        out.insert(method.name.to_string(), reply);
    }
    Ok(out)
}

/// Starts the mock server `a` describes (without waiting for a signal).
pub(crate) fn start(a: &MockArgs) -> Result<ServerHandle, Failure> {
    let idl = Idl::load(&[&a.source.idl], &a.source.include)?;
    let service = match &a.service {
        Some(s) => s.clone(),
        None => {
            let first = idl
                .services()
                .iter()
                .find(|s| {
                    s.file
                        .ends_with(a.source.idl.file_name().unwrap_or_default())
                })
                .or_else(|| idl.services().first())
                .ok_or_else(|| Failure("the IDL declares no service".into()))?;
            first.name.clone()
        }
    };
    let desc = JsonService::new(idl, &service)?;
    let text = std::fs::read_to_string(&a.responses)
        .map_err(|e| Failure(format!("cannot read {}: {e}", a.responses.display())))?;
    let canned = Canned(std::sync::Arc::new(responses(&desc, &text)?));
    let addr = a
        .addr
        .to_socket_addrs()
        .map_err(|e| Failure(format!("cannot resolve {}: {e}", a.addr)))?
        .next()
        .ok_or_else(|| Failure(format!("{} resolves to no address", a.addr)))?;
    let handle = Server::builder()
        .addr(addr)
        .cores(a.cores.max(1))
        .configure(|c| c.pin = false)
        .dynamic_service(desc.clone(), JsonServer::new(desc, canned))
        .start()?;
    Ok(handle)
}

pub(crate) fn run(a: MockArgs, out: &mut dyn Write) -> Result<u8, Failure> {
    let handle = start(&a)?;
    writeln!(out, "listening on {}", handle.local_addr())?;
    out.flush()?;
    handle.run_until_signal()?;
    Ok(OK)
}
