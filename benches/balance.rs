//! Per-call costs of discovery on a core: a pick from each balancer over
//! 100 instances (target < 50 ns), a pick filtered through per-instance
//! breakers, the per-call `LocalView::update` check, and what a rebuild
//! after a change costs.
//!
//! Run: `cargo bench --bench balance`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ringrpc_discovery::backends::StaticResolver;
use ringrpc_discovery::balance::{
    Balancer, ConsistentHash, ConsistentHashOptions, P2cOptions, PickRequest, PowerOfTwoChoices,
    WeightedRandom, WeightedRoundRobin,
};
use ringrpc_discovery::breaker::{BreakerOptions, InstanceBreakers};
use ringrpc_discovery::rng::FastRng;
use ringrpc_discovery::{CacheOptions, Instance, LocalView, ResolverCache};

fn instances(n: usize) -> Vec<Arc<Instance>> {
    (0..n)
        .map(|i| {
            // Weights 5..=24, so the weighted paths are exercised.
            let addr = ([10, 0, (i / 250) as u8, (i % 250) as u8 + 1], 8000).into();
            Arc::new(Instance::new(addr).with_weight(5 + (i % 20) as u32))
        })
        .collect()
}

fn picks(c: &mut Criterion) {
    let insts = instances(100);
    let mut g = c.benchmark_group("pick_100");

    let mut wrr = WeightedRoundRobin::with_rng(FastRng::with_seed(1));
    wrr.rebuild(&insts);
    g.bench_function("weighted_round_robin", |b| {
        b.iter(|| black_box(wrr.pick(&PickRequest::default()).map(|i| i.addr())))
    });

    let mut random = WeightedRandom::with_rng(FastRng::with_seed(1));
    random.rebuild(&insts);
    g.bench_function("weighted_random_alias", |b| {
        b.iter(|| black_box(random.pick(&PickRequest::default()).map(|i| i.addr())))
    });

    let mut ch = ConsistentHash::new(ConsistentHashOptions::default());
    ch.rebuild(&insts);
    let mut key = 0u64;
    g.bench_function("consistent_hash", |b| {
        b.iter(|| {
            key = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
            black_box(ch.pick(&PickRequest::with_key(key)).map(|i| i.addr()))
        })
    });

    let mut p2c = PowerOfTwoChoices::with_rng(P2cOptions::default(), FastRng::with_seed(1));
    p2c.rebuild(&insts);
    for (i, inst) in insts.iter().enumerate() {
        p2c.on_start(inst);
        p2c.on_finish(inst, Duration::from_micros(100 + i as u64), true);
    }
    g.bench_function("p2c_ewma", |b| {
        b.iter(|| black_box(p2c.pick(&PickRequest::default()).map(|i| i.addr())))
    });

    // WRR skipping instances whose breaker is open (10 of 100 open).
    let now = Instant::now();
    let mut breakers = InstanceBreakers::new(BreakerOptions::default()).unwrap();
    for inst in insts.iter().step_by(10) {
        for _ in 0..200 {
            breakers.record(
                inst.addr(),
                now,
                ringrpc_discovery::breaker::Outcome::Failure,
            );
        }
    }
    g.bench_function("weighted_round_robin_with_breakers", |b| {
        b.iter(|| {
            black_box(
                wrr.pick_admitted(&PickRequest::default(), |i| {
                    breakers.would_allow(&i.addr(), now)
                })
                .map(|i| i.addr()),
            )
        })
    });
    g.finish();
}

fn view_update(c: &mut Criterion) {
    let resolver = StaticResolver::new().with_service(
        "svc",
        instances(100).iter().map(|i| (**i).clone()).collect(),
    );
    let cache = ResolverCache::new(Arc::new(resolver), CacheOptions::default()).unwrap();
    let sub = cache.subscribe_key("svc");
    sub.wait(Duration::from_secs(5)).unwrap();
    let mut view = LocalView::new(sub);
    let _ = view.update();
    c.bench_function("local_view_update_unchanged", |b| {
        b.iter(|| {
            black_box(matches!(
                view.update(),
                ringrpc_discovery::ViewUpdate::Unchanged
            ))
        })
    });
}

fn rebuilds(c: &mut Criterion) {
    let insts = instances(100);
    let mut g = c.benchmark_group("rebuild_100");
    let mut wrr = WeightedRoundRobin::new();
    g.bench_function("weighted_round_robin", |b| {
        b.iter(|| wrr.rebuild(black_box(&insts)))
    });
    let mut random = WeightedRandom::new();
    g.bench_function("weighted_random_alias", |b| {
        b.iter(|| random.rebuild(black_box(&insts)))
    });
    let mut p2c = PowerOfTwoChoices::new(P2cOptions::default());
    g.bench_function("p2c_ewma", |b| b.iter(|| p2c.rebuild(black_box(&insts))));
    g.sample_size(10);
    let mut ch = ConsistentHash::new(ConsistentHashOptions::default());
    g.bench_function("consistent_hash", |b| {
        b.iter(|| ch.rebuild(black_box(&insts)))
    });
    g.finish();
}

criterion_group!(benches, picks, view_update, rebuilds);
criterion_main!(benches);
