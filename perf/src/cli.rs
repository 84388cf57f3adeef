//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ringrpc::codec::thrift::{MessageType, Protocol};
use ringrpc::codec::transport::{Codec, Transport};

use crate::load::LoadSpec;
use crate::measure::Timing;
use crate::uring::UringMode;

/// ringrpc's benchmark harness. With no subcommand: starts ringrpc's echo
/// server on the server cores, drives it from the load cores, prints a
/// table and writes a JSON report and a latency plot.
#[derive(Debug, Parser)]
#[command(name = "ringrpc-perf", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do (default: one run against the embedded server).
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    /// The run's options.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// The same load, in alternating runs, against ringrpc's echo server,
    /// Volo's, and a raw echo server (the machine's ceiling), each in its own
    /// process pinned to the server core.
    Compare(CompareArgs),
    /// Memory per connection: opens many connections to each server (its
    /// own process), and reports the server's RSS per idle connection, per
    /// connection after one call each, and after they all close.
    Mem(MemArgs),
    /// ringrpc's client against Volo's client (and the harness's minimal
    /// generator), each driving the same raw reply server from a child
    /// process pinned to the load core, in alternating runs.
    ClientCompare(ClientCompareArgs),
    /// TLS against plaintext on the same embedded server (one port takes
    /// both), in alternating runs, and the server's handshake rate, full and
    /// resumed.
    Tls(TlsArgs),
    /// gRPC: ringrpc's server against tonic's on the same server core, in
    /// alternating rounds: unary echoes under the harness's own HTTP/2 load
    /// or h2load (QPS, latency, CPU per request) and one server-streaming
    /// call (messages per second, CPU per message).
    Grpc(GrpcArgs),
    /// Serves ringrpc's echo server in this process until SIGTERM.
    #[command(hide = true)]
    Serve(ServeArgs),
    /// ringrpc's generated client as a closed-loop load on one core (what
    /// `client-compare` runs; `examples/echo_load.rs` is the same loop).
    #[command(hide = true)]
    ClientLoad(ClientLoadArgs),
    /// Serves the raw echo (every byte written back) until killed.
    #[command(hide = true)]
    RawServer(ServeArgs),
}

/// The transport of the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    /// A 4-byte length, then the message (every peer speaks it).
    Framed,
    /// TTHeader (Kitex's and Volo's default; depth > 1 multiplexes).
    Ttheader,
    /// TTHeader with a Framed length inside (what a Volo client sends).
    TtheaderFramed,
    /// The bare message.
    Buffered,
}

/// The Thrift protocol of the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    /// TBinaryProtocol (strict).
    Binary,
    /// TCompactProtocol.
    Compact,
}

/// Options every load shares.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Transport. Framed by default: every peer (Apache Thrift, Kitex, Volo)
    /// speaks it, and the targets compare on it.
    #[arg(long, value_enum, default_value_t = TransportArg::Framed)]
    pub transport: TransportArg,
    /// Protocol.
    #[arg(long, value_enum, default_value_t = ProtocolArg::Binary)]
    pub protocol: ProtocolArg,
    /// Requests in flight per connection (closed loop), or at most (open
    /// loop). Above 1: pipelining on Framed/Buffered, multiplexing on
    /// TTHeader.
    #[arg(long, default_value_t = 1)]
    pub depth: usize,
    /// Open loop at this many requests per second in total (latency from the
    /// intended send time, as wrk2 does). Without it: closed loop.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Load-generator cores.
    #[arg(long, default_value_t = 1)]
    pub load_cores: usize,
    /// The CPU of the first load core.
    #[arg(long, default_value_t = 1)]
    pub load_first_core: usize,
    /// The load cores' io_uring task-run mode (coop: no interrupt per
    /// completion; see `perf/src/uring.rs`).
    #[arg(long, value_enum, default_value_t = UringMode::Coop)]
    pub load_uring: UringMode,
    /// Server cores.
    #[arg(long, default_value_t = 1)]
    pub server_cores: usize,
    /// The CPU of the first server core.
    #[arg(long, default_value_t = 0)]
    pub server_first_core: usize,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Where result folders go.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
}

/// One run (the default command).
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Load options.
    #[command(flatten)]
    pub load: LoadArgs,
    /// The echoed message's size in bytes.
    #[arg(long, default_value_t = 1024)]
    pub payload: usize,
    /// Connections.
    #[arg(long, default_value_t = 100)]
    pub connections: usize,
    /// The measurement window, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Warm-up before the window, in seconds.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Drive this server instead of the embedded one.
    #[arg(long)]
    pub addr: Option<SocketAddr>,
    /// With --addr: the server's pid, to report its CPU time per request.
    #[arg(long, requires = "addr")]
    pub server_pid: Option<u32>,
    /// With --addr: the server echoes frames back verbatim (the raw echo),
    /// so good replies are the calls themselves.
    #[arg(long, requires = "addr")]
    pub echo_raw: bool,
    /// Capture a backtrace per server allocation in the window and print the
    /// sites (slow: for finding allocations, not for timing).
    #[arg(long, conflicts_with = "addr")]
    pub alloc_trace: bool,
    /// The embedded server records Prometheus metrics (Kitex's
    /// monitor-prometheus families) for every call, to measure what they
    /// cost; with an address, it also serves them at `GET ADDR/metrics`.
    #[arg(long, conflicts_with = "addr", num_args = 0..=1, default_missing_value = "off")]
    pub metrics: Option<String>,
    /// Over TLS: the embedded server serves TLS 1.3 with certificates made
    /// for the run, and the load connects with TLS (closed loop only).
    #[arg(long, conflicts_with_all = ["addr", "rate"])]
    pub tls: bool,
    /// Appended to the results folder's name.
    #[arg(long, default_value = "")]
    pub label: String,
}

/// `tls`'s options.
#[derive(Debug, Clone, Args)]
pub struct TlsArgs {
    /// Load options (closed loop).
    #[command(flatten)]
    pub load: LoadArgs,
    /// The echoed message's size in bytes.
    #[arg(long, default_value_t = 1024)]
    pub payload: usize,
    /// Connections.
    #[arg(long, default_value_t = 100)]
    pub connections: usize,
    /// How long and how often each side runs.
    #[command(flatten)]
    pub runs: Rounds,
    /// Seconds of each handshake-rate measurement (full, resumed).
    #[arg(long, default_value_t = 3.0)]
    pub handshake_secs: f64,
    /// Handshakes in flight at once in the handshake-rate measurement.
    #[arg(long, default_value_t = 16)]
    pub handshake_concurrency: usize,
    /// Appended to the results folder's name.
    #[arg(long, default_value = "tls")]
    pub label: String,
}

/// How the comparisons (`compare`, `client-compare`) alternate their runs.
#[derive(Debug, Clone, Args)]
pub struct Rounds {
    /// Each run's measurement window, in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Each run's warm-up, in seconds.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Rounds: in each, every peer runs once per setting, in an order that
    /// rotates every round (so a drift of the machine spreads over all);
    /// medians over rounds are reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
}

/// `grpc`'s options.
#[derive(Debug, Clone, Args)]
pub struct GrpcArgs {
    /// The unary echo's payload, in bytes.
    #[arg(long, default_value_t = 1024)]
    pub payload: usize,
    /// The unary load: the harness's own HTTP/2 client, or nghttp2's
    /// h2load (Debian's nghttp2-client), whose one thread tops out below
    /// what one server core answers on small machines.
    #[arg(long, value_enum, default_value_t = GrpcLoad::Builtin)]
    pub load: GrpcLoad,
    /// Connection counts to compare the unary echo at (h2load's `-c`).
    #[arg(long, value_delimiter = ',', default_values_t = [100usize])]
    pub connections: Vec<usize>,
    /// Requests in flight per connection (h2load's `-m`: concurrent
    /// streams per HTTP/2 connection).
    #[arg(long, default_value_t = 1)]
    pub streams: usize,
    /// The payload of each message of the server stream, in bytes.
    #[arg(long, default_value_t = 1024)]
    pub stream_size: usize,
    /// How long and how often each server runs.
    #[command(flatten)]
    pub runs: Rounds,
    /// The CPU both servers are pinned to.
    #[arg(long, default_value_t = 0)]
    pub server_core: usize,
    /// The CPU of the load (the unary load, the stream client).
    #[arg(long, default_value_t = 1)]
    pub load_core: usize,
    /// The h2load binary.
    #[arg(long, default_value = "h2load")]
    pub h2load: PathBuf,
    /// tonic's echo server (default: built next to this binary).
    #[arg(long)]
    pub tonic_bin: Option<PathBuf>,
    /// Leave tonic out.
    #[arg(long)]
    pub skip_tonic: bool,
    /// Leave ringrpc out (the peer alone).
    #[arg(long)]
    pub skip_ringrpc: bool,
    /// No unary runs.
    #[arg(long)]
    pub skip_unary: bool,
    /// No streaming runs.
    #[arg(long)]
    pub skip_stream: bool,
    /// Where result folders go.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// Appended to the results folder's name.
    #[arg(long, default_value = "grpc")]
    pub label: String,
}

/// `compare`'s options.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Load options.
    #[command(flatten)]
    pub load: LoadArgs,
    /// The echoed message's sizes in bytes: several make a sweep, with one
    /// table and one plot of QPS against size (e.g.
    /// 1024,16384,65536,262144,1048576).
    #[arg(long, value_delimiter = ',', default_values_t = [1024usize])]
    pub payload: Vec<usize>,
    /// Connection counts to compare at.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 16, 100])]
    pub connections: Vec<usize>,
    /// How long and how often each server runs.
    #[command(flatten)]
    pub runs: Rounds,
    /// The Volo echo server's binary (default: built next to this one).
    #[arg(long)]
    pub volo_bin: Option<PathBuf>,
    /// Leave Volo out.
    #[arg(long)]
    pub skip_volo: bool,
    /// Appended to the results folder's name.
    #[arg(long, default_value = "compare")]
    pub label: String,
}

/// `mem`'s options.
#[derive(Debug, Clone, Args)]
pub struct MemArgs {
    /// Connections to open to each server.
    #[arg(long, default_value_t = 5000)]
    pub connections: usize,
    /// The size of the one echo call made on each connection.
    #[arg(long, default_value_t = 1024)]
    pub payload: usize,
    /// How long to let each server settle before reading its RSS, in
    /// seconds (ringrpc parks a connection after a quiet sweep tick).
    #[arg(long, default_value_t = 3.0)]
    pub settle: f64,
    /// The servers to measure.
    #[arg(long, value_delimiter = ',', default_values_t = [String::from("ringrpc"), String::from("volo")])]
    pub targets: Vec<String>,
    /// The Volo echo server's binary (default: built next to this one).
    #[arg(long)]
    pub volo_bin: Option<PathBuf>,
    /// The CPU of the server.
    #[arg(long, default_value_t = 0)]
    pub server_first_core: usize,
    /// Where result folders go.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
}

/// The load of `grpc`'s unary runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GrpcLoad {
    /// The harness's own HTTP/2 client (`grpc/h2gen.rs`).
    Builtin,
    /// nghttp2's h2load, one thread.
    H2load,
}

/// The transport a client load speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClientTransport {
    /// A 4-byte length, then the message.
    Framed,
    /// TTHeader: ringrpc's client sends TTHeader over the bare message, a
    /// Volo client TTHeader over Framed (its default codec).
    Ttheader,
}

/// ringrpc's connection pool for a client load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClientPool {
    /// Long connections, one call in flight on each, with an idle
    /// connection kept for every call in flight.
    Long,
    /// One multiplexed connection (TTHeader only).
    Mux,
}

/// `client-load`'s options (those of `examples/echo_load.rs`).
#[derive(Debug, Clone, Args)]
pub struct ClientLoadArgs {
    /// The echo server.
    #[arg(long)]
    pub addr: SocketAddr,
    /// Calls in flight, one per task.
    #[arg(long, default_value_t = 100)]
    pub conns: usize,
    /// The echoed message's size in bytes.
    #[arg(long, default_value_t = 1024)]
    pub size: usize,
    /// The measurement window, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub secs: f64,
    /// Warm-up before the window, in seconds.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// The transport.
    #[arg(long, value_enum, default_value_t = ClientTransport::Framed)]
    pub transport: ClientTransport,
    /// The connection pool.
    #[arg(long, value_enum, default_value_t = ClientPool::Long)]
    pub pool: ClientPool,
    /// Add the latency histogram's buckets to the JSON line (for plots).
    #[arg(long)]
    pub hist: bool,
}

/// `client-compare`'s options.
#[derive(Debug, Clone, Args)]
pub struct ClientCompareArgs {
    /// Calls in flight to compare at.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 100])]
    pub conns: Vec<usize>,
    /// The echoed message's size in bytes.
    #[arg(long, default_value_t = 1024)]
    pub payload: usize,
    /// Transports to compare over.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [ClientTransport::Framed, ClientTransport::Ttheader])]
    pub transport: Vec<ClientTransport>,
    /// ringrpc's pool (long: as many idle connections as calls in flight).
    #[arg(long, value_enum, default_value_t = ClientPool::Long)]
    pub pool: ClientPool,
    /// How long and how often each client runs.
    #[command(flatten)]
    pub runs: Rounds,
    /// Volo's load generator (`volo-load`; default: built next to this
    /// one).
    #[arg(long)]
    pub volo_bin: Option<PathBuf>,
    /// Leave Volo out.
    #[arg(long)]
    pub skip_volo: bool,
    /// The CPU of the raw reply server.
    #[arg(long, default_value_t = 0)]
    pub server_core: usize,
    /// The CPU every client runs on.
    #[arg(long, default_value_t = 1)]
    pub load_core: usize,
    /// No progress bar (the minimal generator's runs).
    #[arg(long)]
    pub no_progress: bool,
    /// Where result folders go.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// Appended to the results folder's name.
    #[arg(long, default_value = "client-compare")]
    pub label: String,
}

/// A server subcommand's options.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub addr: SocketAddr,
    /// Cores.
    #[arg(long, default_value_t = 1)]
    pub cores: usize,
    /// The first core's CPU.
    #[arg(long, default_value_t = 0)]
    pub first_core: usize,
    /// io_uring task-run mode (`raw-server` only: ringrpc's server uses the
    /// engine's own event loop).
    #[arg(long, value_enum, default_value_t = UringMode::Coop)]
    pub uring: UringMode,
    /// Serve the gRPC echo of `perf/echo.proto` too, on the same port
    /// (`serve` only; `grpc` uses it).
    #[arg(long)]
    pub grpc: bool,
    /// Answer `stats` lines on stdin with the server threads' allocation
    /// counters on stdout (`serve` only; `compare` and `mem` use it).
    #[arg(long)]
    pub stats: bool,
    /// Record Prometheus metrics for every call (`serve` only); with an
    /// address, serve them at `GET ADDR/metrics`.
    #[arg(long, num_args = 0..=1, default_missing_value = "off")]
    pub metrics: Option<String>,
    /// With `--metrics`: make up this many more series at start (method x
    /// status pairs), to measure scrapes of a large registry.
    #[arg(long, default_value_t = 0)]
    pub metrics_series: usize,
    /// Answer each `EchoService.echo` call with its reply (Framed or
    /// TTHeader, strict binary), patched in place, instead of echoing the
    /// bytes (`raw-server` only; `client-compare` uses it).
    #[arg(long)]
    pub reply: bool,
}

impl LoadArgs {
    /// The codec of the requests.
    pub fn codec(&self) -> Codec {
        Codec {
            transport: match self.transport {
                TransportArg::Framed => Transport::Framed,
                TransportArg::Ttheader => Transport::TtHeader,
                TransportArg::TtheaderFramed => Transport::TtHeaderFramed,
                TransportArg::Buffered => Transport::Buffered,
            },
            protocol: match self.protocol {
                ProtocolArg::Binary => Protocol::Binary,
                ProtocolArg::Compact => Protocol::Compact,
            },
        }
    }

    /// The load of `payload`-byte echoes against `addr` with `connections`.
    pub fn spec(
        &self,
        addr: SocketAddr,
        payload: usize,
        connections: usize,
        expect: MessageType,
    ) -> LoadSpec {
        LoadSpec {
            addr,
            codec: self.codec(),
            payload,
            connections: connections.max(1),
            depth: self.depth.max(1),
            rate: self.rate,
            cores: self.load_cores.max(1),
            first_core: self.load_first_core,
            expect,
            uring: self.load_uring,
            tls: None,
        }
    }

    /// `framed/binary, 1024 B, ...` for headings.
    pub fn describe(&self, payload: &str, connections: &str) -> String {
        let model = match self.rate {
            Some(r) => format!("open loop at {r} req/s"),
            None => "closed loop".into(),
        };
        format!(
            "{}/{}, {payload} B echo, {connections} conns × depth {}, {model}; server cores {}..+{}, load cores {}..+{} (io_uring {:?})",
            self.transport
                .to_possible_value()
                .map(|v| v.get_name().to_string())
                .unwrap_or_default(),
            self.protocol
                .to_possible_value()
                .map(|v| v.get_name().to_string())
                .unwrap_or_default(),
            self.depth,
            self.server_first_core,
            self.server_cores,
            self.load_first_core,
            self.load_cores,
            self.load_uring,
        )
    }
}

/// Seconds as a `Duration` (negative and NaN count as zero).
pub fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(if v.is_finite() { v.max(0.0) } else { 0.0 })
}

/// The timing of a run.
pub fn timing(warmup: f64, duration: f64) -> Timing {
    Timing {
        warmup: secs(warmup),
        duration: secs(duration).max(Duration::from_millis(100)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_arguments_is_the_default_run() {
        let c = Cli::try_parse_from(["ringrpc-perf"]).unwrap();
        assert!(c.cmd.is_none());
        assert_eq!(c.run.connections, 100);
        assert_eq!(c.run.payload, 1024);
        assert_eq!(c.run.load.transport, TransportArg::Framed);
        let c = Cli::try_parse_from(["ringrpc-perf", "compare", "--connections", "1,16"]).unwrap();
        match c.cmd {
            Some(Cmd::Compare(a)) => {
                assert_eq!(a.connections, vec![1, 16]);
                assert_eq!(a.payload, vec![1024]);
            }
            other => panic!("{other:?}"),
        }
        let c =
            Cli::try_parse_from(["ringrpc-perf", "compare", "--payload", "1024,65536"]).unwrap();
        match c.cmd {
            Some(Cmd::Compare(a)) => assert_eq!(a.payload, vec![1024, 65536]),
            other => panic!("{other:?}"),
        }
        let c = Cli::try_parse_from(["ringrpc-perf", "client-compare"]).unwrap();
        match c.cmd {
            Some(Cmd::ClientCompare(a)) => {
                assert_eq!(a.conns, vec![1, 100]);
                assert_eq!(
                    a.transport,
                    vec![ClientTransport::Framed, ClientTransport::Ttheader]
                );
                assert_eq!((a.server_core, a.load_core), (0, 1));
            }
            other => panic!("{other:?}"),
        }
        let c = Cli::try_parse_from([
            "ringrpc-perf",
            "client-load",
            "--addr",
            "127.0.0.1:9000",
            "--transport",
            "ttheader",
            "--pool",
            "mux",
        ])
        .unwrap();
        match c.cmd {
            Some(Cmd::ClientLoad(a)) => {
                assert_eq!((a.conns, a.size), (100, 1024));
                assert_eq!(a.transport, ClientTransport::Ttheader);
                assert_eq!(a.pool, ClientPool::Mux);
                assert!(!a.hist);
            }
            other => panic!("{other:?}"),
        }
        let c = Cli::try_parse_from(["ringrpc-perf", "--tls"]).unwrap();
        assert!(c.run.tls && c.cmd.is_none());
        assert!(Cli::try_parse_from(["ringrpc-perf", "--tls", "--rate", "1000"]).is_err());
        let c = Cli::try_parse_from(["ringrpc-perf", "tls"]).unwrap();
        match c.cmd {
            Some(Cmd::Tls(a)) => assert_eq!((a.connections, a.payload), (100, 1024)),
            other => panic!("{other:?}"),
        }
        let c = Cli::try_parse_from(["ringrpc-perf", "grpc", "--rounds", "5"]).unwrap();
        match c.cmd {
            Some(Cmd::Grpc(a)) => {
                assert_eq!((a.payload, a.stream_size, a.streams), (1024, 1024, 1));
                assert_eq!(a.connections, vec![100]);
                assert_eq!((a.server_core, a.load_core, a.runs.rounds), (0, 1, 5));
                assert_eq!(a.h2load, PathBuf::from("h2load"));
                assert_eq!(a.load, GrpcLoad::Builtin);
            }
            other => panic!("{other:?}"),
        }
        let c = Cli::try_parse_from(["ringrpc-perf", "mem"]).unwrap();
        match c.cmd {
            Some(Cmd::Mem(a)) => assert_eq!((a.connections, a.targets.len()), (5000, 2)),
            other => panic!("{other:?}"),
        }
    }
}
