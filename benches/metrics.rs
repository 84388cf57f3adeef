//! What the Prometheus metrics cost: recording one call into a core's
//! series (on the call's path), and a scrape of 1000 method x status
//! series recorded on two cores (target: under 10 ms).
//!
//! Run: `cargo bench --bench metrics`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ringrpc::codec::thrift::{Protocol, Utf8Bytes};
use ringrpc::codec::transport::{Codec, Transport};
use ringrpc::engine::context::{Endpoint, RpcInfo};
use ringrpc::engine::metrics::Metrics;
use ringrpc::engine::stats::{Outcome, RpcStats, Side, StatsLevel, Tracer};

fn info(method: &str) -> RpcInfo {
    RpcInfo {
        caller: Endpoint {
            service: Some(Utf8Bytes::from("bench-caller")),
            addr: None,
        },
        callee: Endpoint {
            service: Some(Utf8Bytes::from("EchoService")),
            addr: None,
        },
        method: Utf8Bytes::from(method.to_owned()),
        seqid: 1,
        deadline: None,
        timeout: None,
        codec: Codec {
            transport: Transport::TtHeader,
            protocol: Protocol::Binary,
        },
    }
}

fn stats(outcome: Outcome, latency: Duration) -> RpcStats {
    let s = RpcStats::new(StatsLevel::Base);
    let start = Instant::now();
    s.record_at(ringrpc::engine::stats::Event::RpcStart, start);
    s.record_at(ringrpc::engine::stats::Event::RpcFinish, start + latency);
    let mut s = s;
    s.outcome = outcome;
    s
}

fn metrics(c: &mut Criterion) {
    let m = Metrics::new();
    let t = m.core_tracer();
    let one = info("echo");
    let ok = stats(Outcome::Success, Duration::from_micros(37));
    t.finish(Side::Server, &one, &ok);
    c.bench_function("metrics/record_one_call", |b| {
        b.iter(|| t.finish(Side::Server, black_box(&one), black_box(&ok)))
    });

    // 500 methods x 2 statuses = 1000 series, on each of two cores.
    let m = Metrics::new();
    let cores = [m.core_tracer(), m.core_tracer()];
    let err = stats(
        Outcome::Exception(ringrpc::codec::thrift::ExceptionKind::InternalError),
        Duration::from_micros(900),
    );
    for core in &cores {
        for i in 0..500 {
            let inf = info(&format!("method_{i:03}"));
            core.finish(Side::Server, &inf, &ok);
            core.finish(Side::Server, &inf, &err);
        }
    }
    let text = m.encode();
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("kitex_server_throughput{"))
            .count(),
        1000
    );
    c.bench_function("metrics/scrape_1000_series_2_cores", |b| {
        b.iter(|| black_box(m.encode().len()))
    });
}

criterion_group!(benches, metrics);
criterion_main!(benches);
