//! Generated code against generated code: ringrpc-build's types for
//! `idl/bench.thrift` against volo-build's (pilota's), binary
//! protocol, decode and encode of one nested struct (i64, string,
//! `list<string>`, `map<string, i64>`, `list<Nested>`).
//!
//! ```text
//! CARGO_TARGET_DIR=... cargo bench -p ringrpc-interop --bench codegen_vs_pilota
//! ```
//!
//! - Both sides decode the same bytes (ours encoded them; the setup checks
//!   that both decode to the same value, and that each side decodes the
//!   other's encoding back to it).
//! - Decode takes a `Bytes` (a refcount bump) and builds the struct; strings
//!   are zero-copy slices on both sides. Ours checks UTF-8; pilota's
//!   `read_faststr` does not (`FastStr::from_bytes_unchecked`).
//! - Encode writes into a buffer reused across iterations, cleared each time,
//!   as both engines do per connection. Pilota's encode is what Volo's
//!   `DefaultEncoder` runs per message: a `size` pass, `reserve`, `encode`;
//!   `pilota_encode_only` leaves the `size` pass out.
//! - `pilota_unsafe_decode` is the input protocol volo-thrift's opt-in
//!   `unsafe-codec` feature uses (no bounds checks).
//! - `decode/ours_fx` and `decode/ours_ahash` decode into ringrpc-build's
//!   types generated with `Builder::map_hasher` (FxHash, AHash) instead of
//!   std's SipHash `HashMap` (pilota's maps are `AHashMap`). Encode only
//!   iterates maps, so it has no hasher variant. On this payload (one map
//!   of 8 entries) callgrind counts about 12.6k instructions per decode
//!   with std's hasher, 10.9k with FxHash and 11.2k with AHash (December
//!   2026); the wall-time medians differ by less than the shared box's
//!   run-to-run noise (±25%), which is why `Builder::map_hasher` is an
//!   option and std's flooding-resistant hasher stays the default.
//!
//! A counting global allocator reports allocations per operation, measured
//! outside criterion's loop (printed before the timings). Both sides pay the
//! same relaxed atomic increment per allocation.
//!
//! Each operation is an `#[inline(never)]` function, so that instructions per
//! operation can be counted without timing noise: with a filter that matches
//! no benchmark, only the allocation count runs (10 001 calls of each, plus
//! one or two setup calls), and callgrind collects inside one function:
//!
//! ```text
//! valgrind --tool=callgrind --toggle-collect='codegen_vs_pilota::our_encode' \
//!     target/release/deps/codegen_vs_pilota-HASH --bench none
//! callgrind_annotate callgrind.out.PID | grep 'PROGRAM TOTALS'   # ÷ ~10 002
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use pilota::thrift::Message as PilotaMessage;
use pilota::thrift::binary::TBinaryProtocol;
use ringrpc_codec::buffer::LinkWriter;
use ringrpc_codec::thrift::{BinaryReader, BinaryWriter, Message as _};
use ringrpc_interop::bench::ours::bench as ours;
use ringrpc_interop::bench::pilota_gen::volo_bench::bench as theirs;

/// `bench.thrift` by ringrpc-build with `map_hasher` (see `build.rs`).
mod hashed {
    /// FxHash maps.
    pub mod fx {
        include!(concat!(env!("OUT_DIR"), "/ringrpc_bench_fx/ringrpc_gen.rs"));
    }
    /// AHash maps.
    pub mod ahash {
        include!(concat!(
            env!("OUT_DIR"),
            "/ringrpc_bench_ahash/ringrpc_gen.rs"
        ));
    }
}
use hashed::ahash::bench as ours_ahash;
use hashed::fx::bench as ours_fx;

/// Counts every allocation and reallocation.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees are this allocator's; the counter is a
// side effect that touches no memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System`; the caller upholds the rest.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations per call of `f`, over `n` calls after one warm-up call.
fn allocs_per_op(n: u64, mut f: impl FnMut()) -> f64 {
    f();
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..n {
        f();
    }
    (ALLOCS.load(Ordering::Relaxed) - before) as f64 / n as f64
}

/// The value both sides encode: 8 tags, 8 counters, 8 children.
fn sample() -> ours::Payload {
    ours::Payload {
        id: 0x1234_5678_9abc,
        title: "a title of some thirty-two bytes".into(),
        tags: (0..8).map(|i| format!("tag-{i:02}-value").into()).collect(),
        counters: (0..8)
            .map(|i| (format!("counter.{i:02}").into(), i * 1000 + 7))
            .collect(),
        children: (0..8)
            .map(|i| ours::Nested {
                id: i,
                name: format!("child number {i:03}").into(),
                active: i % 2 == 0,
            })
            .collect(),
    }
}

#[inline(never)]
fn our_encode(v: &ours::Payload, w: &mut LinkWriter) {
    w.clear();
    v.encode(&mut BinaryWriter::new(w));
}

#[inline(never)]
fn our_decode(b: &Bytes) -> ours::Payload {
    ours::Payload::decode(&mut BinaryReader::new(b.clone())).expect("ours decodes")
}

#[inline(never)]
fn our_fx_decode(b: &Bytes) -> ours_fx::Payload {
    ours_fx::Payload::decode(&mut BinaryReader::new(b.clone())).expect("ours (fx) decodes")
}

#[inline(never)]
fn our_ahash_decode(b: &Bytes) -> ours_ahash::Payload {
    ours_ahash::Payload::decode(&mut BinaryReader::new(b.clone())).expect("ours (ahash) decodes")
}

#[inline(never)]
fn pilota_decode(b: &Bytes) -> theirs::Payload {
    let mut b = b.clone();
    theirs::Payload::decode(&mut TBinaryProtocol::new(&mut b, true)).expect("pilota decodes")
}

#[inline(never)]
fn pilota_unsafe_decode(b: &Bytes) -> theirs::Payload {
    let mut b = b.clone();
    // SAFETY: `b` outlives the protocol, which reads only within it.
    let mut p = unsafe { pilota::thrift::binary_unsafe::TBinaryUnsafeInputProtocol::new(&mut b) };
    theirs::Payload::decode(&mut p).expect("pilota decodes")
}

/// Volo's per-message encode: size pass, reserve, encode.
#[inline(never)]
fn pilota_encode(v: &theirs::Payload, lb: &mut pilota::LinkedBytes) {
    lb.reset();
    let mut sizer = TBinaryProtocol::new((), true);
    let size = v.size(&mut sizer);
    lb.reserve(size - pilota::thrift::TLengthProtocol::zero_copy_len(&mut sizer));
    v.encode(&mut TBinaryProtocol::new(lb, true))
        .expect("pilota encodes");
}

#[inline(never)]
fn pilota_encode_only(v: &theirs::Payload, lb: &mut pilota::LinkedBytes) {
    lb.reset();
    v.encode(&mut TBinaryProtocol::new(lb, true))
        .expect("pilota encodes");
}

/// The two decodings hold the same value.
fn same(a: &ours::Payload, b: &theirs::Payload) -> bool {
    let mut counters_a: Vec<(&str, i64)> = a.counters.iter().map(|(k, v)| (&**k, *v)).collect();
    let mut counters_b: Vec<(&str, i64)> = b
        .counters
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (&**k, *v)).collect())
        .unwrap_or_default();
    counters_a.sort_unstable();
    counters_b.sort_unstable();
    let tags_b: Vec<&str> = b.tags.iter().flatten().map(|s| &**s).collect();
    let children_b: Vec<(i64, &str, bool)> = b
        .children
        .iter()
        .flatten()
        .map(|c| {
            (
                c.id.unwrap_or_default(),
                c.name.as_deref().unwrap_or_default(),
                c.active.unwrap_or_default(),
            )
        })
        .collect();
    Some(a.id) == b.id
        && Some(&*a.title) == b.title.as_deref()
        && a.tags.iter().map(|s| &**s).eq(tags_b.iter().copied())
        && counters_a == counters_b
        && a.children
            .iter()
            .map(|c| (c.id, &*c.name, c.active))
            .eq(children_b.iter().copied())
}

fn codec(c: &mut Criterion) {
    let value = sample();
    let mut w = LinkWriter::new();
    our_encode(&value, &mut w);
    let bytes = Bytes::from(w.to_vec());

    // Same bytes in, same value out.
    let ours_v = our_decode(&bytes);
    let theirs_v = pilota_decode(&bytes);
    assert_eq!(ours_v, value);
    assert!(same(&ours_v, &theirs_v), "both sides decode the same value");
    assert!(same(&ours_v, &pilota_unsafe_decode(&bytes)));
    // The hashed variants decode the same maps.
    let fx_v = our_fx_decode(&bytes);
    let ahash_v = our_ahash_decode(&bytes);
    assert!(
        fx_v.counters
            .iter()
            .all(|(k, v)| value.counters.get(k) == Some(v))
    );
    assert!(
        ahash_v
            .counters
            .iter()
            .all(|(k, v)| value.counters.get(k) == Some(v))
    );
    assert_eq!(fx_v.counters.len(), value.counters.len());
    assert_eq!(ahash_v.counters.len(), value.counters.len());
    // Each side's encoding decodes, on the other side, to the same value
    // (map order differs: std HashMap against AHashMap).
    let mut lb = pilota::LinkedBytes::new();
    pilota_encode(&theirs_v, &mut lb);
    let pilota_bytes = Bytes::from(lb.concat().to_vec());
    assert_eq!(pilota_bytes.len(), bytes.len(), "same encoded size");
    assert_eq!(our_decode(&pilota_bytes), value);

    const N: u64 = 10_000;
    println!("payload: {} bytes", bytes.len());
    println!("allocs/op (mean over {N}):");
    let rows: [(&str, f64); 8] = [
        (
            "decode/ours",
            allocs_per_op(N, || drop(black_box(our_decode(&bytes)))),
        ),
        (
            "decode/ours_fx",
            allocs_per_op(N, || drop(black_box(our_fx_decode(&bytes)))),
        ),
        (
            "decode/ours_ahash",
            allocs_per_op(N, || drop(black_box(our_ahash_decode(&bytes)))),
        ),
        (
            "decode/pilota",
            allocs_per_op(N, || drop(black_box(pilota_decode(&bytes)))),
        ),
        (
            "decode/pilota_unsafe",
            allocs_per_op(N, || drop(black_box(pilota_unsafe_decode(&bytes)))),
        ),
        (
            "encode/ours",
            allocs_per_op(N, || our_encode(black_box(&ours_v), &mut w)),
        ),
        (
            "encode/pilota",
            allocs_per_op(N, || pilota_encode(black_box(&theirs_v), &mut lb)),
        ),
        (
            "encode/pilota_encode_only",
            allocs_per_op(N, || pilota_encode_only(black_box(&theirs_v), &mut lb)),
        ),
    ];
    for (name, a) in rows {
        println!("  {name:<28} {a:>6.2}");
    }

    let mut g = c.benchmark_group("decode");
    g.bench_function("ours", |b| b.iter(|| our_decode(black_box(&bytes))));
    g.bench_function("ours_fx", |b| b.iter(|| our_fx_decode(black_box(&bytes))));
    g.bench_function("ours_ahash", |b| {
        b.iter(|| our_ahash_decode(black_box(&bytes)))
    });
    g.bench_function("pilota", |b| b.iter(|| pilota_decode(black_box(&bytes))));
    g.bench_function("pilota_unsafe", |b| {
        b.iter(|| pilota_unsafe_decode(black_box(&bytes)))
    });
    g.finish();

    let mut g = c.benchmark_group("encode");
    g.bench_function("ours", |b| {
        b.iter(|| our_encode(black_box(&ours_v), &mut w))
    });
    g.bench_function("pilota", |b| {
        b.iter(|| pilota_encode(black_box(&theirs_v), &mut lb))
    });
    g.bench_function("pilota_encode_only", |b| {
        b.iter(|| pilota_encode_only(black_box(&theirs_v), &mut lb))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = codec
}
criterion_main!(benches);
