//! HQ serving HTTPS itself: the certificate and key from PEM files, rustls on ring; the pin a
//! kiosk keeps (SHA-256 of the certificate, DER, hex), and a self-signed certificate for a
//! deployment with no CA (`enroll-hq tls generate`). Behind a TLS-terminating proxy HQ serves
//! plain HTTP as before.

use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("không đọc được {path}: {reason} / cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{0} không chứa chứng chỉ PEM nào / {0} holds no PEM certificate")]
    NoCertificate(String),
    #[error("chứng chỉ và khóa TLS không dùng được: {0} / the TLS certificate and key cannot be used: {0}")]
    Config(String),
    #[error("không tạo được chứng chỉ: {0} / cannot make the certificate: {0}")]
    Generate(String),
    #[error("không ghi được {path}: {source} / cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// The certificate chain in a PEM file, leaf first.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| TlsError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.display().to_string()));
    }
    Ok(certs)
}

/// The pin kiosks keep: SHA-256 of the leaf certificate (DER) in `cert_pem`.
pub fn pin_of(cert_pem: &Path) -> Result<[u8; 32], TlsError> {
    let certs = load_certs(cert_pem)?;
    Ok(Sha256::digest(certs[0].as_ref()).into())
}

/// rustls server settings from PEM files.
pub fn server_config(cert_pem: &Path, key_pem: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = load_certs(cert_pem)?;
    let key = PrivateKeyDer::from_pem_file(key_pem).map_err(|e| TlsError::Read {
        path: key_pem.display().to_string(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Writes a self-signed certificate for `names` (DNS names or IP addresses) and its key, PEM;
/// the key file is mode 0600. Returns the pin.
pub fn generate(names: &[String], cert_out: &Path, key_out: &Path) -> Result<[u8; 32], TlsError> {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(names.to_vec())
            .map_err(|e| TlsError::Generate(e.to_string()))?;
    write_private(key_out, signing_key.serialize_pem().as_bytes())?;
    std::fs::write(cert_out, cert.pem()).map_err(|source| TlsError::Write {
        path: cert_out.display().to_string(),
        source,
    })?;
    Ok(Sha256::digest(cert.der().as_ref()).into())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    write().map_err(|source| TlsError::Write {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_loads_and_its_pin_is_stable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = (dir.path().join("hq.crt"), dir.path().join("hq.key"));
        let pin = generate(&["127.0.0.1".into(), "hq.local".into()], &cert, &key).expect("gen");
        assert_eq!(pin_of(&cert).expect("pin"), pin);
        server_config(&cert, &key).expect("config");
        let other = dir.path().join("other.crt");
        let pin2 = generate(&["127.0.0.1".into()], &other, &dir.path().join("o.key")).expect("g");
        assert_ne!(pin, pin2);
        assert!(matches!(
            server_config(&other, &key),
            Err(TlsError::Config(_))
        ));
    }
}
