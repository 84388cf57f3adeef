//! ringrpc code generation (being written).
#![deny(missing_docs)]
pub mod model;
pub mod parser;
