//! The README's server-and-client code is `examples/hello.rs` (which CI
//! builds and runs as an example), except that the README generates the
//! IDL's code itself where the example uses `ringrpc-example-idl`; its gRPC
//! handler is the greeter examples' (`examples/grpc/greeter.rs`).

fn between<'a>(text: &'a str, begin: &str, end: &str) -> &'a str {
    let a = text.find(begin).unwrap_or_else(|| panic!("no {begin:?}")) + begin.len();
    let b = a + text[a..].find(end).unwrap_or_else(|| panic!("no {end:?}"));
    &text[a..b]
}

#[test]
fn the_readme_shows_the_hello_example() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).expect("README.md");
    let example =
        std::fs::read_to_string(format!("{root}/examples/hello.rs")).expect("examples/hello.rs");
    let shown = between(
        &readme,
        "```rust,ignore\nmod idl {\n    include!(concat!(env!(\"OUT_DIR\"), \"/ringrpc_gen.rs\"));\n}\n\n",
        "```",
    );
    let code = between(&example, "// README: begin\n", "// README: end");
    assert_eq!(
        shown.replace("use idl::echo::", "use ringrpc_example_idl::echo::"),
        code
    );
}

#[test]
fn the_readme_shows_the_greeter_handler() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).expect("README.md");
    let example = std::fs::read_to_string(format!("{root}/examples/grpc/greeter.rs"))
        .expect("examples/grpc/greeter.rs");
    let shown = between(
        &readme,
        "A handler implements the generated trait (`examples/grpc/greeter.rs`, for\n`idl/greeter.proto`):\n\n```rust,ignore\n",
        "```",
    );
    let code = between(&example, "// README grpc: begin\n", "// README grpc: end");
    assert_eq!(shown, code);
}
