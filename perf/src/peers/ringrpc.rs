//! ringrpc's own echo server, as the harness embeds it (or runs it in a
//! child process for `compare`): `EchoService.echo` returning the message it
//! got, on `cores` pinned cores. Each core's thread joins
//! [`SERVER_THREADS`] and counts its allocations as the server's.

use std::net::SocketAddr;

use ringrpc::engine::context::ServerContext;
use ringrpc::engine::server::{Server, ServerHandle};
use ringrpc_example_idl::echo::{EchoRequest, EchoResponse, EchoService, EchoServiceServer};

use crate::alloc;
use crate::cpu::ThreadGroup;

/// The threads of the embedded server's cores.
pub static SERVER_THREADS: ThreadGroup = ThreadGroup::new();

/// The echo handler: the reply carries the request's message (zero copy).
#[derive(Debug, Clone, Copy)]
pub struct Echo;

impl EchoService for Echo {
    async fn echo(
        &self,
        _cx: &mut ServerContext,
        req: EchoRequest,
    ) -> ringrpc::engine::Result<EchoResponse> {
        Ok(EchoResponse { msg: req.msg })
    }
}

/// Starts the echo server on `cores` cores from CPU `first_core`.
pub fn start(addr: SocketAddr, cores: usize, first_core: usize) -> std::io::Result<ServerHandle> {
    SERVER_THREADS.clear();
    Server::builder()
        .addr(addr)
        .cores(cores)
        .first_core(first_core)
        .service_per_core(|| {
            // Runs once on each core's own thread, as the core starts.
            alloc::set_role(alloc::Role::Server);
            SERVER_THREADS.join();
            EchoServiceServer::new(Echo)
        })
        .start()
        .map_err(std::io::Error::other)
}
