//! gRPC's health checking service, `grpc.health.v1.Health` (gRPC's
//! `doc/health-checking.md` and `grpc/health/v1/health.proto`): `Check`
//! answers a service's serving status (`NOT_FOUND` for a service it does
//! not know), `Watch` streams it, a message now and one per change.
//!
//! The statuses live in a [`HealthReporter`], shared by every core and
//! settable from any thread (a readiness probe, a drain script):
//!
//! ```no_run
//! use ringrpc_engine::grpc::health::{HealthReporter, ServingStatus};
//! use ringrpc_engine::server::Server;
//!
//! let health = HealthReporter::new();
//! health.set("helloworld.Greeter", ServingStatus::Serving);
//! let server = Server::builder().grpc(health.service()).start();
//! // later, before a drain:
//! health.set("", ServingStatus::NotServing);
//! ```

use std::collections::HashMap;
use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use super::message::{Request, Response};
use super::router::{GrpcService, Router};
use super::status::Status;
use super::streaming::ResponseSink;

/// `grpc.health.v1.HealthCheckRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HealthCheckRequest {
    /// The service asked about (`""`: the server as a whole).
    #[prost(string, tag = "1")]
    pub service: String,
}

/// `grpc.health.v1.HealthCheckResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HealthCheckResponse {
    /// A [`ServingStatus`] number.
    #[prost(enumeration = "ServingStatus", tag = "1")]
    pub status: i32,
}

/// `grpc.health.v1.HealthCheckResponse.ServingStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ServingStatus {
    /// Not known.
    Unknown = 0,
    /// Serving.
    Serving = 1,
    /// Not serving (draining, not ready).
    NotServing = 2,
    /// Only in `Watch`: the service is not known to the server.
    ServiceUnknown = 3,
}

/// The path of `Check`.
pub const CHECK: &str = "/grpc.health.v1.Health/Check";
/// The path of `Watch`.
pub const WATCH: &str = "/grpc.health.v1.Health/Watch";

#[derive(Default)]
struct State {
    statuses: HashMap<String, ServingStatus>,
    generation: u64,
    watchers: Vec<Waker>,
}

/// The serving statuses the health service answers with; cheap to clone,
/// shared across threads. The server as a whole (`""`) starts `Serving`.
#[derive(Clone)]
pub struct HealthReporter(Arc<Mutex<State>>);

impl std::fmt::Debug for HealthReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_map().entries(s.statuses.iter()).finish()
    }
}

impl Default for HealthReporter {
    fn default() -> Self {
        HealthReporter::new()
    }
}

impl HealthReporter {
    /// A reporter where the server (`""`) is `Serving` and no service is
    /// known yet.
    pub fn new() -> HealthReporter {
        let r = HealthReporter(Arc::default());
        r.set("", ServingStatus::Serving);
        r
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets a service's status (`""`: the server's); watchers hear of it.
    pub fn set(&self, service: &str, status: ServingStatus) {
        let wake = {
            let mut s = self.lock();
            if s.statuses.get(service) == Some(&status) {
                return;
            }
            s.statuses.insert(service.to_owned(), status);
            s.generation += 1;
            std::mem::take(&mut s.watchers)
        };
        for w in wake {
            w.wake();
        }
    }

    /// Forgets a service (it becomes unknown).
    pub fn remove(&self, service: &str) {
        let wake = {
            let mut s = self.lock();
            if s.statuses.remove(service).is_none() {
                return;
            }
            s.generation += 1;
            std::mem::take(&mut s.watchers)
        };
        for w in wake {
            w.wake();
        }
    }

    /// A service's status; `None` when it is not known.
    pub fn get(&self, service: &str) -> Option<ServingStatus> {
        self.lock().statuses.get(service).copied()
    }

    /// The health service answering from this reporter, for
    /// [`ServerBuilder::grpc`](crate::server::ServerBuilder::grpc).
    pub fn service(&self) -> HealthService {
        HealthService(self.clone())
    }

    /// The status and generation, or a wait for a generation past `seen`.
    fn poll_change(&self, seen: u64, service: &str, waker: &Waker) -> Poll<(u64, ServingStatus)> {
        let mut s = self.lock();
        if s.generation != seen {
            let st = s
                .statuses
                .get(service)
                .copied()
                .unwrap_or(ServingStatus::ServiceUnknown);
            return Poll::Ready((s.generation, st));
        }
        if !s.watchers.iter().any(|w| w.will_wake(waker)) {
            s.watchers.push(waker.clone());
        }
        Poll::Pending
    }
}

/// The `grpc.health.v1.Health` service (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct HealthService(HealthReporter);

impl GrpcService for HealthService {
    const NAME: &'static str = "grpc.health.v1.Health";

    fn register(self, router: Router) -> Router {
        let (check, watch) = (self.0.clone(), self.0);
        router
            .unary(CHECK, move |req: Request<HealthCheckRequest>| {
                let status = check.get(&req.get_ref().service);
                async move {
                    match status {
                        Some(s) => Ok(Response::new(HealthCheckResponse { status: s as i32 })),
                        None => Err(Status::not_found(format!(
                            "unknown service {:?}",
                            req.get_ref().service
                        ))),
                    }
                }
            })
            .server_streaming(
                WATCH,
                move |req: Request<HealthCheckRequest>,
                      mut tx: ResponseSink<HealthCheckResponse>| {
                    let reporter = watch.clone();
                    async move {
                        let service = req.into_inner().service;
                        // Generation 0 is never current: the first poll
                        // answers at once.
                        let mut seen = u64::MAX;
                        let mut last = None;
                        loop {
                            let (generation, status) =
                                poll_fn(|cx| reporter.poll_change(seen, &service, cx.waker()))
                                    .await;
                            seen = generation;
                            if last != Some(status) {
                                last = Some(status);
                                tx.send(HealthCheckResponse {
                                    status: status as i32,
                                })
                                .await?;
                            }
                        }
                    }
                },
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_set_read_and_forgotten() {
        let h = HealthReporter::new();
        assert_eq!(h.get(""), Some(ServingStatus::Serving));
        assert_eq!(h.get("a.B"), None);
        h.set("a.B", ServingStatus::NotServing);
        assert_eq!(h.get("a.B"), Some(ServingStatus::NotServing));
        h.remove("a.B");
        assert_eq!(h.get("a.B"), None);
    }

    #[test]
    fn a_change_wakes_watchers_once_each() {
        struct Count;
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {}
        }
        let h = HealthReporter::new();
        let waker = &Waker::from(Arc::new(Count));
        let Poll::Ready((g, s)) = h.poll_change(u64::MAX, "x", waker) else {
            panic!("the first poll answers");
        };
        assert_eq!(s, ServingStatus::ServiceUnknown);
        assert!(h.poll_change(g, "x", waker).is_pending());
        assert!(h.poll_change(g, "x", waker).is_pending());
        assert_eq!(h.lock().watchers.len(), 1, "one waker kept per watcher");
        h.set("x", ServingStatus::Serving);
        assert!(h.lock().watchers.is_empty());
        assert_eq!(
            h.poll_change(g, "x", waker),
            Poll::Ready((g + 1, ServingStatus::Serving))
        );
    }
}
