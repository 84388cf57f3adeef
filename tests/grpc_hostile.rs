//! Hostile HTTP/2 input against the gRPC server, written as raw frames
//! (RFC 9113 framing, HPACK literals of RFC 7541 §6.2.2): a wrong preface,
//! invalid frames, a stream that sends past its window, a header list too
//! large, rapid reset (CVE-2023-44487) and slowloris. Each ends that stream
//! or connection with the right error; a call on another connection,
//! checked after each, is answered. Bounded in count and time.

mod grpc_common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use grpc_common::*;
use ringrpc::engine::grpc::Request;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Frame types and flags (RFC 9113 §6).
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const GOAWAY: u8 = 7;
const CONTINUATION: u8 = 9;
const END_HEADERS: u8 = 4;

// Error codes (RFC 9113 §7).
const PROTOCOL_ERROR: u32 = 1;
const FLOW_CONTROL_ERROR: u32 = 3;
const FRAME_SIZE_ERROR: u32 = 6;
const ENHANCE_YOUR_CALM: u32 = 0xb;
const CANCEL: u32 = 8;

fn frame(ty: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(9 + payload.len());
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    f.push(ty);
    f.push(flags);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An HPACK string literal, not Huffman-coded (7-bit prefix integer).
fn hpack_str(out: &mut Vec<u8>, s: &[u8]) {
    let mut n = s.len();
    if n < 127 {
        out.push(n as u8);
    } else {
        out.push(127);
        n -= 127;
        while n >= 128 {
            out.push((n % 128) as u8 | 0x80);
            n /= 128;
        }
        out.push(n as u8);
    }
    out.extend_from_slice(s);
}

/// A request's header block: literals without indexing, new names.
fn request_block(path: &str, extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = Vec::new();
    let fields: Vec<(&str, &[u8])> = [
        (":method", &b"POST"[..]),
        (":scheme", b"http"),
        (":path", path.as_bytes()),
        (":authority", b"localhost"),
        ("content-type", b"application/grpc"),
        ("te", b"trailers"),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    .collect();
    for (k, v) in fields {
        b.push(0);
        hpack_str(&mut b, k.as_bytes());
        hpack_str(&mut b, v);
    }
    b
}

struct Raw {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    fn connect(addr: SocketAddr) -> Raw {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        s.set_nodelay(true).unwrap();
        Raw { s, buf: Vec::new() }
    }

    /// The preface and an empty SETTINGS frame.
    fn handshake(addr: SocketAddr) -> Raw {
        let mut r = Raw::connect(addr);
        r.send(PREFACE);
        r.send(&frame(SETTINGS, 0, 0, &[]));
        r
    }

    fn send(&mut self, b: &[u8]) {
        // The server may close first; what it said is read after.
        let _ = self.s.write_all(b);
    }

    /// Reads frames until `until` holds for one, the peer closes, or
    /// `limit` passes: the frames seen, and whether the peer closed.
    fn read_until(
        &mut self,
        limit: Duration,
        mut until: impl FnMut(u8, u32, &[u8]) -> bool,
    ) -> (Vec<(u8, u32, Vec<u8>)>, bool) {
        let end = Instant::now() + limit;
        let mut frames = Vec::new();
        let mut chunk = [0u8; 16384];
        loop {
            while self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if self.buf.len() < 9 + len {
                    break;
                }
                let ty = self.buf[3];
                let stream = u32::from_be_bytes(self.buf[5..9].try_into().unwrap()) & 0x7fff_ffff;
                let payload = self.buf[9..9 + len].to_vec();
                self.buf.drain(..9 + len);
                let done = until(ty, stream, &payload);
                frames.push((ty, stream, payload));
                if done {
                    return (frames, false);
                }
            }
            if Instant::now() > end {
                return (frames, false);
            }
            match self.s.read(&mut chunk) {
                Ok(0) => return (frames, true),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return (frames, true),
            }
        }
    }

    /// Waits for GOAWAY; its error code.
    fn goaway(&mut self, limit: Duration) -> Option<u32> {
        let (frames, _) = self.read_until(limit, |ty, _, _| ty == GOAWAY);
        frames
            .iter()
            .find(|f| f.0 == GOAWAY)
            .map(|f| u32::from_be_bytes(f.2[4..8].try_into().unwrap()))
    }

    /// Whether the server closes the connection within `limit`.
    fn closes_within(&mut self, limit: Duration) -> bool {
        let (_, closed) = self.read_until(limit, |_, _, _| false);
        closed
    }
}

/// A call on a fresh connection is answered.
fn others_are_served(addr: SocketAddr) {
    let ch = channel(addr);
    run(async {
        let r = ch
            .unary::<_, Echo>(ECHO, Request::new(echo_msg("still served")))
            .await
            .unwrap();
        assert_eq!(r.get_ref().text, "still served");
    });
}

#[test]
fn a_wrong_preface_closes_the_connection() {
    let server = start_server();
    let addr = server.local_addr();
    for bad in [
        &b"PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n"[..],
        b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let mut r = Raw::connect(addr);
        r.send(bad);
        assert!(r.closes_within(Duration::from_secs(5)), "{bad:?}");
    }
    others_are_served(addr);
}

#[test]
fn invalid_frames_get_goaway_with_the_error() {
    let server = start_server();
    let addr = server.local_addr();
    // SETTINGS whose length is not a multiple of 6.
    let mut r = Raw::handshake(addr);
    r.send(&frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0]));
    // RFC 9113 §6.5 names FRAME_SIZE_ERROR; the h2 code monoio-http ported
    // answers every SETTINGS it cannot load with PROTOCOL_ERROR. Either
    // way the connection ends with an error.
    let code = r.goaway(Duration::from_secs(5));
    assert!(
        matches!(code, Some(FRAME_SIZE_ERROR | PROTOCOL_ERROR)),
        "{code:?}"
    );
    // DATA on stream 0.
    let mut r = Raw::handshake(addr);
    r.send(&frame(DATA, 0, 0, b"hello"));
    assert_eq!(r.goaway(Duration::from_secs(5)), Some(PROTOCOL_ERROR));
    // HEADERS on an even (server-initiated) stream id.
    let mut r = Raw::handshake(addr);
    r.send(&frame(HEADERS, END_HEADERS, 2, &request_block(ECHO, &[])));
    assert_eq!(r.goaway(Duration::from_secs(5)), Some(PROTOCOL_ERROR));
    // A header block that is not HPACK.
    let mut r = Raw::handshake(addr);
    r.send(&frame(
        HEADERS,
        END_HEADERS,
        1,
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0x0f],
    ));
    assert!(r.goaway(Duration::from_secs(5)).is_some());
    others_are_served(addr);
}

#[test]
fn a_stream_past_its_window_is_refused() {
    let server = start_server();
    let addr = server.local_addr();
    let mut r = Raw::handshake(addr);
    r.send(&frame(HEADERS, END_HEADERS, 1, &request_block(STALL, &[])));
    // The handler reads nothing: the 1 MiB stream window is all there is.
    // 1.5 MiB sent regardless of WINDOW_UPDATE.
    let chunk = vec![0u8; 16384];
    for _ in 0..96 {
        r.send(&frame(DATA, 0, 1, &chunk));
    }
    let (frames, closed) = r.read_until(Duration::from_secs(5), |ty, _, _| {
        ty == RST_STREAM || ty == GOAWAY
    });
    let code = frames
        .iter()
        .find(|f| f.0 == RST_STREAM || f.0 == GOAWAY)
        .map(|f| match f.0 {
            RST_STREAM => u32::from_be_bytes(f.2[..4].try_into().unwrap()),
            _ => u32::from_be_bytes(f.2[4..8].try_into().unwrap()),
        });
    assert_eq!(code, Some(FLOW_CONTROL_ERROR), "closed: {closed}");
    others_are_served(addr);
}

#[test]
fn a_header_list_too_large_is_refused() {
    let server = start_server();
    let addr = server.local_addr();
    let mut r = Raw::handshake(addr);
    // 40 KiB of metadata, over the 16 KiB limit: HEADERS and CONTINUATIONs.
    let big = vec![b'a'; 40 * 1024];
    let block = request_block(ECHO, &[("x-big", &big)]);
    let mut parts = block.chunks(16000).peekable();
    let first = parts.next().unwrap();
    r.send(&frame(HEADERS, 0, 1, first));
    while let Some(p) = parts.next() {
        let flags = if parts.peek().is_none() {
            END_HEADERS
        } else {
            0
        };
        r.send(&frame(CONTINUATION, flags, 1, p));
    }
    // Answered on the stream (431 or a reset) or the connection (GOAWAY);
    // never served.
    let (frames, closed) = r.read_until(Duration::from_secs(5), |ty, stream, _| {
        (stream == 1 && (ty == HEADERS || ty == RST_STREAM)) || ty == GOAWAY
    });
    assert!(
        closed
            || frames
                .iter()
                .any(|f| (f.1 == 1 && (f.0 == HEADERS || f.0 == RST_STREAM)) || f.0 == GOAWAY),
        "no answer to an oversized header list: {:?}",
        frames.iter().map(|f| f.0).collect::<Vec<_>>()
    );
    // No DATA: the handler never ran.
    assert!(!frames.iter().any(|f| f.0 == DATA));
    others_are_served(addr);
}

#[test]
fn rapid_reset_gets_enhance_your_calm() {
    let server = start_server();
    let addr = server.local_addr();
    let mut r = Raw::handshake(addr);
    // Open and reset streams in a loop, in batches, as CVE-2023-44487's
    // clients do.
    let block = request_block(SLOW, &[]);
    let mut code = None;
    'attack: for batch in 0..50u32 {
        let mut out = Vec::new();
        for i in 0..100u32 {
            let id = 1 + 2 * (batch * 100 + i);
            out.extend(frame(HEADERS, END_HEADERS, id, &block));
            out.extend(frame(RST_STREAM, 0, id, &CANCEL.to_be_bytes()));
        }
        if r.s.write_all(&out).is_err() {
            break 'attack;
        }
        let (frames, closed) = r.read_until(Duration::from_millis(20), |ty, _, _| ty == GOAWAY);
        if let Some(f) = frames.iter().find(|f| f.0 == GOAWAY) {
            code = Some(u32::from_be_bytes(f.2[4..8].try_into().unwrap()));
            break;
        }
        if closed {
            break;
        }
    }
    if code.is_none() {
        code = r.goaway(Duration::from_secs(5));
    }
    assert_eq!(code, Some(ENHANCE_YOUR_CALM));
    let resets: u64 = server.stats().iter().map(|s| s.grpc_rapid_resets).sum();
    assert_eq!(resets, 1);
    let metrics = ringrpc::engine::metrics::Metrics::new();
    metrics.add_server(&server);
    let text = metrics.encode();
    assert!(
        text.contains("ringrpc_server_grpc_rapid_resets_total 1"),
        "{text}"
    );
    assert!(
        text.contains("ringrpc_server_grpc_connections_total 1"),
        "{text}"
    );
    others_are_served(addr);
}

#[test]
fn slowloris_connections_are_closed() {
    let server = start_server();
    let addr = server.local_addr();
    // Half a preface, then nothing: closed after the read timeout (500 ms).
    let mut half = Raw::connect(addr);
    half.send(&PREFACE[..10]);
    let started = Instant::now();
    assert!(half.closes_within(Duration::from_secs(5)));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // A HEADERS frame dribbled a byte at a time never opens a stream: the
    // idle timeout (2 s) closes the connection.
    let mut drip = Raw::handshake(addr);
    let f = frame(HEADERS, END_HEADERS, 1, &request_block(ECHO, &[]));
    let started = Instant::now();
    let mut closed = false;
    for b in f.iter().take(f.len() - 1) {
        drip.send(&[*b]);
        if drip.closes_within(Duration::from_millis(150)) {
            closed = true;
            break;
        }
        if started.elapsed() > Duration::from_secs(8) {
            break;
        }
    }
    assert!(closed || drip.closes_within(Duration::from_secs(5)));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    others_are_served(addr);
}

#[test]
fn a_continuation_flood_is_cut_off() {
    // CVE-2024-27316's pattern: a header block that never ends. The h2 port
    // keeps only the undecoded rest of the block and drops fields past the
    // header list limit, so memory stays bounded; the connection, which
    // never opens a stream, is closed by the idle timeout (2 s here) or by
    // a GOAWAY, whichever comes first.
    let server = start_server();
    let addr = server.local_addr();
    let mut r = Raw::handshake(addr);
    r.send(&frame(HEADERS, 0, 1, &request_block(ECHO, &[])));
    let mut field = Vec::new();
    field.push(0);
    hpack_str(&mut field, b"x-flood");
    hpack_str(&mut field, &[b'f'; 1000]);
    let cont = frame(CONTINUATION, 0, 1, &field.repeat(15));
    let started = Instant::now();
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(8) {
        if r.s.write_all(&cont).is_err() {
            closed = true;
            break;
        }
        if r.closes_within(Duration::from_millis(1)) {
            closed = true;
            break;
        }
    }
    assert!(closed, "a never-ending header block kept its connection");
    others_are_served(addr);
}
