//! The generic server: descriptors that let the engine serve any method
//! of an IDL service (or any method at all), for
//! [`ServerBuilder::dynamic_service`](ringrpc_engine::server::ServerBuilder::dynamic_service).
//!
//! - [`JsonService`]: the arguments arrive as JSON text; a [`JsonHandler`]
//!   answers with a [`JsonReply`] ([`JsonServer`] adapts one), e.g. a mock.
//! - [`RawService`]: the arguments struct arrives unread (a zero-copy slice
//!   of the request) and the handler answers with the result struct
//!   already encoded: the binary generic server, for proxies. With an IDL
//!   it serves that service's methods; without, any method.
//!
//! ```no_run
//! use ringrpc_engine::context::ServerContext;
//! use ringrpc_engine::server::Server;
//! use ringrpc_generic::{Idl, JsonHandler, JsonReply, JsonServer, JsonService};
//!
//! #[derive(Clone)]
//! struct Mock;
//! impl JsonHandler for Mock {
//!     async fn call(&self, _cx: &mut ServerContext, method: &str, args: String)
//!         -> ringrpc_engine::Result<JsonReply> {
//!         // Echo the first argument back.
//!         let v: serde_json::Value = serde_json::from_str(&args).unwrap_or_default();
//!         let first = v.as_object().and_then(|o| o.values().next().cloned());
//!         Ok(JsonReply::success(first.unwrap_or_default().to_string()))
//!     }
//! }
//!
//! # fn main() -> ringrpc_generic::Result<()> {
//! let idl = Idl::load(&["idl/echo.thrift"], &[] as &[&str])?;
//! let desc = JsonService::new(idl, "EchoService")?;
//! let server = Server::builder()
//!     .dynamic_service(desc.clone(), JsonServer::new(desc, Mock))
//!     .start()?;
//! # server.shutdown(); Ok(()) }
//! ```

use bytes::Bytes;
use ringrpc_codec::thrift::{
    ApplicationException, ExceptionKind, MessageType, ProtocolReader, ProtocolWriter, TType,
    Utf8Bytes,
};
use ringrpc_engine::codegen::{MethodKind, ServiceDescriptor};
use ringrpc_engine::context::ServerContext;
use ringrpc_engine::middleware::Service;

use crate::descriptor::{Idl, MethodDesc, ServiceDesc};
use crate::json::{self, JsonCodec, JsonOptions, JsonReply};
use crate::{Error, Result};

/// A result struct already encoded in the request's protocol: what a
/// generic service answers with.
#[derive(Debug, Clone, Default)]
pub struct EncodedResult(pub Bytes);

/// A call to a [`JsonService`]: the method and its arguments struct as a
/// JSON object keyed by argument name.
#[derive(Debug, Clone)]
pub struct JsonRequest {
    /// The method called.
    pub method: Utf8Bytes,
    /// The arguments, as JSON.
    pub args: String,
}

/// The descriptor of one IDL service served with JSON: every method of the
/// service (and the services it extends). Cheap to clone.
#[derive(Debug, Clone)]
pub struct JsonService {
    json: JsonCodec,
    service: ServiceDesc,
    name: Utf8Bytes,
}

impl JsonService {
    /// Serves the service `service` of `idl` (see [`Idl::service`]). JSON
    /// is written with the default [`JsonOptions`].
    pub fn new(idl: Idl, service: &str) -> Result<Self> {
        let svc = idl.service(service)?.clone();
        Ok(Self {
            name: Utf8Bytes::from(svc.name.as_str()),
            service: svc,
            json: JsonCodec::new(idl),
        })
    }

    /// Sets how arguments are written as JSON.
    pub fn json_options(mut self, opts: JsonOptions) -> Self {
        self.json = self.json.options(opts);
        self
    }

    /// The service served.
    pub fn service(&self) -> &ServiceDesc {
        &self.service
    }

    /// The method named `name`.
    pub fn method(&self, name: &str) -> Option<&MethodDesc> {
        self.service.method(name)
    }

    /// The codec the service converts with.
    pub fn codec(&self) -> &JsonCodec {
        &self.json
    }
}

impl ServiceDescriptor for JsonService {
    type Request = JsonRequest;
    type Response = EncodedResult;

    fn name(&self) -> &Utf8Bytes {
        &self.name
    }

    fn method(&self, method: &str, _msg_type: MessageType) -> Option<MethodKind> {
        self.service.method(method).map(|m| {
            if m.oneway {
                MethodKind::Oneway
            } else {
                MethodKind::Call
            }
        })
    }

    fn decode_request<R: ProtocolReader>(
        &self,
        method: &Utf8Bytes,
        r: &mut R,
    ) -> ringrpc_codec::Result<JsonRequest> {
        let m = self
            .service
            .method(method)
            .ok_or_else(|| ringrpc_codec::Error::Schema(format!("unknown method {method}")))?;
        let mut out = Vec::with_capacity(r.remaining() * 2);
        json::decode_struct(
            self.json.idl().types(),
            self.json.json_options(),
            r,
            m.args,
            &mut out,
        )
        .map_err(|e| ringrpc_codec::Error::Schema(e.to_string()))?;
        Ok(JsonRequest {
            method: method.clone(),
            // serde_json's formatter writes UTF-8 only.
            args: String::from_utf8(out).unwrap_or_default(),
        })
    }

    fn encode_response<W: ProtocolWriter>(&self, resp: &EncodedResult, w: &mut W) {
        w.write_raw(resp.0.clone())
    }
}

/// Answers the calls of a [`JsonService`]: one method for every method of
/// the IDL service.
pub trait JsonHandler: 'static {
    /// Answers `method` called with `args` (a JSON object keyed by argument
    /// name). An `Err` is sent as an application exception (as a typed
    /// handler's is).
    #[allow(async_fn_in_trait)]
    async fn call(
        &self,
        cx: &mut ServerContext,
        method: &str,
        args: String,
    ) -> ringrpc_engine::Result<JsonReply>;
}

/// Runs a [`JsonHandler`] as the engine service of a [`JsonService`]: the
/// handler's [`JsonReply`] is encoded as the method's result struct in the
/// request's protocol. A reply that does not match the IDL is sent as an
/// `InternalError` application exception naming the path.
#[derive(Debug, Clone)]
pub struct JsonServer<H> {
    desc: JsonService,
    handler: H,
}

impl<H> JsonServer<H> {
    /// Serves `desc`'s methods with `handler`.
    pub fn new(desc: JsonService, handler: H) -> Self {
        Self { desc, handler }
    }
}

impl<H: JsonHandler> Service<ServerContext, JsonRequest> for JsonServer<H> {
    type Response = EncodedResult;
    type Error = ringrpc_engine::Error;

    async fn call(
        &self,
        cx: &mut ServerContext,
        req: JsonRequest,
    ) -> ringrpc_engine::Result<EncodedResult> {
        let reply = self.handler.call(cx, &req.method, req.args).await?;
        let protocol = cx.info.codec.protocol;
        let internal = |e: Error| {
            ringrpc_engine::Error::Application(ApplicationException::new(
                ExceptionKind::InternalError,
                format!(
                    "the handler's reply to {} does not match the IDL: {e}",
                    req.method
                ),
            ))
        };
        let m = self.desc.method(&req.method).ok_or_else(|| {
            internal(Error::UnknownMethod {
                service: self.desc.service.name.clone(),
                method: req.method.to_string(),
            })
        })?;
        self.desc
            .json
            .encode_result(m, &reply, protocol)
            .map(EncodedResult)
            .map_err(internal)
    }
}

/// A call to a [`RawService`]: the method and its arguments struct unread.
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// The method called.
    pub method: Utf8Bytes,
    /// The arguments struct, in the request's protocol (`cx.info.codec`):
    /// a zero-copy slice of the request.
    pub args: Bytes,
}

/// The descriptor of a service served raw: the arguments struct reaches
/// the handler unread and the handler's [`EncodedResult`] is sent as it
/// is (Kitex's binary generic server). Handlers implement the engine's
/// [`Service`]`<ServerContext, RawRequest>`.
#[derive(Debug, Clone)]
pub struct RawService {
    name: Utf8Bytes,
    service: Option<ServiceDesc>,
}

impl RawService {
    /// Serves the methods of `service` in `idl` (unknown methods are
    /// refused, oneway methods get no reply).
    pub fn new(idl: &Idl, service: &str) -> Result<Self> {
        let svc = idl.service(service)?.clone();
        Ok(Self {
            name: Utf8Bytes::from(svc.name.as_str()),
            service: Some(svc),
        })
    }

    /// Serves every method called, under the service name `name`, with no
    /// IDL: a call sent as a oneway message gets no reply.
    pub fn any_method(name: &str) -> Self {
        Self {
            name: Utf8Bytes::from(name),
            service: None,
        }
    }
}

impl ServiceDescriptor for RawService {
    type Request = RawRequest;
    type Response = EncodedResult;

    fn name(&self) -> &Utf8Bytes {
        &self.name
    }

    fn method(&self, method: &str, msg_type: MessageType) -> Option<MethodKind> {
        let oneway = match &self.service {
            Some(s) => s.method(method)?.oneway,
            None => msg_type == MessageType::Oneway,
        };
        Some(if oneway {
            MethodKind::Oneway
        } else {
            MethodKind::Call
        })
    }

    fn decode_request<R: ProtocolReader>(
        &self,
        method: &Utf8Bytes,
        r: &mut R,
    ) -> ringrpc_codec::Result<RawRequest> {
        Ok(RawRequest {
            method: method.clone(),
            args: r.read_raw(TType::Struct)?,
        })
    }

    fn encode_response<W: ProtocolWriter>(&self, resp: &EncodedResult, w: &mut W) {
        w.write_raw(resp.0.clone())
    }
}
