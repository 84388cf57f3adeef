//! SRV resolution against a real DNS server: dnsmasq (Debian
//! `dnsmasq-base`), started on a free loopback port with static SRV and
//! host records. A/AAAA lookups go through the system resolver, which
//! cannot be pointed at a port, so they are tested on `localhost` in the
//! unit tests.

mod support;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use ringrpc_discovery::backends::{DnsOptions, DnsResolver};
use ringrpc_discovery::{CacheOptions, DnsError, EndpointInfo, Error, Resolver, ResolverCache};
use support::{KillOnDrop, find_binary, free_port, skip, wait_until};

struct Dnsmasq {
    _child: KillOnDrop,
    addr: SocketAddr,
}

fn start_dnsmasq() -> Option<Dnsmasq> {
    let bin = find_binary("dnsmasq", &["/usr/sbin/dnsmasq"])?;
    let mut args: Vec<String> = [
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--pid-file=",
        "--user=root",
        // `echo`: two targets at priority 0, one backup at priority 5.
        "--srv-host=_echo._tcp.ringrpc.test,n1.ringrpc.test,9001,0,30",
        "--srv-host=_echo._tcp.ringrpc.test,n2.ringrpc.test,9002,0,10",
        "--srv-host=_echo._tcp.ringrpc.test,n3.ringrpc.test,9003,5,10",
        "--host-record=n1.ringrpc.test,127.0.0.11",
        "--host-record=n2.ringrpc.test,127.0.0.12",
        "--host-record=n3.ringrpc.test,127.0.0.13",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // `big`: 40 targets, too many for a 512-byte UDP answer, so the
    // resolver must retry over TCP.
    for i in 0..40 {
        args.push(format!(
            "--srv-host=_big._tcp.ringrpc.test,b{i}.ringrpc.test,{},0,10",
            7000 + i
        ));
        args.push(format!("--host-record=b{i}.ringrpc.test,127.0.1.{}", i + 1));
    }
    for _ in 0..5 {
        let port = free_port();
        let child = Command::new(&bin)
            .args(&args)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let child = KillOnDrop(child);
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let probe = DnsResolver::new(
            DnsOptions::default()
                .nameservers(vec![addr])
                .timeout(Duration::from_millis(200)),
        );
        if wait_until(Duration::from_secs(10), || {
            probe.resolve("_echo._tcp.ringrpc.test").is_ok()
        }) {
            return Some(Dnsmasq {
                _child: child,
                addr,
            });
        }
    }
    panic!("dnsmasq did not answer on any port");
}

fn resolver(dns: &Dnsmasq) -> DnsResolver {
    DnsResolver::new(
        DnsOptions::default()
            .nameservers(vec![dns.addr])
            .timeout(Duration::from_secs(2)),
    )
}

#[test]
fn srv_gives_ports_and_weights_of_the_best_priority() {
    let Some(dns) = start_dnsmasq() else {
        return skip(
            "srv tests",
            "no dnsmasq binary (apt-get install dnsmasq-base)",
        );
    };
    let r = resolver(&dns);
    let res = r.resolve("_echo._tcp.ringrpc.test").unwrap();
    let mut got: Vec<_> = res
        .instances
        .iter()
        .map(|i| (i.addr(), i.weight()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("127.0.0.11:9001".parse().unwrap(), 30),
            ("127.0.0.12:9002".parse().unwrap(), 10),
        ]
    );

    // Truncated over UDP, complete over TCP.
    let big = r.resolve("_big._tcp.ringrpc.test").unwrap();
    assert_eq!(big.instances.len(), 40);

    // An unknown name is an error the cache can report.
    assert!(matches!(
        r.resolve("_nope._tcp.ringrpc.test"),
        Err(Error::Dns(DnsError::Rcode(_))) | Err(Error::NoInstance { .. })
    ));
}

#[test]
fn srv_through_the_cache() {
    let Some(dns) = start_dnsmasq() else {
        return skip(
            "srv tests",
            "no dnsmasq binary (apt-get install dnsmasq-base)",
        );
    };
    let cache = ResolverCache::new(Arc::new(resolver(&dns)), CacheOptions::default()).unwrap();
    let sub = cache.subscribe(&EndpointInfo::new("_echo._tcp.ringrpc.test"));
    let snap = sub.wait(Duration::from_secs(10)).unwrap();
    assert_eq!(snap.instances().len(), 2);
    assert_eq!(snap.change().unwrap().added.len(), 2);
}
