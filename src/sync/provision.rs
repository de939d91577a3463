//! Provisioning: a kiosk writes an enrolment request (its device key); HQ allows the key and
//! writes a provisioning file; the kiosk imports it (HQ address, HQ keys, its id and code).
//!
//! Field procedure (one USB stick, no network needed):
//! 1. On the kiosk: `kiosk provision --request /media/usb/<name>.req.json` (prints the key and
//!    its fingerprint; the device key is created at first start, mode 0600).
//! 2. At HQ: `enroll-hq kiosk add --name "<commune>" --request /media/usb/<name>.req.json
//!    --hq-url http://<hq>:7070 --out /media/usb/<name>.provision.json` (prints the kiosk id
//!    and the key fingerprint: compare it with the one the kiosk printed).
//! 3. On the kiosk: `kiosk provision /media/usb/<name>.provision.json` — refused if the file was
//!    made for another device's key or HQ's signature on it does not verify. The kiosk prints
//!    HQ's key fingerprint (five groups of digits): compare it with the one HQ printed (read it
//!    over the phone). The kiosk's code becomes its HQ id (`K00001`). Once provisioned, a file
//!    naming another HQ key is taken only with a signed-in supervisor (`--supervisor NAME`).
//!
//! Over the phone instead of a stick: read the 64-hex key to HQ (`--key HEX`).

use enroll_sync::identity::DeviceKey;
use enroll_sync::provision::{spoken_fingerprint, EnrolmentRequest, Provisioning, REQUEST_FORMAT};
use enroll_sync::record::Attribution;

use super::SyncError;
use crate::store::Store;

/// HQ settings a provisioned kiosk keeps in its store.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub hq_url: String,
    pub hq_sign: [u8; 32],
    pub hq_seal: [u8; 32],
    pub kiosk_id: String,
    /// SHA-256 of HQ's TLS certificate (DER), for an `https://` HQ.
    pub hq_tls_pin: Option<[u8; 32]>,
}

fn key32(hex_text: &str, what: &str) -> Result<[u8; 32], SyncError> {
    hex::decode(hex_text.trim())
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
        .ok_or_else(|| SyncError::BadProvisioning(format!("{what} is not a 32-byte hex key")))
}

impl Provisioned {
    pub fn load(store: &Store) -> Result<Provisioned, SyncError> {
        let get = |k: &str| -> Result<String, SyncError> {
            store.sync_setting(k)?.ok_or(SyncError::NotProvisioned)
        };
        Ok(Provisioned {
            hq_url: get("hq_url")?,
            hq_sign: key32(&get("hq_sign_public")?, "hq_sign_public")?,
            hq_seal: key32(&get("hq_seal_public")?, "hq_seal_public")?,
            kiosk_id: get("kiosk_id")?,
            hq_tls_pin: match store.sync_setting("hq_tls_pin")? {
                Some(pin) if !pin.is_empty() => Some(key32(&pin, "hq_tls_pin")?),
                _ => None,
            },
        })
    }
}

/// What this kiosk hands to HQ to be enrolled.
pub fn enrolment_request(store: &Store, key: &DeviceKey) -> EnrolmentRequest {
    EnrolmentRequest {
        format: REQUEST_FORMAT,
        kiosk_public: hex::encode(key.public()),
        current_code: store.kiosk().code.clone(),
    }
}

impl Provisioned {
    /// HQ's signing key as people compare it: five groups of four digits.
    pub fn hq_fingerprint(&self) -> String {
        spoken_fingerprint(&self.hq_sign)
    }
}

/// Imports HQ's provisioning file: signed by the HQ key it names, made for this device's key.
/// On a kiosk already provisioned, a file naming another HQ key needs `supervisor`.
pub fn provision(
    store: &mut Store,
    key: &DeviceKey,
    text: &str,
    by: &Attribution,
    supervisor: Option<&crate::accounts::Session>,
) -> Result<Provisioned, SyncError> {
    let p: Provisioning =
        serde_json::from_str(text).map_err(|e| SyncError::BadProvisioning(e.to_string()))?;
    p.verify()?;
    let https = p.hq_url.starts_with("https://");
    if !https && !p.hq_url.starts_with("http://") {
        return Err(SyncError::BadProvisioning(format!(
            "hq_url `{}` must start with http:// or https://",
            p.hq_url
        )));
    }
    let hq_tls_pin = match &p.hq_tls_pin {
        Some(pin) => Some(key32(pin, "hq_tls_pin")?),
        None if https => {
            return Err(SyncError::BadProvisioning(format!(
                "hq_url `{}` is https:// but the file pins no TLS certificate (hq_tls_pin)",
                p.hq_url
            )))
        }
        None => None,
    };
    let mine = hex::encode(key.public());
    if p.kiosk_public.trim().to_lowercase() != mine {
        return Err(SyncError::WrongDevice(p.kiosk_public));
    }
    if p.kiosk_id.is_empty() || !p.kiosk_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(SyncError::BadProvisioning(format!(
            "kiosk_id `{}` must be letters and digits",
            p.kiosk_id
        )));
    }
    let out = Provisioned {
        hq_url: p.hq_url.clone(),
        hq_sign: key32(&p.hq_sign_public, "hq_sign_public")?,
        hq_seal: key32(&p.hq_seal_public, "hq_seal_public")?,
        kiosk_id: p.kiosk_id.clone(),
        hq_tls_pin,
    };
    let mut by = by.clone();
    match Provisioned::load(store) {
        Ok(old) if old.hq_sign != out.hq_sign => match supervisor {
            Some(s) if s.is_supervisor() => by.person = s.person.clone(),
            _ => {
                return Err(SyncError::HqChangeNeedsSupervisor {
                    old: old.hq_fingerprint(),
                    new: out.hq_fingerprint(),
                })
            }
        },
        Ok(_) | Err(SyncError::NotProvisioned) => {}
        Err(e) => return Err(e),
    }
    let by = &by;
    store.set_sync_setting("hq_url", &p.hq_url)?;
    store.set_sync_setting("hq_sign_public", &p.hq_sign_public)?;
    store.set_sync_setting("hq_seal_public", &p.hq_seal_public)?;
    store.set_sync_setting("kiosk_id", &p.kiosk_id)?;
    store.set_sync_setting("hq_tls_pin", p.hq_tls_pin.as_deref().unwrap_or(""))?;
    store.set_kiosk_code(&p.kiosk_id)?;
    store.audit(
        by,
        "sync.provision",
        Some(&p.kiosk_id),
        Some(&format!("{} key {}", p.hq_url, out.hq_fingerprint())),
    )?;
    Ok(out)
}
