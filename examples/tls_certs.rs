//! Writes a throwaway PKI for trying TLS: `ca.pem`, `server.pem`/`server.key`
//! (for `localhost` and `127.0.0.1`), `client.pem`/`client.key`, and the bad
//! ones the tests use.
//!
//! ```text
//! cargo run --example tls_certs -- /tmp/ringrpc-pki
//! cargo run --release --example echo_server -- --tls-cert /tmp/ringrpc-pki/server.pem \
//!     --tls-key /tmp/ringrpc-pki/server.key --tls-client-ca /tmp/ringrpc-pki/ca.pem
//! cargo run --release --example echo_client -- --tls-ca /tmp/ringrpc-pki/ca.pem \
//!     --tls-cert /tmp/ringrpc-pki/client.pem --tls-key /tmp/ringrpc-pki/client.key
//! ```

#[path = "tls/pki.rs"]
mod pki;

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ringrpc-pki".to_owned());
    let pki = pki::generate(std::path::Path::new(&dir))?;
    println!("wrote {}", pki.dir.display());
    for p in [
        &pki.ca,
        &pki.server_cert,
        &pki.server_key,
        &pki.client_cert,
        &pki.client_key,
    ] {
        println!("  {}", p.display());
    }
    Ok(())
}
