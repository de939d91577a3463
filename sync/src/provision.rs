//! The provisioning file HQ writes for one kiosk (`enroll-hq kiosk add`) and the kiosk imports
//! (`kiosk provision FILE`): where HQ is, HQ's public keys, the kiosk's id and its own key,
//! signed by HQ's signing key. The operator compares HQ's key fingerprint, read aloud, with
//! the one HQ gave them; the signature makes sure nothing else in the file was changed.

use serde::{Deserialize, Serialize};

use crate::identity;
use crate::wire::Writer;

pub const DOMAIN_PROVISION: &str = "enroll/provision/v2";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provisioning {
    pub format: u32,
    /// e.g. `http://10.0.0.5:7070`
    pub hq_url: String,
    /// HQ's Ed25519 key that signs receipts and this file (hex).
    pub hq_sign_public: String,
    /// HQ's X25519 key that kiosks seal to (hex).
    pub hq_seal_public: String,
    /// The kiosk's id at HQ, also its code in enrollment numbers.
    pub kiosk_id: String,
    pub kiosk_name: String,
    /// The kiosk device key HQ allowed (hex): a kiosk refuses a file made for another device.
    pub kiosk_public: String,
    /// SHA-256 (hex) of HQ's TLS certificate (DER) when HQ is `https://`: the only certificate
    /// the kiosk accepts. Absent for `http://` HQs (and in files from before it existed, which
    /// still verify: the signature covers it only when present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hq_tls_pin: Option<String>,
    /// HQ's signature (hex) over every field above; absent in format 1 files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// What a kiosk hands to HQ to be enrolled (`kiosk provision --request FILE`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentRequest {
    pub format: u32,
    pub kiosk_public: String,
    pub current_code: String,
}

/// Provisioning files are format 2 (signed); enrolment requests stay format 1.
pub const FORMAT: u32 = 2;
pub const REQUEST_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvisionError {
    #[error("tệp cấu hình không có chữ ký của HQ (định dạng {0}, do HQ phiên bản cũ tạo); hãy xin HQ tệp mới bằng `enroll-hq kiosk add` / the provisioning file is not signed by HQ (format {0}, from an older HQ); ask HQ for a new one made with `enroll-hq kiosk add`")]
    Unsigned(u32),
    #[error("tệp cấu hình định dạng {0}, ki-ốt này đọc định dạng {FORMAT} / the provisioning file is format {0}; this kiosk reads format {FORMAT}")]
    Format(u32),
    #[error("chữ ký của HQ trên tệp cấu hình không hợp lệ: tệp đã bị sửa hoặc không do HQ này ký / HQ's signature on the provisioning file does not verify: the file was altered or not signed by this HQ")]
    BadSignature,
}

impl Provisioning {
    fn signed_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(self.format)
            .str(&self.hq_url)
            .str(&self.hq_sign_public)
            .str(&self.hq_seal_public)
            .str(&self.kiosk_id)
            .str(&self.kiosk_name)
            .str(&self.kiosk_public);
        if let Some(pin) = &self.hq_tls_pin {
            w.str("hq_tls_pin").str(pin);
        }
        w.finish()
    }

    /// Signs the file with HQ's signing key (the one named in `hq_sign_public`).
    pub fn sign(mut self, key: &identity::DeviceKey) -> Self {
        self.signature = Some(hex::encode(
            key.sign(DOMAIN_PROVISION, &[&self.signed_bytes()]),
        ));
        self
    }

    /// Checks the format and that the key named in the file signed every field of it.
    pub fn verify(&self) -> Result<(), ProvisionError> {
        let Some(sig) = &self.signature else {
            return Err(ProvisionError::Unsigned(self.format));
        };
        if self.format != FORMAT {
            return Err(ProvisionError::Format(self.format));
        }
        let public = hex::decode(self.hq_sign_public.trim()).unwrap_or_default();
        let sig = hex::decode(sig.trim()).unwrap_or_default();
        identity::verify(&public, DOMAIN_PROVISION, &[&self.signed_bytes()], &sig)
            .map_err(|_| ProvisionError::BadSignature)
    }
}

/// Short fingerprint of a public key for people to compare by eye: `3fa2-91c0-…`.
pub fn fingerprint(public_hex: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(public_hex.as_bytes());
    hex::encode(&h[..8])
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// A key's fingerprint to read aloud over the phone: five groups of four digits
/// (`4821 0937 5512 0046 7731`, about 66 bits), digits only so Vietnamese and English
/// speakers read it the same way.
pub fn spoken_fingerprint(public: &[u8]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"enroll/key-fingerprint/v1");
    h.update(public);
    let d = h.finalize();
    d.chunks(4)
        .take(5)
        .map(|c| {
            let n = u32::from_be_bytes([c[0], c[1], c[2], c[3]]) % 10_000;
            format!("{n:04}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use identity::DeviceKey;

    fn file(hq: &DeviceKey) -> Provisioning {
        Provisioning {
            format: FORMAT,
            hq_url: "http://10.0.0.5:7070".into(),
            hq_sign_public: hex::encode(hq.public()),
            hq_seal_public: hex::encode([9u8; 32]),
            kiosk_id: "K00001".into(),
            kiosk_name: "Xã A".into(),
            kiosk_public: hex::encode([1u8; 32]),
            hq_tls_pin: None,
            signature: None,
        }
    }

    #[test]
    fn the_tls_pin_is_signed_and_files_without_it_still_verify() {
        let hq = DeviceKey::generate();
        let plain = file(&hq).sign(&hq);
        let mut pinned = file(&hq);
        pinned.hq_url = "https://10.0.0.5:7443".into();
        pinned.hq_tls_pin = Some(hex::encode([5u8; 32]));
        let pinned = pinned.sign(&hq);
        pinned.verify().expect("verifies");
        // The signature over a file without the pin is the one it always was.
        assert_eq!(plain.signed_bytes(), {
            let mut w = Writer::new();
            w.u32(plain.format)
                .str(&plain.hq_url)
                .str(&plain.hq_sign_public)
                .str(&plain.hq_seal_public)
                .str(&plain.kiosk_id)
                .str(&plain.kiosk_name)
                .str(&plain.kiosk_public);
            w.finish()
        });
        let mut stripped = pinned.clone();
        stripped.hq_tls_pin = None;
        assert_eq!(stripped.verify(), Err(ProvisionError::BadSignature));
        let mut swapped = pinned.clone();
        swapped.hq_tls_pin = Some(hex::encode([6u8; 32]));
        assert_eq!(swapped.verify(), Err(ProvisionError::BadSignature));
        let mut added = plain.clone();
        added.hq_tls_pin = Some(hex::encode([6u8; 32]));
        assert_eq!(added.verify(), Err(ProvisionError::BadSignature));
    }

    #[test]
    fn signed_files_verify_and_any_change_is_caught() {
        let hq = DeviceKey::generate();
        let signed = file(&hq).sign(&hq);
        signed.verify().expect("verifies");
        let text = serde_json::to_string(&signed).expect("json");
        let back: Provisioning = serde_json::from_str(&text).expect("parse");
        back.verify().expect("verifies after a round trip");
        let mut moved = signed.clone();
        moved.hq_url = "http://evil:7070".into();
        assert_eq!(moved.verify(), Err(ProvisionError::BadSignature));
        // Another HQ's key swapped in, signed by the original: refused.
        let other = DeviceKey::generate();
        let mut swapped = signed.clone();
        swapped.hq_sign_public = hex::encode(other.public());
        assert_eq!(swapped.verify(), Err(ProvisionError::BadSignature));
        // An old unsigned file (format 1, no signature field) parses and is refused plainly.
        let old = r#"{"format":1,"hq_url":"http://h:1","hq_sign_public":"00","hq_seal_public":"00","kiosk_id":"K1","kiosk_name":"x","kiosk_public":"00"}"#;
        let old: Provisioning = serde_json::from_str(old).expect("parse");
        assert_eq!(old.verify(), Err(ProvisionError::Unsigned(1)));
    }

    #[test]
    fn spoken_fingerprint_is_five_groups_of_digits() {
        let f = spoken_fingerprint(&[7u8; 32]);
        assert_eq!(f.len(), 24, "{f}");
        assert!(f
            .split(' ')
            .all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_digit())));
        assert_ne!(f, spoken_fingerprint(&[8u8; 32]));
    }
}
