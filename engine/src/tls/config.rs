//! TLS settings of a server and a client: certificates and keys from PEM
//! files, the CA that verifies peers, ALPN, and reloading while running.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ProducesTickets, ServerSessionMemoryCache, WebPkiClientVerifier};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// Why TLS settings could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// rustls refused the settings (a key that does not match the
    /// certificate, an unusable CA, ...).
    #[error("TLS settings: {0}")]
    Rustls(#[from] rustls::Error),
    /// A setting is missing or invalid.
    #[error("TLS settings: {0}")]
    Config(String),
}

fn pem_err(path: &Path, reason: impl std::fmt::Display) -> TlsError {
    TlsError::Pem {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM file, in order (the leaf first for a chain).
fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_err(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(path, e))?;
    if certs.is_empty() {
        return Err(pem_err(path, "no CERTIFICATE in the file"));
    }
    Ok(certs)
}

/// The first private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_err(path, e))
}

fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots
            .add(cert)
            .map_err(|e| pem_err(path, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(roots)
}

fn modified(paths: &[&Path]) -> Vec<Option<SystemTime>> {
    paths
        .iter()
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect()
}

/// A server's TLS: its certificate and key, whether client certificates
/// are required (mutual TLS), and whether the port also takes plaintext.
///
/// Cheap to clone (the clones share the settings): keep one to
/// [`reload`](Self::reload) the files while the server runs. New
/// connections take the settings current when they arrive; connections
/// already open keep theirs.
///
/// ```no_run
/// use ringrpc_engine::tls::ServerTls;
/// let tls = ServerTls::builder()
///     .cert_file("server.pem")
///     .key_file("server.key")
///     .client_ca_file("ca.pem") // mutual TLS: require a client certificate
///     .build()?;
/// # Ok::<(), ringrpc_engine::tls::TlsError>(())
/// ```
#[derive(Clone)]
pub struct ServerTls {
    inner: Arc<ServerInner>,
}

struct ServerInner {
    current: ArcSwap<ServerConfig>,
    /// How to make the settings again (`None`: a configuration given whole).
    source: Option<ServerTlsBuilder>,
    accept_plaintext: bool,
    /// Kept across reloads, so sessions resume after one.
    tickets: Arc<dyn ProducesTickets>,
    sessions: Arc<ServerSessionMemoryCache>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("source", &self.inner.source)
            .field("accept_plaintext", &self.inner.accept_plaintext)
            .finish_non_exhaustive()
    }
}

/// Builds a [`ServerTls`] from PEM files.
#[derive(Debug, Clone, Default)]
pub struct ServerTlsBuilder {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
    optional_client_cert: bool,
    accept_plaintext: bool,
    alpn: Vec<Vec<u8>>,
    tls12: bool,
}

impl ServerTlsBuilder {
    /// The server's certificate chain (PEM, the leaf first).
    pub fn cert_file(mut self, path: impl AsRef<Path>) -> Self {
        self.cert = Some(path.as_ref().to_owned());
        self
    }

    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub fn key_file(mut self, path: impl AsRef<Path>) -> Self {
        self.key = Some(path.as_ref().to_owned());
        self
    }

    /// Mutual TLS: clients must present a certificate that this CA (PEM,
    /// one or more certificates) signed; the handshake fails otherwise.
    pub fn client_ca_file(mut self, path: impl AsRef<Path>) -> Self {
        self.client_ca = Some(path.as_ref().to_owned());
        self
    }

    /// With [`client_ca_file`](Self::client_ca_file): a client may also
    /// connect without a certificate (one it presents is still verified);
    /// its calls then have no [`PeerIdentity`](crate::context::PeerIdentity).
    /// Default false: required.
    pub fn client_cert_optional(mut self, yes: bool) -> Self {
        self.optional_client_cert = yes;
        self
    }

    /// Whether the port also serves plaintext clients, told apart from TLS
    /// ones by their first byte. Default false: TLS only.
    pub fn accept_plaintext(mut self, yes: bool) -> Self {
        self.accept_plaintext = yes;
        self
    }

    /// ALPN protocols the server accepts, in preference order. Default none:
    /// ALPN is not negotiated (a client's offer is ignored). When set, a
    /// client that offers ALPN but none of these is refused (RFC 7301).
    pub fn alpn<P: Into<Vec<u8>>>(mut self, protocols: impl IntoIterator<Item = P>) -> Self {
        self.alpn = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Whether TLS 1.2 is offered besides 1.3. Default true.
    pub fn tls12(mut self, yes: bool) -> Self {
        self.tls12 = yes;
        self
    }

    fn make(
        &self,
        tickets: &Arc<dyn ProducesTickets>,
        sessions: &Arc<ServerSessionMemoryCache>,
    ) -> Result<ServerConfig, TlsError> {
        let cert = self
            .cert
            .as_deref()
            .ok_or_else(|| TlsError::Config("no certificate file".into()))?;
        let key = self
            .key
            .as_deref()
            .ok_or_else(|| TlsError::Config("no key file".into()))?;
        let builder = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions(self.tls12))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let roots = Arc::new(load_roots(ca)?);
                let mut v = WebPkiClientVerifier::builder_with_provider(roots, provider());
                if self.optional_client_cert {
                    v = v.allow_unauthenticated();
                }
                let v = v
                    .build()
                    .map_err(|e| TlsError::Config(format!("client CA {}: {e}", ca.display())))?;
                builder.with_client_cert_verifier(v)
            }
        };
        let mut config = builder.with_single_cert(load_certs(cert)?, load_key(key)?)?;
        config.alpn_protocols = self.alpn.clone();
        // The engine seals and opens records itself after the handshake.
        config.enable_secret_extraction = true;
        config.ticketer = tickets.clone();
        config.session_storage = sessions.clone();
        Ok(config)
    }

    /// Reads the files and makes the settings.
    pub fn build(self) -> Result<ServerTls, TlsError> {
        let tickets = rustls::crypto::ring::Ticketer::new()?;
        let sessions = ServerSessionMemoryCache::new(SESSION_CACHE);
        let config = self.make(&tickets, &sessions)?;
        Ok(ServerTls {
            inner: Arc::new(ServerInner {
                current: ArcSwap::from_pointee(config),
                accept_plaintext: self.accept_plaintext,
                source: Some(self),
                tickets,
                sessions,
            }),
        })
    }
}

/// `config` with secret extraction on (the engine's record layer takes
/// the traffic keys over after the handshake).
fn with_extraction(mut config: Arc<ServerConfig>) -> Arc<ServerConfig> {
    if !config.enable_secret_extraction {
        Arc::make_mut(&mut config).enable_secret_extraction = true;
    }
    config
}

/// Sessions a server or client remembers for resumption (per process).
const SESSION_CACHE: usize = 1024;

static TLS13_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

fn versions(tls12: bool) -> &'static [&'static rustls::SupportedProtocolVersion] {
    if tls12 {
        rustls::ALL_VERSIONS
    } else {
        TLS13_ONLY
    }
}

impl ServerTls {
    /// Settings from PEM files: see [`ServerTlsBuilder`].
    pub fn builder() -> ServerTlsBuilder {
        ServerTlsBuilder {
            tls12: true,
            ..ServerTlsBuilder::default()
        }
    }

    /// A configuration made by hand (custom verifiers, certificate
    /// resolvers by SNI, ...). It cannot be [`reload`](Self::reload)ed from
    /// files; [`replace`](Self::replace) swaps it.
    pub fn from_config(config: Arc<ServerConfig>, accept_plaintext: bool) -> Self {
        let config = with_extraction(config);
        Self {
            inner: Arc::new(ServerInner {
                tickets: config.ticketer.clone(),
                sessions: ServerSessionMemoryCache::new(1),
                current: ArcSwap::new(config),
                source: None,
                accept_plaintext,
            }),
        }
    }

    /// Reads the PEM files again and uses them for new connections (a
    /// renewed certificate, a new client CA). On an error the settings in
    /// use stay. Sessions issued before still resume.
    pub fn reload(&self) -> Result<(), TlsError> {
        let Some(source) = &self.inner.source else {
            return Err(TlsError::Config(
                "settings given whole: nothing to reload from".into(),
            ));
        };
        let config = source.make(&self.inner.tickets, &self.inner.sessions)?;
        self.inner.current.store(Arc::new(config));
        tracing::info!(cert = ?source.cert, "TLS settings reloaded");
        Ok(())
    }

    /// Uses `config` for new connections.
    pub fn replace(&self, config: Arc<ServerConfig>) {
        self.inner.current.store(with_extraction(config));
    }

    /// Reloads whenever one of the PEM files changes (checked every
    /// `every` on a thread of its own), until the returned guard is
    /// dropped. A reload that fails is logged and the settings in use stay.
    pub fn watch(&self, every: Duration) -> TlsWatch {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let tls = self.clone();
        let thread = std::thread::Builder::new()
            .name("ringrpc-tls-watch".into())
            .spawn(move || {
                let files = |t: &ServerTls| {
                    t.inner.source.as_ref().map_or_else(Vec::new, |s| {
                        [&s.cert, &s.key, &s.client_ca]
                            .into_iter()
                            .flatten()
                            .cloned()
                            .collect::<Vec<_>>()
                    })
                };
                let paths = files(&tls);
                let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
                let mut seen = modified(&refs);
                while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(every)
                {
                    let now = modified(&refs);
                    if now != seen {
                        seen = now;
                        if let Err(e) = tls.reload() {
                            tracing::warn!("TLS reload failed, keeping the settings in use: {e}");
                        }
                    }
                }
            })
            .ok();
        TlsWatch {
            _stop: stop,
            thread,
        }
    }

    /// Whether plaintext clients are served too.
    pub fn accepts_plaintext(&self) -> bool {
        self.inner.accept_plaintext
    }

    /// The settings new connections take.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.inner.current.load_full()
    }
}

/// Watches a [`ServerTls`]'s files (see [`ServerTls::watch`]); stops when
/// dropped.
#[derive(Debug)]
pub struct TlsWatch {
    _stop: crossbeam_channel::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TlsWatch {
    fn drop(&mut self) {
        // Dropping the sender ends the thread's wait.
        let (dead, _) = crossbeam_channel::bounded(0);
        drop(std::mem::replace(&mut self._stop, dead));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A client's TLS: the CA it trusts, the name it expects the server's
/// certificate to carry, and its own certificate for mutual TLS.
///
/// Cheap to clone. Every connection of a client made with it shares one
/// session cache, so reconnects resume their sessions.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// Builds a [`ClientTls`] from PEM files.
#[derive(Debug, Clone, Default)]
pub struct ClientTlsBuilder {
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    server_name: Option<String>,
    alpn: Vec<Vec<u8>>,
    resume: bool,
    tls12: bool,
}

impl ClientTlsBuilder {
    /// The CA certificates (PEM) that may sign the server's certificate.
    pub fn ca_file(mut self, path: impl AsRef<Path>) -> Self {
        self.ca = Some(path.as_ref().to_owned());
        self
    }

    /// Mutual TLS: the client's certificate chain (PEM).
    pub fn cert_file(mut self, path: impl AsRef<Path>) -> Self {
        self.cert = Some(path.as_ref().to_owned());
        self
    }

    /// Mutual TLS: the client's private key (PEM).
    pub fn key_file(mut self, path: impl AsRef<Path>) -> Self {
        self.key = Some(path.as_ref().to_owned());
        self
    }

    /// The name the server's certificate must carry (a DNS name, sent as
    /// SNI, or an IP address). Default: the IP address connected to.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// ALPN protocols to offer. Default none.
    pub fn alpn<P: Into<Vec<u8>>>(mut self, protocols: impl IntoIterator<Item = P>) -> Self {
        self.alpn = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Whether sessions are resumed. Default true.
    pub fn resumption(mut self, yes: bool) -> Self {
        self.resume = yes;
        self
    }

    /// Whether TLS 1.2 is offered besides 1.3. Default true.
    pub fn tls12(mut self, yes: bool) -> Self {
        self.tls12 = yes;
        self
    }

    /// Reads the files and makes the settings.
    pub fn build(self) -> Result<ClientTls, TlsError> {
        let ca = self
            .ca
            .as_deref()
            .ok_or_else(|| TlsError::Config("no CA file".into()))?;
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(versions(self.tls12))?
            .with_root_certificates(load_roots(ca)?);
        let mut config = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                builder.with_client_auth_cert(load_certs(cert)?, load_key(key)?)?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => {
                return Err(TlsError::Config(
                    "a client certificate needs both its file and its key's".into(),
                ));
            }
        };
        config.alpn_protocols = self.alpn;
        // The engine seals and opens records itself after the handshake.
        config.enable_secret_extraction = true;
        config.resumption = if self.resume {
            Resumption::in_memory_sessions(SESSION_CACHE)
        } else {
            Resumption::disabled()
        };
        let server_name = self
            .server_name
            .map(|n| {
                ServerName::try_from(n.clone())
                    .map_err(|e| TlsError::Config(format!("server name {n:?}: {e}")))
            })
            .transpose()?;
        Ok(ClientTls {
            config: Arc::new(config),
            server_name,
        })
    }
}

impl ClientTls {
    /// Settings from PEM files: see [`ClientTlsBuilder`].
    pub fn builder() -> ClientTlsBuilder {
        ClientTlsBuilder {
            resume: true,
            tls12: true,
            ..ClientTlsBuilder::default()
        }
    }

    /// A configuration made by hand; `server_name` as in
    /// [`ClientTlsBuilder::server_name`].
    pub fn from_config(
        config: Arc<ClientConfig>,
        server_name: Option<ServerName<'static>>,
    ) -> Self {
        let mut config = config;
        if !config.enable_secret_extraction {
            Arc::make_mut(&mut config).enable_secret_extraction = true;
        }
        Self {
            config,
            server_name,
        }
    }

    /// The settings.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// The name to verify for a connection to `addr`.
    pub(crate) fn name_for(&self, addr: std::net::SocketAddr) -> ServerName<'static> {
        self.server_name
            .clone()
            .unwrap_or_else(|| ServerName::IpAddress(addr.ip().into()))
    }
}
