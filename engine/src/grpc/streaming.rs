//! Streams of messages: what a handler or a caller reads
//! ([`Streaming`]) and writes ([`ResponseSink`], [`RequestSink`]).
//!
//! Back-pressure is HTTP/2's flow control: a reader that stops asking for
//! messages stops releasing window, so the peer stops sending; a writer
//! waits for window before each message goes out.

use std::cell::{RefCell, RefMut};
use std::future::poll_fn;
use std::marker::PhantomData;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use monoio_http::h2::{RecvStream, SendStream, server::SendResponse};
use prost::Message;

use super::metadata::Metadata;
use super::status::{Code, Status};
use super::wire::{self, Deframer, Encoding};

/// The status for an HTTP/2 error on a stream (reset, connection lost).
pub(crate) fn h2_status(e: &monoio_http::h2::Error) -> Status {
    use monoio_http::h2::Reason;
    match e.reason() {
        Some(Reason::CANCEL) => Status::cancelled("the stream was cancelled"),
        Some(Reason::REFUSED_STREAM) => Status::unavailable("the stream was refused"),
        Some(Reason::ENHANCE_YOUR_CALM) => {
            Status::resource_exhausted("the peer asked to enhance our calm")
        }
        Some(Reason::NO_ERROR) if e.is_go_away() => {
            Status::unavailable("the connection is shutting down")
        }
        _ if e.is_io() => Status::unavailable(format!("connection lost: {e}")),
        _ => Status::internal(format!("HTTP/2 error: {e}")),
    }
}

/// Incoming messages of a stream: the requests of a client- or
/// bidi-streaming call (server side), or the responses of a server- or
/// bidi-streaming call (client side).
pub struct Streaming<T> {
    /// Client side: the response headers, not yet arrived (a bidi call
    /// returns before the server answers).
    pending: Option<(monoio_http::h2::client::ResponseFuture, usize)>,
    body: Option<RecvStream>,
    deframer: Deframer,
    /// Client side: the trailers carry the call's status.
    client: bool,
    trailers: Option<Metadata>,
    _msg: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Streaming<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streaming")
            .field("open", &self.body.is_some())
            .finish_non_exhaustive()
    }
}

impl<T> Streaming<T> {
    pub(crate) fn new(body: RecvStream, max: usize, enc: Encoding, client: bool) -> Self {
        Streaming {
            pending: None,
            body: Some(body),
            deframer: Deframer::new(max, enc),
            client,
            trailers: None,
            _msg: PhantomData,
        }
    }

    /// A stream that already ended (a trailers-only response).
    pub(crate) fn ended(trailers: Metadata) -> Self {
        Streaming {
            pending: None,
            body: None,
            deframer: Deframer::new(0, Encoding::Identity),
            client: true,
            trailers: Some(trailers),
            _msg: PhantomData,
        }
    }

    /// Client side: a stream whose response headers are still to come.
    pub(crate) fn pending(resp: monoio_http::h2::client::ResponseFuture, max: usize) -> Self {
        let mut s = Self::ended(Metadata::new());
        s.trailers = None;
        s.pending = Some((resp, max));
        s
    }

    /// Client side: the response headers' metadata, once they arrived
    /// (they arrive with the first message, or with the end).
    pub fn headers_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// The same stream, read as messages of another type.
    pub(crate) fn cast<U>(self) -> Streaming<U> {
        Streaming {
            pending: self.pending,
            body: self.body,
            deframer: self.deframer,
            client: self.client,
            trailers: self.trailers,
            _msg: PhantomData,
        }
    }

    /// The next message's bytes (decompressed, not decoded).
    pub(crate) async fn next_bytes(&mut self) -> Result<Option<Bytes>, Status> {
        if let Some((resp, max)) = self.pending.take() {
            let resp = resp.await.map_err(|e| h2_status(&e))?;
            let (_, s) = super::client::response_stream::<T>(resp, max)?;
            *self = s;
        }
        loop {
            match self.deframer.next() {
                Ok(Some(b)) => return Ok(Some(b)),
                Ok(None) => {}
                Err(e) => {
                    self.body = None;
                    return Err(e);
                }
            }
            let Some(body) = self.body.as_mut() else {
                return Ok(None);
            };
            match body.data().await {
                Some(Ok(chunk)) => {
                    // The window is given back as bytes are taken: a
                    // message larger than the window still arrives, and a
                    // reader that stops asking stops the sender.
                    let _ = body.flow_control().release_capacity(chunk.len());
                    self.deframer.push(chunk);
                }
                Some(Err(e)) => {
                    self.body = None;
                    return Err(h2_status(&e));
                }
                None => {
                    let mut body = self.body.take().expect("checked above");
                    if !self.deframer.is_empty() {
                        return Err(Status::internal("the stream ended inside a message"));
                    }
                    if self.client {
                        let trailers = body.trailers().await.map_err(|e| h2_status(&e))?;
                        let Some(trailers) = trailers else {
                            return Err(Status::internal("the response ended without grpc-status"));
                        };
                        let st = Status::from_headers(&trailers).unwrap_or_else(|| {
                            Status::internal("the response trailers lack grpc-status")
                        });
                        self.trailers = Some(st.metadata().clone());
                        if st.code() != Code::Ok {
                            return Err(st);
                        }
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// Client: the trailing metadata, once the stream ended.
    pub fn trailers(&self) -> Option<&Metadata> {
        self.trailers.as_ref()
    }
}

impl<T: Message + Default> Streaming<T> {
    /// The next message; `None` once the stream ended cleanly. On the
    /// client, a call that ended with an error status gives that status
    /// here, after its messages.
    pub async fn message(&mut self) -> Result<Option<T>, Status> {
        self.next_bytes()
            .await?
            .map(wire::decode::<T>)
            .transpose()
            .inspect_err(|_| self.body = None)
    }
}

/// A server stream's reply side, shared by the handler's sink and the
/// code that finishes the call.
pub(crate) struct Reply {
    respond: SendResponse<Bytes>,
    stream: Option<SendStream<Bytes>>,
    pub(crate) enc: Encoding,
    pub(crate) max_send: usize,
    /// Response headers' metadata for a streaming reply, sent with the
    /// first message.
    pub(crate) metadata: Metadata,
    /// Trailing metadata a streaming handler set for the end.
    pub(crate) trailers: Metadata,
    /// The call is answered (trailers or a reset went out).
    done: bool,
    /// Streamed messages encoded but not yet handed to h2: kept while the
    /// stream's window covers them and they are fewer than [`BATCH`]
    /// bytes, so messages produced together leave in one DATA frame
    /// (gathered as tonic's encoder gathers them). Handed over when the
    /// handler waits ([`flush`](Reply::flush)) and before the trailers.
    batch: BytesMut,
}

/// The most a stream's batch of messages holds before it goes to h2.
const BATCH: usize = 32 * 1024;

impl Reply {
    pub(crate) fn new(respond: SendResponse<Bytes>, enc: Encoding, max_send: usize) -> Self {
        Reply {
            respond,
            stream: None,
            enc,
            max_send,
            metadata: Metadata::new(),
            trailers: Metadata::new(),
            done: false,
            batch: BytesMut::new(),
        }
    }

    /// Hands the batched messages to h2 (the window for them is reserved).
    pub(crate) fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let data = self.batch.split().freeze();
        if let Some(s) = self.stream.as_mut() {
            let _ = s.send_data(data, false);
        }
    }

    fn head(&self, md: &Metadata, end: bool) -> http::Response<()> {
        let mut r = http::Response::new(());
        let h = r.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/grpc"),
        );
        if !end && self.enc != Encoding::Identity {
            h.insert(
                wire::names::GRPC_ENCODING,
                http::HeaderValue::from_static(self.enc.name()),
            );
        }
        h.insert(
            wire::names::GRPC_ACCEPT_ENCODING,
            http::HeaderValue::from_static(wire::ACCEPT_ENCODING),
        );
        md.write_into(h);
        r
    }

    /// Sends the response headers if they have not gone yet.
    fn start(&mut self) -> Result<&mut SendStream<Bytes>, Status> {
        if self.stream.is_none() {
            let md = std::mem::take(&mut self.metadata);
            let head = self.head(&md, false);
            let s = self
                .respond
                .send_response(head, false)
                .map_err(|e| h2_status(&e))?;
            self.stream = Some(s);
        }
        Ok(self.stream.as_mut().expect("set above"))
    }

    /// Sends the response headers now (a bidi call's, before its handler
    /// runs).
    pub(crate) fn send_headers(&mut self) -> Result<(), Status> {
        self.start().map(drop)
    }

    /// Answers a unary call: headers, its one message, the OK trailers.
    pub(crate) fn finish_unary(&mut self, md: Metadata, msg: Bytes) {
        self.metadata = md;
        let Ok(s) = self.start() else { return };
        if s.send_data(msg, false).is_err() {
            return;
        }
        let mut t = http::HeaderMap::new();
        t.insert(wire::names::GRPC_STATUS, Code::Ok.header_value());
        let _ = s.send_trailers(t);
        self.done = true;
    }

    /// Ends the call with `status`: trailers after what was sent, or a
    /// trailers-only response when nothing was.
    pub(crate) fn finish(&mut self, status: &Status) {
        if self.done {
            return;
        }
        self.done = true;
        self.flush();
        let trailers = std::mem::take(&mut self.trailers);
        if let Some(s) = self.stream.as_mut() {
            let mut t = http::HeaderMap::new();
            trailers.write_into(&mut t);
            status.write_headers(&mut t);
            let _ = s.send_trailers(t);
        } else {
            let md = std::mem::take(&mut self.metadata);
            let mut head = self.head(&md, true);
            trailers.write_into(head.headers_mut());
            status.write_headers(head.headers_mut());
            let _ = self.respond.send_response(head, true);
        }
    }

    /// Whether the peer reset the stream (Ready: it did).
    pub(crate) fn poll_reset(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<monoio_http::h2::Reason> {
        // Through the stream once the headers went: h2 refuses to poll a
        // reset through the response handle after that.
        let r = match self.stream.as_mut() {
            Some(s) => s.poll_reset(cx),
            None => self.respond.poll_reset(cx),
        };
        r.map(|r| r.unwrap_or(monoio_http::h2::Reason::CANCEL))
    }
}

/// Writes a stream's messages, waiting for flow-control window before each
/// chunk (back-pressure). `get` lends the stream for one poll at a time, so
/// no borrow is held while waiting.
pub(crate) async fn send_flow_controlled<'a>(
    get: impl Fn() -> RefMut<'a, Option<SendStream<Bytes>>>,
    mut data: Bytes,
) -> Result<(), Status> {
    use std::task::Poll;
    let closed = || Status::cancelled("the stream is closed");
    while !data.is_empty() {
        let want = data.len();
        let n = poll_fn(|cx| {
            let mut g = get();
            let Some(s) = g.as_mut() else {
                return Poll::Ready(Err(closed()));
            };
            s.reserve_capacity(want);
            if s.capacity() > 0 {
                return Poll::Ready(Ok(s.capacity()));
            }
            match s.poll_capacity(cx) {
                Poll::Ready(Some(Ok(n))) if n > 0 => Poll::Ready(Ok(n)),
                Poll::Ready(Some(Ok(_))) => {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                Poll::Ready(Some(Err(e))) => Poll::Ready(Err(h2_status(&e))),
                Poll::Ready(None) => Poll::Ready(Err(closed())),
                Poll::Pending => Poll::Pending,
            }
        })
        .await?;
        let chunk = data.split_to(n.min(data.len()));
        let mut g = get();
        let s = g.as_mut().ok_or_else(closed)?;
        s.send_data(chunk, false).map_err(|e| h2_status(&e))?;
    }
    Ok(())
}

/// A server handler's outgoing messages (server- and bidi-streaming
/// calls). Each [`send`](ResponseSink::send) waits for HTTP/2 window, so a
/// slow reader slows the handler rather than filling memory.
pub struct ResponseSink<T> {
    reply: Rc<RefCell<Reply>>,
    _msg: PhantomData<fn(T)>,
}

impl<T> std::fmt::Debug for ResponseSink<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseSink").finish_non_exhaustive()
    }
}

impl<T: Message> ResponseSink<T> {
    pub(crate) fn new(reply: Rc<RefCell<Reply>>) -> Self {
        ResponseSink {
            reply,
            _msg: PhantomData,
        }
    }

    /// Metadata for the response headers; it goes out with the first
    /// message (changes after that are not sent). In a bidirectional call
    /// the headers go out when the call starts (callers wait for them
    /// before sending), so there it is not sent: use trailers
    /// ([`set_trailers`](Self::set_trailers)).
    pub fn set_metadata(&mut self, md: Metadata) {
        self.reply.borrow_mut().metadata = md;
    }

    /// Metadata for the trailers, sent with the call's status when the
    /// handler returns.
    pub fn set_trailers(&mut self, md: Metadata) {
        self.reply.borrow_mut().trailers = md;
    }

    /// Sends one message, once HTTP/2 flow control lets it go. Messages
    /// sent while the window has room are gathered and go out together
    /// when the handler next waits (or returns), up to 32 KiB at a time.
    pub async fn send(&mut self, msg: T) -> Result<(), Status> {
        let data = {
            let mut g = self.reply.borrow_mut();
            g.start()?;
            let r = &mut *g;
            wire::encode_into(&msg, r.enc, r.max_send, &mut r.batch)?;
            let want = r.batch.len();
            if want < BATCH {
                let s = r.stream.as_mut().expect("started above");
                s.reserve_capacity(want);
                if s.capacity() >= want {
                    return Ok(());
                }
            }
            // The batch is full, or the window does not cover it: it goes
            // now, as the window allows (back-pressure).
            r.batch.split().freeze()
        };
        let reply = &self.reply;
        send_flow_controlled(|| RefMut::map(reply.borrow_mut(), |r| &mut r.stream), data).await
    }
}
