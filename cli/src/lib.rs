//! The `ringrpc` command line, as a library so tests can run it in-process:
//! [`run`] takes the arguments and the three standard streams and returns
//! the exit status.
//!
//! ```text
//! ringrpc call --idl idl/ThriftTest.thrift --addr 127.0.0.1:9090 \
//!     ThriftTest.testStruct '{"thing": {"string_thing": "hi", "byte_thing": 1, "i32_thing": 2, "i64_thing": 3}}'
//! ringrpc idl idl/ThriftTest.thrift
//! ringrpc idl --check idl/ThriftTest.thrift
//! ringrpc mock --idl idl/echo.thrift --addr 127.0.0.1:9000 --responses mock.json
//! ```
//!
//! Exit status: 0 on success; 1 when the called method threw one of its
//! declared exceptions (printed as JSON) or `idl --check` found an error;
//! 2 for any other failure (bad arguments, an IDL or JSON that does not
//! fit, a transport or protocol error, an application exception).
//!
//! JSON follows `ringrpc-generic`'s mapping (its crate docs): i64 as a
//! number (a string is read too), binary as base64, enums by name or
//! number, maps with non-string keys as objects with the keys in strings
//! (or `[key, value]` pairs for struct keys).
#![deny(missing_docs)]

mod call;
mod idl;
mod mock;

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Exit status: success.
pub const OK: u8 = 0;
/// Exit status: the method threw a declared exception, or `idl --check`
/// found an error.
pub const DECLARED: u8 = 1;
/// Exit status: anything else failed.
pub const FAILED: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "ringrpc",
    version,
    about = "Call any Thrift service from JSON, without generated code",
    long_about = "Call any Thrift service from JSON, list an IDL's methods, or serve canned \
                  responses, using the IDL alone (read at run time, includes and all). Speaks \
                  Framed, Buffered and TTHeader with the binary or compact protocol, as Kitex, \
                  Volo and Apache Thrift do.",
    after_help = "Examples:\n  \
        ringrpc idl idl/ThriftTest.thrift\n  \
        ringrpc call --idl idl/ThriftTest.thrift --addr 127.0.0.1:9090 ThriftTest.testString '{\"thing\": \"hi\"}'\n  \
        echo '{\"req\": {\"msg\": \"hi\"}}' | ringrpc call --idl idl/echo.thrift --addr 127.0.0.1:8888 --transport ttheader EchoService.echo\n  \
        ringrpc mock --idl idl/echo.thrift --addr 127.0.0.1:8888 --responses mock.json"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Call one method with JSON arguments and print the result as JSON.
    #[command(after_help = call::HELP)]
    Call(CallArgs),
    /// List the services and methods of an IDL (with argument types), or
    /// check it for errors.
    #[command(after_help = idl::HELP)]
    Idl(IdlArgs),
    /// Serve canned JSON responses for the methods of an IDL service.
    #[command(after_help = mock::HELP)]
    Mock(MockArgs),
}

/// Where the IDL is.
#[derive(Debug, Args)]
struct IdlSource {
    /// The IDL file (`.thrift`); its includes are searched next to it, then
    /// in the -I folders.
    #[arg(long, value_name = "FILE")]
    idl: PathBuf,
    /// Another folder to search for included files (like `thrift -I`).
    #[arg(short = 'I', value_name = "DIR")]
    include: Vec<PathBuf>,
}

/// How JSON is written.
#[derive(Debug, Args)]
struct OutputArgs {
    /// Write i64 values as JSON strings (for readers whose numbers are
    /// doubles).
    #[arg(long)]
    i64_as_string: bool,
    /// Write enum values as numbers instead of names.
    #[arg(long)]
    enums_as_numbers: bool,
    /// Write compact JSON on one line instead of indented JSON.
    #[arg(long)]
    compact_output: bool,
}

impl OutputArgs {
    fn options(&self) -> ringrpc_generic::JsonOptions {
        ringrpc_generic::JsonOptions::new()
            .i64_as_string(self.i64_as_string)
            .enums_as_numbers(self.enums_as_numbers)
            .pretty(!self.compact_output)
    }
}

#[derive(Debug, Args)]
struct CallArgs {
    #[command(flatten)]
    source: IdlSource,
    /// The server's address.
    #[arg(long, value_name = "HOST:PORT")]
    addr: String,
    /// The transport: framed, buffered, ttheader or ttheader-framed.
    #[arg(long, default_value = "framed")]
    transport: ringrpc_codec::transport::Transport,
    /// The protocol: binary or compact.
    #[arg(long, default_value = "binary")]
    protocol: ringrpc_codec::thrift::Protocol,
    /// How long the call may take, connecting included (`500ms`, `2s`,
    /// `1m`).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    timeout: Duration,
    /// The arguments as JSON, or `@FILE` to read them from a file (`@-`:
    /// standard input). Instead of the JSON argument.
    #[arg(long, value_name = "JSON|@FILE")]
    data: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
    /// The method, as SERVICE.METHOD (or FILE.SERVICE.METHOD when two
    /// included files declare services of one name).
    #[arg(value_name = "SERVICE.METHOD")]
    method: String,
    /// The arguments: a JSON object keyed by the method's argument names.
    /// Without it (and without --data), read from standard input.
    #[arg(value_name = "JSON")]
    json: Option<String>,
}

#[derive(Debug, Args)]
struct IdlArgs {
    /// Only check the IDL: print `ok`, or the first error as
    /// FILE:LINE:COL: MESSAGE (exit status 1).
    #[arg(long)]
    check: bool,
    /// Another folder to search for included files (like `thrift -I`).
    #[arg(short = 'I', value_name = "DIR")]
    include: Vec<PathBuf>,
    /// The IDL file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

#[derive(Debug, Args)]
struct MockArgs {
    #[command(flatten)]
    source: IdlSource,
    /// Where to listen.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8888")]
    addr: String,
    /// The service to serve. Default: the first service of the IDL file.
    #[arg(long)]
    service: Option<String>,
    /// The canned responses: a JSON file of one entry per method (see
    /// below).
    #[arg(long, value_name = "FILE")]
    responses: PathBuf,
    /// How many cores serve.
    #[arg(long, default_value_t = 1)]
    cores: usize,
}

/// Parses `500ms`, `2s`, `1m`, or a bare number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration (like 500ms, 2s, 1m)");
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

/// Runs the command line `args` (the program name first) with the given
/// standard streams; returns the exit status ([`OK`], [`DECLARED`],
/// [`FAILED`]).
pub fn run<I, T>(
    args: I,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { FAILED } else { OK };
            let text = e.render().to_string();
            let _ = if e.use_stderr() {
                stderr.write_all(text.as_bytes())
            } else {
                stdout.write_all(text.as_bytes())
            };
            return code;
        }
    };
    let r = match cli.command {
        Command::Call(a) => call::run(a, stdin, stdout),
        Command::Idl(a) => idl::run(a, stdout),
        Command::Mock(a) => mock::run(a, stdout),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(stderr, "error: {e}");
            FAILED
        }
    }
}

/// A failure to report on standard error.
#[derive(Debug)]
struct Failure(String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn every_subcommand_has_help() {
        for sub in [
            &["--help"][..],
            &["call", "--help"],
            &["idl", "--help"],
            &["mock", "--help"],
        ] {
            let mut out = Vec::new();
            let mut err = Vec::new();
            let args = std::iter::once("ringrpc").chain(sub.iter().copied());
            let code = run(args, &mut std::io::empty(), &mut out, &mut err);
            assert_eq!(code, OK, "{sub:?}");
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains("Usage:"), "{sub:?}: {text}");
            assert!(
                text.contains("Examples:") || text.contains("ringrpc "),
                "{sub:?}: {text}"
            );
        }
    }
}
