//! The binary protocol's decoder on arbitrary bytes: a message header then
//! skipping its struct, skipping a bare struct, and an application
//! exception. Nothing may panic; an exception that decodes must re-encode to
//! bytes that decode to the same exception.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ringrpc_codec::buffer::LinkWriter;
use ringrpc_codec::thrift::{
    ApplicationException, BinaryReader, BinaryWriter, Message, ProtocolReader, TType,
};

fuzz_target!(|data: &[u8]| {
    let input = Bytes::copy_from_slice(data);

    let mut r = BinaryReader::new(input.clone());
    if r.read_message_begin().is_ok() && r.skip(TType::Struct).is_ok() {
        r.read_message_end().expect("message end reads nothing");
    }
    assert!(r.position() <= input.len());

    let mut r = BinaryReader::new(input.clone());
    let _ = r.skip(TType::Struct);
    assert!(r.position() <= input.len());

    if let Ok(e) = ApplicationException::decode(&mut BinaryReader::new(input)) {
        let mut out = LinkWriter::new();
        e.encode(&mut BinaryWriter::new(&mut out));
        let again = ApplicationException::decode(&mut BinaryReader::new(out.to_vec().into()))
            .expect("a re-encoded exception decodes");
        assert_eq!(again, e);
    }
});
