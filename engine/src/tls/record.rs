//! The TLS record layer after the handshake, done here rather than by
//! rustls: rustls completes the handshake and hands over the traffic keys
//! (its `kernel` API, made for kTLS), and records are sealed and opened in
//! place in the connection's own buffers with ring's AEADs, so a request
//! costs no allocation. rustls keeps what only it can do: new traffic
//! secrets on a key update, and a client's session tickets.
//!
//! Wire facts (RFC 8446 §5.2 for TLS 1.3, RFC 5246 §6.2.3.3 and RFC 5288
//! for TLS 1.2 AES-GCM, RFC 7905 for TLS 1.2 ChaCha20-Poly1305):
//! - a record is `type(1) version(2) length(2)` then `length` bytes; a
//!   protected body is at most 2^14 + 256 bytes, plaintext at most 2^14;
//! - TLS 1.3: every protected record says `application_data`; the real
//!   type is the last non-zero byte of the plaintext (zeros after it are
//!   padding); the nonce is the IV XOR the 64-bit record sequence number
//!   (left-padded); the additional data is the record header;
//! - TLS 1.2: the additional data is `seq(8) type(1) version(2)
//!   plaintext_length(2)`; AES-GCM puts an 8-byte explicit nonce before the
//!   ciphertext (nonce = 4-byte salt, then it), ChaCha20 uses IV XOR seq.

use std::io;

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use rustls::ConnectionTrafficSecrets;

/// A record header's length.
pub(crate) const HEADER: usize = 5;
/// The most plaintext one record carries.
pub(crate) const MAX_PLAIN: usize = 1 << 14;
/// The longest protected body a peer may send.
pub(crate) const MAX_BODY: usize = MAX_PLAIN + 256;
const TAG: usize = 16;
const EXPLICIT_NONCE: usize = 8;

/// Record content types.
pub(crate) const ALERT: u8 = 21;
pub(crate) const HANDSHAKE: u8 = 22;
pub(crate) const APPLICATION_DATA: u8 = 23;

/// Records one set of keys may protect before TLS 1.3 updates them (the
/// AES-GCM confidentiality limit is 2^24.5 records, RFC 8446 §5.5).
pub(crate) const UPDATE_AFTER: u64 = 1 << 24;

fn bad(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// One direction's keys and sequence number.
pub(crate) struct Keys {
    key: LessSafeKey,
    iv: [u8; aead::NONCE_LEN],
    pub(crate) seq: u64,
    tls13: bool,
    /// TLS 1.2 AES-GCM: an explicit nonce travels in each record.
    explicit: bool,
}

impl Keys {
    /// Keys from what rustls extracted, starting at sequence number `seq`.
    pub(crate) fn new(
        tls13: bool,
        secrets: ConnectionTrafficSecrets,
        seq: u64,
    ) -> io::Result<Self> {
        let (alg, key, iv, gcm) = match secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (&aead::AES_128_GCM, key, iv, true),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (&aead::AES_256_GCM, key, iv, true),
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
                (&aead::CHACHA20_POLY1305, key, iv, false)
            }
            _ => return Err(bad("negotiated cipher suite is not supported")),
        };
        let key = UnboundKey::new(alg, key.as_ref()).map_err(|_| bad("bad traffic key"))?;
        let iv: [u8; aead::NONCE_LEN] =
            iv.as_ref().try_into().map_err(|_| bad("bad traffic IV"))?;
        Ok(Self {
            key: LessSafeKey::new(key),
            iv,
            seq,
            tls13,
            explicit: gcm && !tls13,
        })
    }

    /// The IV XOR the sequence number (TLS 1.3; TLS 1.2 ChaCha20; and the
    /// explicit nonce of TLS 1.2 AES-GCM, whose IV ends in its initial
    /// value).
    fn seq_nonce(&self) -> [u8; aead::NONCE_LEN] {
        let mut n = self.iv;
        for (b, s) in n[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *b ^= s;
        }
        n
    }

    fn tls12_aad(&self, typ: u8, len: usize) -> [u8; 13] {
        let mut a = [0u8; 13];
        a[..8].copy_from_slice(&self.seq.to_be_bytes());
        a[8] = typ;
        a[9] = 3;
        a[10] = 3;
        a[11..].copy_from_slice(&(len as u16).to_be_bytes());
        a
    }

    fn next(&mut self) -> io::Result<()> {
        self.seq = self
            .seq
            .checked_add(1)
            .ok_or_else(|| bad("record sequence number exhausted"))?;
        Ok(())
    }

    /// Appends a record of `typ` carrying `plain` (at most [`MAX_PLAIN`])
    /// to `out`, sealed in place.
    pub(crate) fn seal(&mut self, out: &mut Vec<u8>, typ: u8, plain: &[u8]) -> io::Result<()> {
        debug_assert!(plain.len() <= MAX_PLAIN);
        let start = out.len();
        let nonce = self.seq_nonce();
        if self.tls13 {
            let body = plain.len() + 1 + TAG;
            out.extend_from_slice(&[APPLICATION_DATA, 3, 3]);
            out.extend_from_slice(&(body as u16).to_be_bytes());
            out.extend_from_slice(plain);
            out.push(typ);
            let (head, rest) = out[start..].split_at_mut(HEADER);
            let tag = self
                .key
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(&*head),
                    rest,
                )
                .map_err(|_| bad("seal failed"))?;
            out.extend_from_slice(tag.as_ref());
        } else {
            let explicit = if self.explicit { EXPLICIT_NONCE } else { 0 };
            let body = explicit + plain.len() + TAG;
            out.extend_from_slice(&[typ, 3, 3]);
            out.extend_from_slice(&(body as u16).to_be_bytes());
            if self.explicit {
                out.extend_from_slice(&nonce[4..]);
            }
            out.extend_from_slice(plain);
            let aad = self.tls12_aad(typ, plain.len());
            let tag = self
                .key
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(aad),
                    &mut out[start + HEADER + explicit..],
                )
                .map_err(|_| bad("seal failed"))?;
            out.extend_from_slice(tag.as_ref());
        }
        self.next()
    }

    /// Opens the protected `body` of a record with `header`, in place:
    /// returns the content type and the plaintext's range in `body`.
    pub(crate) fn open(
        &mut self,
        header: [u8; HEADER],
        body: &mut [u8],
    ) -> io::Result<(u8, std::ops::Range<usize>)> {
        let typ = header[0];
        if self.tls13 {
            if typ != APPLICATION_DATA {
                return Err(bad("unprotected record after the handshake"));
            }
            let nonce = Nonce::assume_unique_for_key(self.seq_nonce());
            let plain = self
                .key
                .open_in_place(nonce, Aad::from(header), body)
                .map_err(|_| bad("record failed to decrypt"))?;
            // The real type is the last non-zero byte; zeros are padding.
            let Some(end) = plain.iter().rposition(|&b| b != 0) else {
                return Err(bad("record with no content type"));
            };
            let inner = plain[end];
            self.next()?;
            Ok((inner, 0..end))
        } else {
            let explicit = if self.explicit { EXPLICIT_NONCE } else { 0 };
            if body.len() < explicit + TAG {
                return Err(bad("record too short"));
            }
            let nonce = if self.explicit {
                let mut n = self.iv;
                n[4..].copy_from_slice(&body[..EXPLICIT_NONCE]);
                n
            } else {
                self.seq_nonce()
            };
            let aad = self.tls12_aad(typ, body.len() - explicit - TAG);
            let len = self
                .key
                .open_within(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(aad),
                    body,
                    explicit..,
                )
                .map_err(|_| bad("record failed to decrypt"))?
                .len();
            self.next()?;
            Ok((typ, 0..len))
        }
    }
}

/// The first handshake message in `msgs` (`type(1) length(3) body`, RFC
/// 8446 §4): its type, its body and what follows; `None` when `msgs` is
/// empty. A message cut short (split across records, which the engine does
/// not join after the handshake) is an error.
#[allow(clippy::type_complexity)]
pub(crate) fn next_handshake(msgs: &[u8]) -> io::Result<Option<(u8, &[u8], &[u8])>> {
    if msgs.is_empty() {
        return Ok(None);
    }
    let [typ, a, b, c, ..] = *msgs else {
        return Err(bad("truncated handshake message"));
    };
    let len = u32::from_be_bytes([0, a, b, c]) as usize;
    match msgs.get(4..4 + len) {
        Some(body) => Ok(Some((typ, body, &msgs[4 + len..]))),
        None => Err(bad("handshake message split across records")),
    }
}

/// Runs the record layer's decoding on arbitrary bytes, for the fuzz
/// target (`engine/fuzz`): the first byte picks the version and suite; a
/// record sealed from the next bytes must open to them; then the rest is
/// read as records from a peer, their plaintext moved into a `LinkBuffer`,
/// their alerts and handshake messages split. Nothing may panic.
#[doc(hidden)]
pub fn fuzz_records(data: &[u8]) {
    use ringrpc_codec::buffer::LinkBuffer;
    let Some((&pick, data)) = data.split_first() else {
        return;
    };
    let (tls13, suite) = (pick & 1 == 1, (pick >> 1) % 3);
    let keys = || {
        let iv = rustls::crypto::cipher::Iv::new([pick; 12]);
        let key = rustls::crypto::cipher::AeadKey::from([pick ^ 0x5a; 32]);
        let s = match suite {
            0 | 1 => ConnectionTrafficSecrets::Aes256Gcm { key, iv },
            _ => ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv },
        };
        Keys::new(tls13, s, u64::from(pick)).expect("keys")
    };
    // Sealing and opening agree on any plaintext.
    let plain = &data[..data.len().min(MAX_PLAIN)];
    let (mut tx, mut rx) = (keys(), keys());
    let mut out = Vec::new();
    tx.seal(&mut out, APPLICATION_DATA, plain).expect("seal");
    let (h, len) = header(&out).expect("a header").expect("whole");
    assert_eq!(HEADER + len, out.len());
    let (typ, range) = rx.open(h, &mut out[HEADER..]).expect("opens");
    assert_eq!(typ, APPLICATION_DATA);
    assert_eq!(&out[HEADER..][range], plain);
    // A peer's bytes, as the read half takes them.
    let mut rx = keys();
    let mut buf = LinkBuffer::new();
    let mut bytes = data.to_vec();
    let mut at = 0;
    while let Ok(Some((h, len))) = header(&bytes[at..]) {
        let Some(body) = bytes.get_mut(at + HEADER..at + HEADER + len) else {
            break;
        };
        at += HEADER + len;
        let Ok((typ, range)) = rx.open(h, body) else {
            break;
        };
        let plain = &body[range];
        match typ {
            APPLICATION_DATA => buf.copy_in(plain),
            HANDSHAKE => {
                let mut msgs = plain;
                while let Ok(Some((_, _, rest))) = next_handshake(msgs) {
                    msgs = rest;
                }
            }
            _ => {}
        }
    }
}

/// A record's header, if `buf` starts with a whole one: its type, and the
/// length of its body (checked against [`MAX_BODY`]).
pub(crate) fn header(buf: &[u8]) -> io::Result<Option<([u8; HEADER], usize)>> {
    let Some(h) = buf.get(..HEADER) else {
        return Ok(None);
    };
    let h: [u8; HEADER] = h.try_into().expect("5 bytes");
    if h[1] != 3 {
        return Err(bad("not a TLS record"));
    }
    let len = u16::from_be_bytes([h[3], h[4]]) as usize;
    if len > MAX_BODY {
        return Err(bad("record overflow"));
    }
    Ok(Some((h, len)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::crypto::cipher::{AeadKey, Iv};

    fn keys(tls13: bool, which: u8) -> Keys {
        let iv = Iv::new([7; 12]);
        let s = match which {
            // (AeadKey holds 32 bytes; the 128-bit suite is tested through
            // the live handshakes, which negotiate it on request.)
            0 => ConnectionTrafficSecrets::Aes256Gcm {
                key: AeadKey::from([1u8; 32]),
                iv,
            },
            1 => ConnectionTrafficSecrets::Aes256Gcm {
                key: AeadKey::from([1u8; 32]),
                iv,
            },
            _ => ConnectionTrafficSecrets::Chacha20Poly1305 {
                key: AeadKey::from([1u8; 32]),
                iv,
            },
        };
        Keys::new(tls13, s, 5).expect("keys")
    }

    #[test]
    fn sealed_records_open_with_the_same_keys_in_every_suite_and_version() {
        for tls13 in [true, false] {
            for suite in 0..3 {
                let (mut tx, mut rx) = (keys(tls13, suite), keys(tls13, suite));
                let mut out = Vec::new();
                tx.seal(&mut out, APPLICATION_DATA, b"hello").expect("seal");
                tx.seal(&mut out, ALERT, &[1, 0]).expect("seal");
                let mut at = 0;
                for (typ, want) in [(APPLICATION_DATA, &b"hello"[..]), (ALERT, &[1, 0][..])] {
                    let (h, len) = header(&out[at..]).expect("ok").expect("whole");
                    let body = &mut out[at + HEADER..at + HEADER + len];
                    let (t, r) = rx.open(h, body).expect("opens");
                    assert_eq!((t, &body[r]), (typ, want), "tls13 {tls13} suite {suite}");
                    at += HEADER + len;
                }
                assert_eq!(at, out.len());
                // A flipped bit fails, and so does a replay (wrong seq).
                let mut again = Vec::new();
                tx.seal(&mut again, APPLICATION_DATA, b"x").expect("seal");
                let (h, len) = header(&again).expect("ok").expect("whole");
                let mut flipped = again.clone();
                flipped[HEADER + len - 1] ^= 1;
                assert!(rx.clone_for_test().open(h, &mut flipped[HEADER..]).is_err());
                rx.seq += 1;
                assert!(rx.open(h, &mut again[HEADER..]).is_err());
            }
        }
    }

    proptest::proptest! {
        /// Whatever a peer sends, opening it fails or succeeds; it never
        /// panics, in any version or suite.
        #[test]
        fn random_records_never_panic(
            head in proptest::array::uniform5(proptest::prelude::any::<u8>()),
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            suite in 0u8..3,
            tls13 in proptest::prelude::any::<bool>(),
        ) {
            let _ = header(&head);
            let mut k = keys(tls13, suite);
            let mut b = body.clone();
            let _ = k.open(head, &mut b);
        }
    }

    proptest::proptest! {
        /// The fuzz target's body on random inputs: sealing and opening
        /// agree, and a peer's random bytes never panic.
        #[test]
        fn the_fuzz_body_holds_on_random_inputs(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
        ) {
            fuzz_records(&data);
        }
    }

    #[test]
    fn handshake_messages_split_and_truncation_is_an_error() {
        let msgs = [24, 0, 0, 1, 1, 4, 0, 0, 2, 9, 9];
        let (t, body, rest) = next_handshake(&msgs).expect("ok").expect("one");
        assert_eq!((t, body), (24, &[1u8][..]));
        let (t, body, rest) = next_handshake(rest).expect("ok").expect("two");
        assert_eq!((t, body, rest.len()), (4, &[9u8, 9][..], 0));
        assert!(next_handshake(rest).expect("ok").is_none());
        assert!(next_handshake(&[24, 0, 0, 5, 1]).is_err(), "cut short");
        assert!(next_handshake(&[24, 0]).is_err(), "no length");
    }

    #[test]
    fn headers_are_bounded() {
        assert!(header(&[23, 3, 3, 0]).expect("ok").is_none());
        assert!(header(&[23, 3, 3, 0xff, 0xff]).is_err());
        assert!(header(&[23, 9, 3, 0, 1]).is_err());
        assert_eq!(header(&[23, 3, 3, 0, 20]).expect("ok").expect("h").1, 20);
    }

    impl Keys {
        fn clone_for_test(&self) -> Keys {
            Keys {
                key: LessSafeKey::new(
                    UnboundKey::new(
                        self.key.algorithm(),
                        &[1u8; 32][..self.key.algorithm().key_len()],
                    )
                    .expect("key"),
                ),
                iv: self.iv,
                seq: self.seq,
                tls13: self.tls13,
                explicit: self.explicit,
            }
        }
    }
}
