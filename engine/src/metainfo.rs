//! Metainfo: the key/value context that Kitex and Volo services pass along
//! a call chain, in TTHeader string keys.
//!
//! Three kinds, told apart by a key prefix on the wire (bytedance/gopkg
//! `cloud/metainfo`, Volo's `metainfo` crate: `RPC_PREFIX_*`):
//!
//! | kind | wire key | travels |
//! |---|---|---|
//! | persistent | `RPC_PERSIST_<key>` | with every call downstream, hop after hop |
//! | transient | `RPC_TRANSIT_<key>` | one hop: the callee sees it, its own calls do not carry it on |
//! | backward | `RPC_BACKWARD_<key>` | in the reply, from the callee back to its caller |
//!
//! On the server, a handler reads what arrived with
//! [`ServerContext::persistent`](crate::context::ServerContext::persistent)
//! and [`transient`](crate::context::ServerContext::transient) (read in place
//! from the request's header: no copy, no allocation), and answers backward
//! values with
//! [`ServerContext::set_backward`](crate::context::ServerContext::set_backward).
//!
//! While a handler runs, the calls it makes with a ringrpc client carry on
//! the persistent values that arrived (the upstream's transient values stop
//! here, as in Kitex and Volo), plus what the handler adds with
//! [`set_persistent`] and [`set_transient`]: the handler's task holds the
//! call's *scope*, as Volo's task-local `METAINFO` does. A call made from a
//! task the handler spawned is outside the scope and carries nothing on.
//!
//! On the client, a middleware or the caller adds values to one call with
//! [`ClientContext::set_persistent`](crate::context::ClientContext::set_persistent)
//! and friends, and reads the backward values of the reply with
//! [`ClientContext::backward`](crate::context::ClientContext::backward).
//!
//! # Trace context
//!
//! A W3C `traceparent` (`00-<trace id>-<parent span id>-<flags>`) travels
//! as the transient value `traceparent`, where Kitex's obs-opentelemetry
//! puts it (it injects the OpenTelemetry propagator's fields with
//! `metainfo.WithValue`, `tracing/middleware.go`). A server that receives
//! one continues its trace: the call's span gets a new span id under the
//! same trace id, and the calls its handler makes send a `traceparent`
//! naming that span as their parent. See [`TraceContext`].
//!
//! # Bounds
//!
//! A key is 1 to [`MAX_KEY_LEN`] bytes of printable ASCII without spaces;
//! a value is UTF-8 of at most [`MAX_VALUE_LEN`] bytes; and the whole
//! TTHeader must fit its u16 size field. A client refuses a value past
//! these with [`MetainfoError`] before anything is sent; a server ignores a
//! malformed value that arrives (non-UTF-8, empty key) and counts it.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use ringrpc_codec::thrift::Utf8Bytes;
use ringrpc_codec::transport::TtHeader;

/// The wire prefix of a persistent value.
pub const PREFIX_PERSISTENT: &str = "RPC_PERSIST_";
/// The wire prefix of a transient value.
pub const PREFIX_TRANSIENT: &str = "RPC_TRANSIT_";
/// The wire prefix of a backward value.
pub const PREFIX_BACKWARD: &str = "RPC_BACKWARD_";

/// The longest key ringrpc sends (without its prefix).
pub const MAX_KEY_LEN: usize = 128;
/// The longest value ringrpc sends.
pub const MAX_VALUE_LEN: usize = 4096;

/// The transient key a W3C `traceparent` travels under.
pub const TRACEPARENT: &str = "traceparent";

/// The kind of a metainfo value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Travels with every call downstream.
    Persistent,
    /// Travels one hop.
    Transient,
    /// Travels back in the reply.
    Backward,
}

impl Kind {
    /// The wire prefix.
    pub const fn prefix(self) -> &'static str {
        match self {
            Kind::Persistent => PREFIX_PERSISTENT,
            Kind::Transient => PREFIX_TRANSIENT,
            Kind::Backward => PREFIX_BACKWARD,
        }
    }

    /// The kind and bare key of a wire key, if it has a metainfo prefix.
    pub fn of_wire_key(key: &[u8]) -> Option<(Kind, &[u8])> {
        [Kind::Persistent, Kind::Transient, Kind::Backward]
            .into_iter()
            .find_map(|k| {
                key.strip_prefix(k.prefix().as_bytes())
                    .map(|rest| (k, rest))
            })
    }
}

/// A metainfo value ringrpc refuses to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetainfoError {
    /// The key is empty, too long, or not printable ASCII.
    #[error("metainfo key {key:?} must be 1 to {MAX_KEY_LEN} printable ASCII bytes without spaces")]
    BadKey {
        /// The key.
        key: String,
    },
    /// The value is too long.
    #[error("metainfo value for {key:?} is {len} bytes; at most {MAX_VALUE_LEN}")]
    ValueTooLong {
        /// The key.
        key: String,
        /// The value's length.
        len: usize,
    },
    /// The request's TTHeader has no room for it.
    #[error("metainfo does not fit the TTHeader: {0}")]
    HeaderFull(String),
    /// Set outside a handler's scope (see [`set_persistent`]).
    #[error("no server call is being handled on this task to attach metainfo to")]
    NoScope,
}

/// Checks a key and value against the bounds (see the module docs).
pub fn validate(key: &str, value: &str) -> Result<(), MetainfoError> {
    let key_ok =
        !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic());
    if !key_ok {
        return Err(MetainfoError::BadKey {
            key: key.chars().take(MAX_KEY_LEN).collect(),
        });
    }
    if value.len() > MAX_VALUE_LEN {
        return Err(MetainfoError::ValueTooLong {
            key: key.to_owned(),
            len: value.len(),
        });
    }
    Ok(())
}

/// The values of `kind` in `h`, keys without their prefix, in wire order;
/// read in place. Malformed ones (not UTF-8, empty key) are skipped.
pub fn values(h: &TtHeader, kind: Kind) -> impl Iterator<Item = (&str, &str)> {
    h.str_kvs().filter_map(move |(k, v)| {
        let (got, bare) = Kind::of_wire_key(k)?;
        if got != kind || bare.is_empty() {
            return None;
        }
        Some((
            std::str::from_utf8(bare).ok()?,
            std::str::from_utf8(v).ok()?,
        ))
    })
}

/// The value of `key` of `kind` in `h` (the last, if repeated).
pub fn value<'a>(h: &'a TtHeader, kind: Kind, key: &str) -> Option<&'a str> {
    values(h, kind)
        .filter(|(k, _)| *k == key)
        .last()
        .map(|(_, v)| v)
}

/// Metainfo values in `h` that are malformed (a metainfo prefix, then an
/// empty key or bytes that are not UTF-8): a server ignores and counts them.
pub fn malformed(h: &TtHeader) -> usize {
    h.str_kvs()
        .filter(|(k, v)| match Kind::of_wire_key(k) {
            Some((_, bare)) => {
                bare.is_empty()
                    || std::str::from_utf8(bare).is_err()
                    || std::str::from_utf8(v).is_err()
            }
            None => false,
        })
        .count()
}

/// Sets a metainfo value in `h` under its wire key.
pub(crate) fn put(
    h: &mut TtHeader,
    kind: Kind,
    key: &str,
    value: Bytes,
) -> Result<(), MetainfoError> {
    let mut wire = Vec::with_capacity(kind.prefix().len() + key.len());
    wire.extend_from_slice(kind.prefix().as_bytes());
    wire.extend_from_slice(key.as_bytes());
    h.set_str(wire, value)
        .map_err(|e| MetainfoError::HeaderFull(e.to_string()))
}

/// A W3C trace context (`traceparent`, version 00): the trace, the span a
/// call runs under, and the flags (bit 0: sampled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    /// The 16-byte trace id (never zero).
    pub trace_id: u128,
    /// The 8-byte span id (never zero).
    pub span_id: u64,
    /// The trace flags.
    pub flags: u8,
}

impl TraceContext {
    /// Parses a `traceparent` header value; `None` if it is not a valid
    /// version-00 one (W3C Trace Context, "traceparent Header").
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return None;
        }
        if &b[..2] != b"00" || b.len() != 55 {
            return None;
        }
        let hex = |s: &[u8]| -> Option<u128> {
            if s.iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
            {
                u128::from_str_radix(std::str::from_utf8(s).ok()?, 16).ok()
            } else {
                None
            }
        };
        let trace_id = hex(&b[3..35])?;
        let span_id = hex(&b[36..52])? as u64;
        let flags = hex(&b[53..55])? as u8;
        (trace_id != 0 && span_id != 0).then_some(Self {
            trace_id,
            span_id,
            flags,
        })
    }

    /// A new trace: random ids, sampled.
    pub fn new_root() -> Self {
        Self {
            trace_id: (u128::from(random_nonzero()) << 64) | u128::from(random_nonzero()),
            span_id: random_nonzero(),
            flags: 1,
        }
    }

    /// A child span of this one: the same trace, a new span id.
    pub fn child(&self) -> Self {
        Self {
            span_id: random_nonzero(),
            ..*self
        }
    }

    /// The `traceparent` value naming this span as the parent.
    pub fn to_traceparent(&self) -> String {
        format!(
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id, self.span_id, self.flags
        )
    }
}

/// A fast per-thread random number (xorshift64*, seeded from the clock and
/// the thread): span ids need to be unique, not unpredictable.
fn random_nonzero() -> u64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            let here = &t as *const u64 as u64;
            (t ^ here.rotate_left(32)) | 1
        });
    }
    STATE.with(|s| {
        loop {
            let mut x = s.get();
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            s.set(x);
            let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
            if v != 0 {
                break v;
            }
        }
    })
}

/// What a server call passes on to the calls its handler makes: the
/// request's header (its persistent values), the values the handler added,
/// and the call's trace context.
#[derive(Debug, Default)]
pub(crate) struct Scope {
    pub(crate) incoming: Option<TtHeader>,
    pub(crate) added: RefCell<Vec<(Kind, Utf8Bytes, Utf8Bytes)>>,
    pub(crate) trace: Option<TraceContext>,
    /// Backward values the replies of calls made in the scope brought.
    pub(crate) backward: RefCell<Vec<(Utf8Bytes, Utf8Bytes)>>,
}

thread_local! {
    static CURRENT: Cell<*const Scope> = const { Cell::new(std::ptr::null()) };
}

/// Runs `f` with the scope of the server call whose handler is being
/// polled on this thread, if any.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Scope>) -> R) -> R {
    let p = CURRENT.with(Cell::get);
    // SAFETY: `CURRENT` is non-null only while `Scoped::poll` runs, and it
    // points at the `Scope` that `Scoped` borrows for at least that long;
    // the scope is only read through shared references (its mutable part
    // is a `RefCell`).
    f(unsafe { p.as_ref() })
}

/// A handler's future, polled with its call's scope current.
pub(crate) struct Scoped<'s, F> {
    pub(crate) scope: &'s Scope,
    pub(crate) fut: F,
}

impl<F: Future> Future for Scoped<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `fut` is structurally pinned: it is never moved out of
        // `self`, and `Scoped` has no `Drop` impl and is `!Unpin` when `F`
        // is.
        let this = unsafe { self.get_unchecked_mut() };
        let fut = unsafe { Pin::new_unchecked(&mut this.fut) };
        let prev = CURRENT.with(|c| c.replace(this.scope as *const Scope));
        // Restores the previous scope even if the poll panics.
        struct Restore(*const Scope);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT.with(|c| c.set(self.0));
            }
        }
        let _restore = Restore(prev);
        fut.poll(cx)
    }
}

fn add(kind: Kind, key: &str, value: &str) -> Result<(), MetainfoError> {
    validate(key, value)?;
    with_current(|scope| {
        let scope = scope.ok_or(MetainfoError::NoScope)?;
        let mut added = scope.added.borrow_mut();
        added.retain(|(k, key2, _)| !(*k == kind && key2.as_str() == key));
        added.push((kind, Utf8Bytes::from(key), Utf8Bytes::from(value)));
        Ok(())
    })
}

/// Adds a persistent value to every call the current handler makes from
/// now on (it travels on from there, hop after hop). Fails outside a
/// handler's task ([`MetainfoError::NoScope`]) or past the bounds.
pub fn set_persistent(key: &str, value: &str) -> Result<(), MetainfoError> {
    add(Kind::Persistent, key, value)
}

/// Adds a transient value to every call the current handler makes from now
/// on (one hop). Fails as [`set_persistent`] does.
pub fn set_transient(key: &str, value: &str) -> Result<(), MetainfoError> {
    add(Kind::Transient, key, value)
}

/// Runs `f` in a metainfo scope of its own: the values added with
/// [`set_persistent`] and [`set_transient`] inside it go with every ringrpc
/// client call made inside it, and the backward values those calls bring
/// back are read with [`backward`] (Kitex's `metainfo.WithPersistentValue`
/// and `RecvBackwardValue` on a `context`; Volo's `METAINFO` task-local).
/// Inside a handler, the new scope starts from the handler's (what arrived
/// to carry on, what the handler added, its trace).
pub async fn scope<F: Future>(f: F) -> F::Output {
    let scope = with_current(|cur| match cur {
        Some(c) => Scope {
            incoming: c.incoming.clone(),
            added: RefCell::new(c.added.borrow().clone()),
            trace: c.trace,
            backward: RefCell::default(),
        },
        None => Scope::default(),
    });
    Scoped {
        scope: &scope,
        fut: f,
    }
    .await
}

/// A backward value the reply of a call made in the current scope brought
/// (the last one, if several calls did). `None` outside a scope.
pub fn backward(key: &str) -> Option<String> {
    with_current(|s| {
        s?.backward
            .borrow()
            .iter()
            .rev()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v.to_string())
    })
}

/// Keeps the backward values of a reply in the current scope, if any.
pub(crate) fn receive_backward(h: &TtHeader) {
    with_current(|s| {
        if let Some(s) = s {
            let mut got = values(h, Kind::Backward).peekable();
            if got.peek().is_some() {
                let mut b = s.backward.borrow_mut();
                for (k, v) in got {
                    b.retain(|(k2, _)| k2.as_str() != k);
                    b.push((k.into(), v.into()));
                }
            }
        }
    })
}

/// The trace context of the server call being handled on this task, if
/// any: the span the handler runs under.
pub fn current_trace() -> Option<TraceContext> {
    with_current(|s| s.and_then(|s| s.trace))
}

/// Writes what a client call made inside a handler carries on into `h`:
/// the request's persistent values and the handler's additions. (The
/// call's `traceparent` is its own: [`ClientContext::trace`](crate::context::ClientContext::trace).)
pub(crate) fn forward(h: &mut TtHeader) {
    with_current(|scope| {
        let Some(scope) = scope else {
            return;
        };
        if let Some(incoming) = &scope.incoming {
            // Slices of the request's frame: no copy.
            for (k, v) in incoming.str_pairs() {
                if k.starts_with(PREFIX_PERSISTENT.as_bytes()) {
                    let _ = h.set_str(k, v);
                }
            }
        }
        for (kind, k, v) in scope.added.borrow().iter() {
            let _ = put(h, *kind, k, v.clone().into_bytes());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_keys_are_split_by_prefix() {
        assert_eq!(
            Kind::of_wire_key(b"RPC_PERSIST_user"),
            Some((Kind::Persistent, &b"user"[..]))
        );
        assert_eq!(
            Kind::of_wire_key(b"RPC_TRANSIT_x"),
            Some((Kind::Transient, &b"x"[..]))
        );
        assert_eq!(
            Kind::of_wire_key(b"RPC_BACKWARD_y"),
            Some((Kind::Backward, &b"y"[..]))
        );
        assert_eq!(Kind::of_wire_key(b"isn"), None);
    }

    #[test]
    fn values_are_read_in_place_and_malformed_ones_skipped() {
        let mut h = TtHeader::new(1);
        h.set_str(&b"RPC_PERSIST_a"[..], &b"1"[..]).unwrap();
        h.set_str(&b"RPC_TRANSIT_b"[..], &b"2"[..]).unwrap();
        h.set_str(&b"RPC_PERSIST_"[..], &b"empty key"[..]).unwrap();
        h.set_str(&b"RPC_PERSIST_bad"[..], &[0xff, 0xfe][..])
            .unwrap();
        h.set_str(&b"isn"[..], &b"Svc"[..]).unwrap();
        assert_eq!(
            values(&h, Kind::Persistent).collect::<Vec<_>>(),
            [("a", "1")]
        );
        assert_eq!(value(&h, Kind::Transient, "b"), Some("2"));
        assert_eq!(malformed(&h), 2);
    }

    #[test]
    fn keys_and_values_are_bounded() {
        assert!(validate("user-id", "42").is_ok());
        assert!(matches!(
            validate("", "x"),
            Err(MetainfoError::BadKey { .. })
        ));
        assert!(matches!(
            validate("a b", "x"),
            Err(MetainfoError::BadKey { .. })
        ));
        let long = "x".repeat(MAX_VALUE_LEN + 1);
        assert!(matches!(
            validate("k", &long),
            Err(MetainfoError::ValueTooLong { .. })
        ));
    }

    #[test]
    fn traceparent_round_trips_and_rejects_garbage() {
        let t = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .expect("the spec's example");
        assert_eq!(t.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(t.span_id, 0x00f067aa0ba902b7);
        assert_eq!(t.flags, 1);
        assert_eq!(
            t.to_traceparent(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        let c = t.child();
        assert_eq!(c.trace_id, t.trace_id);
        assert_ne!(c.span_id, t.span_id);
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn handler_additions_need_a_scope_and_are_forwarded() {
        assert_eq!(set_persistent("k", "v"), Err(MetainfoError::NoScope));
        let mut incoming = TtHeader::new(1);
        incoming.set_str(&b"RPC_PERSIST_up"[..], &b"u"[..]).unwrap();
        incoming
            .set_str(&b"RPC_TRANSIT_once"[..], &b"o"[..])
            .unwrap();
        let scope = Scope {
            incoming: Some(incoming),
            added: RefCell::new(Vec::new()),
            trace: Some(TraceContext::new_root()),
            backward: RefCell::default(),
        };
        let mut fut = std::pin::pin!(Scoped {
            scope: &scope,
            fut: async {
                set_persistent("p", "1").unwrap();
                set_transient("t", "2").unwrap();
                let mut out = TtHeader::new(2);
                forward(&mut out);
                (out, current_trace())
            },
        });
        let waker = std::task::Waker::noop();
        let Poll::Ready((out, trace)) = fut.as_mut().poll(&mut Context::from_waker(waker)) else {
            panic!("ready at once")
        };
        assert_eq!(value(&out, Kind::Persistent, "up"), Some("u"));
        assert_eq!(value(&out, Kind::Transient, "once"), None, "one hop only");
        assert_eq!(value(&out, Kind::Persistent, "p"), Some("1"));
        assert_eq!(value(&out, Kind::Transient, "t"), Some("2"));
        assert_eq!(trace, scope.trace, "the handler's trace, for its calls");
        // Outside the poll the scope is gone again.
        assert_eq!(current_trace(), None);
    }
}
