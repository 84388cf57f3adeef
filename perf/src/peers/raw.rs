//! The machine's ceiling: a monoio server that writes back every byte it
//! reads, without cutting or decoding frames. Against it the generator
//! expects its own calls back (message type `Call`), so the same load runs
//! against it unchanged. Its event loop uses the best io_uring mode the
//! kernel offers (`coop` by default; see [`crate::uring`]), so that it is
//! the ceiling of the machine, not of a setting.
//!
//! A real client needs a reply, not its call back: in [`Echo::Reply`] mode
//! (`raw-server --reply`, what `client-compare` drives the clients
//! against) the server cuts frames and patches each call into its reply in
//! its own read buffer ([`super::reply`]), still without decoding, and
//! writes the whole frames of each read back in one write.

use std::net::SocketAddr;

use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};
use ringrpc::codec::transport::FrameLimits;

use super::reply::patch_replies;

/// What the server writes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    /// Every byte, as it came (the generator expects its calls back).
    Verbatim,
    /// Each `EchoService.echo` call frame turned into its reply
    /// (Framed or TTHeader, strict binary).
    Reply,
}

/// The read buffer's starting size (a 1 KiB echo at 100 connections never
/// outgrows it); a connection whose buffer grew past [`SHRINK_ABOVE`] for a
/// large frame goes back to it once the buffer is empty.
const BUF_LEN: usize = 64 * 1024;
const SHRINK_ABOVE: usize = 1 << 20;

/// Serves on `listener` with `cores` pinned threads from CPU `first_core`;
/// blocks for ever.
pub fn serve(
    listener: std::net::TcpListener,
    cores: usize,
    first_core: usize,
    uring: crate::uring::UringMode,
    echo: Echo,
) -> ! {
    let cpus = core_affinity::get_core_ids().unwrap_or_default();
    let mut threads = Vec::new();
    for i in 0..cores.max(1) {
        let l = listener.try_clone().expect("clone the listener");
        let cpu = (!cpus.is_empty()).then(|| cpus[(first_core + i) % cpus.len()]);
        threads.push(std::thread::spawn(move || {
            if let Some(cpu) = cpu {
                core_affinity::set_for_current(cpu);
            }
            let mut rt = crate::uring::build(4096, uring).expect("a monoio runtime");
            rt.block_on(accept_loop(l, echo));
        }));
    }
    for t in threads {
        let _ = t.join();
    }
    std::process::exit(1)
}

async fn accept_loop(l: std::net::TcpListener, echo: Echo) {
    l.set_nonblocking(true).expect("non-blocking listener");
    let l = TcpListener::from_std(l).expect("monoio listener");
    loop {
        if let Ok((s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            match echo {
                Echo::Verbatim => monoio::spawn(verbatim(s)),
                Echo::Reply => monoio::spawn(reply(s)),
            };
        }
    }
}

async fn verbatim(mut s: TcpStream) {
    let mut buf: Vec<u8> = Vec::with_capacity(BUF_LEN);
    loop {
        let (res, b) = s.read(buf).await;
        buf = b;
        match res {
            Ok(n) if n > 0 => {}
            _ => return,
        }
        let (res, b) = s.write_all(buf).await;
        buf = b;
        buf.clear();
        if res.is_err() {
            return;
        }
    }
}

/// Reads into the spare capacity of one buffer, patches the whole frames
/// at its start into replies, writes them back, and keeps the rest (a
/// partial frame) for the next read, making room for a frame longer than
/// the buffer once its length is known. A frame it cannot answer closes the
/// connection (said once on stderr).
async fn reply(mut s: TcpStream) {
    let limits = FrameLimits::default();
    let mut buf: Vec<u8> = Vec::with_capacity(BUF_LEN);
    loop {
        let (len, cap) = (buf.len(), buf.capacity());
        let (res, slice) = s.read(buf.slice_mut(len..cap)).await;
        buf = slice.into_inner();
        match res {
            Ok(n) if n > 0 => {}
            _ => return,
        }
        let patched = match patch_replies(&mut buf, &limits) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("raw-server --reply: {e}; closing the connection");
                return;
            }
        };
        if patched.ready > 0 {
            let (res, slice) = s.write_all(buf.slice(..patched.ready)).await;
            buf = slice.into_inner();
            if res.is_err() {
                return;
            }
            // Usually everything: then nothing moves.
            buf.drain(..patched.ready);
        }
        if buf.is_empty() && buf.capacity() > SHRINK_ABOVE {
            buf = Vec::with_capacity(BUF_LEN);
        }
        if let Some(total) = patched.next_frame
            && total > buf.capacity()
        {
            buf.reserve_exact(total - buf.len());
        }
    }
}

/// Binds a listener (port 0 picks one).
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    std::net::TcpListener::bind(addr)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::{Read, Write};
    use std::time::Duration;

    use ringrpc::codec::thrift::Protocol;
    use ringrpc::codec::transport::{Codec, Transport};

    use super::*;
    use crate::load::request::encode_call;
    use crate::uring::UringMode;

    /// A reply server on a thread of its own (left running: the test
    /// process ends it).
    pub(crate) fn start_reply_server() -> SocketAddr {
        let l = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut rt = crate::uring::build(256, UringMode::Coop).unwrap();
            rt.block_on(accept_loop(l, Echo::Reply));
        });
        addr
    }

    #[test]
    fn replies_come_back_whole_for_frames_split_batched_and_larger_than_the_buffer() {
        let addr = start_reply_server();
        let binary = |transport| Codec {
            transport,
            protocol: Protocol::Binary,
        };
        // Two small calls in one write, then a 1 MiB TTHeader+Framed call
        // (sixteen times the read buffer) written in three pieces.
        let mut first = encode_call(binary(Transport::Framed), 100, 1).0;
        first.extend_from_slice(&encode_call(binary(Transport::TtHeader), 200, 2).0);
        let big = encode_call(binary(Transport::TtHeaderFramed), 1 << 20, 3).0;
        let mut sent = first.clone();
        sent.extend_from_slice(&big);
        let mut expected = sent.clone();
        let p = patch_replies(&mut expected, &FrameLimits::default()).unwrap();
        assert_eq!(p.ready, expected.len());

        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(&first).unwrap();
        for piece in big.chunks(big.len() / 3 + 1) {
            s.write_all(piece).unwrap();
        }
        let mut got = vec![0u8; expected.len()];
        s.read_exact(&mut got).unwrap();
        assert!(got == expected, "the replies are the calls, patched");
        assert_ne!(got, sent, "and not the calls themselves");

        // A frame it cannot answer closes the connection.
        let compact = Codec {
            transport: Transport::Framed,
            protocol: Protocol::Compact,
        };
        s.write_all(&encode_call(compact, 10, 4).0).unwrap();
        let mut rest = Vec::new();
        assert_eq!(s.read_to_end(&mut rest).unwrap(), 0, "closed, nothing sent");
    }
}
