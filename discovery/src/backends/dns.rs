//! DNS: A/AAAA through the system resolver, SRV for ports and weights.
//!
//! A key is either
//! * `host:port` (or `[v6]:port`): the host's A/AAAA records through the
//!   system resolver (`getaddrinfo`, so `/etc/hosts` and nsswitch apply),
//!   each address an instance of weight 10 at `port`; or
//! * an SRV name, `_service._proto.domain`: an SRV query to the configured
//!   nameservers (from `/etc/resolv.conf` unless given). Only the records
//!   of the lowest (most preferred) priority are used, per RFC 2782; each
//!   target becomes one instance per address at the record's port, with
//!   the record's weight (0 counts as 1, so it can still be picked). Target
//!   addresses come from the answer's additional section when the server
//!   put them there, else from the system resolver.
//!
//! The SRV exchange is a pure encoder/decoder (`simple-dns`, a small crate
//! for packets only) around one blocking UDP round trip, retried over TCP
//! when the answer is truncated. It runs on the resolver cache's background
//! thread. TTLs are not used: the cache's refresh interval decides.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use simple_dns::rdata::RData;
use simple_dns::{CLASS, Name, Packet, PacketFlag, QCLASS, QTYPE, Question, TYPE};

use crate::rng::FastRng;
use crate::{DnsError, Error, Instance, ResolveResult, Resolver, Result};

/// Options of a [`DnsResolver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsOptions {
    nameservers: Vec<SocketAddr>,
    timeout: Duration,
}

impl Default for DnsOptions {
    /// Nameservers from `/etc/resolv.conf` (none if it cannot be read), a
    /// 2 s timeout per server.
    fn default() -> Self {
        let nameservers = std::fs::read_to_string("/etc/resolv.conf")
            .map(|text| parse_resolv_conf(&text))
            .unwrap_or_default();
        DnsOptions {
            nameservers,
            timeout: Duration::from_secs(2),
        }
    }
}

impl DnsOptions {
    /// Uses only `nameservers` for SRV queries (tried in order).
    pub fn nameservers(mut self, nameservers: Vec<SocketAddr>) -> Self {
        self.nameservers = nameservers;
        self
    }

    /// Sets the timeout of one query to one server (default 2 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// The `nameserver` lines of a resolv.conf, at port 53.
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next()? == "nameserver").then_some(())?;
            let ip = words.next()?;
            // Drop an IPv6 zone ("fe80::1%eth0"): std cannot parse it.
            let ip: IpAddr = ip.split('%').next()?.parse().ok()?;
            Some(SocketAddr::new(ip, 53))
        })
        .collect()
}

/// Resolves `host:port` keys through the system resolver and SRV names
/// through DNS. Its name is `"dns"`.
#[derive(Debug, Clone, Default)]
pub struct DnsResolver {
    options: DnsOptions,
}

impl DnsResolver {
    /// A resolver with `options`.
    pub fn new(options: DnsOptions) -> Self {
        DnsResolver { options }
    }

    fn resolve_host(&self, key: &str) -> Result<Vec<Arc<Instance>>> {
        let invalid = |reason| Error::InvalidTarget {
            key: key.into(),
            reason,
        };
        let (host, port) = key.rsplit_once(':').ok_or(invalid("expected host:port"))?;
        let port: u16 = port.parse().map_err(|_| invalid("bad port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let mut seen = HashSet::new();
        Ok((host, port)
            .to_socket_addrs()?
            .filter(|a| seen.insert(*a))
            .map(|a| Arc::new(Instance::new(a)))
            .collect())
    }

    fn resolve_srv(&self, name: &str) -> Result<Vec<Arc<Instance>>> {
        if self.options.nameservers.is_empty() {
            return Err(DnsError::NoNameserver.into());
        }
        let mut last = None;
        for &ns in &self.options.nameservers {
            match srv_exchange(ns, name, self.options.timeout) {
                Ok(answer) => return answer.into_instances(),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(Error::Dns(DnsError::NoNameserver)))
    }
}

impl Resolver for DnsResolver {
    fn resolve(&self, key: &str) -> Result<ResolveResult> {
        let instances = if key.starts_with('_') {
            self.resolve_srv(key)?
        } else {
            self.resolve_host(key)?
        };
        if instances.is_empty() {
            return Err(Error::NoInstance { key: key.into() });
        }
        Ok(ResolveResult::cacheable(instances))
    }

    fn name(&self) -> &str {
        "dns"
    }
}

/// One SRV record of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvRecord {
    /// Lower is preferred.
    pub priority: u16,
    /// Relative weight among records of equal priority.
    pub weight: u16,
    /// The port to connect to.
    pub port: u16,
    /// The target host (lower case, no trailing dot).
    pub target: String,
}

/// A decoded SRV answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SrvAnswer {
    /// The SRV records.
    pub records: Vec<SrvRecord>,
    /// A/AAAA records of the additional (and answer) sections, by name.
    pub addresses: HashMap<String, Vec<IpAddr>>,
    /// The TC bit: the answer did not fit in UDP.
    pub truncated: bool,
}

fn normalize(name: &Name<'_>) -> String {
    name.to_string().trim_end_matches('.').to_ascii_lowercase()
}

/// Encodes an SRV query for `name` with `id` (recursion desired).
pub fn encode_srv_query(id: u16, name: &str) -> Result<Vec<u8>> {
    let mut packet = Packet::new_query(id);
    packet.set_flags(PacketFlag::RECURSION_DESIRED);
    let qname = Name::new(name).map_err(|_| Error::InvalidTarget {
        key: name.into(),
        reason: "not a DNS name",
    })?;
    packet.questions.push(Question::new(
        qname,
        QTYPE::TYPE(TYPE::SRV),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    packet
        .build_bytes_vec()
        .map_err(|_| Error::Dns(DnsError::Malformed))
}

/// Decodes an answer to query `id`. `Ok(None)`: a packet for another query
/// (ignore it and keep waiting).
pub fn decode_srv_answer(id: u16, bytes: &[u8]) -> Result<Option<SrvAnswer>> {
    let packet = Packet::parse(bytes).map_err(|_| Error::Dns(DnsError::Malformed))?;
    if packet.id() != id {
        return Ok(None);
    }
    let rcode = packet.rcode() as u8;
    if rcode != 0 {
        return Err(DnsError::Rcode(rcode).into());
    }
    let mut answer = SrvAnswer {
        truncated: packet.has_flags(PacketFlag::TRUNCATION),
        ..Default::default()
    };
    for rr in packet.answers.iter().chain(&packet.additional_records) {
        let owner = normalize(&rr.name);
        match &rr.rdata {
            RData::SRV(srv) => answer.records.push(SrvRecord {
                priority: srv.priority,
                weight: srv.weight,
                port: srv.port,
                target: normalize(&srv.target),
            }),
            RData::A(a) => answer
                .addresses
                .entry(owner)
                .or_default()
                .push(IpAddr::V4(Ipv4Addr::from(a.address))),
            RData::AAAA(a) => answer
                .addresses
                .entry(owner)
                .or_default()
                .push(IpAddr::V6(Ipv6Addr::from(a.address))),
            _ => {}
        }
    }
    Ok(Some(answer))
}

impl SrvAnswer {
    /// The instances of the most preferred priority.
    pub fn into_instances(self) -> Result<Vec<Arc<Instance>>> {
        let Some(best) = self
            .records
            .iter()
            .filter(|r| !r.target.is_empty())
            .map(|r| r.priority)
            .min()
        else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for r in self
            .records
            .iter()
            .filter(|r| r.priority == best && !r.target.is_empty())
        {
            let ips: Vec<IpAddr> = match self.addresses.get(&r.target) {
                Some(ips) => ips.clone(),
                None => (r.target.as_str(), r.port)
                    .to_socket_addrs()?
                    .map(|a| a.ip())
                    .collect(),
            };
            for ip in ips {
                let addr = SocketAddr::new(ip, r.port);
                if seen.insert(addr) {
                    out.push(Arc::new(
                        Instance::new(addr)
                            .with_weight(u32::from(r.weight.max(1)))
                            .with_tag("srv.target", r.target.clone())
                            .with_tag("srv.priority", r.priority.to_string()),
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// One SRV query to `ns`: UDP, then TCP if truncated.
fn srv_exchange(ns: SocketAddr, name: &str, timeout: Duration) -> Result<SrvAnswer> {
    let id = FastRng::new().next_u64() as u16;
    let query = encode_srv_query(id, name)?;
    let deadline = Instant::now() + timeout;
    let bind: SocketAddr = if ns.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind)?;
    socket.connect(ns)?;
    socket.send(&query)?;
    let mut buf = vec![0u8; 4096];
    let answer = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Timeout { what: "dns query" });
        }
        socket.set_read_timeout(Some(left))?;
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Error::Timeout { what: "dns query" });
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(answer) = decode_srv_answer(id, &buf[..n])? {
            break answer;
        }
    };
    if !answer.truncated {
        return Ok(answer);
    }
    // Truncated: the same query over TCP, length-prefixed (RFC 1035 4.2.2).
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let mut tcp = TcpStream::connect_timeout(&ns, left)?;
    tcp.set_read_timeout(Some(left))?;
    tcp.set_write_timeout(Some(left))?;
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&query);
    tcp.write_all(&framed)?;
    let mut len = [0u8; 2];
    tcp.read_exact(&mut len)?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    tcp.read_exact(&mut body)?;
    decode_srv_answer(id, &body)?.ok_or(Error::Dns(DnsError::Malformed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_dns::ResourceRecord;
    use simple_dns::rdata::{A, SRV};

    fn reply(id: u16, truncated: bool) -> Vec<u8> {
        let mut p = Packet::new_reply(id);
        if truncated {
            p.set_flags(PacketFlag::TRUNCATION);
        }
        let owner = Name::new_unchecked("_echo._tcp.example");
        for (prio, weight, port, target) in [
            (10, 30, 9001, "a.example"),
            (10, 0, 9002, "b.example"),
            (20, 50, 9003, "c.example"),
        ] {
            p.answers.push(ResourceRecord::new(
                owner.clone(),
                CLASS::IN,
                60,
                RData::SRV(SRV {
                    priority: prio,
                    weight,
                    port,
                    target: Name::new_unchecked(target),
                }),
            ));
        }
        for (name, ip) in [("a.example", [127, 0, 0, 2]), ("b.example", [127, 0, 0, 3])] {
            p.additional_records.push(ResourceRecord::new(
                Name::new_unchecked(name),
                CLASS::IN,
                60,
                RData::A(A {
                    address: u32::from(Ipv4Addr::from(ip)),
                }),
            ));
        }
        p.build_bytes_vec().unwrap()
    }

    #[test]
    fn query_round_trips_through_the_decoder() {
        let q = encode_srv_query(7, "_echo._tcp.example").unwrap();
        let parsed = Packet::parse(&q).unwrap();
        assert_eq!(parsed.id(), 7);
        assert_eq!(parsed.questions.len(), 1);
        assert!(parsed.has_flags(PacketFlag::RECURSION_DESIRED));
    }

    #[test]
    fn decodes_srv_with_additional_addresses_and_keeps_best_priority() {
        let answer = decode_srv_answer(42, &reply(42, false)).unwrap().unwrap();
        assert_eq!(answer.records.len(), 3);
        assert!(!answer.truncated);
        let insts = answer.into_instances().unwrap();
        let got: Vec<_> = insts.iter().map(|i| (i.addr(), i.weight())).collect();
        assert_eq!(
            got,
            vec![
                ("127.0.0.2:9001".parse().unwrap(), 30),
                ("127.0.0.3:9002".parse().unwrap(), 1),
            ]
        );
        assert_eq!(insts[0].tag("srv.target"), Some("a.example"));
    }

    #[test]
    fn ignores_other_ids_and_reports_rcode_and_truncation() {
        assert_eq!(decode_srv_answer(1, &reply(2, false)).unwrap(), None);
        assert!(
            decode_srv_answer(3, &reply(3, true))
                .unwrap()
                .unwrap()
                .truncated
        );
        let mut p = Packet::new_reply(5);
        *p.rcode_mut() = simple_dns::RCODE::NameError;
        let bytes = p.build_bytes_vec().unwrap();
        assert!(matches!(
            decode_srv_answer(5, &bytes),
            Err(Error::Dns(DnsError::Rcode(3)))
        ));
        assert!(matches!(
            decode_srv_answer(5, &[1, 2, 3]),
            Err(Error::Dns(DnsError::Malformed))
        ));
    }

    #[test]
    fn resolv_conf_nameservers() {
        let text = "# c\nsearch x\nnameserver 10.0.0.1\nnameserver fe80::1%eth0\nnameserver bad\n";
        assert_eq!(
            parse_resolv_conf(text),
            vec![
                "10.0.0.1:53".parse::<SocketAddr>().unwrap(),
                "[fe80::1]:53".parse().unwrap()
            ]
        );
    }

    #[test]
    fn host_port_through_the_system_resolver() {
        // `localhost` is in /etc/hosts on every machine this runs on.
        let r = DnsResolver::default();
        let res = r.resolve("localhost:8080").unwrap();
        assert!(!res.instances.is_empty());
        for i in &res.instances {
            assert!(i.addr().ip().is_loopback());
            assert_eq!(i.addr().port(), 8080);
            assert_eq!(i.weight(), crate::DEFAULT_WEIGHT);
        }
        assert!(matches!(
            r.resolve("localhost"),
            Err(Error::InvalidTarget { .. })
        ));
        assert!(r.resolve("127.0.0.1:1").is_ok());
    }
}
