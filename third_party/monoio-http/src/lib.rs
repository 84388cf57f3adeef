// ringrpc's fork (see FORK.md): upstream's code, not linted as ringrpc's.
#![allow(warnings, clippy::all, clippy::pedantic)]
pub mod common;
pub mod h1;
pub mod h2;
pub mod util;
