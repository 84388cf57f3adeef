//! Protobuf generation tests.
