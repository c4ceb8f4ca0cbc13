//! TLS for the servers the tool starts (local, docker): a fresh self-signed certificate per
//! run, so clients that force `sslmode=require` (real fix scripts do) connect. Nobody needs to
//! trust it: `require` encrypts without verifying, and the key dies with the server.

use crate::BackendError;

/// File names of the certificate and key, wherever a backend puts them.
pub(crate) const CERT_FILE: &str = "server.crt";
pub(crate) const KEY_FILE: &str = "server.key";

/// A PEM certificate and its PKCS#8 PEM private key.
pub(crate) struct ServerTls {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
}

impl std::fmt::Debug for ServerTls {
    // Hand-written: the private key is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

impl ServerTls {
    /// A certificate for `hosts` (names or IP addresses), valid from now. ECDSA P-256: key
    /// generation and handshakes cost well under a millisecond.
    pub(crate) fn generate(hosts: &[&str]) -> Result<ServerTls, BackendError> {
        let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into()];
        for h in hosts {
            if !names.iter().any(|n| n == h) {
                names.push((*h).to_string());
            }
        }
        let certified =
            rcgen::generate_simple_self_signed(names).map_err(BackendError::Certificate)?;
        Ok(ServerTls {
            cert_pem: certified.cert.pem(),
            key_pem: certified.signing_key.serialize_pem(),
        })
    }

    /// The `postgres -c` settings that serve this certificate from `dir` (as the server sees it).
    pub(crate) fn server_settings(dir: &str) -> [String; 6] {
        let dir = dir.trim_end_matches('/');
        [
            "-c".into(),
            "ssl=on".into(),
            "-c".into(),
            format!("ssl_cert_file={dir}/{CERT_FILE}"),
            "-c".into(),
            format!("ssl_key_file={dir}/{KEY_FILE}"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_run_gets_its_own_key() {
        let a = ServerTls::generate(&["db.internal"]).unwrap();
        let b = ServerTls::generate(&[]).unwrap();
        assert!(a.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(a.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_ne!(a.key_pem, b.key_pem);
        assert!(!format!("{a:?}").contains("PRIVATE"));
    }
}
