//! The TTHeader's metadata: [`TtHeader`] (sequence id, flags, protocol id,
//! key/value pairs, ACL token) with typed accessors and setters for the keys
//! Kitex and Volo use ([`int_key`], [`str_key`]). The wire format is the
//! parent module's.

use std::time::Duration;

use bytes::Bytes;

use super::{Item, MAX_INFO_LEN, valid_items};
use crate::thrift::{MessageType, Protocol};
use crate::{Error, Result};

/// The well-known u16 keys of the int key/value block, numbered as in gopkg
/// `protocol/ttheader/metakey.go` (and Kitex `pkg/remote/transmeta/metakey.go`,
/// an `iota` list from 0). Values are strings: numbers are decimal text.
pub mod int_key {
    /// `MeshVersion`.
    pub const MESH_VERSION: u16 = 0;
    /// `TransportType`: Kitex clients send `"framed"` or `"unframed"`.
    pub const TRANSPORT_TYPE: u16 = 1;
    /// `LogID`.
    pub const LOG_ID: u16 = 2;
    /// `FromService`: the caller's service name.
    pub const FROM_SERVICE: u16 = 3;
    /// `FromCluster`.
    pub const FROM_CLUSTER: u16 = 4;
    /// `FromIDC`.
    pub const FROM_IDC: u16 = 5;
    /// `ToService`: the callee's service name.
    pub const TO_SERVICE: u16 = 6;
    /// `ToCluster`.
    pub const TO_CLUSTER: u16 = 7;
    /// `ToIDC`.
    pub const TO_IDC: u16 = 8;
    /// `ToMethod`: the method called.
    pub const TO_METHOD: u16 = 9;
    /// `Env`.
    pub const ENV: u16 = 10;
    /// `DestAddress`.
    pub const DEST_ADDRESS: u16 = 11;
    /// `RPCTimeout`, in milliseconds.
    pub const RPC_TIMEOUT: u16 = 12;
    /// `ReadTimeout`.
    pub const READ_TIMEOUT: u16 = 13;
    /// `RingHashKey`.
    pub const RING_HASH_KEY: u16 = 14;
    /// `DDPTag`.
    pub const DDP_TAG: u16 = 15;
    /// `WithMeshHeader` (Volo clients send `"3"`).
    pub const WITH_MESH_HEADER: u16 = 16;
    /// `ConnectTimeout`, in milliseconds.
    pub const CONNECT_TIMEOUT: u16 = 17;
    /// `SpanContext`.
    pub const SPAN_CONTEXT: u16 = 18;
    /// `ShortConnection`.
    pub const SHORT_CONNECTION: u16 = 19;
    /// `FromMethod`: the caller's method.
    pub const FROM_METHOD: u16 = 20;
    /// `StressTag`.
    pub const STRESS_TAG: u16 = 21;
    /// `MsgType`: the Thrift message type (see [`TtHeader::msg_type`]).
    ///
    /// [`TtHeader::msg_type`]: super::TtHeader::msg_type
    pub const MSG_TYPE: u16 = 22;
    /// `HTTPContentType`.
    pub const HTTP_CONTENT_TYPE: u16 = 23;
    /// `RawRingHashKey`.
    pub const RAW_RING_HASH_KEY: u16 = 24;
    /// `LBType`.
    pub const LB_TYPE: u16 = 25;
    /// `ClusterShardID`.
    pub const CLUSTER_SHARD_ID: u16 = 26;
    /// `FrameType` (TTHeader streaming).
    pub const FRAME_TYPE: u16 = 27;
}

/// The well-known keys of the string key/value block (gopkg
/// `protocol/ttheader/metakey.go`, Kitex `pkg/transmeta/ttheader.go`,
/// volo-thrift `src/codec/default/ttheader.rs`).
pub mod str_key {
    /// `HeaderIDLServiceName`: the IDL service a call is for, for routing on
    /// a server that serves several services.
    pub const IDL_SERVICE_NAME: &str = "isn";
    /// `HeaderTransRemoteAddr`.
    pub const REMOTE_ADDR: &str = "rip";
    /// `HeaderConnectionReadyToReset`: the server will close the connection;
    /// the client should stop using it.
    pub const CONNECTION_READY_TO_RESET: &str = "crrst";
    /// The business status code, decimal (Kitex `bizStatus`).
    pub const BIZ_STATUS: &str = "biz-status";
    /// The business status message (Kitex `bizMessage`).
    pub const BIZ_MESSAGE: &str = "biz-message";
    /// The business status extra, a JSON object of strings (Kitex `bizExtra`).
    pub const BIZ_EXTRA: &str = "biz-extra";
}

/// One key/value pair of the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Entry {
    Int(u16, Bytes),
    Str(Bytes, Bytes),
}

/// A TTHeader: the metadata in front of one message.
///
/// Decoded values are zero-copy slices of the frame, read in place: a
/// decoded header holds its info block and allocates nothing until it is
/// changed. Keys are unique: the setters replace, and when a decoded header
/// repeats a key the last one wins (as with the maps Kitex decodes into).
#[derive(Debug, Clone)]
pub struct TtHeader {
    /// The sequence id (Kitex and Volo put the Thrift message's seqid here).
    pub seq_id: i32,
    /// The header flags ([`flags`](super::flags)).
    pub flags: u16,
    /// The protocol the header's protocol id names. The payload's real
    /// protocol is [`Frame::codec`]'s, which can differ (see the
    /// [`ttheader`](super) docs, "Protocol"). [`encode`] ignores this field and
    /// writes the id of the [`Codec`] it is given, since that is what the
    /// payload is written in.
    ///
    /// [`Frame::codec`]: crate::transport::Frame::codec
    /// [`encode`]: super::encode
    /// [`Codec`]: crate::transport::Codec
    pub protocol: Protocol,
    /// A decoded header's info block (after the protocol id and transforms),
    /// validated by `decode`; its pairs are read from here while `entries`
    /// is empty. The first change moves them into `entries` and drops this.
    pub(super) wire: Option<Bytes>,
    /// The pairs of a built or changed header.
    pub(super) entries: Vec<Entry>,
    pub(super) acl_token: Option<Bytes>,
}

impl PartialEq for TtHeader {
    /// Equal fields, and the same int pairs and string pairs, each in the
    /// same order (how the two kinds interleave does not matter: the wire
    /// keeps them in separate blocks).
    fn eq(&self, other: &Self) -> bool {
        self.seq_id == other.seq_id
            && self.flags == other.flags
            && self.protocol == other.protocol
            && self.acl_token == other.acl_token
            && self.int_kvs().eq(other.int_kvs())
            && self.str_kvs().eq(other.str_kvs())
    }
}

impl Eq for TtHeader {}

impl Default for TtHeader {
    /// Sequence id 0, no flags, binary (gopkg's `ProtocolIDDefault`), no
    /// key/value pairs.
    fn default() -> Self {
        Self {
            seq_id: 0,
            flags: 0,
            protocol: Protocol::Binary,
            wire: None,
            entries: Vec::new(),
            acl_token: None,
        }
    }
}

pub(super) fn too_big(what: &'static str, len: usize, max: usize) -> Error {
    Error::SizeLimit {
        what,
        len: len as u64,
        max: max as u64,
    }
}

fn str_of(b: &[u8]) -> Option<&str> {
    std::str::from_utf8(b).ok()
}

impl TtHeader {
    /// An empty header with this sequence id. Allocates nothing.
    pub fn new(seq_id: i32) -> Self {
        Self {
            seq_id,
            ..Self::default()
        }
    }

    /// Empties the header for reuse with `seq_id`: no flags, binary, no
    /// key/value pairs, no ACL token. Keeps the storage of the pairs, so a
    /// header built again for every call allocates nothing once warm.
    pub fn reset(&mut self, seq_id: i32) {
        self.seq_id = seq_id;
        self.flags = 0;
        self.protocol = Protocol::Binary;
        self.wire = None;
        self.entries.clear();
        self.acl_token = None;
    }

    /// Moves a decoded header's pairs into `entries`, before a change.
    fn materialize(&mut self) {
        if let Some(w) = self.wire.take() {
            self.entries
                .extend(valid_items(&w).filter_map(|item| match item {
                    Item::Int(k, v) => Some(Entry::Int(k, w.slice(v))),
                    Item::Str(k, v) => Some(Entry::Str(w.slice(k), w.slice(v))),
                    Item::Acl(_) => None,
                }));
        }
    }

    /// The int pairs as slices, in wire order, wherever they are kept.
    fn ints(&self) -> impl Iterator<Item = (u16, &[u8])> {
        let wire = self.wire.as_deref().unwrap_or_default();
        let wire = valid_items(wire).filter_map(move |item| match item {
            Item::Int(k, v) => Some((k, &wire[v])),
            _ => None,
        });
        let built = self.entries.iter().filter_map(|e| match e {
            Entry::Int(k, v) => Some((*k, &v[..])),
            Entry::Str(..) => None,
        });
        wire.chain(built)
    }

    /// The string pairs as slices, in wire order, wherever they are kept.
    fn strs(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let wire = self.wire.as_deref().unwrap_or_default();
        let wire = valid_items(wire).filter_map(move |item| match item {
            Item::Str(k, v) => Some((&wire[k], &wire[v])),
            _ => None,
        });
        let built = self.entries.iter().filter_map(|e| match e {
            Entry::Str(k, v) => Some((&k[..], &v[..])),
            Entry::Int(..) => None,
        });
        wire.chain(built)
    }

    fn int_slice(&self, key: u16) -> Option<&[u8]> {
        self.ints()
            .filter(|(k, _)| *k == key)
            .last()
            .map(|(_, v)| v)
    }

    fn str_slice(&self, key: &str) -> Option<&[u8]> {
        self.strs()
            .filter(|(k, _)| *k == key.as_bytes())
            .last()
            .map(|(_, v)| v)
    }

    /// The value of an int key: a slice of the frame (or what it was set
    /// to). No copy.
    pub fn int(&self, key: u16) -> Option<Bytes> {
        match &self.wire {
            Some(w) => self.int_slice(key).map(|v| w.slice_ref(v)),
            None => self.entries.iter().rev().find_map(|e| match e {
                Entry::Int(k, v) if *k == key => Some(v.clone()),
                _ => None,
            }),
        }
    }

    /// The value of a string key. No copy.
    pub fn str(&self, key: &str) -> Option<Bytes> {
        match &self.wire {
            Some(w) => self.str_slice(key).map(|v| w.slice_ref(v)),
            None => self.entries.iter().rev().find_map(|e| match e {
                Entry::Str(k, v) if k[..] == *key.as_bytes() => Some(v.clone()),
                _ => None,
            }),
        }
    }

    /// All int key/value pairs, in wire order (repeats included).
    pub fn int_kvs(&self) -> impl Iterator<Item = (u16, &[u8])> {
        self.ints()
    }

    /// All string key/value pairs as [`Bytes`], in wire order: slices of
    /// the frame (or what they were set to), no copy.
    pub fn str_pairs(&self) -> impl Iterator<Item = (Bytes, Bytes)> + '_ {
        let wire = self.wire.as_ref();
        let from_wire = wire.into_iter().flat_map(|w| {
            valid_items(w).filter_map(move |item| match item {
                Item::Str(k, v) => Some((w.slice(k), w.slice(v))),
                _ => None,
            })
        });
        let built = self.entries.iter().filter_map(|e| match e {
            Entry::Str(k, v) => Some((k.clone(), v.clone())),
            Entry::Int(..) => None,
        });
        from_wire.chain(built)
    }

    /// All string key/value pairs, in wire order (repeats included).
    pub fn str_kvs(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.strs()
    }

    /// The ACL token (info block 0x11), if any. No copy.
    pub fn acl_token(&self) -> Option<&Bytes> {
        self.acl_token.as_ref()
    }

    /// Whether the header carries no key/value pairs and no token.
    pub fn is_empty(&self) -> bool {
        self.ints().next().is_none() && self.strs().next().is_none() && self.acl_token.is_none()
    }

    /// The int value as UTF-8 text.
    pub fn int_str(&self, key: u16) -> Option<&str> {
        self.int_slice(key).and_then(str_of)
    }

    /// The string value as UTF-8 text.
    pub fn str_str(&self, key: &str) -> Option<&str> {
        self.str_slice(key).and_then(str_of)
    }

    fn int_millis(&self, key: u16) -> Option<Duration> {
        self.int_str(key)?
            .parse::<u64>()
            .ok()
            .map(Duration::from_millis)
    }

    /// `ToMethod` (9): the method called.
    pub fn to_method(&self) -> Option<&str> {
        self.int_str(int_key::TO_METHOD)
    }

    /// `ToService` (6): the callee's service name.
    pub fn to_service(&self) -> Option<&str> {
        self.int_str(int_key::TO_SERVICE)
    }

    /// `FromService` (3): the caller's service name.
    pub fn from_service(&self) -> Option<&str> {
        self.int_str(int_key::FROM_SERVICE)
    }

    /// `FromMethod` (20): the caller's method.
    pub fn from_method(&self) -> Option<&str> {
        self.int_str(int_key::FROM_METHOD)
    }

    /// `RPCTimeout` (12), decimal milliseconds; `None` when absent or not a
    /// number.
    pub fn rpc_timeout(&self) -> Option<Duration> {
        self.int_millis(int_key::RPC_TIMEOUT)
    }

    /// `ConnectTimeout` (17), decimal milliseconds.
    pub fn connect_timeout(&self) -> Option<Duration> {
        self.int_millis(int_key::CONNECT_TIMEOUT)
    }

    /// `MsgType` (22). Kitex writes the type as decimal text (`"2"`,
    /// `pkg/transmeta/ttheader.go`); Volo's server writes it as one raw byte
    /// (`[2]`, volo-thrift `ttheader.rs`). Both are accepted: the raw values
    /// 1–4 and the digits `'1'`–`'4'` do not overlap.
    pub fn msg_type(&self) -> Option<MessageType> {
        match self.int_slice(int_key::MSG_TYPE)? {
            [b @ 1..=4] => MessageType::from_u8(*b).ok(),
            [b @ b'1'..=b'4'] => MessageType::from_u8(b - b'0').ok(),
            _ => None,
        }
    }

    /// `isn`: the IDL service name, for routing on a multi-service server.
    pub fn idl_service_name(&self) -> Option<&str> {
        self.str_str(str_key::IDL_SERVICE_NAME)
    }

    /// `biz-status`: the business status code; `None` when absent or not an
    /// `i32` (Kitex's `ParseBizStatusErr` treats 0 as "no business error").
    pub fn biz_status(&self) -> Option<i32> {
        self.str_str(str_key::BIZ_STATUS)?.parse().ok()
    }

    /// `biz-message`: the business status message.
    pub fn biz_message(&self) -> Option<&str> {
        self.str_str(str_key::BIZ_MESSAGE)
    }

    /// `biz-extra`: the business status extra (JSON text, not parsed here).
    pub fn biz_extra(&self) -> Option<&str> {
        self.str_str(str_key::BIZ_EXTRA)
    }

    /// `crrst`: whether the server announced it will close the connection
    /// (present and non-empty, as volo-thrift reads it).
    pub fn connection_ready_to_reset(&self) -> bool {
        self.str_slice(str_key::CONNECTION_READY_TO_RESET)
            .is_some_and(|v| !v.is_empty())
    }

    /// The bytes the header info takes on the wire, before padding: protocol
    /// id, transform count, and the info blocks [`encode`] writes.
    fn info_len(&self) -> usize {
        let mut n = 2;
        if let Some(t) = &self.acl_token {
            n += 3 + t.len();
        }
        let (mut ints, mut strs) = (0, 0);
        for (_, v) in self.ints() {
            ints += 1;
            n += 4 + v.len();
        }
        for (k, v) in self.strs() {
            strs += 1;
            n += 4 + k.len() + v.len();
        }
        if ints > 0 {
            n += 3;
        }
        if strs > 0 {
            n += 3;
        }
        n
    }

    /// Checks that the header with one entry of `added` bytes replacing one of
    /// `removed` bytes (and possibly one new block) still encodes.
    fn check_room(&self, value_len: usize, added: usize, removed: usize) -> Result<()> {
        if value_len > u16::MAX as usize {
            return Err(too_big("ttheader value", value_len, u16::MAX as usize));
        }
        let (ints, strs) = (self.ints().count(), self.strs().count());
        if ints.max(strs) >= u16::MAX as usize && removed == 0 {
            return Err(too_big(
                "ttheader entries",
                ints.max(strs) + 1,
                u16::MAX as usize,
            ));
        }
        // Three bytes for a block header that may be new, three for padding.
        let len = self.info_len() + added + 3 + 3 - removed;
        if len > MAX_INFO_LEN {
            return Err(too_big("ttheader", len, MAX_INFO_LEN));
        }
        Ok(())
    }

    /// Sets an int key, replacing any value it had.
    ///
    /// Fails (leaving the header as it was) when the value is longer than a
    /// u16 length can say, or the header would outgrow its u16 size field;
    /// so [`encode`](super::encode) never has to.
    pub fn set_int(&mut self, key: u16, value: impl Into<Bytes>) -> Result<()> {
        let value = value.into();
        self.materialize();
        let at = self
            .entries
            .iter()
            .position(|e| matches!(e, Entry::Int(k, _) if *k == key));
        let removed = match at {
            Some(i) => match &self.entries[i] {
                Entry::Int(_, v) => 4 + v.len(),
                Entry::Str(..) => 0,
            },
            None => 0,
        };
        self.check_room(value.len(), 4 + value.len(), removed)?;
        match at {
            Some(i) => self.entries[i] = Entry::Int(key, value),
            None => self.entries.push(Entry::Int(key, value)),
        }
        Ok(())
    }

    /// Sets a string key, replacing any value it had. Fails as
    /// [`set_int`](Self::set_int) does (a key is length-prefixed too).
    pub fn set_str(&mut self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Result<()> {
        let (key, value) = (key.into(), value.into());
        self.materialize();
        let at = self
            .entries
            .iter()
            .position(|e| matches!(e, Entry::Str(k, _) if *k == key));
        let removed = match at {
            Some(i) => match &self.entries[i] {
                Entry::Str(k, v) => 4 + k.len() + v.len(),
                Entry::Int(..) => 0,
            },
            None => 0,
        };
        self.check_room(
            key.len().max(value.len()),
            4 + key.len() + value.len(),
            removed,
        )?;
        match at {
            Some(i) => self.entries[i] = Entry::Str(key, value),
            None => self.entries.push(Entry::Str(key, value)),
        }
        Ok(())
    }

    /// Sets the ACL token (info block 0x11). Fails as
    /// [`set_int`](Self::set_int) does.
    pub fn set_acl_token(&mut self, token: impl Into<Bytes>) -> Result<()> {
        let token = token.into();
        let removed = self.acl_token.as_ref().map_or(0, |t| 3 + t.len());
        self.check_room(token.len(), 3 + token.len(), removed)?;
        self.acl_token = Some(token);
        Ok(())
    }

    /// Removes an int key; returns its value.
    pub fn remove_int(&mut self, key: u16) -> Option<Bytes> {
        self.materialize();
        let mut out = None;
        self.entries.retain(|e| match e {
            Entry::Int(k, v) if *k == key => {
                out = Some(v.clone());
                false
            }
            _ => true,
        });
        out
    }

    /// Removes a string key; returns its value.
    pub fn remove_str(&mut self, key: &str) -> Option<Bytes> {
        self.materialize();
        let mut out = None;
        self.entries.retain(|e| match e {
            Entry::Str(k, v) if k[..] == *key.as_bytes() => {
                out = Some(v.clone());
                false
            }
            _ => true,
        });
        out
    }

    /// Sets `ToMethod` (9).
    pub fn set_to_method(&mut self, method: impl Into<Bytes>) -> Result<()> {
        self.set_int(int_key::TO_METHOD, method)
    }

    /// Sets `ToService` (6).
    pub fn set_to_service(&mut self, service: impl Into<Bytes>) -> Result<()> {
        self.set_int(int_key::TO_SERVICE, service)
    }

    /// Sets `FromService` (3).
    pub fn set_from_service(&mut self, service: impl Into<Bytes>) -> Result<()> {
        self.set_int(int_key::FROM_SERVICE, service)
    }

    /// Sets `FromMethod` (20).
    pub fn set_from_method(&mut self, method: impl Into<Bytes>) -> Result<()> {
        self.set_int(int_key::FROM_METHOD, method)
    }

    /// Sets `RPCTimeout` (12) as decimal milliseconds (allocates the text).
    pub fn set_rpc_timeout(&mut self, timeout: Duration) -> Result<()> {
        self.set_int(int_key::RPC_TIMEOUT, timeout.as_millis().to_string())
    }

    /// Sets `ConnectTimeout` (17) as decimal milliseconds.
    pub fn set_connect_timeout(&mut self, timeout: Duration) -> Result<()> {
        self.set_int(int_key::CONNECT_TIMEOUT, timeout.as_millis().to_string())
    }

    /// Sets `MsgType` (22) in Kitex's form, decimal text. No allocation.
    pub fn set_msg_type(&mut self, t: MessageType) -> Result<()> {
        const DIGITS: [&[u8]; 5] = [b"0", b"1", b"2", b"3", b"4"];
        self.set_int(int_key::MSG_TYPE, Bytes::from_static(DIGITS[t as usize]))
    }

    /// Sets `isn`, the IDL service name.
    pub fn set_idl_service_name(&mut self, name: impl Into<Bytes>) -> Result<()> {
        self.set_str(
            Bytes::from_static(str_key::IDL_SERVICE_NAME.as_bytes()),
            name,
        )
    }

    /// Sets the business status: `biz-status` (decimal), `biz-message`, and
    /// `biz-extra` when given (JSON text; written as is).
    pub fn set_biz_status(
        &mut self,
        code: i32,
        message: impl Into<Bytes>,
        extra: Option<Bytes>,
    ) -> Result<()> {
        let key = |k: &'static str| Bytes::from_static(k.as_bytes());
        self.set_str(key(str_key::BIZ_STATUS), code.to_string())?;
        self.set_str(key(str_key::BIZ_MESSAGE), message)?;
        if let Some(extra) = extra {
            self.set_str(key(str_key::BIZ_EXTRA), extra)?;
        }
        Ok(())
    }

    /// Sets `crrst` to `"1"` (as Volo's server does): the connection will be
    /// closed, the client should stop using it.
    pub fn set_connection_ready_to_reset(&mut self) -> Result<()> {
        self.set_str(
            Bytes::from_static(str_key::CONNECTION_READY_TO_RESET.as_bytes()),
            Bytes::from_static(b"1"),
        )
    }
}
