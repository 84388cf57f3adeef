//! The request and response of a call: a message (or a stream of them)
//! with its metadata.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::metadata::Metadata;

/// A call's request: its message (or [`Streaming`](super::Streaming) of
/// messages) and metadata; on the server also its deadline and peer.
#[derive(Debug)]
pub struct Request<T> {
    metadata: Metadata,
    message: T,
    deadline: Option<Instant>,
    peer: Option<SocketAddr>,
}

impl<T> Request<T> {
    /// A request carrying `message`, with no metadata and no deadline.
    pub fn new(message: T) -> Request<T> {
        Request {
            metadata: Metadata::new(),
            message,
            deadline: None,
            peer: None,
        }
    }

    pub(crate) fn from_parts(
        metadata: Metadata,
        message: T,
        deadline: Option<Instant>,
        peer: Option<SocketAddr>,
    ) -> Request<T> {
        Request {
            metadata,
            message,
            deadline,
            peer,
        }
    }

    /// The request's metadata (custom headers).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The request's metadata, to add to before the call.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// The message.
    pub fn get_ref(&self) -> &T {
        &self.message
    }

    /// The message, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.message
    }

    /// The message, without the metadata.
    pub fn into_inner(self) -> T {
        self.message
    }

    /// The deadline: on the server, from the caller's `grpc-timeout`
    /// (counted from when the request arrived); on the client, the one
    /// [`set_timeout`](Request::set_timeout) gave.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The time left before the deadline (zero once it passed).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Client: the call's timeout, sent as `grpc-timeout` (it overrides the
    /// channel's default).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.deadline = Some(Instant::now() + timeout);
    }

    /// Server: the caller's address.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The metadata, message and deadline, taken apart.
    pub(crate) fn into_parts(self) -> (Metadata, T, Option<Instant>) {
        (self.metadata, self.message, self.deadline)
    }

    /// The same request with its message mapped.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Request<U> {
        Request {
            metadata: self.metadata,
            message: f(self.message),
            deadline: self.deadline,
            peer: self.peer,
        }
    }
}

/// A message or a request that can be sent: what generated clients take.
pub trait IntoRequest<T> {
    /// The request.
    fn into_request(self) -> Request<T>;
}

impl<T> IntoRequest<T> for Request<T> {
    fn into_request(self) -> Request<T> {
        self
    }
}

impl<T: prost::Message> IntoRequest<T> for T {
    fn into_request(self) -> Request<T> {
        Request::new(self)
    }
}

/// A call's response: its message (or stream) and metadata (the response
/// headers).
#[derive(Debug)]
pub struct Response<T> {
    metadata: Metadata,
    message: T,
}

impl<T> Response<T> {
    /// A response carrying `message`.
    pub fn new(message: T) -> Response<T> {
        Response {
            metadata: Metadata::new(),
            message,
        }
    }

    pub(crate) fn from_parts(metadata: Metadata, message: T) -> Response<T> {
        Response { metadata, message }
    }

    /// The response headers' metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The metadata, to add to before the response is sent.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// The message.
    pub fn get_ref(&self) -> &T {
        &self.message
    }

    /// The message, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.message
    }

    /// The message, without the metadata.
    pub fn into_inner(self) -> T {
        self.message
    }

    pub(crate) fn into_parts(self) -> (Metadata, T) {
        (self.metadata, self.message)
    }
}
