//! The per-kiosk data key and its key slots. Biometric blobs are sealed with the data key; the
//! data key itself is stored only wrapped, once per account, under a key derived from that
//! account's PIN with Argon2id. Opening a slot is also how a PIN is checked: a wrong PIN fails
//! the slot's authentication tag, so there is no separate PIN hash to attack.
//!
//! A slot also holds the account's own Ed25519 signing key (its seed after the data key), so
//! it opens only with that account's PIN; slots written before accounts had keys hold the
//! data key alone and gain a key at the next sign-in.
//!
//! Version 2 slots bind the key-encryption key to the vault (`vault.rs`): KEK =
//! HKDF-SHA256(salt, Argon2id(PIN, salt) ‖ vault slot secret), so guessing PINs against a
//! copied disk needs the vault secret (on TPM hardware, that TPM). A version 1 slot (KEK =
//! Argon2id alone, written by older kiosks) still opens and is re-wrapped as version 2 at that
//! sign-in; the version is told by the associated data each was sealed with.
//!
//! Version 3 slots, on kiosks whose vault a TPM seals, also bind each guess to the TPM: the
//! slot holds a random secret sealed by the TPM as a dictionary-attack-protected object whose
//! authValue is derived from Argon2id(PIN), and the KEK mixes that secret in. A wrong PIN is a
//! TPM authorisation failure, counted by the TPM, which refuses every PIN once its limit is
//! reached: a whole stolen kiosk can no longer be brute-forced offline at Argon2id speed.
//! Version 2 slots on such kiosks become version 3 at the next sign-in.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rusqlite::{params, Connection, OptionalExtension};
use zeroize::Zeroizing;

use super::{Store, StoreError};

pub const KEY_LEN: usize = 32;
pub const NONCE_LEN: usize = 24;
const SALT_LEN: usize = 16;
/// Associated-data tag so a slot, a blob and anything else sealed never open as one another.
const SLOT_AD: &[u8] = b"kiosk/key-slot/v1";
const SLOT_AD_V2: &[u8] = b"kiosk/key-slot/v2";
const KEK_INFO_V2: &[u8] = b"kiosk/key-slot/kek/v2";
const SLOT_AD_V3: &[u8] = b"kiosk/key-slot/v3";
const KEK_INFO_V3: &[u8] = b"kiosk/key-slot/kek/v3";
const TPM_AUTH_INFO: &[u8] = b"kiosk/key-slot/tpm-auth/v3";

/// What binds a slot to this kiosk: the vault-derived secret mixed into every key-encryption
/// key, and the TPM that seals each slot's own secret (when the vault is a TPM's).
pub(crate) struct SlotBinding {
    pub(crate) secret: Zeroizing<[u8; KEY_LEN]>,
    pub(crate) tpm: Option<String>,
}

fn hkdf32(salt: &[u8], ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; KEY_LEN]> {
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    // HKDF-SHA256 expands up to 255 × 32 bytes; 32 always fits.
    hkdf::Hkdf::<sha2::Sha256>::new(Some(salt), ikm)
        .expand(info, out.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

impl SlotBinding {
    /// KEK v2 from the Argon2id output of the PIN and the slot's salt.
    fn kek(&self, argon: &[u8; KEY_LEN], salt: &[u8]) -> Zeroizing<[u8; KEY_LEN]> {
        let ikm = Zeroizing::new([argon.as_slice(), self.secret.as_slice()].concat());
        hkdf32(salt, &ikm, KEK_INFO_V2)
    }

    /// KEK v3: v2's inputs and the slot's TPM-sealed secret.
    fn kek_v3(&self, argon: &[u8; KEY_LEN], salt: &[u8], tpm: &[u8]) -> Zeroizing<[u8; KEY_LEN]> {
        let ikm = Zeroizing::new([argon.as_slice(), self.secret.as_slice(), tpm].concat());
        hkdf32(salt, &ikm, KEK_INFO_V3)
    }
}

/// The authValue of a slot's TPM object: the TPM sees a PIN only through Argon2id.
fn tpm_auth(argon: &[u8; KEY_LEN], salt: &[u8]) -> Zeroizing<[u8; KEY_LEN]> {
    hkdf32(salt, argon, TPM_AUTH_INFO)
}

/// Argon2id cost: memory in KiB, passes, lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    pub m_kib: u32,
    pub t_cost: u32,
    pub p_lanes: u32,
}

impl KdfParams {
    /// Measured with benches/security.rs on the 2-core build machine: 0.24–0.29 s per key
    /// derivation, 0.21–0.25 s per full sign-in (target: 0.1–0.5 s).
    pub const PRODUCT: KdfParams = KdfParams {
        m_kib: 64 * 1024,
        t_cost: 2,
        p_lanes: 1,
    };

    /// Cheap parameters for tests only: set explicitly with `Store::use_test_only_kdf`.
    pub const TEST_ONLY: KdfParams = KdfParams {
        m_kib: 64,
        t_cost: 1,
        p_lanes: 1,
    };

    /// Derives the key-encryption key for `pin`.
    pub fn derive(&self, pin: &str, salt: &[u8]) -> Result<Zeroizing<[u8; KEY_LEN]>, StoreError> {
        let params = Params::new(self.m_kib, self.t_cost, self.p_lanes, Some(KEY_LEN))
            .map_err(|e| StoreError::Corrupt(format!("key slot parameters: {e}")))?;
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(pin.as_bytes(), salt, out.as_mut())
            .map_err(|e| StoreError::Corrupt(format!("key derivation: {e}")))?;
        Ok(out)
    }
}

/// The unwrapped per-kiosk data key; wiped from memory when dropped.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; KEY_LEN]>);

impl DataKey {
    pub fn generate() -> Self {
        DataKey(Zeroizing::new(rand::random::<[u8; KEY_LEN]>()))
    }

    /// Seals `plain` with a fresh random nonce: `nonce || ciphertext+tag`.
    pub fn seal(&self, plain: &[u8], ad: &[u8]) -> Result<Vec<u8>, StoreError> {
        seal(&self.0, plain, ad)
    }

    pub fn open(&self, sealed: &[u8], ad: &[u8]) -> Option<Vec<u8>> {
        open(&self.0, sealed, ad)
    }
}

fn seal(key: &[u8; KEY_LEN], plain: &[u8], ad: &[u8]) -> Result<Vec<u8>, StoreError> {
    let nonce = rand::random::<[u8; NONCE_LEN]>();
    let cipher = XChaCha20Poly1305::new(key.into());
    // Fails only beyond the cipher's 256 GiB message limit.
    let body = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plain,
                aad: ad,
            },
        )
        .map_err(|_| StoreError::Corrupt("blob too large to encrypt".into()))?;
    let mut out = Vec::with_capacity(NONCE_LEN + body.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&body);
    Ok(out)
}

fn open(key: &[u8; KEY_LEN], sealed: &[u8], ad: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    XChaCha20Poly1305::new(key.into())
        .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad: ad })
        .ok()
}

fn slot_ad(account: &str) -> Vec<u8> {
    // Bound to the account so one account's slot copied onto another does not open.
    [SLOT_AD, account.as_bytes()].concat()
}

fn slot_ad_v2(account: &str) -> Vec<u8> {
    [SLOT_AD_V2, account.as_bytes()].concat()
}

fn slot_ad_v3(account: &str) -> Vec<u8> {
    [SLOT_AD_V3, account.as_bytes()].concat()
}

/// Writes (or replaces) `account`'s slot: the data key and the account's signing key seed
/// wrapped under its PIN, bound to the vault.
pub(crate) fn write_slot(
    conn: &Connection,
    account: &str,
    pin: &str,
    key: &DataKey,
    account_seed: &[u8; KEY_LEN],
    kdf: KdfParams,
    binding: &SlotBinding,
) -> Result<(), StoreError> {
    let salt = rand::random::<[u8; SALT_LEN]>();
    let argon = kdf.derive(pin, &salt)?;
    let mut plain = Zeroizing::new([0u8; 2 * KEY_LEN]);
    plain[..KEY_LEN].copy_from_slice(key.0.as_ref());
    plain[KEY_LEN..].copy_from_slice(account_seed);
    let (wrapped, tpm) = wrap(account, &argon, &salt, plain.as_ref(), binding)?;
    store_slot(conn, account, &salt, kdf, &wrapped, tpm.as_deref())
}

/// Wraps a slot's contents: version 3 (with a fresh TPM-sealed secret) when the binding has a
/// TPM, else version 2. Returns nonce ‖ sealed body, and the TPM blob.
fn wrap(
    account: &str,
    argon: &[u8; KEY_LEN],
    salt: &[u8],
    plain: &[u8],
    binding: &SlotBinding,
) -> Result<(Vec<u8>, Option<Vec<u8>>), StoreError> {
    let Some(tcti) = binding.tpm.as_deref() else {
        let wrapped = seal(&binding.kek(argon, salt), plain, &slot_ad_v2(account))?;
        return Ok((wrapped, None));
    };
    let secret = Zeroizing::new(rand::random::<[u8; KEY_LEN]>());
    let blob = super::vault::seal_slot_secret(tcti, secret.as_ref(), &tpm_auth(argon, salt))?;
    let kek = binding.kek_v3(argon, salt, secret.as_ref());
    Ok((seal(&kek, plain, &slot_ad_v3(account))?, Some(blob)))
}

/// Writes (or replaces) `account`'s slot row: `wrapped` is nonce ‖ sealed body.
fn store_slot(
    conn: &Connection,
    account: &str,
    salt: &[u8],
    kdf: KdfParams,
    wrapped: &[u8],
    tpm: Option<&[u8]>,
) -> Result<(), StoreError> {
    let (nonce, body) = wrapped.split_at(NONCE_LEN);
    conn.execute(
        "INSERT INTO key_slots(account, salt, m_kib, t_cost, p_lanes, nonce, wrapped, tpm_sealed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT(account) DO UPDATE SET salt = excluded.salt, m_kib = excluded.m_kib,
            t_cost = excluded.t_cost, p_lanes = excluded.p_lanes, nonce = excluded.nonce,
            wrapped = excluded.wrapped, tpm_sealed = excluded.tpm_sealed",
        params![
            account,
            salt,
            kdf.m_kib,
            kdf.t_cost,
            kdf.p_lanes,
            nonce,
            body,
            tpm
        ],
    )?;
    Ok(())
}

/// What an opened slot holds: the data key, and the account's key seed (`None` in a slot
/// written before accounts had keys).
pub(crate) type Opened = (DataKey, Option<Zeroizing<[u8; KEY_LEN]>>);

/// Opens `account`'s slot with `pin`: `Ok(None)` for a wrong PIN or no slot.
pub(crate) fn open_slot(
    conn: &Connection,
    account: &str,
    pin: &str,
    binding: &SlotBinding,
) -> Result<Option<Opened>, StoreError> {
    type Row = (Vec<u8>, u32, u32, u32, Vec<u8>, Vec<u8>, Option<Vec<u8>>);
    let row: Option<Row> = conn
        .query_row(
            "SELECT salt, m_kib, t_cost, p_lanes, nonce, wrapped, tpm_sealed FROM key_slots
             WHERE account = ?1",
            [account],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .optional()?;
    let Some((salt, m_kib, t_cost, p_lanes, nonce, wrapped, tpm_sealed)) = row else {
        return Ok(None);
    };
    let kdf = KdfParams {
        m_kib,
        t_cost,
        p_lanes,
    };
    let argon = kdf.derive(pin, &salt)?;
    let sealed = [nonce, wrapped].concat();
    let plain = if let Some(blob) = tpm_sealed {
        // Version 3: the TPM checks the PIN (through Argon2id) and counts a wrong one.
        let tcti = binding
            .tpm
            .as_deref()
            .ok_or(super::vault::VaultError::NoTpm)?;
        let secret = match super::vault::unseal_slot_secret(tcti, &blob, &tpm_auth(&argon, &salt)) {
            Ok(secret) => secret,
            Err(super::vault::VaultError::TpmAuthFail) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let kek = binding.kek_v3(&argon, &salt, &secret);
        // The TPM accepted the PIN, so a slot that still does not open is damaged.
        let plain = open(&kek, &sealed, &slot_ad_v3(account)).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "key slot of {account} does not open with its TPM secret"
            ))
        })?;
        Zeroizing::new(plain)
    } else {
        let (plain, v1) = match open(&binding.kek(&argon, &salt), &sealed, &slot_ad_v2(account)) {
            Some(plain) => (Zeroizing::new(plain), false),
            None => match open(&argon, &sealed, &slot_ad(account)) {
                Some(plain) => (Zeroizing::new(plain), true),
                None => return Ok(None),
            },
        };
        if v1 || binding.tpm.is_some() {
            // An older slot than this kiosk writes: re-wrapped now that the PIN is known.
            let (rewrapped, tpm) = wrap(account, &argon, &salt, &plain, binding)?;
            let (nonce, body) = rewrapped.split_at(NONCE_LEN);
            conn.execute(
                "UPDATE key_slots SET nonce = ?2, wrapped = ?3, tpm_sealed = ?4 WHERE account = ?1",
                params![account, nonce, body, tpm],
            )?;
        }
        plain
    };
    let wrong = || StoreError::Corrupt(format!("key slot of {account} has the wrong size"));
    let (data, seed) = match plain.len() {
        KEY_LEN => (plain.as_slice(), None),
        n if n == 2 * KEY_LEN => (&plain[..KEY_LEN], Some(&plain[KEY_LEN..])),
        _ => return Err(wrong()),
    };
    let bytes: [u8; KEY_LEN] = data.try_into().map_err(|_| wrong())?;
    let seed = match seed {
        Some(s) => Some(Zeroizing::new(
            <[u8; KEY_LEN]>::try_from(s).map_err(|_| wrong())?,
        )),
        None => None,
    };
    Ok(Some((DataKey(Zeroizing::new(bytes)), seed)))
}

/// Writes a version 1 slot (KEK = Argon2id alone), as kiosks before the vault did: for the
/// tests of the upgrade path only.
#[cfg(test)]
pub(crate) fn write_v1_slot_for_tests(
    conn: &Connection,
    account: &str,
    pin: &str,
    key: &DataKey,
    kdf: KdfParams,
) -> Result<(), StoreError> {
    let salt = rand::random::<[u8; SALT_LEN]>();
    let kek = kdf.derive(pin, &salt)?;
    let wrapped = seal(&kek, key.0.as_ref(), &slot_ad(account))?;
    store_slot(conn, account, &salt, kdf, &wrapped, None)
}

impl Store {
    /// Lowers the Argon2id cost of slots written from now on. For tests only: the product
    /// never calls this, and every slot keeps the parameters it was written with.
    #[doc(hidden)]
    pub fn use_test_only_kdf(&mut self) {
        self.kdf = KdfParams::TEST_ONLY;
    }

    pub fn kdf_params(&self) -> KdfParams {
        self.kdf
    }

    pub fn is_unlocked(&self) -> bool {
        self.data_key.is_some()
    }

    /// Forgets the data key (idle lock, sign-out); biometrics are unreadable until the next PIN.
    pub fn lock(&mut self) {
        self.data_key = None;
        self.account_keys.clear();
    }

    pub(crate) fn data_key(&self) -> Result<&DataKey, StoreError> {
        self.data_key.as_ref().ok_or(StoreError::Locked)
    }
}
