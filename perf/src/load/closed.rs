//! The closed loop: a connection keeps `depth` requests in flight and answers
//! each reply with the next request. One task per connection, no split: it
//! writes what is queued, reads, handles every whole reply frame in what
//! arrived, queues one new request per reply, and writes them in one go.
//! Latency counts from the write that carried the request.

use std::rc::Rc;
use std::time::Instant;

use ringrpc::codec::buffer::LinkBuffer;
use ringrpc::codec::transport::{self, Decoded, FrameLimits};

use super::request::{ReplyCheck, ReplyError, RequestTemplate, check_reply};
use super::slots::Slots;
use super::{Conn, Core, LiveGuard};

/// Drives one connection until the run stops or the connection fails.
pub(crate) async fn run(mut stream: Conn, core: Rc<Core>) {
    let _live = LiveGuard(core.clone());
    let spec = core.spec.clone();
    let limits = FrameLimits::default();
    let mut tmpl = RequestTemplate::new(spec.codec, spec.payload);
    let mut slots = Slots::new(spec.depth);
    let mut out: Vec<u8> = Vec::with_capacity(tmpl.frame_len() * spec.depth.max(1));
    let mut buf = LinkBuffer::new();
    let now = Instant::now();
    while let Some(seq) = slots.issue(now) {
        tmpl.write_to(seq, &mut out);
    }
    loop {
        let (res, o) = stream.write_all(out).await;
        out = o;
        out.clear();
        if res.is_err() {
            if !core.stopped() {
                core.error(|e| e.io += 1);
            }
            return;
        }
        // Read until at least one new request is queued.
        while out.is_empty() {
            if core.stopped() {
                return;
            }
            match stream.read(&mut buf).await {
                Ok(n) if n > 0 => {}
                _ => {
                    if !core.stopped() {
                        core.error(|e| e.io += 1);
                    }
                    return;
                }
            }
            let now = Instant::now();
            let phase = core.phase();
            loop {
                let frame = match transport::decode_frame(&mut buf, spec.codec, &limits) {
                    Ok(Decoded::Ready(f)) => f,
                    Ok(Decoded::NeedMore(_)) => break,
                    Err(_) => {
                        core.error(|e| e.decode += 1);
                        return;
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
                        return;
                    }
                };
                match slots.complete(seq) {
                    Some(since) if good => core.record(since, now, phase),
                    Some(since) if exception => core.record_exception(since, now, phase),
                    Some(_) => {}
                    None => {
                        // Out of step with the server: close.
                        core.error(|e| e.bad_seqid += 1);
                        return;
                    }
                }
                if let Some(seq) = slots.issue(now) {
                    tmpl.write_to(seq, &mut out);
                }
            }
        }
    }
}
