//! Per-call stats and the [`Tracer`] hook.
//!
//! Each call (client or server) can record when its events happened, the
//! bytes it read and wrote, and how it ended, into an [`RpcStats`] that
//! lives in the call's own state (no allocation). A [`Tracer`] sees every
//! call start and finish with its [`RpcInfo`] and stats: the Prometheus
//! metrics ([`crate::metrics`]) are one; a user's own (logging, sampling,
//! OpenTelemetry export) is another. Tracers are per core, so they keep
//! their state in `Cell`s.
//!
//! The events are Kitex's (`pkg/stats/event.go`), as far as a call on this
//! engine has them, and so are the levels: [`StatsLevel::Base`] records a
//! call's start and finish, [`StatsLevel::Detailed`] every event. Each
//! recorded event is one monotonic clock read.
//!
//! Where the events fall:
//!
//! | event | server | client |
//! |---|---|---|
//! | `RpcStart` | the request's frame was read | the call began |
//! | `ReadFinish` | the request's frame was read | the reply's frame was read |
//! | `DecodeStart`/`DecodeFinish` | the arguments | the reply |
//! | `ServerHandleStart`/`Finish` | around the handler | — |
//! | `ClientConnStart`/`Finish` | — | taking a connection from the pool (or connecting) |
//! | `WriteStart`/`WriteFinish` | the reply encoded into the connection's write buffer (it is sent with the next vectored write) | the request sent |
//! | `WaitReadStart` | — | waiting for the reply began |
//! | `RpcFinish` | the reply is written to the buffer | the call returns |

use std::cell::Cell;
use std::time::{Duration, Instant};

use ringrpc_codec::thrift::ExceptionKind;

use crate::context::RpcInfo;

/// A point in a call's life (Kitex's `stats.Event`s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Event {
    /// The call started.
    RpcStart,
    /// The call finished.
    RpcFinish,
    /// The server began running the handler.
    ServerHandleStart,
    /// The handler returned.
    ServerHandleFinish,
    /// The client began taking a connection.
    ClientConnStart,
    /// The client has its connection.
    ClientConnFinish,
    /// Writing began.
    WriteStart,
    /// Writing finished.
    WriteFinish,
    /// Waiting for the reply began (client).
    WaitReadStart,
    /// The frame was read.
    ReadFinish,
    /// Decoding began.
    DecodeStart,
    /// Decoding finished.
    DecodeFinish,
}

const EVENTS: usize = 12;

/// How much a call records (Kitex's `stats.Level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum StatsLevel {
    /// Nothing: no clock read, no tracer called.
    #[default]
    Disabled,
    /// The start and finish of each call (what metrics need).
    Base,
    /// Every event.
    Detailed,
}

impl Event {
    /// The level at which this event is recorded.
    pub const fn level(self) -> StatsLevel {
        match self {
            Event::RpcStart | Event::RpcFinish => StatsLevel::Base,
            _ => StatsLevel::Detailed,
        }
    }
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outcome {
    /// Not finished yet.
    #[default]
    Pending,
    /// A result (a declared exception of the IDL counts as a result).
    Success,
    /// A business status error (Kitex's biz status), with its code.
    Biz(i32),
    /// An application exception (refused, unknown method, handler error,
    /// panic, ...).
    Exception(ExceptionKind),
    /// The call failed without a reply (timeout, connection, protocol).
    Failed,
}

impl Outcome {
    /// Whether Kitex's metrics count it as `error` (anything but success).
    pub fn is_error(self) -> bool {
        !matches!(self, Outcome::Success)
    }
}

/// What one call recorded. Events are recorded through a shared
/// reference (a client's attempts see the call's context shared), so the
/// stats are per core: not `Sync`.
#[derive(Debug, Clone, Default)]
pub struct RpcStats {
    level: StatsLevel,
    events: [Cell<Option<Instant>>; EVENTS],
    /// Bytes of the request frame (read on the server, written on the
    /// client).
    pub request_bytes: usize,
    /// Bytes of the reply frame.
    pub reply_bytes: usize,
    /// How the call ended.
    pub outcome: Outcome,
    /// Attempts after the first (client retries and backups).
    pub retries: u32,
    /// Whether the call expects no reply.
    pub oneway: bool,
}

impl RpcStats {
    /// Empty stats recording at `level`.
    pub fn new(level: StatsLevel) -> Self {
        Self {
            level,
            ..Self::default()
        }
    }

    /// The level this call records at.
    pub fn level(&self) -> StatsLevel {
        self.level
    }

    /// Records at least at `level` from now on (a traced call needs its
    /// start and finish even with no tracer).
    pub(crate) fn raise_to(&mut self, level: StatsLevel) {
        self.level = self.level.max(level);
    }

    /// Records `event` now, if the level asks for it.
    #[inline]
    pub fn record(&self, event: Event) {
        if self.level >= event.level() && self.level != StatsLevel::Disabled {
            self.events[event as usize].set(Some(Instant::now()));
        }
    }

    /// Records `event` at `at`, if the level asks for it.
    #[inline]
    pub fn record_at(&self, event: Event, at: Instant) {
        if self.level >= event.level() && self.level != StatsLevel::Disabled {
            self.events[event as usize].set(Some(at));
        }
    }

    /// When `event` happened, if recorded.
    pub fn at(&self, event: Event) -> Option<Instant> {
        self.events[event as usize].get()
    }

    /// The time from `from` to `to`, if both were recorded.
    pub fn between(&self, from: Event, to: Event) -> Option<Duration> {
        Some(self.at(to)?.saturating_duration_since(self.at(from)?))
    }

    /// The call's latency: `RpcStart` to `RpcFinish`.
    pub fn latency(&self) -> Option<Duration> {
        self.between(Event::RpcStart, Event::RpcFinish)
    }
}

/// Which side of a call a tracer sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The server answering a call.
    Server,
    /// The client making it.
    Client,
}

/// Sees each call start and finish (Kitex's `stats.Tracer`). One instance
/// per core; `start` and `finish` run on the call's core, inline, so they
/// must be quick and must not block.
pub trait Tracer: 'static {
    /// A call starts (on the server: its arguments are not decoded yet).
    fn start(&self, side: Side, info: &RpcInfo) {
        let _ = (side, info);
    }
    /// A call finished; `stats` says when, how big and how it ended.
    fn finish(&self, side: Side, info: &RpcInfo, stats: &RpcStats);
}

/// A core's tracers and stats level, shared by its routes or its client.
#[derive(Clone, Default)]
pub(crate) struct Observers {
    tracers: std::rc::Rc<[std::rc::Rc<dyn Tracer>]>,
    level: StatsLevel,
}

impl std::fmt::Debug for Observers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observers")
            .field("tracers", &self.tracers.len())
            .field("level", &self.level)
            .finish()
    }
}

impl Observers {
    /// `tracers` at `level` (`None`: [`StatsLevel::Base`] with tracers,
    /// [`StatsLevel::Disabled`] without).
    pub(crate) fn new(tracers: Vec<std::rc::Rc<dyn Tracer>>, level: Option<StatsLevel>) -> Self {
        let level = level.unwrap_or(if tracers.is_empty() {
            StatsLevel::Disabled
        } else {
            StatsLevel::Base
        });
        Self {
            tracers: tracers.into(),
            level,
        }
    }

    /// The level calls record at.
    #[inline]
    pub(crate) fn level(&self) -> StatsLevel {
        self.level
    }

    pub(crate) fn start(&self, side: Side, info: &RpcInfo) {
        for t in self.tracers.iter() {
            t.start(side, info);
        }
    }

    pub(crate) fn finish(&self, side: Side, info: &RpcInfo, stats: &RpcStats) {
        for t in self.tracers.iter() {
            t.finish(side, info, stats);
        }
    }
}

/// Makes a core's tracer (a builder keeps one per tracer added, and runs
/// each on every core it builds).
#[derive(Clone)]
pub(crate) struct MakeTracer(std::sync::Arc<dyn Fn() -> std::rc::Rc<dyn Tracer> + Send + Sync>);

impl MakeTracer {
    pub(crate) fn new<M, T>(make: M) -> Self
    where
        M: Fn() -> T + Send + Sync + 'static,
        T: Tracer,
    {
        Self(std::sync::Arc::new(move || {
            std::rc::Rc::new(make()) as std::rc::Rc<dyn Tracer>
        }))
    }
}

impl std::fmt::Debug for MakeTracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MakeTracer")
    }
}

/// A core's observers: one instance of each tracer.
pub(crate) fn observers(make: &[MakeTracer], level: Option<StatsLevel>) -> Observers {
    Observers::new(make.iter().map(|m| (m.0)()).collect(), level)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_decide_what_is_recorded() {
        let s = RpcStats::new(StatsLevel::Base);
        s.record(Event::RpcStart);
        s.record(Event::DecodeStart);
        s.record(Event::RpcFinish);
        assert!(s.at(Event::DecodeStart).is_none(), "detailed only");
        assert!(s.latency().is_some());
        let off = RpcStats::new(StatsLevel::Disabled);
        off.record(Event::RpcStart);
        assert!(off.at(Event::RpcStart).is_none());
        let all = RpcStats::new(StatsLevel::Detailed);
        all.record(Event::DecodeStart);
        all.record(Event::DecodeFinish);
        assert!(
            all.between(Event::DecodeStart, Event::DecodeFinish)
                .is_some()
        );
    }

    #[test]
    fn only_success_is_not_an_error() {
        assert!(!Outcome::Success.is_error());
        assert!(Outcome::Biz(1).is_error());
        assert!(Outcome::Exception(ExceptionKind::InternalError).is_error());
        assert!(Outcome::Failed.is_error());
    }
}
