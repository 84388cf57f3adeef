//! gRPC's message framing on arbitrary bytes
//! (`ringrpc_engine::grpc::fuzz_messages`): the first byte picks identity
//! or gzip, the message limit and the DATA chunk size; every message cut is
//! decoded as a Protobuf message of every wire type; `grpc-timeout`,
//! `grpc-message` and binary metadata decode the first bytes. Nothing may
//! panic, no message past the limit may come out.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ringrpc_engine::grpc::fuzz_messages(data);
});
