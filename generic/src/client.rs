//! The generic client: calls any method of one IDL service, with JSON
//! arguments, dynamic values, or an already-encoded arguments struct, over
//! the engine's [`Client`] (its pools, timeouts, retry, discovery and
//! middleware, unchanged).

use bytes::Bytes;
use ringrpc_codec::thrift::Utf8Bytes;
use ringrpc_engine::client::{CallOptions, Client, ClientReply, ClientRequest, RawReply, Resolve};
use ringrpc_engine::context::ClientContext;
use ringrpc_engine::middleware::Service;

use crate::descriptor::{Idl, MethodDesc, ServiceDesc};
use crate::json::{JsonCodec, JsonOptions, JsonReply};
use crate::value::{self, StructValue};
use crate::{Error, Result};

/// A method's outcome as dynamic values.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueReply {
    /// The return value (`None` for `void`).
    Success(Option<value::Value>),
    /// A declared exception: its `throws` name and the exception struct.
    Exception {
        /// The `throws` entry's name.
        name: String,
        /// The exception.
        value: StructValue,
    },
}

/// Calls the methods of one service of an [`Idl`] without generated code.
/// Built on a core from that core's engine [`Client`], like a generated
/// client.
///
/// ```no_run
/// # async fn demo(client: ringrpc_engine::client::Client) -> ringrpc_generic::Result<()> {
/// use ringrpc_engine::client::CallOptions;
/// use ringrpc_generic::{GenericClient, Idl, JsonReply};
///
/// let idl = Idl::load(&["idl/echo.thrift"], &[] as &[&str])?;
/// let echo = GenericClient::new(client, idl, "EchoService")?;
/// match echo.call_json("echo", r#"{"req": {"msg": "hi"}}"#, &CallOptions::new()).await? {
///     JsonReply::Success(json) => println!("{json}"),
///     JsonReply::Exception { name, json } => eprintln!("{name}: {json}"),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct GenericClient<S = Resolve> {
    client: Client<S>,
    service: ServiceDesc,
    names: Vec<Utf8Bytes>,
    json: JsonCodec,
}

impl<S> GenericClient<S>
where
    S: Service<ClientContext, ClientRequest, Response = ClientReply, Error = ringrpc_engine::Error>,
{
    /// A client of the service `service` of `idl` (see [`Idl::service`]
    /// for how it is named), calling through `client`. JSON is written
    /// with the default [`JsonOptions`].
    pub fn new(client: Client<S>, idl: Idl, service: &str) -> Result<Self> {
        let svc = idl.service(service)?.clone();
        let names = svc
            .methods
            .iter()
            .map(|m| Utf8Bytes::from(&*m.name))
            .collect();
        Ok(Self {
            client,
            service: svc,
            names,
            json: JsonCodec::new(idl),
        })
    }

    /// Sets how replies are written as JSON.
    pub fn json_options(mut self, opts: JsonOptions) -> Self {
        self.json = self.json.options(opts);
        self
    }

    /// The engine client calls go through.
    pub fn inner(&self) -> &Client<S> {
        &self.client
    }

    /// The service called.
    pub fn service(&self) -> &ServiceDesc {
        &self.service
    }

    fn method(&self, name: &str) -> Result<(&MethodDesc, &Utf8Bytes)> {
        let i = self
            .service
            .methods
            .iter()
            .position(|m| &*m.name == name)
            .ok_or_else(|| Error::UnknownMethod {
                service: self.service.name.clone(),
                method: name.to_owned(),
            })?;
        Ok((&self.service.methods[i], &self.names[i]))
    }

    /// Calls `method` with `args`, a JSON object keyed by the method's
    /// argument names. JSON that does not match the IDL is an
    /// [`Error::Value`] naming the path, and nothing is sent. A oneway
    /// method returns `Success("null")` once the call is written.
    pub async fn call_json(
        &self,
        method: &str,
        args: &str,
        opts: &CallOptions,
    ) -> Result<JsonReply> {
        let (m, name) = self.method(method)?;
        let protocol = self.client.codec_for(opts).protocol;
        let bytes = self.json.encode(m.args, args.as_bytes(), protocol)?;
        if m.oneway {
            self.client
                .call_raw_oneway(name.clone(), bytes, opts)
                .await?;
            return Ok(JsonReply::Success("null".to_owned()));
        }
        let reply = self.client.call_raw(name.clone(), bytes, opts).await?;
        self.json.decode_result(m, reply.result, reply.protocol)
    }

    /// Calls `method` with `args` (its arguments struct as a dynamic
    /// value, fields named as the arguments).
    pub async fn call_value(
        &self,
        method: &str,
        args: &StructValue,
        opts: &CallOptions,
    ) -> Result<ValueReply> {
        let (m, name) = self.method(method)?;
        let protocol = self.client.codec_for(opts).protocol;
        let idl = self.json.idl();
        let bytes = value::encode_struct(idl, m.args, args, protocol)?;
        if m.oneway {
            self.client
                .call_raw_oneway(name.clone(), bytes, opts)
                .await?;
            return Ok(ValueReply::Success(None));
        }
        let reply = self.client.call_raw(name.clone(), bytes, opts).await?;
        value_reply(idl, m, reply)
    }

    /// Calls `method` with its arguments struct already encoded in the
    /// call's protocol ([`Client::codec_for`]), and returns the result
    /// struct unread: the binary generic call, for proxies. Needs only the
    /// method's name from the IDL.
    pub async fn call_raw(
        &self,
        method: &str,
        args: Bytes,
        opts: &CallOptions,
    ) -> Result<RawReply> {
        let (m, name) = self.method(method)?;
        if m.oneway {
            self.client
                .call_raw_oneway(name.clone(), args, opts)
                .await?;
            let protocol = self.client.codec_for(opts).protocol;
            return Ok(RawReply {
                protocol,
                result: Bytes::new(),
            });
        }
        Ok(self.client.call_raw(name.clone(), args, opts).await?)
    }
}

fn value_reply(idl: &Idl, m: &MethodDesc, reply: RawReply) -> Result<ValueReply> {
    let result = value::decode_struct(idl, m.result, reply.result, reply.protocol)?;
    let s = idl.types().get(m.result);
    for (name, v) in result.fields() {
        let Some(f) = s.field(name) else { continue };
        if f.id == 0 {
            return Ok(ValueReply::Success(Some(v.clone())));
        }
        if let value::Value::Struct(ex) = v {
            return Ok(ValueReply::Exception {
                name: name.to_owned(),
                value: ex.clone(),
            });
        }
    }
    if m.ret.is_none() {
        return Ok(ValueReply::Success(None));
    }
    Err(Error::Wire {
        path: Default::default(),
        message: format!("`{}` replied with no result", m.name),
    })
}
