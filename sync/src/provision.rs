//! The provisioning file HQ writes for one kiosk (`enroll-hq kiosk add`) and the kiosk imports
//! (`kiosk provision FILE`): where HQ is, HQ's public keys, the kiosk's id and its own key.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provisioning {
    pub format: u32,
    /// e.g. `http://10.0.0.5:7070`
    pub hq_url: String,
    /// HQ's Ed25519 key that signs receipts (hex).
    pub hq_sign_public: String,
    /// HQ's X25519 key that kiosks seal to (hex).
    pub hq_seal_public: String,
    /// The kiosk's id at HQ, also its code in enrollment numbers.
    pub kiosk_id: String,
    pub kiosk_name: String,
    /// The kiosk device key HQ allowed (hex): a kiosk refuses a file made for another device.
    pub kiosk_public: String,
}

/// What a kiosk hands to HQ to be enrolled (`kiosk provision --request FILE`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentRequest {
    pub format: u32,
    pub kiosk_public: String,
    pub current_code: String,
}

pub const FORMAT: u32 = 1;

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
