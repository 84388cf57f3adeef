//! `item.thrift`: the item shop's `ItemService.GetItem` (the service of
//! Kitex's example shop).

use ringrpc_codec::Result;
use ringrpc_codec::thrift::{Message, ProtocolReader, ProtocolWriter, TType, Utf8Bytes};
use ringrpc_engine::client::{CallOptions, Client, ClientReply, ClientRequest};
use ringrpc_engine::context::{ClientContext, ServerContext};
use ringrpc_engine::middleware::Service;
use ringrpc_engine::server::{MethodKind, ThriftService};

use super::{missing, read_struct};

/// `struct Item`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Item {
    /// `1: i64 id`.
    pub id: i64,
    /// `2: string title`.
    pub title: Utf8Bytes,
    /// `3: string description`.
    pub description: Utf8Bytes,
    /// `4: i64 stock`.
    pub stock: i64,
}

impl Message for Item {
    fn encode<W: ProtocolWriter>(&self, w: &mut W) {
        w.write_struct_begin("Item");
        w.write_field_begin(TType::I64, 1);
        w.write_i64(self.id);
        w.write_field_end();
        w.write_field_begin(TType::Binary, 2);
        w.write_string(&self.title);
        w.write_field_end();
        w.write_field_begin(TType::Binary, 3);
        w.write_string(&self.description);
        w.write_field_end();
        w.write_field_begin(TType::I64, 4);
        w.write_i64(self.stock);
        w.write_field_end();
        w.write_field_stop();
        w.write_struct_end();
    }

    fn decode<R: ProtocolReader>(r: &mut R) -> Result<Self> {
        let mut out = Item::default();
        read_struct(r, |r, id, t| {
            Ok(match (id, t) {
                (1, TType::I64) => {
                    out.id = r.read_i64()?;
                    true
                }
                (2, TType::Binary) => {
                    out.title = r.read_string()?;
                    true
                }
                (3, TType::Binary) => {
                    out.description = r.read_string()?;
                    true
                }
                (4, TType::I64) => {
                    out.stock = r.read_i64()?;
                    true
                }
                _ => false,
            })
        })?;
        Ok(out)
    }
}

/// `struct GetItemReq { 1: required i64 id }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetItemReq {
    /// The item's id.
    pub id: i64,
}

impl Message for GetItemReq {
    fn encode<W: ProtocolWriter>(&self, w: &mut W) {
        w.write_struct_begin("GetItemReq");
        w.write_field_begin(TType::I64, 1);
        w.write_i64(self.id);
        w.write_field_end();
        w.write_field_stop();
        w.write_struct_end();
    }

    fn decode<R: ProtocolReader>(r: &mut R) -> Result<Self> {
        let mut id = None;
        read_struct(r, |r, fid, t| {
            Ok(match (fid, t) {
                (1, TType::I64) => {
                    id = Some(r.read_i64()?);
                    true
                }
                _ => false,
            })
        })?;
        Ok(Self {
            id: id.ok_or_else(|| missing("GetItemReq", "id"))?,
        })
    }
}

/// `struct GetItemResp { 1: Item item }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetItemResp {
    /// The item.
    pub item: Item,
}

impl Message for GetItemResp {
    fn encode<W: ProtocolWriter>(&self, w: &mut W) {
        w.write_struct_begin("GetItemResp");
        w.write_field_begin(TType::Struct, 1);
        self.item.encode(w);
        w.write_field_end();
        w.write_field_stop();
        w.write_struct_end();
    }

    fn decode<R: ProtocolReader>(r: &mut R) -> Result<Self> {
        let mut item = Item::default();
        read_struct(r, |r, id, t| {
            Ok(match (id, t) {
                (1, TType::Struct) => {
                    item = Item::decode(r)?;
                    true
                }
                _ => false,
            })
        })?;
        Ok(Self { item })
    }
}

/// The arguments of `ItemService.GetItem`: `1: GetItemReq req`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemServiceGetItemArgs {
    /// The request.
    pub req: GetItemReq,
}

impl Message for ItemServiceGetItemArgs {
    fn encode<W: ProtocolWriter>(&self, w: &mut W) {
        w.write_struct_begin("ItemService_GetItem_args");
        w.write_field_begin(TType::Struct, 1);
        self.req.encode(w);
        w.write_field_end();
        w.write_field_stop();
        w.write_struct_end();
    }

    fn decode<R: ProtocolReader>(r: &mut R) -> Result<Self> {
        let mut req = GetItemReq::default();
        read_struct(r, |r, id, t| {
            Ok(match (id, t) {
                (1, TType::Struct) => {
                    req = GetItemReq::decode(r)?;
                    true
                }
                _ => false,
            })
        })?;
        Ok(Self { req })
    }
}

/// The result of `ItemService.GetItem`: `0: GetItemResp success`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemServiceGetItemResult {
    /// The reply, when the call succeeded.
    pub success: Option<GetItemResp>,
}

impl Message for ItemServiceGetItemResult {
    fn encode<W: ProtocolWriter>(&self, w: &mut W) {
        w.write_struct_begin("ItemService_GetItem_result");
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
                    success = Some(GetItemResp::decode(r)?);
                    true
                }
                _ => false,
            })
        })?;
        Ok(Self { success })
    }
}

/// A decoded call to `ItemService`.
#[derive(Debug, Clone)]
pub enum ItemServiceRequest {
    /// `GetItem`.
    GetItem(ItemServiceGetItemArgs),
}

/// The result of a call to `ItemService`.
#[derive(Debug, Clone)]
pub enum ItemServiceResponse {
    /// `GetItem`.
    GetItem(ItemServiceGetItemResult),
}

/// The server-side descriptor of `ItemService`.
#[derive(Debug, Clone, Copy)]
pub struct ItemServiceDescriptor;

impl ThriftService for ItemServiceDescriptor {
    type Request = ItemServiceRequest;
    type Response = ItemServiceResponse;
    const NAME: &'static str = "ItemService";

    fn method(method: &str) -> Option<MethodKind> {
        match method {
            "GetItem" => Some(MethodKind::Call),
            _ => None,
        }
    }

    fn decode_request<R: ProtocolReader>(method: &str, r: &mut R) -> Result<Self::Request> {
        match method {
            "GetItem" => Ok(ItemServiceRequest::GetItem(ItemServiceGetItemArgs::decode(
                r,
            )?)),
            _ => Err(ringrpc_codec::Error::BadMessageHeader("unknown method")),
        }
    }

    fn encode_response<W: ProtocolWriter>(resp: &Self::Response, w: &mut W) {
        match resp {
            ItemServiceResponse::GetItem(r) => r.encode(w),
        }
    }
}

/// What an `ItemService` handler implements.
pub trait ItemService {
    /// `GetItemResp GetItem(1: GetItemReq req)`.
    async fn get_item(
        &self,
        cx: &mut ServerContext,
        req: GetItemReq,
    ) -> ringrpc_engine::Result<GetItemResp>;
}

/// Adapts an [`ItemService`] handler to the server's [`Service`].
#[derive(Debug, Clone)]
pub struct ItemServiceServer<H>(pub H);

impl<H: ItemService> Service<ServerContext, ItemServiceRequest> for ItemServiceServer<H> {
    type Response = ItemServiceResponse;
    type Error = ringrpc_engine::Error;

    async fn call(
        &self,
        cx: &mut ServerContext,
        req: ItemServiceRequest,
    ) -> ringrpc_engine::Result<ItemServiceResponse> {
        match req {
            ItemServiceRequest::GetItem(a) => {
                let r = self.0.get_item(cx, a.req).await?;
                Ok(ItemServiceResponse::GetItem(ItemServiceGetItemResult {
                    success: Some(r),
                }))
            }
        }
    }
}

/// A typed `ItemService` client.
#[derive(Debug)]
pub struct ItemServiceClient<S> {
    inner: Client<S>,
}

impl<S> ItemServiceClient<S>
where
    S: Service<ClientContext, ClientRequest, Response = ClientReply, Error = ringrpc_engine::Error>,
{
    /// Wraps an engine client.
    pub fn new(inner: Client<S>) -> Self {
        Self { inner }
    }

    /// Calls `GetItem`.
    pub async fn get_item(
        &self,
        req: GetItemReq,
        opts: &CallOptions,
    ) -> ringrpc_engine::Result<GetItemResp> {
        let r: ItemServiceGetItemResult = self
            .inner
            .call("GetItem", &ItemServiceGetItemArgs { req }, opts)
            .await?;
        r.success.ok_or_else(|| {
            ringrpc_engine::Error::Application(ringrpc_codec::thrift::ApplicationException::new(
                ringrpc_codec::thrift::ExceptionKind::MissingResult,
                "GetItem failed: unknown result",
            ))
        })
    }
}
