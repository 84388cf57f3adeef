//! ringrpc's benchmark harness.
fn main() {}
