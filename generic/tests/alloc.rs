//! The JSON generic allocates nothing per field: JSON to Thrift
//! ([`JsonCodec::encode_into`]) and Thrift to JSON
//! ([`JsonCodec::decode_into`]) into a reused buffer allocate nothing at
//! all, however many fields, elements and nested structs the value holds;
//! [`JsonCodec::encode`] and [`JsonCodec::decode`] allocate their output
//! and nothing else. Counted with a global allocator that counts only the
//! thread that asks (tests run in parallel).
//!
//! The value is the codec benchmark's nested struct (`idl/bench.thrift`'s
//! `Payload`, the one `benches/json.rs` times: 692 bytes in the binary
//! protocol with 8 tags, 8 counters and 8 children), grown to 512 of each,
//! and structs of 4 to 300 scalar and string fields.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Write as _;

use ringrpc_codec::thrift::Protocol;
use ringrpc_generic::descriptor::StructId;
use ringrpc_generic::{Idl, JsonCodec};

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

struct Counting;

fn count() {
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        ALLOCS.with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: forwards every call to `System` unchanged; the counting touches
// const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations per call of `f` on this thread, over 100 calls after one
/// warm-up call (which may size reused buffers).
fn allocs_per_call(mut f: impl FnMut()) -> f64 {
    f();
    ALLOCS.with(|n| n.set(0));
    COUNTED.with(|c| c.set(true));
    for _ in 0..100 {
        f();
    }
    COUNTED.with(|c| c.set(false));
    ALLOCS.with(Cell::get) as f64 / 100.0
}

fn bench_idl() -> (JsonCodec, StructId) {
    let idl = Idl::load(
        &[concat!(env!("CARGO_MANIFEST_DIR"), "/../idl/bench.thrift")],
        &[] as &[&str],
    )
    .unwrap();
    let sid = idl.struct_id("Payload").unwrap();
    (JsonCodec::new(idl), sid)
}

/// The benchmark's `Payload` with `n` tags, counters and children (`n = 8`
/// is the benchmark's value, field for field).
fn payload_json(n: usize) -> String {
    let mut s =
        String::from(r#"{"id":20015998343868,"title":"a title of some thirty-two bytes","tags":["#);
    for i in 0..n {
        let sep = if i == 0 { "" } else { "," };
        write!(s, r#"{sep}"tag-{i:02}-value""#).unwrap();
    }
    s.push_str(r#"],"counters":{"#);
    for i in 0..n {
        let sep = if i == 0 { "" } else { "," };
        write!(s, r#"{sep}"counter.{i:02}":{}"#, i * 1000 + 7).unwrap();
    }
    s.push_str(r#"},"children":["#);
    for i in 0..n {
        let sep = if i == 0 { "" } else { "," };
        let active = i % 2 == 0;
        write!(
            s,
            r#"{sep}{{"id":{i},"name":"child number {i:03}","active":{active}}}"#
        )
        .unwrap();
    }
    s.push_str("]}");
    s
}

/// An IDL of one struct `Wide` with `n` fields (i64, string, bool, double,
/// and a nested struct, in turn).
fn wide_idl(n: usize) -> (JsonCodec, StructId, String) {
    let mut idl = String::from("struct Inner { 1: i32 a, 2: string b }\nstruct Wide {\n");
    let mut json = String::from("{");
    for i in 1..=n {
        let (ty, v) = match i % 5 {
            0 => ("i64", format!("{}", i * 1_000_003)),
            1 => ("string", format!(r#""field number {i}""#)),
            2 => ("bool", "true".to_owned()),
            3 => ("double", format!("{i}.25")),
            _ => ("Inner", format!(r#"{{"a":{i},"b":"inner {i}"}}"#)),
        };
        writeln!(idl, "  {i}: {ty} f{i},").unwrap();
        let sep = if i == 1 { "" } else { "," };
        write!(json, r#"{sep}"f{i}":{v}"#).unwrap();
    }
    idl.push_str("}\n");
    json.push('}');
    let path = std::env::temp_dir().join(format!(
        "ringrpc-generic-alloc-{}-wide{n}.thrift",
        std::process::id()
    ));
    std::fs::write(&path, idl).unwrap();
    let loaded = Idl::load(&[&path], &[] as &[&str]).unwrap();
    let _ = std::fs::remove_file(&path);
    let sid = loaded.struct_id("Wide").unwrap();
    (JsonCodec::new(loaded), sid, json)
}

/// Allocations per call of each direction, for `json` as struct `sid`:
/// `(encode_into, decode_into, encode, decode)`.
fn counts(codec: &JsonCodec, sid: StructId, json: &str, p: Protocol) -> [f64; 4] {
    let bytes = codec.encode(sid, json.as_bytes(), p).unwrap();
    let mut out = Vec::new();
    let encode_into = allocs_per_call(|| {
        out.clear();
        codec
            .encode_into(sid, json.as_bytes(), p, &mut out)
            .unwrap();
    });
    assert_eq!(out, bytes);
    let mut text = Vec::new();
    let decode_into = allocs_per_call(|| {
        text.clear();
        codec.decode_into(sid, bytes.clone(), p, &mut text).unwrap();
    });
    assert_eq!(
        text,
        json.as_bytes(),
        "the JSON read back is the JSON written"
    );
    let encode = allocs_per_call(|| drop(codec.encode(sid, json.as_bytes(), p).unwrap()));
    let decode = allocs_per_call(|| drop(codec.decode(sid, bytes.clone(), p).unwrap()));
    [encode_into, decode_into, encode, decode]
}

/// What the per-call counts must be, whatever the value's size: nothing
/// into a reused buffer; into a new one, `encode` makes its `Vec` and the
/// `Bytes`' shared header (`Bytes::from` a `Vec` with spare room makes
/// one), `decode` its `Vec`, which starts at twice the Thrift size and may
/// grow once more when the JSON is larger still (compact's one-byte bools
/// and small ints are ten bytes of JSON with their key). None of it is per
/// field.
fn assert_output_only(c: [f64; 4], what: &str) {
    assert_eq!(c[..3], [0.0, 0.0, 2.0], "{what}: {c:?}");
    assert!((1.0..=2.0).contains(&c[3]), "{what}: {c:?}");
}

#[test]
fn the_bench_payload_allocates_only_its_output() {
    let (codec, sid) = bench_idl();
    for p in [Protocol::Binary, Protocol::Compact] {
        let bench = counts(&codec, sid, &payload_json(8), p);
        println!("{p}, the bench's payload: {bench:?} (encode_into, decode_into, encode, decode)");
        assert_eq!(bench, [0.0, 0.0, 2.0, 1.0], "{p}");
        for n in [0, 1, 64, 512] {
            let c = counts(&codec, sid, &payload_json(n), p);
            println!("{p}, {n} tags, counters and children: {c:?}");
            assert_output_only(c, &format!("{p} with {n} tags, counters and children"));
        }
    }
}

#[test]
fn wide_structs_allocate_only_their_output() {
    for p in [Protocol::Binary, Protocol::Compact] {
        for n in [4, 32, 200, 300] {
            let (codec, sid, json) = wide_idl(n);
            let c = counts(&codec, sid, &json, p);
            println!("{p}, {n} fields: {c:?}");
            assert_output_only(c, &format!("{p}, {n} fields"));
        }
    }
}

/// A string with escapes cannot be borrowed from the JSON: `serde_json`
/// unescapes it into its scratch buffer, one per call, reused by every
/// string of the call. So escapes cost the buffer (allocated, then grown
/// to the longest such string: 2 allocations here), not an allocation per
/// string.
#[test]
fn escaped_strings_share_one_scratch_buffer() {
    let (codec, sid) = bench_idl();
    let json = |n: usize| {
        let tags: Vec<String> = (0..n).map(|i| format!(r#""tag \"{i}\"\n""#)).collect();
        format!(r#"{{"title":"a \"title\"","tags":[{}]}}"#, tags.join(","))
    };
    for p in [Protocol::Binary, Protocol::Compact] {
        let per_call = |n: usize| {
            let json = json(n);
            let mut out = Vec::new();
            allocs_per_call(|| {
                out.clear();
                codec
                    .encode_into(sid, json.as_bytes(), p, &mut out)
                    .unwrap();
            })
        };
        let few = per_call(2);
        println!("{p}, escaped strings: {few} allocations per call");
        assert!(few <= 2.0, "{p}: {few}");
        for n in [64, 512] {
            assert_eq!(per_call(n), few, "{p}, {n} escaped strings");
        }
    }
}
