//! What only generated code (and hand-written descriptors, such as a
//! generic server's) needs from the engine: the descriptor a Thrift service
//! gives the server, and the types the server composes its routes from.
//! Hidden from the docs: a user serves and calls services through
//! [`crate::server`] and [`crate::client`], with code `ringrpc-build`
//! generates.

pub use crate::server::reply::{ReplyPayload, ReplySink};
pub use crate::server::router::{
    Chain, ChainFactory, Cloned, DescribedFactory, Incoming, MethodKind, Route, RouteFactory,
    Served, ServiceDescriptor, ServiceFactory, Static, ThriftService,
};
