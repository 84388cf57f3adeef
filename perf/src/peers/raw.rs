//! The machine's ceiling: a monoio server that writes back every byte it
//! reads, without cutting or decoding frames. Against it the generator
//! expects its own calls back (message type `Call`), so the same load runs
//! against it unchanged. Its event loop uses the best io_uring mode the
//! kernel offers (`coop` by default; see [`crate::uring`]), so that it is
//! the ceiling of the machine, not of a setting.

use std::net::SocketAddr;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};

/// Serves on `listener` with `cores` pinned threads from CPU `first_core`;
/// blocks for ever.
pub fn serve(
    listener: std::net::TcpListener,
    cores: usize,
    first_core: usize,
    uring: crate::uring::UringMode,
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
            rt.block_on(accept_loop(l));
        }));
    }
    for t in threads {
        let _ = t.join();
    }
    std::process::exit(1)
}

async fn accept_loop(l: std::net::TcpListener) {
    l.set_nonblocking(true).expect("non-blocking listener");
    let l = TcpListener::from_std(l).expect("monoio listener");
    loop {
        if let Ok((s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            monoio::spawn(echo(s));
        }
    }
}

async fn echo(mut s: TcpStream) {
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
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

/// Binds a listener (port 0 picks one).
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    std::net::TcpListener::bind(addr)
}
