//! `echo.thrift`: `EchoService.echo(EchoRequest) -> EchoResponse`.

use ringrpc_codec::Result;
use ringrpc_codec::thrift::{Message, ProtocolReader, ProtocolWriter, TType, Utf8Bytes};
use ringrpc_engine::client::{CallOptions, Client, ClientReply, ClientRequest};
use ringrpc_engine::context::{ClientContext, ServerContext};
use ringrpc_engine::middleware::Service;
use ringrpc_engine::server::{MethodKind, ThriftService};

use super::{missing, read_struct};

/// `struct EchoRequest { 1: required string msg }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EchoRequest {
    /// The message to echo.
    pub msg: Utf8Bytes,
}

/// `struct EchoResponse { 1: required string msg }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EchoResponse {
    /// The echoed message.
    pub msg: Utf8Bytes,
}

macro_rules! msg_struct {
    ($t:ident, $name:literal) => {
        impl Message for $t {
            fn encode<W: ProtocolWriter>(&self, w: &mut W) {
                w.write_struct_begin($name);
                w.write_field_begin(TType::Binary, 1);
                w.write_string(&self.msg);
                w.write_field_end();
                w.write_field_stop();
                w.write_struct_end();
            }

            fn decode<R: ProtocolReader>(r: &mut R) -> Result<Self> {
                let mut msg = None;
                read_struct(r, |r, id, t| {
                    Ok(match (id, t) {
                        (1, TType::Binary) => {
                            msg = Some(r.read_string()?);
                            true
                        }
                        _ => false,
                    })
                })?;
                Ok(Self {
                    msg: msg.ok_or_else(|| missing($name, "msg"))?,
                })
            }
        }
    };
}

msg_struct!(EchoRequest, "EchoRequest");
msg_struct!(EchoResponse, "EchoResponse");

/// The arguments of `EchoService.echo`: `1: EchoRequest req`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EchoServiceEchoArgs {
    /// The request.
    pub req: EchoRequest,
}

impl Message for EchoServiceEchoArgs {
    fn encode<W: ProtocolWriter>(&self, w: &mut W) {
        w.write_struct_begin("EchoService_echo_args");
        w.write_field_begin(TType::Struct, 1);
        self.req.encode(w);
        w.write_field_end();
        w.write_field_stop();
        w.write_struct_end();
    }

    fn decode<R: ProtocolReader>(r: &mut R) -> Result<Self> {
        let mut req = EchoRequest::default();
        read_struct(r, |r, id, t| {
            Ok(match (id, t) {
                (1, TType::Struct) => {
                    req = EchoRequest::decode(r)?;
                    true
                }
                _ => false,
            })
        })?;
        Ok(Self { req })
    }
}

/// The result of `EchoService.echo`: `0: EchoResponse success`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EchoServiceEchoResult {
    /// The reply, when the call succeeded.
    pub success: Option<EchoResponse>,
}

impl Message for EchoServiceEchoResult {
    fn encode<W: ProtocolWriter>(&self, w: &mut W) {
        w.write_struct_begin("EchoService_echo_result");
        if let Some(s) = &self.success {
            w.write_field_begin(TType::Struct, 0);
            s.encode(w);
            w.write_field_end();
        }
        w.write_field_stop();
        w.write_struct_end();
    }

    fn decode<R: ProtocolReader>(r: &mut R) -> Result<Self> {
        let mut success = None;
        read_struct(r, |r, id, t| {
            Ok(match (id, t) {
                (0, TType::Struct) => {
                    success = Some(EchoResponse::decode(r)?);
                    true
                }
                _ => false,
            })
        })?;
        Ok(Self { success })
    }
}

/// A decoded call to `EchoService`.
#[derive(Debug, Clone)]
pub enum EchoServiceRequest {
    /// `echo`.
    Echo(EchoServiceEchoArgs),
}

/// The result of a call to `EchoService`.
#[derive(Debug, Clone)]
pub enum EchoServiceResponse {
    /// `echo`.
    Echo(EchoServiceEchoResult),
}

/// The server-side descriptor of `EchoService`.
#[derive(Debug, Clone, Copy)]
pub struct EchoServiceDescriptor;

impl ThriftService for EchoServiceDescriptor {
    type Request = EchoServiceRequest;
    type Response = EchoServiceResponse;
    const NAME: &'static str = "EchoService";

    fn method(method: &str) -> Option<MethodKind> {
        match method {
            "echo" => Some(MethodKind::Call),
            _ => None,
        }
    }

    fn decode_request<R: ProtocolReader>(method: &str, r: &mut R) -> Result<Self::Request> {
        match method {
            "echo" => Ok(EchoServiceRequest::Echo(EchoServiceEchoArgs::decode(r)?)),
            _ => Err(ringrpc_codec::Error::BadMessageHeader("unknown method")),
        }
    }

    fn encode_response<W: ProtocolWriter>(resp: &Self::Response, w: &mut W) {
        match resp {
            EchoServiceResponse::Echo(r) => r.encode(w),
        }
    }
}

/// What an `EchoService` handler implements.
pub trait EchoService {
    /// `EchoResponse echo(1: EchoRequest req)`.
    async fn echo(
        &self,
        cx: &mut ServerContext,
        req: EchoRequest,
    ) -> ringrpc_engine::Result<EchoResponse>;
}

/// Adapts an [`EchoService`] handler to the server's [`Service`].
#[derive(Debug, Clone)]
pub struct EchoServiceServer<H>(pub H);

impl<H: EchoService> Service<ServerContext, EchoServiceRequest> for EchoServiceServer<H> {
    type Response = EchoServiceResponse;
    type Error = ringrpc_engine::Error;

    async fn call(
        &self,
        cx: &mut ServerContext,
        req: EchoServiceRequest,
    ) -> ringrpc_engine::Result<EchoServiceResponse> {
        match req {
            EchoServiceRequest::Echo(a) => {
                let r = self.0.echo(cx, a.req).await?;
                Ok(EchoServiceResponse::Echo(EchoServiceEchoResult {
                    success: Some(r),
                }))
            }
        }
    }
}

/// A typed `EchoService` client over an engine [`Client`].
#[derive(Debug)]
pub struct EchoServiceClient<S> {
    inner: Client<S>,
}

impl<S> EchoServiceClient<S>
where
    S: Service<ClientContext, ClientRequest, Response = ClientReply, Error = ringrpc_engine::Error>,
{
    /// Wraps an engine client.
    pub fn new(inner: Client<S>) -> Self {
        Self { inner }
    }

    /// The engine client.
    pub fn inner(&self) -> &Client<S> {
        &self.inner
    }

    /// Calls `echo`.
    pub async fn echo(
        &self,
        req: EchoRequest,
        opts: &CallOptions,
    ) -> ringrpc_engine::Result<EchoResponse> {
        let r: EchoServiceEchoResult = self
            .inner
            .call("echo", &EchoServiceEchoArgs { req }, opts)
            .await?;
        r.success.ok_or_else(|| {
            ringrpc_engine::Error::Application(ringrpc_codec::thrift::ApplicationException::new(
                ringrpc_codec::thrift::ExceptionKind::MissingResult,
                "echo failed: unknown result",
            ))
        })
    }
}
