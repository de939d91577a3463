//! Device identity: each kiosk (and HQ) holds an Ed25519 key. Every signature covers a domain
//! tag and length-prefixed parts, so a signature made for one purpose never verifies for another.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::io::Write;
use std::path::Path;

pub const PUBLIC_KEY_LEN: usize = 32;
pub const SIGNATURE_LEN: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read or write the device key {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("the device key file {0} is damaged (expected 32 bytes)")]
    BadKeyFile(String),
    #[error("the device key file {path} is readable by others (mode {mode:o}); it must be 0600")]
    LooseMode { path: String, mode: u32 },
    #[error("not a valid public key")]
    BadPublicKey,
    #[error("the signature does not verify")]
    BadSignature,
}

/// A device's private signing key.
pub struct DeviceKey {
    key: SigningKey,
}

impl DeviceKey {
    pub fn generate() -> Self {
        DeviceKey {
            key: SigningKey::from_bytes(&rand::random::<[u8; 32]>()),
        }
    }

    /// Loads the key at `path`, creating it (mode 0600) on first start.
    pub fn load_or_create(path: &Path) -> Result<Self, IdentityError> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let shown = path.display().to_string();
        let io = |source| IdentityError::Io {
            path: shown.clone(),
            source,
        };
        match std::fs::read(path) {
            Ok(bytes) => {
                let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(IdentityError::LooseMode { path: shown, mode });
                }
                let seed: [u8; 32] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| IdentityError::BadKeyFile(shown.clone()))?;
                Ok(DeviceKey {
                    key: SigningKey::from_bytes(&seed),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(io)?;
                f.write_all(key.key.as_bytes()).map_err(io)?;
                f.sync_all().map_err(io)?;
                Ok(key)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// A key from its 32-byte seed (an account key unwrapped from its PIN key slot).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        DeviceKey {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// The 32-byte seed, for wrapping in a key slot; the caller wipes it.
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    pub fn public(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.key.verifying_key().to_bytes()
    }

    /// The X25519 secret of this key pair: HQ seals receipts to a kiosk's device key so that
    /// a kiosk needs one key file only (see eprint 2021/509 on sharing a key this way).
    pub fn seal_secret(&self) -> crate::seal::SealSecret {
        crate::seal::SealSecret::from_bytes(self.key.to_scalar_bytes())
    }

    pub fn sign(&self, domain: &str, parts: &[&[u8]]) -> [u8; SIGNATURE_LEN] {
        self.key.sign(&signed_message(domain, parts)).to_bytes()
    }
}

/// Checks `signature` by `public` over `domain` and `parts`.
pub fn verify(
    public: &[u8],
    domain: &str,
    parts: &[&[u8]],
    signature: &[u8],
) -> Result<(), IdentityError> {
    PublicKey::from_bytes(public)?.verify(domain, parts, signature)
}

/// A device's public key decoded once: decoding the curve point costs about as much as a
/// third of a check, and a push carries thousands of signatures by the same key.
#[derive(Clone)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    pub fn from_bytes(public: &[u8]) -> Result<Self, IdentityError> {
        let public: [u8; PUBLIC_KEY_LEN] =
            public.try_into().map_err(|_| IdentityError::BadPublicKey)?;
        let key = VerifyingKey::from_bytes(&public).map_err(|_| IdentityError::BadPublicKey)?;
        Ok(PublicKey(key))
    }

    /// Checks `signature` over `domain` and `parts` (strict: no malleable encodings).
    pub fn verify(
        &self,
        domain: &str,
        parts: &[&[u8]],
        signature: &[u8],
    ) -> Result<(), IdentityError> {
        let signature: [u8; SIGNATURE_LEN] = signature
            .try_into()
            .map_err(|_| IdentityError::BadSignature)?;
        self.0
            .verify_strict(
                &signed_message(domain, parts),
                &Signature::from_bytes(&signature),
            )
            .map_err(|_| IdentityError::BadSignature)
    }
}

/// The X25519 public key matching an Ed25519 public key (for sealing to a device).
pub fn seal_public(public: &[u8]) -> Result<[u8; 32], IdentityError> {
    let public: [u8; PUBLIC_KEY_LEN] =
        public.try_into().map_err(|_| IdentityError::BadPublicKey)?;
    let key = VerifyingKey::from_bytes(&public).map_err(|_| IdentityError::BadPublicKey)?;
    Ok(key.to_montgomery().to_bytes())
}

fn signed_message(domain: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut m = Vec::with_capacity(64 + parts.iter().map(|p| p.len() + 8).sum::<usize>());
    for part in std::iter::once(domain.as_bytes()).chain(parts.iter().copied()) {
        m.extend_from_slice(&(part.len() as u64).to_be_bytes());
        m.extend_from_slice(part);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_domain_and_parts() {
        let key = DeviceKey::generate();
        let sig = key.sign("enroll/change/v1", &[b"record-1", b"hash"]);
        verify(
            &key.public(),
            "enroll/change/v1",
            &[b"record-1", b"hash"],
            &sig,
        )
        .expect("verifies");
        assert!(verify(
            &key.public(),
            "enroll/receipt/v1",
            &[b"record-1", b"hash"],
            &sig
        )
        .is_err());
        assert!(verify(
            &key.public(),
            "enroll/change/v1",
            &[b"record-2", b"hash"],
            &sig
        )
        .is_err());
        // Moving bytes between parts changes the message.
        assert!(verify(
            &key.public(),
            "enroll/change/v1",
            &[b"record-1h", b"ash"],
            &sig
        )
        .is_err());
        assert!(verify(
            &DeviceKey::generate().public(),
            "enroll/change/v1",
            &[b"record-1", b"hash"],
            &sig
        )
        .is_err());
    }

    #[test]
    fn device_key_opens_what_is_sealed_to_it() {
        let key = DeviceKey::generate();
        let to = seal_public(&key.public()).expect("public");
        assert_eq!(key.seal_secret().public(), to);
        let sealed = crate::seal::seal_message(&to, b"receipt").expect("seal");
        let opened = crate::seal::open_all(&key.seal_secret(), &sealed).expect("open");
        assert_eq!(opened, vec![b"receipt".to_vec()]);
    }

    #[test]
    fn key_file_is_created_private_and_reloaded() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys/device.key");
        let first = DeviceKey::load_or_create(&path).expect("create");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            DeviceKey::load_or_create(&path).expect("reload").public(),
            first.public()
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            DeviceKey::load_or_create(&path),
            Err(IdentityError::LooseMode { .. })
        ));
        std::fs::write(&path, b"short").expect("damage");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(matches!(
            DeviceKey::load_or_create(&path),
            Err(IdentityError::BadKeyFile(_))
        ));
    }
}
