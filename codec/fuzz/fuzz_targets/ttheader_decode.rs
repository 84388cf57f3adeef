//! TTHeader's decoder on arbitrary bytes, split into two reads at a point the
//! first byte picks. Nothing may panic; a need for more is at least one byte;
//! a frame that decodes must re-encode to bytes that decode to the same
//! header (but for the protocol id: see below), codec and payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringrpc_codec::buffer::{LinkBuffer, LinkWriter};
use ringrpc_codec::transport::{Decoded, FrameLimits, ttheader};

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let split = (split as usize).min(data.len());
    let limits = FrameLimits {
        max_frame_len: 64 * 1024,
    };
    let mut buf = LinkBuffer::new();
    buf.extend_from_slice(&data[..split]);
    buf.extend_from_slice(&data[split..]);
    match ttheader::decode(&mut buf, &limits) {
        Ok(Decoded::Ready(f)) => {
            assert!(buf.len() + f.payload.len() <= data.len());
            let header = f.header.clone().expect("a ttheader frame has a header");
            let mut out = LinkWriter::new();
            ttheader::encode(&mut out, f.codec, Some(&header), |o| {
                o.put_slice(&f.payload)
            });
            let mut again = LinkBuffer::new();
            again.extend_from_slice(&out.to_vec());
            match ttheader::decode(&mut again, &limits) {
                Ok(Decoded::Ready(g)) => {
                    assert_eq!(g.codec, f.codec);
                    assert_eq!(g.payload, f.payload);
                    // Re-encoding writes the payload's protocol id, which
                    // may differ from the id the input named (a Volo client
                    // names binary over compact); the rest must agree.
                    let mut want = header;
                    want.protocol = f.codec.protocol;
                    assert_eq!(g.header, Some(want));
                }
                other => panic!("re-encoded frame does not decode: {other:?}"),
            }
        }
        Ok(Decoded::NeedMore(n)) => {
            assert!(n >= 1);
            assert_eq!(buf.len(), data.len(), "a wait consumes nothing");
        }
        Err(_) => assert_eq!(buf.len(), data.len(), "an error consumes nothing"),
    }
});
