//! The identity in a verified peer certificate: its subject and SANs.

use std::net::IpAddr;

use x509_parser::extensions::GeneralName;

use crate::context::{PeerIdentity, SubjectAltName};

/// Reads the subject and subject alternative names of `der`, a certificate
/// rustls already verified. `None` if it does not parse (it would not have
/// been verified).
pub(crate) fn identity_of(der: &[u8]) -> Option<PeerIdentity> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject().to_string();
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            sans.push(match name {
                GeneralName::DNSName(s) => SubjectAltName::Dns((*s).to_owned()),
                GeneralName::URI(s) => SubjectAltName::Uri((*s).to_owned()),
                GeneralName::RFC822Name(s) => SubjectAltName::Email((*s).to_owned()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => SubjectAltName::Ip(IpAddr::from(<[u8; 4]>::try_from(*b).ok()?)),
                    16 => SubjectAltName::Ip(IpAddr::from(<[u8; 16]>::try_from(*b).ok()?)),
                    _ => continue,
                },
                _ => continue,
            });
        }
    }
    Some(PeerIdentity { subject, sans })
}
