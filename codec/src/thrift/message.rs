//! The message header that starts every Thrift call, reply and exception.

use super::Utf8Bytes;
use crate::{Error, Result};

/// The kind of a message (Thrift's `TMessageType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    /// A call that expects a reply.
    Call = 1,
    /// A reply to a call.
    Reply = 2,
    /// An application exception in place of a reply.
    Exception = 3,
    /// A call that expects no reply.
    Oneway = 4,
}

impl MessageType {
    /// The type for its wire value (1–4); anything else is an error.
    pub fn from_u8(v: u8) -> Result<Self> {
        Ok(match v {
            1 => MessageType::Call,
            2 => MessageType::Reply,
            3 => MessageType::Exception,
            4 => MessageType::Oneway,
            _ => return Err(Error::BadMessageHeader("unknown message type")),
        })
    }
}

/// A message header: method name, kind and sequence id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageIdent {
    /// The method's name (a zero-copy slice of the payload when decoded).
    pub name: Utf8Bytes,
    /// Call, reply, exception or oneway.
    pub msg_type: MessageType,
    /// The sequence id that matches a reply to its call.
    pub seqid: i32,
}

impl MessageIdent {
    /// A header.
    pub fn new(name: Utf8Bytes, msg_type: MessageType, seqid: i32) -> Self {
        Self {
            name,
            msg_type,
            seqid,
        }
    }
}
