//! The TLS record layer on arbitrary bytes (`ringrpc_engine::tls::fuzz_records`):
//! the first byte picks TLS 1.2 or 1.3 and the AEAD; a record sealed from
//! the input must open back to it; then the input is read as a peer's
//! records (headers bounded, bodies opened in place, plaintext into a
//! `LinkBuffer`, handshake messages split). Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ringrpc_engine::tls::fuzz_records(data);
});
