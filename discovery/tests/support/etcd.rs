//! A real etcd (Debian `etcd-server`) for integration tests: started on free
//! loopback ports with a fresh data dir, killed and cleaned up on drop.
//!
//! Shared by `discovery/tests/etcd.rs` and the root package's
//! `tests/discovery_e2e.rs` (each includes this file with `#[path]`, next to
//! `support/mod.rs` as `crate::support`).

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use ringrpc_discovery::Resolver;
use ringrpc_discovery::backends::{EtcdOptions, EtcdResolver};

use crate::support::{KillOnDrop, find_binary, free_port, wait_until};

/// How long etcd may take to come up.
pub const STARTUP: Duration = Duration::from_secs(20);

/// What to install when there is no `etcd`.
pub const INSTALL_HINT: &str = "no etcd binary (apt-get install -y etcd-server protobuf-compiler)";

/// A running etcd; killed, and its data dir removed, on drop.
pub struct Etcd {
    _child: KillOnDrop,
    _dir: DataDir,
    /// Its client URL (`http://127.0.0.1:<port>`).
    pub endpoint: String,
}

impl Etcd {
    /// Options for a client of this etcd.
    pub fn options(&self) -> EtcdOptions {
        EtcdOptions::new([self.endpoint.clone()])
    }
}

/// A data dir under the system temp dir, removed on drop.
struct DataDir(PathBuf);

impl DataDir {
    fn new() -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "ringrpc-etcd-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("etcd data dir");
        DataDir(path)
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts etcd and waits until it answers, or `None` when there is no
/// `etcd` binary. Panics if it never comes up (three tries, in case a
/// "free" port was taken meanwhile).
pub fn start_etcd() -> Option<Etcd> {
    let bin = find_binary("etcd", &["/usr/bin/etcd"])?;
    for _ in 0..3 {
        let dir = DataDir::new();
        let (client, peer) = (free_port(), free_port());
        let client_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let child = Command::new(&bin)
            .arg("--name=ringrpc-test")
            .arg(format!("--data-dir={}", dir.0.display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=ringrpc-test={peer_url}"))
            .arg("--initial-cluster-state=new")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn etcd");
        let child = KillOnDrop(child);
        let options = EtcdOptions::new([client_url.clone()]).timeout(Duration::from_secs(1));
        let up = wait_until(STARTUP, || {
            EtcdResolver::connect(options.clone())
                .and_then(|r| r.resolve("probe"))
                .is_ok()
        });
        if up {
            return Some(Etcd {
                _child: child,
                _dir: dir,
                endpoint: client_url,
            });
        }
    }
    panic!("etcd did not come up");
}
