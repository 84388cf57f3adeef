//! LinkBuffer and LinkWriter costs: `next` / `peek` / `skip` inside one
//! chunk and across chunk boundaries, and the writer's `reserve` +
//! `backfill`, `put_slice`, `write_bytes` (copied below 4 KiB, linked
//! above) and `take_chain`. Allocations per operation are counted by a
//! counting global allocator and printed after criterion's output.
//!
//! Run: `cargo bench --bench linkbuffer`.

use std::hint::black_box;

use bytes::Bytes;
use criterion::Criterion;
use ringrpc::codec::buffer::{LinkBuffer, LinkWriter};

#[path = "support/alloc.rs"]
mod alloc;
use alloc::{bench, print_table};

/// Shared (already promoted) bytes: cloning them is a reference count.
fn shared(len: usize) -> Bytes {
    let b = Bytes::from(vec![0xabu8; len]);
    let _ = b.clone();
    b
}

fn reads(c: &mut Criterion) {
    let a = shared(1000);
    let b = shared(1000);
    let mut buf = LinkBuffer::new();
    // Each iteration refills the buffer with two 1000-byte chunks (zero
    // copy) and consumes all 2000 bytes.
    bench(c, "linkbuffer/next_within_chunk_100x20", || {
        buf.push(a.clone());
        buf.push(b.clone());
        for _ in 0..20 {
            black_box(buf.next(100).unwrap());
        }
    });
    bench(c, "linkbuffer/next_across_chunks_1500", || {
        buf.push(a.clone());
        buf.push(b.clone());
        black_box(buf.next(1500).unwrap());
        buf.skip(500).unwrap();
    });
    bench(c, "linkbuffer/peek_across_chunks_12", || {
        buf.push(a.clone());
        buf.push(b.clone());
        buf.skip(994).unwrap();
        black_box(buf.peek(12).unwrap());
        buf.skip(1006).unwrap();
    });
    bench(c, "linkbuffer/skip_across_chunks_1500", || {
        buf.push(a.clone());
        buf.push(b.clone());
        buf.skip(1500).unwrap();
        buf.skip(500).unwrap();
    });
    bench(c, "linkbuffer/slice_across_chunks_1500", || {
        buf.push(a.clone());
        buf.push(b.clone());
        black_box(buf.slice(1500).unwrap());
        buf.skip(500).unwrap();
    });
    // A socket read: fill the tail chunk, commit, consume.
    bench(c, "linkbuffer/read_target_commit_next_1k", || {
        let mut chunk = buf.read_target();
        chunk.extend_from_slice(&[1u8; 1024]);
        buf.commit_read(chunk);
        black_box(buf.next(1024).unwrap());
    });
}

fn writes(c: &mut Criterion) {
    let small = [5u8; 1024];
    let big = shared(16 * 1024);
    let mut w = LinkWriter::new();
    let mut chain: Vec<Bytes> = Vec::with_capacity(8);
    bench(c, "linkwriter/reserve_put_1k_backfill", || {
        let r = w.reserve(4);
        w.put_slice(&small);
        let n = w.written_since(r) - 4;
        w.backfill(r, &(n as u32).to_be_bytes());
        w.clear();
    });
    bench(c, "linkwriter/write_bytes_1k_copied", || {
        w.write_bytes(Bytes::from_static(&[3u8; 1024]));
        w.clear();
    });
    bench(c, "linkwriter/write_bytes_16k_linked", || {
        let r = w.reserve(4);
        w.write_bytes(big.clone());
        w.put_u8(0);
        w.backfill(r, &[0, 0, 0x40, 1]);
        w.clear();
    });
    bench(c, "linkwriter/put_1k_take_chain_drop", || {
        w.put_slice(&small);
        w.take_chain(&mut chain);
        black_box(&chain);
        chain.clear();
    });
    bench(c, "linkwriter/put_i32_x64", || {
        for i in 0..64 {
            w.put_i32(i);
        }
        w.clear();
    });
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    reads(&mut c);
    writes(&mut c);
    c.final_summary();
    print_table();
}
