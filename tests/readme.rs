//! The README's server-and-client code is `examples/hello.rs` (which CI
//! builds and runs as an example), except that the README generates the
//! IDL's code itself where the example uses `ringrpc-example-idl`.

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
