//! `ringrpc call`: one call with JSON arguments.

use std::io::{Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};

use ringrpc_engine::client::{CallOptions, ClientBuilder};
use ringrpc_generic::{GenericClient, Idl, JsonReply};

use crate::{CallArgs, DECLARED, Failure, OK};

pub(crate) const HELP: &str = "\
The arguments are a JSON object keyed by the method's argument names, given as
the JSON argument, with --data (JSON or @FILE), or on standard input (not read
for a method without arguments). They are
checked against the IDL before anything is sent: a wrong type, a missing
required field, an unknown field or a number out of range is an error naming
the path ($.thing.i32_thing).

Prints the method's return value as JSON (null for void). A declared exception
is printed as {\"<name in throws>\": {...}} with exit status 1; any other
failure (connect, timeout, transport, protocol, an application exception)
goes to standard error with exit status 2.

Examples:
  ringrpc call --idl idl/ThriftTest.thrift --addr 127.0.0.1:9090 \\
      ThriftTest.testStruct '{\"thing\": {\"string_thing\": \"hi\", \"byte_thing\": 1, \"i32_thing\": 2, \"i64_thing\": 3}}'
  ringrpc call --idl idl/ThriftTest.thrift --addr 127.0.0.1:9090 --transport buffered \\
      --protocol compact ThriftTest.testException '{\"arg\": \"Xception\"}'
  ringrpc call --idl idl/item.thrift --addr 127.0.0.1:8888 --transport ttheader \\
      --data @request.json ItemService.GetItem";

/// The arguments' JSON, from wherever it was given.
fn arguments(a: &CallArgs, stdin: &mut dyn Read) -> Result<String, Failure> {
    let read_stdin = |stdin: &mut dyn Read| -> Result<String, Failure> {
        let mut s = String::new();
        stdin.read_to_string(&mut s)?;
        Ok(s)
    };
    match (&a.data, &a.json) {
        (Some(_), Some(_)) => Err(Failure(
            "give the arguments once: as JSON or with --data, not both".into(),
        )),
        (Some(d), None) => match d.strip_prefix('@') {
            Some("-") => read_stdin(stdin),
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| Failure(format!("cannot read {path}: {e}"))),
            None => Ok(d.clone()),
        },
        (None, Some(j)) if j == "-" => read_stdin(stdin),
        (None, Some(j)) => Ok(j.clone()),
        (None, None) => read_stdin(stdin),
    }
}

fn resolve(addr: &str) -> Result<SocketAddr, Failure> {
    addr.to_socket_addrs()
        .map_err(|e| Failure(format!("cannot resolve {addr}: {e}")))?
        .next()
        .ok_or_else(|| Failure(format!("{addr} resolves to no address")))
}

pub(crate) fn run(
    a: CallArgs,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
) -> Result<u8, Failure> {
    let idl = Idl::load(&[&a.source.idl], &a.source.include)?;
    let (service, method) = a.method.rsplit_once('.').ok_or_else(|| {
        Failure(format!(
            "{:?}: name the method as SERVICE.METHOD (`ringrpc idl FILE` lists them)",
            a.method
        ))
    })?;
    // Unknown services and methods are reported before reading the data.
    let m = idl.method(service, method)?;
    let json = if a.json.is_none() && a.data.is_none() && idl.types().get(m.args).fields.is_empty()
    {
        // A method without arguments needs none: standard input is not
        // waited for (`ringrpc call ... ThriftTest.testVoid`).
        "{}".to_owned()
    } else {
        arguments(&a, stdin)?
    };
    let addr = resolve(&a.addr)?;
    let builder = ClientBuilder::new(idl.service(service)?.name.clone())
        .target(addr)
        .transport(a.transport)
        .protocol(a.protocol)
        .rpc_timeout(a.timeout)
        .connect_timeout(a.timeout);
    let opts = a.output.options();
    let pretty = opts.pretty;
    let reply = ringrpc_engine::runtime::block_on(async {
        let client = builder.build()?;
        let client = GenericClient::new(client, idl, service)?.json_options(opts);
        client.call_json(method, &json, &CallOptions::new()).await
    })?;
    match reply {
        JsonReply::Success(json) => {
            writeln!(stdout, "{json}")?;
            Ok(OK)
        }
        JsonReply::Exception { name, json } if pretty => {
            writeln!(stdout, "{}", pretty_exception(&name, &json))?;
            Ok(DECLARED)
        }
        exception @ JsonReply::Exception { .. } => {
            writeln!(stdout, "{}", exception.to_result_json())?;
            Ok(DECLARED)
        }
    }
}

/// `{"<name>": <json>}` indented as the pretty `json` is: the exception's
/// lines one level deeper (JSON strings hold no raw newlines, so the
/// lines are the formatter's).
fn pretty_exception(name: &str, json: &str) -> String {
    let key = serde_json::to_string(name).unwrap_or_default();
    let inner = json.replace('\n', "\n  ");
    format!("{{\n  {key}: {inner}\n}}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pretty_exception_is_indented_as_a_whole() {
        let inner = "{\n  \"errorCode\": 1001,\n  \"message\": \"a\\nb\"\n}";
        assert_eq!(
            super::pretty_exception("err1", inner),
            "{\n  \"err1\": {\n    \"errorCode\": 1001,\n    \"message\": \"a\\nb\"\n  }\n}"
        );
    }
}
