//! What the engine does with a connection's first bytes, on arbitrary input:
//! `detect`, then `decode_frame` until it needs more, with the input split
//! into reads at points the first bytes pick. Nothing may panic or loop; a
//! need for more is at least one byte; frames never hold more than the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringrpc_codec::buffer::LinkBuffer;
use ringrpc_codec::transport::{Decoded, FrameLimits, decode_frame, detect};

fuzz_target!(|data: &[u8]| {
    let Some((cuts, data)) = data.split_at_checked(2) else {
        return;
    };
    let mut at = [
        0,
        cuts[0] as usize % (data.len() + 1),
        cuts[1] as usize * 4 % (data.len() + 1),
        data.len(),
    ];
    at.sort_unstable();
    let limits = FrameLimits {
        max_frame_len: 64 * 1024,
    };
    let mut buf = LinkBuffer::new();
    let mut codec = None;
    let mut used = 0usize;
    for w in at.windows(2) {
        buf.extend_from_slice(&data[w[0]..w[1]]);
        if codec.is_none() {
            let first = buf.peek(buf.len().min(8)).expect("peek within len");
            match detect(first) {
                Ok(Decoded::Ready(c)) => codec = Some(c),
                Ok(Decoded::NeedMore(n)) => {
                    assert!(n >= 1);
                    continue;
                }
                Err(_) => return,
            }
        }
        let c = codec.expect("detected");
        loop {
            match decode_frame(&mut buf, c, &limits) {
                Ok(Decoded::Ready(f)) => {
                    used += f.payload.len();
                    assert!(used <= data.len());
                }
                Ok(Decoded::NeedMore(n)) => {
                    assert!(n >= 1);
                    break;
                }
                Err(_) => return,
            }
        }
    }
});
