//! Prints the Rust that ringrpc-build generates for IDL files:
//!
//! ```text
//! cargo run -p ringrpc-build -- [--codec-path PATH] [--map-hasher PATH] [--namespace-modules]
//!     [-I DIR]... [--all] FILE.thrift|FILE.proto...
//! ```
//!
//! Prints the code for each FILE given; with `--all`, also for every file
//! they include. `.proto` files (with the `protobuf` feature: `cargo run -p
//! ringrpc-build --features protobuf -- idl/greeter.proto`) print one
//! module per package, the imported packages' included. Warnings go to
//! standard error.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut builder = ringrpc_build::Builder::new();
    let mut files = Vec::new();
    let mut all = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--codec-path" => match args.next() {
                Some(p) => builder = builder.codec_path(p),
                None => return usage(),
            },
            "-I" => match args.next() {
                Some(d) => builder = builder.include_dir(d),
                None => return usage(),
            },
            "--map-hasher" => match args.next() {
                Some(p) => builder = builder.map_hasher(p),
                None => return usage(),
            },
            "--namespace-modules" => builder = builder.namespace_modules(),
            "--all" => all = true,
            "-h" | "--help" => {
                usage();
                return ExitCode::SUCCESS;
            }
            f if !f.starts_with('-') => files.push(std::path::PathBuf::from(f)),
            _ => return usage(),
        }
    }
    if files.is_empty() {
        return usage();
    }
    match builder.generate(&files) {
        Ok(out) => {
            let given: Vec<_> = files.iter().filter_map(|f| f.canonicalize().ok()).collect();
            for g in &out {
                let is_given = g.idl.canonicalize().is_ok_and(|p| given.contains(&p));
                if all || is_given {
                    println!("{}", g.code);
                }
                for w in &g.warnings {
                    eprintln!("warning: {w}");
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: ringrpc-build [--codec-path PATH] [--map-hasher PATH] [--namespace-modules] \
         [-I DIR]... [--all] FILE.thrift|FILE.proto..."
    );
    ExitCode::from(2)
}
