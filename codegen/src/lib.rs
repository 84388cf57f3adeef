//! ringrpc code generation (being written).
