//! Throwaway certificates for TLS examples and tests, made with rcgen (no
//! openssl): a CA, a server certificate for `localhost` and `127.0.0.1`, a
//! client certificate with a DNS and a URI SAN, and, for the bad-input
//! tests, an expired server certificate and a second CA nobody trusts with
//! a client certificate of its own. ECDSA P-256 keys throughout.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, date_time_ymd,
};

/// The files of one throwaway PKI.
#[derive(Debug, Clone)]
pub struct Pki {
    pub dir: PathBuf,
    /// The CA both sides trust.
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A server certificate from the same CA whose validity ended in 2000.
    pub expired_cert: PathBuf,
    pub expired_key: PathBuf,
    /// Another CA, and a client certificate it signed.
    pub rogue_ca: PathBuf,
    pub rogue_cert: PathBuf,
    pub rogue_key: PathBuf,
}

/// The client certificate's subject and SANs, as a server reads them.
pub const CLIENT_CN: &str = "ringrpc-test-client";
pub const CLIENT_DNS: &str = "client.ringrpc.test";
pub const CLIENT_URI: &str = "spiffe://ringrpc.test/client";

fn ca(name: &str) -> Result<(Issuer<'static, KeyPair>, String), rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let pem = params.self_signed(&key)?.pem();
    Ok((Issuer::new(params, key), pem))
}

fn leaf(
    issuer: &Issuer<'static, KeyPair>,
    cn: &str,
    sans: Vec<SanType>,
    usage: ExtendedKeyUsagePurpose,
    expired: bool,
) -> Result<(String, String), rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, cn);
    params.subject_alt_names = sans;
    params.extended_key_usages = vec![usage];
    if expired {
        params.not_before = date_time_ymd(1999, 1, 1);
        params.not_after = date_time_ymd(2000, 1, 1);
    }
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Makes the PKI and writes it as PEM files into `dir`.
pub fn generate(dir: &Path) -> std::io::Result<Pki> {
    let err = |e: rcgen::Error| std::io::Error::other(e.to_string());
    std::fs::create_dir_all(dir)?;
    let (issuer, ca_pem) = ca("ringrpc test CA").map_err(err)?;
    let server_sans = || {
        vec![
            SanType::DnsName("localhost".try_into().expect("a DNS name")),
            SanType::IpAddress([127, 0, 0, 1].into()),
        ]
    };
    let (server, server_key) = leaf(
        &issuer,
        "localhost",
        server_sans(),
        ExtendedKeyUsagePurpose::ServerAuth,
        false,
    )
    .map_err(err)?;
    let (expired, expired_key) = leaf(
        &issuer,
        "localhost",
        server_sans(),
        ExtendedKeyUsagePurpose::ServerAuth,
        true,
    )
    .map_err(err)?;
    let (client, client_key) = leaf(
        &issuer,
        CLIENT_CN,
        vec![
            SanType::DnsName(CLIENT_DNS.try_into().expect("a DNS name")),
            SanType::URI(CLIENT_URI.try_into().expect("a URI")),
        ],
        ExtendedKeyUsagePurpose::ClientAuth,
        false,
    )
    .map_err(err)?;
    let (rogue_issuer, rogue_ca_pem) = ca("rogue CA").map_err(err)?;
    let (rogue, rogue_key) = leaf(
        &rogue_issuer,
        CLIENT_CN,
        vec![SanType::DnsName(CLIENT_DNS.try_into().expect("a DNS name"))],
        ExtendedKeyUsagePurpose::ClientAuth,
        false,
    )
    .map_err(err)?;
    let write = |name: &str, pem: &str| -> std::io::Result<PathBuf> {
        let p = dir.join(name);
        std::fs::write(&p, pem)?;
        Ok(p)
    };
    Ok(Pki {
        dir: dir.to_owned(),
        ca: write("ca.pem", &ca_pem)?,
        server_cert: write("server.pem", &server)?,
        server_key: write("server.key", &server_key)?,
        client_cert: write("client.pem", &client)?,
        client_key: write("client.key", &client_key)?,
        expired_cert: write("expired.pem", &expired)?,
        expired_key: write("expired.key", &expired_key)?,
        rogue_ca: write("rogue-ca.pem", &rogue_ca_pem)?,
        rogue_cert: write("rogue.pem", &rogue)?,
        rogue_key: write("rogue.key", &rogue_key)?,
    })
}
