//! What a reply frame carries, read without decoding the result: for the
//! service-level breakers (an application exception is a failure) and for
//! retry on a result ([`ResultRetry`](super::ResultRetry)).
//!
//! Only the message header, and for a reply the result struct's first field
//! header, are read: a few bytes, no allocation. Nothing here runs on a
//! call unless one of those features is configured.

use ringrpc_codec::thrift::{
    ApplicationException, BinaryReader, CompactReader, ExceptionKind, Message, MessageType,
    Protocol, ProtocolReader, TType,
};
use ringrpc_codec::transport::Frame;

use super::call::ClientReply;

/// What a reply carries, at a glance (see [`ClientReply::kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// No reply frame (a oneway call).
    None,
    /// A result struct: `field` is the id of its first field set (0: the
    /// return value; another id: the declared exception with that id in
    /// the IDL's `throws`), `None` when nothing is set (a `void` method's
    /// success).
    Result {
        /// The first field set.
        field: Option<i16>,
    },
    /// An application exception of this kind.
    Application(ExceptionKind),
    /// The frame could not be read this far (the decode that follows will
    /// say why).
    Malformed,
}

impl ClientReply {
    /// What the reply carries, read from its first bytes. Costs a message
    /// header and one field header; allocates nothing.
    pub fn kind(&self) -> ReplyKind {
        match &self.frame {
            None => ReplyKind::None,
            Some(f) => kind_of(f),
        }
    }

    /// The business status code in the reply's TTHeader (`biz-status`), if
    /// one other than 0 is there.
    pub fn biz_status(&self) -> Option<i32> {
        self.frame
            .as_ref()?
            .header
            .as_ref()?
            .biz_status()
            .filter(|c| *c != 0)
    }

    /// Whether the reply is an application exception: only its message
    /// type is read.
    pub(crate) fn is_application_exception(&self) -> bool {
        self.frame.as_ref().is_some_and(|f| {
            let payload = f.payload.clone();
            let t = match f.codec.protocol {
                Protocol::Binary => BinaryReader::new(payload).read_message_begin(),
                Protocol::Compact => CompactReader::new(payload).read_message_begin(),
            };
            t.is_ok_and(|m| m.msg_type == MessageType::Exception)
        })
    }
}

fn kind_of(frame: &Frame) -> ReplyKind {
    fn read<R: ProtocolReader>(mut r: R) -> ReplyKind {
        let Ok(m) = r.read_message_begin() else {
            return ReplyKind::Malformed;
        };
        match m.msg_type {
            MessageType::Exception => match ApplicationException::decode(&mut r) {
                Ok(ex) => ReplyKind::Application(ex.kind),
                Err(_) => ReplyKind::Malformed,
            },
            MessageType::Reply => {
                if r.read_struct_begin().is_err() {
                    return ReplyKind::Malformed;
                }
                match r.read_field_begin() {
                    Ok(f) if f.ttype == TType::Stop => ReplyKind::Result { field: None },
                    Ok(f) => ReplyKind::Result { field: Some(f.id) },
                    Err(_) => ReplyKind::Malformed,
                }
            }
            _ => ReplyKind::Malformed,
        }
    }
    let payload = frame.payload.clone();
    match frame.codec.protocol {
        Protocol::Binary => read(BinaryReader::new(payload)),
        Protocol::Compact => read(CompactReader::new(payload)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use ringrpc_codec::buffer::LinkWriter;
    use ringrpc_codec::thrift::{
        BinaryWriter, CompactWriter, Message, MessageIdent, ProtocolWriter,
    };
    use ringrpc_codec::transport::{Codec, Transport};

    /// A result struct with field `id` (an i32) set, or none.
    struct Res(Option<i16>);

    impl Message for Res {
        fn encode<W: ProtocolWriter>(&self, w: &mut W) {
            w.write_struct_begin("r");
            if let Some(id) = self.0 {
                w.write_field_begin(TType::I32, id);
                w.write_i32(7);
                w.write_field_end();
            }
            w.write_field_stop();
            w.write_struct_end();
        }
        fn decode<R: ProtocolReader>(_: &mut R) -> ringrpc_codec::Result<Self> {
            unreachable!("only encoded")
        }
    }

    fn frame(protocol: Protocol, t: MessageType, body: &impl Message) -> ClientReply {
        let mut w = LinkWriter::new();
        let ident = MessageIdent::new("m".into(), t, 1);
        match protocol {
            Protocol::Binary => {
                let mut p = BinaryWriter::new(&mut w);
                p.write_message_begin(&ident);
                body.encode(&mut p);
                p.write_message_end();
            }
            Protocol::Compact => {
                let mut p = CompactWriter::new(&mut w);
                p.write_message_begin(&ident);
                body.encode(&mut p);
                p.write_message_end();
            }
        }
        ClientReply {
            frame: Some(Frame {
                header: None,
                codec: Codec {
                    transport: Transport::Framed,
                    protocol,
                },
                size: w.len(),
                payload: Bytes::from(w.to_vec()),
            }),
        }
    }

    #[test]
    fn tells_success_declared_exceptions_and_application_exceptions_apart() {
        for p in [Protocol::Binary, Protocol::Compact] {
            let ok = frame(p, MessageType::Reply, &Res(Some(0)));
            assert_eq!(ok.kind(), ReplyKind::Result { field: Some(0) });
            assert!(!ok.is_application_exception());
            let declared = frame(p, MessageType::Reply, &Res(Some(2)));
            assert_eq!(declared.kind(), ReplyKind::Result { field: Some(2) });
            let void = frame(p, MessageType::Reply, &Res(None));
            assert_eq!(void.kind(), ReplyKind::Result { field: None });
            let ex = ApplicationException::new(ExceptionKind::InternalError, "boom");
            let app = frame(p, MessageType::Exception, &ex);
            assert_eq!(
                app.kind(),
                ReplyKind::Application(ExceptionKind::InternalError)
            );
            assert!(app.is_application_exception());
        }
        let junk = ClientReply {
            frame: Some(Frame {
                header: None,
                codec: Codec {
                    transport: Transport::Framed,
                    protocol: Protocol::Binary,
                },
                size: 2,
                payload: Bytes::from_static(&[0x80, 0x01]),
            }),
        };
        assert_eq!(junk.kind(), ReplyKind::Malformed);
        assert_eq!(ClientReply { frame: None }.kind(), ReplyKind::None);
        assert_eq!(junk.biz_status(), None);
    }

    #[test]
    fn a_result_retry_matches_the_answers_and_errors_it_names() {
        use super::super::ResultRetry;
        let p = Protocol::Binary;
        let ok = frame(p, MessageType::Reply, &Res(Some(0)));
        let declared = frame(p, MessageType::Reply, &Res(Some(2)));
        let ex = ApplicationException::new(ExceptionKind::InternalError, "boom");
        let app = frame(p, MessageType::Exception, &ex);
        let mut biz = frame(p, MessageType::Reply, &Res(None));
        if let Some(f) = &mut biz.frame {
            let mut h = ringrpc_codec::transport::TtHeader::new(1);
            h.set_biz_status(4001, "busy", None).unwrap();
            f.header = Some(h);
        }
        assert_eq!(biz.biz_status(), Some(4001));
        let none = ResultRetry::new();
        for r in [&ok, &declared, &app, &biz] {
            assert!(!none.matches(r));
        }
        let rr = ResultRetry::new()
            .biz_status(4001)
            .application_exception(ExceptionKind::InternalError)
            .declared_exception(2);
        assert!(!rr.matches(&ok));
        assert!(rr.matches(&declared) && rr.matches(&app) && rr.matches(&biz));
        assert!(!ResultRetry::new().declared_exception(1).matches(&declared));
        assert!(!ResultRetry::new().biz_status(1).matches(&biz));
        let custom = ResultRetry::new().when(|r| r.kind() == ReplyKind::Result { field: Some(0) });
        assert!(custom.matches(&ok) && !custom.matches(&declared));
        let errors = ResultRetry::new().error_when(|e| matches!(e, crate::Error::Protocol(_)));
        assert!(errors.matches_error(&crate::Error::Protocol(
            ringrpc_codec::Error::UnexpectedEof { needed: 1 }
        )));
        assert!(!errors.matches_error(&crate::Error::Shutdown));
    }
}
