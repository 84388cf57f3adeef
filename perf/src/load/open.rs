//! The open loop: requests fall due at a fixed rate whatever the server
//! does, and each one's latency counts from when it was due (wrk2's
//! correction for coordinated omission): a request that waits for a free
//! slot, or behind a slow reply, carries that wait in its latency.
//!
//! One pacer task per load core walks the core's schedule (event `i` is due
//! at `t0 + i / rate` and belongs to connection `i mod n`) and hands each
//! due time to its connection. The pacer sleeps on the runtime's timer when
//! the next event is more than 3 ms away (waking 2 ms early) and otherwise spins (yielding to
//! the other tasks each turn, see [`Baton`]), because the timer's millisecond granularity
//! would add up to a millisecond of latency to every request. Each
//! connection is split: a writer sends due requests while slots are free, a
//! reader matches replies to slots by seq id.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use monoio::io::{AsyncReadRent, AsyncWriteRentExt, Splitable};
use monoio::net::TcpStream;
use monoio::net::tcp::{TcpOwnedReadHalf, TcpOwnedWriteHalf};
use ringrpc::codec::buffer::LinkBuffer;
use ringrpc::codec::transport::{self, Decoded, FrameLimits};
use ringrpc::engine::notify::LocalNotify;

use super::request::{ReplyCheck, ReplyError, RequestTemplate, check_reply};
use super::slots::Slots;
use super::{Core, LiveGuard};

/// What a connection's writer, reader and the pacer share.
struct Conn {
    /// Due times not yet sent.
    due: RefCell<VecDeque<Instant>>,
    slots: RefCell<Slots>,
    wake_writer: LocalNotify,
    dead: Cell<bool>,
}

/// Starts the pacer and the connections of one core, at `rate` requests
/// per second in all.
pub(crate) fn start(streams: Vec<TcpStream>, rate: f64, core: Rc<Core>) {
    let depth = core.spec.depth;
    let conns: Vec<Rc<Conn>> = streams
        .into_iter()
        .map(|s| {
            let c = Rc::new(Conn {
                due: RefCell::new(VecDeque::with_capacity(64)),
                slots: RefCell::new(Slots::new(depth)),
                wake_writer: LocalNotify::new(),
                dead: Cell::new(false),
            });
            let (rd, wr) = s.into_split();
            monoio::spawn(writer(wr, c.clone(), core.clone()));
            monoio::spawn(reader(rd, c.clone(), core.clone()));
            c
        })
        .collect();
    if conns.is_empty() || rate <= 0.0 {
        return;
    }
    monoio::spawn(pacer(conns, rate, core));
}

async fn pacer(conns: Vec<Rc<Conn>>, rate: f64, core: Rc<Core>) {
    let baton = Rc::new(Baton::default());
    monoio::spawn(Relay(baton.clone()));
    // Let the relay register before the first pass.
    monoio::time::sleep(Duration::from_millis(1)).await;
    let interval_ns = 1e9 / rate;
    let t0 = Instant::now();
    let mut i: u64 = 0;
    let mut next = t0;
    while !core.stopped() {
        let now = Instant::now();
        while next <= now {
            let c = &conns[(i % conns.len() as u64) as usize];
            if !c.dead.get() {
                c.due.borrow_mut().push_back(next);
                c.wake_writer.notify();
            }
            i += 1;
            next = t0 + Duration::from_nanos((i as f64 * interval_ns) as u64);
        }
        let wait = next - now;
        if wait > Duration::from_millis(3) {
            // The timer may fire up to a tick (1 ms) late: wake 2 ms early
            // and spin the rest.
            monoio::time::sleep(wait - Duration::from_millis(2)).await;
        } else {
            PassBaton {
                baton: &baton,
                passed: false,
            }
            .await;
        }
    }
    for c in &conns {
        c.wake_writer.notify();
    }
    baton.done.set(true);
    if let Some(r) = baton.relay.take() {
        r.wake();
    }
}

async fn writer(mut wr: TcpOwnedWriteHalf, conn: Rc<Conn>, core: Rc<Core>) {
    let mut tmpl = RequestTemplate::new(core.spec.codec, core.spec.payload);
    let mut out: Vec<u8> = Vec::with_capacity(tmpl.frame_len() * core.spec.depth.max(1));
    loop {
        conn.wake_writer.notified().await;
        if conn.dead.get() || core.stopped() {
            return;
        }
        {
            let mut due = conn.due.borrow_mut();
            let mut slots = conn.slots.borrow_mut();
            while slots.has_free() {
                let Some(t) = due.pop_front() else { break };
                if let Some(seq) = slots.issue(t) {
                    tmpl.write_to(seq, &mut out);
                }
            }
        }
        if out.is_empty() {
            continue;
        }
        let (res, o) = wr.write_all(out).await;
        out = o;
        out.clear();
        if res.is_err() {
            if !core.stopped() {
                core.error(|e| e.io += 1);
            }
            conn.dead.set(true);
            return;
        }
    }
}

async fn reader(mut rd: TcpOwnedReadHalf, conn: Rc<Conn>, core: Rc<Core>) {
    let _live = LiveGuard(core.clone());
    let spec = core.spec.clone();
    let limits = FrameLimits::default();
    let mut buf = LinkBuffer::new();
    let end = |conn: &Conn| {
        conn.dead.set(true);
        conn.wake_writer.notify();
    };
    loop {
        if core.stopped() || conn.dead.get() {
            return end(&conn);
        }
        let (res, chunk) = rd.read(buf.read_target()).await;
        buf.commit_read(chunk);
        match res {
            Ok(n) if n > 0 => {}
            _ => {
                if !core.stopped() {
                    core.error(|e| e.io += 1);
                }
                return end(&conn);
            }
        }
        let now = Instant::now();
        let phase = core.phase();
        let mut freed = false;
        loop {
            let frame = match transport::decode_frame(&mut buf, spec.codec, &limits) {
                Ok(Decoded::Ready(f)) => f,
                Ok(Decoded::NeedMore(_)) => break,
                Err(_) => {
                    core.error(|e| e.decode += 1);
                    return end(&conn);
                }
            };
            let (seq, good, exception) = match check_reply(&frame, spec.expect) {
                ReplyCheck::Ok(seq) => (seq, true, false),
                ReplyCheck::Bad(seq, kind) => {
                    core.error(|e| match kind {
                        ReplyError::Exception => e.exception += 1,
                        ReplyError::WrongType => e.wrong_type += 1,
                    });
                    (seq, false, kind == ReplyError::Exception)
                }
                ReplyCheck::Undecodable => {
                    core.error(|e| e.decode += 1);
                    return end(&conn);
                }
            };
            match conn.slots.borrow_mut().complete(seq) {
                Some(since) if good => core.record(since, now, phase),
                Some(since) if exception => core.record_exception(since, now, phase),
                Some(_) => {}
                None => {
                    core.error(|e| e.bad_seqid += 1);
                    return end(&conn);
                }
            }
            freed = true;
        }
        if freed && !conn.due.borrow().is_empty() {
            conn.wake_writer.notify();
        }
    }
}

/// How the pacer yields while spinning: it hands a baton to a relay task
/// and waits for it back. A monoio task that wakes *itself* is re-queued at
/// the front (`yield_now`) and would starve every other task; a wake from
/// another task queues at the back, so pacer and relay take turns with the
/// connections and the event loop keeps submitting and reaping IO between
/// turns.
#[derive(Default)]
struct Baton {
    pacer: Cell<Option<Waker>>,
    relay: Cell<Option<Waker>>,
    done: Cell<bool>,
}

/// The pacer's yield: passes the baton to the relay, then waits for it.
struct PassBaton<'a> {
    baton: &'a Baton,
    passed: bool,
}

impl Future for PassBaton<'_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.passed {
            return Poll::Ready(());
        }
        match self.baton.relay.take() {
            Some(relay) => {
                self.baton.pacer.set(Some(cx.waker().clone()));
                self.passed = true;
                relay.wake();
                Poll::Pending
            }
            // The relay has not started yet: carry on spinning.
            None => Poll::Ready(()),
        }
    }
}

/// The relay: hands the baton back each time it gets it.
struct Relay(Rc<Baton>);

impl Future for Relay {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.done.get() {
            return Poll::Ready(());
        }
        if let Some(p) = self.0.pacer.take() {
            p.wake();
        }
        self.0.relay.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}
