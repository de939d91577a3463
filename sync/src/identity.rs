//! Device identity: each kiosk (and HQ) holds an Ed25519 key. Every signature covers a domain
//! tag and length-prefixed parts, so a signature made for one purpose never verifies for another.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::io::Write;
use std::path::Path;

pub const PUBLIC_KEY_LEN: usize = 32;
pub const SIGNATURE_LEN: usize = 64;
/// A wrapped key file: `ENRDKEY1 | 24-byte nonce | XChaCha20-Poly1305(seed) | tag`.
const WRAPPED_MAGIC: &[u8; 8] = b"ENRDKEY1";
const WRAP_NONCE_LEN: usize = 24;

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
    #[error("the device key file {0} does not open with this kiosk's vault key (copied from another kiosk, or damaged)")]
    WrongWrapKey(String),
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

    /// Loads the key at `path` stored wrapped (XChaCha20-Poly1305) under `wrap_key`, creating
    /// it on first start. A plain 32-byte key file (written by [`Self::load_or_create`]) is
    /// wrapped in place on first load (temporary file, fsync, rename), keeping the same key.
    pub fn load_or_create_wrapped(path: &Path, wrap_key: &[u8; 32]) -> Result<Self, IdentityError> {
        use chacha20poly1305::aead::{Aead, KeyInit, Payload};
        use chacha20poly1305::{XChaCha20Poly1305, XNonce};
        let shown = path.display().to_string();
        let io = |source| IdentityError::Io {
            path: shown.clone(),
            source,
        };
        let cipher = XChaCha20Poly1305::new(wrap_key.into());
        let exists = match std::fs::metadata(path) {
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(io(e)),
        };
        if exists {
            let bytes = std::fs::read(path).map_err(io)?;
            if let Some(rest) = bytes.strip_prefix(WRAPPED_MAGIC.as_slice()) {
                if rest.len() < WRAP_NONCE_LEN {
                    return Err(IdentityError::BadKeyFile(shown));
                }
                let (nonce, body) = rest.split_at(WRAP_NONCE_LEN);
                let seed = cipher
                    .decrypt(
                        XNonce::from_slice(nonce),
                        Payload {
                            msg: body,
                            aad: WRAPPED_MAGIC,
                        },
                    )
                    .map_err(|_| IdentityError::WrongWrapKey(shown.clone()))?;
                let seed: [u8; 32] = seed
                    .as_slice()
                    .try_into()
                    .map_err(|_| IdentityError::BadKeyFile(shown.clone()))?;
                return Ok(DeviceKey {
                    key: SigningKey::from_bytes(&seed),
                });
            }
            // An older plain key file: keep the key, store it wrapped from now on.
            let key = Self::load_or_create(path)?;
            key.write_wrapped(path, &cipher, true).map_err(io)?;
            return Ok(key);
        }
        let key = Self::generate();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        match key.write_wrapped(path, &cipher, false) {
            Ok(()) => Ok(key),
            // Another process created the key first: use that one.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::load_or_create_wrapped(path, wrap_key)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Writes the wrapped key through a temporary file: renamed over `path` when `replace`,
    /// else hard-linked to it (failing with `AlreadyExists` if another process won the race).
    fn write_wrapped(
        &self,
        path: &Path,
        cipher: &chacha20poly1305::XChaCha20Poly1305,
        replace: bool,
    ) -> std::io::Result<()> {
        use chacha20poly1305::aead::{Aead, Payload};
        use chacha20poly1305::XNonce;
        use std::os::unix::fs::OpenOptionsExt;
        let nonce = rand::random::<[u8; WRAP_NONCE_LEN]>();
        let body = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: self.key.as_bytes(),
                    aad: WRAPPED_MAGIC,
                },
            )
            .map_err(|_| std::io::Error::other("wrapping the device key"))?;
        let tmp = path.with_extension(format!("wrapping{:016x}", rand::random::<u64>()));
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(WRAPPED_MAGIC)?;
        f.write_all(&nonce)?;
        f.write_all(&body)?;
        f.sync_all()?;
        drop(f);
        if replace {
            std::fs::rename(&tmp, path)?;
        } else {
            let linked = std::fs::hard_link(&tmp, path);
            std::fs::remove_file(&tmp)?;
            linked?;
        }
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
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

    /// Per item (its parts and signature, each over `domain`): whether the signature holds.
    /// Checked as one batch equation, about half the cost per signature of one by one; when
    /// the batch fails, each is checked alone to find which. A batch accepts only signatures
    /// the key's holder made, like `verify`; it may also accept ones that holder bent on
    /// purpose (a small-order part in `R`), which change nothing it signed.
    pub fn verify_each(&self, domain: &str, items: &[(&[&[u8]], &[u8])]) -> Vec<bool> {
        let mut held = vec![false; items.len()];
        // Signatures of the right length, by item; the batch equation skips the weak-key
        // refusal `verify_strict` makes, so a weak key's are checked one by one (and fail).
        let mut batch = Vec::with_capacity(items.len());
        for (i, (parts, sig)) in items.iter().enumerate() {
            if let Ok(sig) = <[u8; SIGNATURE_LEN]>::try_from(*sig) {
                batch.push((
                    i,
                    signed_message(domain, parts),
                    Signature::from_bytes(&sig),
                ));
            }
        }
        let messages: Vec<&[u8]> = batch.iter().map(|(_, m, _)| m.as_slice()).collect();
        let signatures: Vec<Signature> = batch.iter().map(|(_, _, s)| *s).collect();
        let keys = vec![self.0; batch.len()];
        let all_hold = batch.len() > 1
            && !self.0.is_weak()
            && ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok();
        for (i, message, signature) in &batch {
            held[*i] = all_hold || self.0.verify_strict(message, signature).is_ok();
        }
        held
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
    fn wrapped_key_file_hides_the_seed_and_plain_files_are_wrapped_in_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("device.key");
        let plain = DeviceKey::load_or_create(&path).expect("plain");
        let seed = *plain.key.as_bytes();
        let wrap = [7u8; 32];
        let wrapped = DeviceKey::load_or_create_wrapped(&path, &wrap).expect("wrap in place");
        assert_eq!(wrapped.public(), plain.public());
        let bytes = std::fs::read(&path).expect("read");
        assert!(bytes.starts_with(WRAPPED_MAGIC));
        assert!(!bytes.windows(32).any(|w| w == seed));
        let again = DeviceKey::load_or_create_wrapped(&path, &wrap).expect("reopen");
        assert_eq!(again.public(), plain.public());
        assert!(matches!(
            DeviceKey::load_or_create_wrapped(&path, &[8u8; 32]),
            Err(IdentityError::WrongWrapKey(_))
        ));
        assert!(DeviceKey::load_or_create(&path).is_err());
        let fresh = dir.path().join("new.key");
        let made = DeviceKey::load_or_create_wrapped(&fresh, &wrap).expect("create");
        let reread = DeviceKey::load_or_create_wrapped(&fresh, &wrap).expect("reread");
        assert_eq!(made.public(), reread.public());
    }

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
    fn a_batch_of_signatures_finds_exactly_the_ones_that_do_not_hold() {
        let key = DeviceKey::generate();
        let other = DeviceKey::generate();
        let public = PublicKey::from_bytes(&key.public()).expect("public");
        let records: Vec<Vec<u8>> = (0..40u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let signed = || -> Vec<Vec<u8>> {
            records
                .iter()
                .map(|r| key.sign("d", &[r, b"hash"]).to_vec())
                .collect()
        };
        let failing = |sigs: &[Vec<u8>]| -> Vec<usize> {
            let parts: Vec<[&[u8]; 2]> = records.iter().map(|r| [r.as_slice(), b"hash"]).collect();
            let items: Vec<(&[&[u8]], &[u8])> = parts
                .iter()
                .zip(sigs)
                .map(|(p, s)| (p.as_slice(), s.as_slice()))
                .collect();
            let held = public.verify_each("d", &items);
            assert_eq!(held.len(), sigs.len());
            (0..sigs.len()).filter(|&i| !held[i]).collect()
        };
        assert_eq!(failing(&signed()), Vec::<usize>::new());
        assert_eq!(public.verify_each("d", &[]), Vec::<bool>::new());

        // Another key's signature, a flipped bit, a signature for another domain.
        let mut sigs = signed();
        sigs[3] = other.sign("d", &[&records[3], b"hash"]).to_vec();
        sigs[17][40] ^= 1;
        sigs[25] = key.sign("e", &[&records[25], b"hash"]).to_vec();
        assert_eq!(failing(&sigs), vec![3, 17, 25]);
        // One cut short fails alone; the rest still hold.
        let mut sigs = signed();
        sigs[39].truncate(63);
        assert_eq!(failing(&sigs), vec![39]);
        // Two signatures swapped between their messages hold for neither.
        let mut sigs = signed();
        sigs.swap(0, 1);
        assert_eq!(failing(&sigs), vec![0, 1]);
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
