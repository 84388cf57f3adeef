//! `ringrpc`: call any Thrift service from JSON, list an IDL's methods,
//! serve canned responses. See `ringrpc --help` and the crate docs.

fn main() -> std::process::ExitCode {
    let code = ringrpc_cli::run(
        std::env::args_os(),
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    std::process::ExitCode::from(code)
}
