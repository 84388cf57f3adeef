//! Small helpers shared by the examples: flag parsing and logging.
#![allow(dead_code)]

use ringrpc::codec::thrift::Protocol;
use ringrpc::codec::transport::Transport;

/// `--name value` flags, read once.
pub struct Args(Vec<String>);

impl Args {
    pub fn from_env() -> Self {
        Self(std::env::args().skip(1).collect())
    }

    /// The value of `--name value` or `--name=value`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        let flag = format!("--{name}");
        self.0.iter().enumerate().find_map(|(i, a)| {
            if *a == flag {
                self.0.get(i + 1).map(String::as_str)
            } else {
                a.strip_prefix(flag.as_str())?.strip_prefix('=')
            }
        })
    }

    pub fn get_or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.get(name).unwrap_or(default)
    }

    pub fn has(&self, name: &str) -> bool {
        let flag = format!("--{name}");
        self.0.contains(&flag)
    }

    pub fn parse_or<T: std::str::FromStr>(&self, name: &str, default: T) -> T {
        match self.get(name) {
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| die(&format!("bad value for --{name}: {v}"))),
            None => default,
        }
    }
}

pub fn die(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2)
}

pub fn transport(s: &str) -> Transport {
    match s {
        "ttheader" => Transport::TtHeader,
        "ttheader-framed" => Transport::TtHeaderFramed,
        "framed" => Transport::Framed,
        "buffered" => Transport::Buffered,
        other => die(&format!(
            "unknown transport {other} (ttheader|ttheader-framed|framed|buffered)"
        )),
    }
}

pub fn protocol(s: &str) -> Protocol {
    match s {
        "binary" => Protocol::Binary,
        "compact" => Protocol::Compact,
        other => die(&format!("unknown protocol {other} (binary|compact)")),
    }
}

/// Logs to stderr at `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
