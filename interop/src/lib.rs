//! Interop tests against real peers live in `tests/`.
