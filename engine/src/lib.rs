//! ringrpc's engine: the per-core runtime, the server and the client.
