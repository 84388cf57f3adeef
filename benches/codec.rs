//! Encode and decode costs of whole frames: a 1 KiB echo request and a
//! nested struct (lists, maps, strings, nested structs), in the binary and
//! compact protocols, inside TTHeader and Framed. Each benchmark's heap
//! allocations per operation are counted by a counting global allocator and
//! printed in a table after criterion's output.
//!
//! Run: `cargo bench --bench codec` (add a filter, e.g. `-- decode/ttheader`).

use std::hint::black_box;

use bytes::Bytes;
use criterion::Criterion;
use ringrpc::codec::buffer::{LinkBuffer, LinkWriter};
use ringrpc::codec::thrift::{
    BinaryReader, BinaryWriter, CompactReader, CompactWriter, Message, MessageIdent, MessageType,
    Protocol, ProtocolReader, ProtocolWriter, TType, Utf8Bytes,
};
use ringrpc::codec::transport::{self, Codec, Decoded, FrameLimits, Transport, TtHeader};
use ringrpc_example_idl::echo::{EchoRequest, EchoServiceEchoArgs};

#[path = "support/alloc.rs"]
mod alloc;
use alloc::{bench, print_table};

// ---- the nested struct -----------------------------------------------------

/// `struct LineItem { 1: string sku, 2: i32 qty, 3: double price }`
#[derive(Debug, Clone, PartialEq)]
struct LineItem {
    sku: Utf8Bytes,
    qty: i32,
    price: f64,
}

/// `struct Order { 1: i64 id, 2: string customer, 3: list<string> tags,
/// 4: map<string, i64> counters, 5: list<LineItem> items, 6: binary note,
/// 7: bool paid }`
#[derive(Debug, Clone, PartialEq)]
struct Order {
    id: i64,
    customer: Utf8Bytes,
    tags: Vec<Utf8Bytes>,
    counters: Vec<(Utf8Bytes, i64)>,
    items: Vec<LineItem>,
    note: Bytes,
    paid: bool,
}

fn bad(what: &'static str) -> ringrpc::codec::Error {
    ringrpc::codec::Error::MissingField {
        name: "Order",
        field: what,
    }
}

impl Message for LineItem {
    fn encode<W: ProtocolWriter>(&self, w: &mut W) {
        w.write_struct_begin("LineItem");
        w.write_field_begin(TType::Binary, 1);
        w.write_string(&self.sku);
        w.write_field_end();
        w.write_field_begin(TType::I32, 2);
        w.write_i32(self.qty);
        w.write_field_end();
        w.write_field_begin(TType::Double, 3);
        w.write_double(self.price);
        w.write_field_end();
        w.write_field_stop();
        w.write_struct_end();
    }

    fn decode<R: ProtocolReader>(r: &mut R) -> ringrpc::codec::Result<Self> {
        let (mut sku, mut qty, mut price) = (None, 0, 0.0);
        r.read_struct_begin()?;
        loop {
            let f = r.read_field_begin()?;
            match (f.id, f.ttype) {
                (_, TType::Stop) => break,
                (1, TType::Binary) => sku = Some(r.read_string()?),
                (2, TType::I32) => qty = r.read_i32()?,
                (3, TType::Double) => price = r.read_double()?,
                (_, t) => r.skip(t)?,
            }
            r.read_field_end()?;
        }
        r.read_struct_end()?;
        Ok(LineItem {
            sku: sku.ok_or_else(|| bad("sku"))?,
            qty,
            price,
        })
    }
}

impl Message for Order {
    fn encode<W: ProtocolWriter>(&self, w: &mut W) {
        w.write_struct_begin("Order");
        w.write_field_begin(TType::I64, 1);
        w.write_i64(self.id);
        w.write_field_end();
        w.write_field_begin(TType::Binary, 2);
        w.write_string(&self.customer);
        w.write_field_end();
        w.write_field_begin(TType::List, 3);
        w.write_list_begin(TType::Binary, self.tags.len());
        for t in &self.tags {
            w.write_string(t);
        }
        w.write_list_end();
        w.write_field_end();
        w.write_field_begin(TType::Map, 4);
        w.write_map_begin(TType::Binary, TType::I64, self.counters.len());
        for (k, v) in &self.counters {
            w.write_string(k);
            w.write_i64(*v);
        }
        w.write_map_end();
        w.write_field_end();
        w.write_field_begin(TType::List, 5);
        w.write_list_begin(TType::Struct, self.items.len());
        for i in &self.items {
            i.encode(w);
        }
        w.write_list_end();
        w.write_field_end();
        w.write_field_begin(TType::Binary, 6);
        w.write_bytes(self.note.clone());
        w.write_field_end();
        w.write_field_begin(TType::Bool, 7);
        w.write_bool(self.paid);
        w.write_field_end();
        w.write_field_stop();
        w.write_struct_end();
    }

    fn decode<R: ProtocolReader>(r: &mut R) -> ringrpc::codec::Result<Self> {
        let mut o = Order {
            id: 0,
            customer: Utf8Bytes::default(),
            tags: Vec::new(),
            counters: Vec::new(),
            items: Vec::new(),
            note: Bytes::new(),
            paid: false,
        };
        r.read_struct_begin()?;
        loop {
            let f = r.read_field_begin()?;
            match (f.id, f.ttype) {
                (_, TType::Stop) => break,
                (1, TType::I64) => o.id = r.read_i64()?,
                (2, TType::Binary) => o.customer = r.read_string()?,
                (3, TType::List) => {
                    let l = r.read_list_begin()?;
                    o.tags = Vec::with_capacity(l.len);
                    for _ in 0..l.len {
                        o.tags.push(r.read_string()?);
                    }
                    r.read_list_end()?;
                }
                (4, TType::Map) => {
                    let m = r.read_map_begin()?;
                    o.counters = Vec::with_capacity(m.len);
                    for _ in 0..m.len {
                        let k = r.read_string()?;
                        o.counters.push((k, r.read_i64()?));
                    }
                    r.read_map_end()?;
                }
                (5, TType::List) => {
                    let l = r.read_list_begin()?;
                    o.items = Vec::with_capacity(l.len);
                    for _ in 0..l.len {
                        o.items.push(LineItem::decode(r)?);
                    }
                    r.read_list_end()?;
                }
                (6, TType::Binary) => o.note = r.read_binary()?,
                (7, TType::Bool) => o.paid = r.read_bool()?,
                (_, t) => r.skip(t)?,
            }
            r.read_field_end()?;
        }
        r.read_struct_end()?;
        Ok(o)
    }
}

fn order() -> Order {
    Order {
        id: 1_234_567_890_123,
        customer: "customer-0042@example.com".into(),
        tags: (0..8).map(|i| format!("tag-{i}").into()).collect(),
        counters: (0..8)
            .map(|i| (format!("counter-{i}").into(), i * 1000))
            .collect(),
        items: (0..16)
            .map(|i| LineItem {
                sku: format!("SKU-{i:06}").into(),
                qty: i,
                price: 9.99 * i as f64,
            })
            .collect(),
        note: Bytes::from(vec![7u8; 64]),
        paid: true,
    }
}

fn echo_args() -> EchoServiceEchoArgs {
    EchoServiceEchoArgs {
        req: EchoRequest {
            msg: "x".repeat(1024).into(),
        },
    }
}

// ---- frames ----------------------------------------------------------------

/// A TTHeader as a Kitex client sends at least (service name and method).
fn header() -> TtHeader {
    let mut h = TtHeader::new(7);
    h.set_idl_service_name("EchoService").unwrap();
    h.set_to_method("echo").unwrap();
    h
}

fn encode_message<M: Message>(out: &mut LinkWriter, codec: Codec, method: &'static str, m: &M) {
    let ident = MessageIdent::new(Utf8Bytes::from_static(method), MessageType::Call, 7);
    match codec.protocol {
        Protocol::Binary => {
            let mut w = BinaryWriter::new(out);
            w.write_message_begin(&ident);
            m.encode(&mut w);
            w.write_message_end();
        }
        Protocol::Compact => {
            let mut w = CompactWriter::new(out);
            w.write_message_begin(&ident);
            m.encode(&mut w);
            w.write_message_end();
        }
    }
}

fn encode_frame<M: Message>(
    out: &mut LinkWriter,
    codec: Codec,
    h: Option<&TtHeader>,
    method: &'static str,
    m: &M,
) {
    transport::encode_frame(out, codec, h, |o| encode_message(o, codec, method, m));
}

fn decode_frame<M: Message>(buf: &mut LinkBuffer, codec: Codec) -> M {
    let Ok(Decoded::Ready(f)) = transport::decode_frame(buf, codec, &FrameLimits::default()) else {
        panic!("a whole frame")
    };
    fn body<M: Message, R: ProtocolReader>(mut r: R) -> M {
        let ident = r.read_message_begin().unwrap();
        black_box(&ident);
        let m = M::decode(&mut r).unwrap();
        r.read_message_end().unwrap();
        m
    }
    match f.codec.protocol {
        Protocol::Binary => body(BinaryReader::new(f.payload)),
        Protocol::Compact => body(CompactReader::new(f.payload)),
    }
}

fn case<M: Message + PartialEq + std::fmt::Debug>(
    c: &mut Criterion,
    what: &str,
    method: &'static str,
    value: &M,
) {
    for transport in [Transport::Framed, Transport::TtHeader] {
        for protocol in [Protocol::Binary, Protocol::Compact] {
            let codec = Codec {
                transport,
                protocol,
            };
            let h = (transport == Transport::TtHeader).then(header);
            let tname = match transport {
                Transport::Framed => "framed",
                _ => "ttheader",
            };
            let pname = match protocol {
                Protocol::Binary => "binary",
                Protocol::Compact => "compact",
            };
            // Encode into a writer that is cleared (not taken) after each
            // frame: the steady state of a connection's writer.
            let mut w = LinkWriter::new();
            bench(c, &format!("encode/{tname}/{pname}/{what}"), || {
                encode_frame(&mut w, codec, h.as_ref(), method, value);
                black_box(w.len());
                w.clear();
            });
            // Decode from a LinkBuffer holding the frame in one chunk.
            let mut once = LinkWriter::new();
            encode_frame(&mut once, codec, h.as_ref(), method, value);
            let frame = Bytes::from(once.to_vec());
            let mut buf = LinkBuffer::new();
            buf.push(frame.clone());
            let back: M = decode_frame(&mut buf, codec);
            assert_eq!(&back, value, "{tname}/{pname}/{what} round-trips");
            bench(c, &format!("decode/{tname}/{pname}/{what}"), || {
                buf.push(frame.clone());
                black_box(decode_frame::<M>(&mut buf, codec));
            });
        }
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    case(&mut c, "echo_1k", "echo", &echo_args());
    case(&mut c, "nested", "order", &order());
    c.final_summary();
    print_table();
}
