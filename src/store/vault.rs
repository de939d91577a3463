//! The device secret that keys everything at rest: the SQLCipher database key, the wrapping
//! key of the device key file and the secret mixed into every PIN key slot are all derived
//! from it (HKDF-SHA256, one domain string each).
//!
//! With a TPM 2.0 (`/dev/tpmrm0`, or the TCTI named by `ENROLL_TPM_TCTI`), the secret exists
//! on disk only as a TPM sealed-data object (`vault.tpm`: its public and private parts) created
//! under the TPM's owner storage primary key: only that TPM can unseal it, so a copied disk
//! opens nowhere else. The TPM is driven through `tpm2-tools` (see ARCHITECTURE.md for why).
//! Without a TPM the secret is a plain file (`vault.key`, mode 0600): the residual risk on
//! TPM-less hardware, written down in ARCHITECTURE.md.

use hkdf::Hkdf;
use sha2::Sha256;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use zeroize::Zeroizing;

pub const SECRET_LEN: usize = 32;
/// The secret in clear, on TPM-less hardware only.
pub const VAULT_KEY_FILE: &str = "vault.key";
/// The secret sealed by the TPM.
pub const VAULT_SEALED_FILE: &str = "vault.tpm";
/// A TCTI string for `tpm2-tools` (e.g. `swtpm:host=127.0.0.1,port=2321`); `none` turns the
/// TPM off even when `/dev/tpmrm0` exists.
pub const TPM_TCTI_ENV: &str = "ENROLL_TPM_TCTI";
const TPM_DEVICE: &str = "/dev/tpmrm0";
/// The vault secret sealed under the default primary (first kiosks): usable only while the
/// TPM is not in dictionary-attack lockout.
const SEALED_MAGIC: &[u8; 8] = b"ENRVLT1\0";
/// The vault secret sealed under a DA-exempt primary with `noda`: wrong PINs that put the TPM
/// into lockout never stop the kiosk from opening its database.
const SEALED_MAGIC_NODA: &[u8; 8] = b"ENRVLT2\0";
/// A key slot's TPM secret: DA-protected, opened with a PIN-derived authValue.
const SLOT_MAGIC: &[u8; 8] = b"ENRSLT1\0";

/// Domain strings of the keys derived from the vault secret.
pub const PURPOSE_DATABASE: &str = "kiosk/vault/sqlcipher/v1";
pub const PURPOSE_DEVICE_KEY: &str = "kiosk/vault/device-key-wrap/v1";
pub const PURPOSE_KEY_SLOT: &str = "kiosk/vault/key-slot/v2";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(
        "không đọc/ghi được tệp khoá {path} / cannot read or write the vault file {path}: {source}"
    )]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("tệp khoá {0} bị hỏng / the vault file {0} is damaged")]
    BadFile(String),
    #[error("tệp khoá {path} để người khác đọc được (mode {mode:o}) / the vault file {path} is readable by others (mode {mode:o}); it must be 0600")]
    LooseMode { path: String, mode: u32 },
    #[error("dữ liệu này được khoá bằng chip TPM nhưng máy không có TPM / this data directory is sealed to a TPM, and no TPM is present (set {TPM_TCTI_ENV} or check /dev/tpmrm0)")]
    NoTpm,
    #[error("chip TPM của máy này không mở được dữ liệu (dữ liệu sao chép từ máy khác, hoặc TPM đã bị xoá) / this kiosk's TPM cannot unseal the data directory (copied from another kiosk, or the TPM was cleared): {0}")]
    WrongTpm(String),
    #[error("lỗi chip TPM / TPM error: {0}")]
    Tpm(String),
    /// The authValue was wrong: the TPM counted a failure against its dictionary-attack limit.
    #[error("chip TPM từ chối mã PIN / the TPM refused the PIN")]
    TpmAuthFail,
    /// Too many wrong authValues: the TPM refuses every PIN until its lockout has run down.
    #[error("chip TPM đang tạm khoá vì nhập sai mã PIN nhiều lần / the TPM is locked for a while after too many wrong PINs")]
    TpmLockout,
}

/// The unsealed device secret; wiped from memory when dropped.
pub struct Vault {
    secret: Zeroizing<[u8; SECRET_LEN]>,
    /// The TPM's TCTI when the secret is sealed by a TPM.
    tpm: Option<String>,
}

/// Unsealing costs several TPM commands: each data directory is unsealed once per process.
/// Keyed by the directory and the sealed blob, so a replaced blob is unsealed again.
type Cache = HashMap<(PathBuf, Vec<u8>), Zeroizing<[u8; SECRET_LEN]>>;
static UNSEALED: Mutex<Option<Cache>> = Mutex::new(None);

impl Vault {
    /// Opens the vault of the data directory `dir`, creating it on first start: sealed by the
    /// TPM when one is present, else a 0600 file. A directory already sealed to a TPM needs
    /// that TPM; one with a plain secret keeps it.
    pub fn open(dir: &Path) -> Result<Vault, VaultError> {
        Vault::open_with(dir, tpm_tcti().as_deref())
    }

    /// [`Vault::open`] with the TPM named by `tcti` (a `tpm2-tools` TCTI string), or none.
    pub fn open_with(dir: &Path, tcti: Option<&str>) -> Result<Vault, VaultError> {
        let sealed_path = dir.join(VAULT_SEALED_FILE);
        let file_path = dir.join(VAULT_KEY_FILE);
        if let Some(blob) = read_optional(&sealed_path)? {
            let tcti = tcti.ok_or(VaultError::NoTpm)?;
            let secret = unseal_cached(dir, &blob, tcti)?;
            if blob.starts_with(SEALED_MAGIC) {
                // Sealed under the DA-protected primary: wrong PINs that lock the TPM out would
                // also stop this database from opening. Re-sealed once under the DA-exempt one;
                // if that fails (a full disk), the old blob still opens and the next open retries.
                let _ = tpm::seal(tcti, secret.as_ref())
                    .and_then(|resealed| replace_file(&sealed_path, &resealed));
            }
            return Ok(Vault {
                secret,
                tpm: Some(tcti.to_owned()),
            });
        }
        if let Some(bytes) = read_optional(&file_path)? {
            check_mode(&file_path)?;
            let secret: [u8; SECRET_LEN] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| VaultError::BadFile(file_path.display().to_string()))?;
            return Ok(Vault {
                secret: Zeroizing::new(secret),
                tpm: None,
            });
        }
        let secret = Zeroizing::new(rand::random::<[u8; SECRET_LEN]>());
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let created = match tcti {
            Some(tcti) => write_new(&sealed_path, &tpm::seal(tcti, secret.as_ref())?)?,
            None => write_new(&file_path, secret.as_ref())?,
        };
        if !created {
            // Another process made the vault first: use its secret.
            return Vault::open_with(dir, tcti);
        }
        Ok(Vault {
            secret,
            tpm: tcti.map(str::to_owned),
        })
    }

    /// True when the secret is sealed by a TPM; false when it sits in a file beside the data.
    pub fn is_hardware(&self) -> bool {
        self.tpm.is_some()
    }

    /// The TCTI of the TPM that sealed the secret, if one did.
    pub fn tpm(&self) -> Option<&str> {
        self.tpm.as_deref()
    }

    /// A 32-byte key for one purpose (`PURPOSE_*`).
    pub fn derive(&self, purpose: &str) -> Zeroizing<[u8; SECRET_LEN]> {
        let mut out = Zeroizing::new([0u8; SECRET_LEN]);
        // HKDF-SHA256 expands up to 255 × 32 bytes; 32 always fits.
        Hkdf::<Sha256>::new(None, self.secret.as_ref())
            .expand(purpose.as_bytes(), out.as_mut())
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        out
    }
}

/// The TCTI to use: `ENROLL_TPM_TCTI` when set (`none` for no TPM), else the kernel's
/// resource manager when `/dev/tpmrm0` exists.
pub fn tpm_tcti() -> Option<String> {
    match std::env::var(TPM_TCTI_ENV) {
        Ok(v) if v.eq_ignore_ascii_case("none") => None,
        Ok(v) if !v.is_empty() => Some(v),
        _ => Path::new(TPM_DEVICE)
            .exists()
            .then(|| format!("device:{TPM_DEVICE}")),
    }
}

/// Loads this kiosk's device key (`device.key`), stored wrapped under a vault-derived key; a
/// plain key file from an older kiosk is wrapped in place on first load.
pub fn device_key(dir: &Path) -> Result<enroll_sync::identity::DeviceKey, super::StoreError> {
    device_key_with(dir, tpm_tcti().as_deref())
}

/// [`device_key`] with the TPM named by `tcti`, or none.
pub fn device_key_with(
    dir: &Path,
    tcti: Option<&str>,
) -> Result<enroll_sync::identity::DeviceKey, super::StoreError> {
    let vault = Vault::open_with(dir, tcti)?;
    let wrap = vault.derive(PURPOSE_DEVICE_KEY);
    Ok(enroll_sync::identity::DeviceKey::load_or_create_wrapped(
        &dir.join(crate::DEVICE_KEY_FILE),
        &wrap,
    )?)
}

fn unseal_cached(
    dir: &Path,
    blob: &[u8],
    tcti: &str,
) -> Result<Zeroizing<[u8; SECRET_LEN]>, VaultError> {
    let key = (
        dir.canonicalize().unwrap_or_else(|_| dir.to_owned()),
        [tcti.as_bytes(), b"\0", blob].concat(),
    );
    if let Ok(guard) = UNSEALED.lock() {
        if let Some(secret) = guard.as_ref().and_then(|c| c.get(&key)) {
            return Ok(secret.clone());
        }
    }
    let plain = Zeroizing::new(tpm::unseal(tcti, blob)?);
    let secret: [u8; SECRET_LEN] = plain
        .as_slice()
        .try_into()
        .map_err(|_| VaultError::BadFile(dir.join(VAULT_SEALED_FILE).display().to_string()))?;
    let secret = Zeroizing::new(secret);
    if let Ok(mut guard) = UNSEALED.lock() {
        guard
            .get_or_insert_with(HashMap::new)
            .insert(key, secret.clone());
    }
    Ok(secret)
}

/// Replaces `path` durably (a temporary 0600 file, fsync, rename, fsync of the directory): a
/// crash leaves either the old file or the new one.
fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    let tmp = write_synced_temp(path, bytes)?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(path)(e));
    }
    sync_parent(path)
}

/// A new 0600 file beside `path` holding `bytes`, synced to disk; its path.
fn write_synced_temp(path: &Path, bytes: &[u8]) -> Result<PathBuf, VaultError> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("tmp{:016x}", rand::random::<u64>()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    let written = f.write_all(bytes).and_then(|_| f.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(&tmp)(e));
    }
    Ok(tmp)
}

/// Makes a new name in `path`'s directory durable.
fn sync_parent(path: &Path) -> Result<(), VaultError> {
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(io_err(parent))?;
    }
    Ok(())
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> VaultError + '_ {
    move |source| VaultError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, VaultError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

fn check_mode(path: &Path) -> Result<(), VaultError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(io_err(path))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(VaultError::LooseMode {
            path: path.display().to_string(),
            mode,
        });
    }
    Ok(())
}

/// Writes a new 0600 file durably (a temporary file, fsync, a hard link to the name, fsync of
/// the directory) unless `path` exists: `Ok(false)` then, and the existing file is kept, so two
/// processes starting on a new data directory agree on one secret.
fn write_new(path: &Path, bytes: &[u8]) -> Result<bool, VaultError> {
    let tmp = write_synced_temp(path, bytes)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(io_err(path)(e)),
    }
    sync_parent(path)?;
    Ok(true)
}

/// Seals a key slot's TPM secret: a DA-protected object whose authValue is `auth` (derived
/// from the PIN), so every guess goes through this TPM and counts towards its lockout.
pub(crate) fn seal_slot_secret(
    tcti: &str,
    secret: &[u8],
    auth: &[u8; SECRET_LEN],
) -> Result<Vec<u8>, VaultError> {
    tpm::seal_as(tcti, secret, SLOT_MAGIC, Some(auth))
}

/// Unseals a key slot's TPM secret: [`VaultError::TpmAuthFail`] for a wrong PIN (counted by
/// the TPM), [`VaultError::TpmLockout`] while the TPM refuses every PIN.
pub(crate) fn unseal_slot_secret(
    tcti: &str,
    blob: &[u8],
    auth: &[u8; SECRET_LEN],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    tpm::unseal_as(
        tcti,
        blob,
        &[SLOT_MAGIC],
        Some(auth),
        "key_slots.tpm_sealed",
    )
    .map(Zeroizing::new)
}

/// The TPM through `tpm2-tools`: a primary storage key (ECC P-256; the same TPM always derives
/// the same one from its owner seed and the template), sealed-data objects under it.
mod tpm {
    use super::*;

    fn run(tcti: &str, args: &[&str], stdin: Option<&[u8]>, dir: &Path) -> Result<Vec<u8>, String> {
        let mut cmd = Command::new(args[0]);
        cmd.args(&args[1..])
            .current_dir(dir)
            .env("TPM2TOOLS_TCTI", tcti)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("{}: {e}", args[0]))?;
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(data)
                .map_err(|e| format!("{}: {e}", args[0]))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| format!("{}: {e}", args[0]))?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(format!(
                "{} ({}): {}",
                args[0],
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// What a failed command's TPM response code means for the caller.
    fn refusal(message: String) -> VaultError {
        let lower = message.to_ascii_lowercase();
        if lower.contains("(0x98e)") {
            VaultError::TpmAuthFail
        } else if lower.contains("(0x921)") {
            VaultError::TpmLockout
        } else {
            VaultError::Tpm(message)
        }
    }

    /// Frees transient objects: without a resource manager (a bare swtpm) they stay loaded.
    fn flush(tcti: &str, dir: &Path) {
        let _ = run(tcti, &["tpm2_flushcontext", "-t"], None, dir);
    }

    /// One TPM conversation at a time in this process: a bare TPM has three object slots.
    static TPM_LOCK: Mutex<()> = Mutex::new(());

    /// The primary storage key into `primary.ctx`. `noda`: the template with `noda`, so loading
    /// children works while the TPM is in lockout (each child keeps its own DA protection);
    /// without it, the default template the first kiosks sealed their vault under.
    fn primary(tcti: &str, dir: &Path, noda: bool) -> Result<(), String> {
        let mut args = vec![
            "tpm2_createprimary",
            "-Q",
            "-C",
            "o",
            "-g",
            "sha256",
            "-G",
            "ecc256:aes128cfb",
            "-c",
            "primary.ctx",
        ];
        if noda {
            args.extend([
                "-a",
                "restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda",
            ]);
        }
        let made = run(tcti, &args, None, dir);
        // The saved context stays usable; the loaded copy would fill a bare TPM's slots.
        flush(tcti, dir);
        made.map(|_| ())
    }

    fn work_dir() -> Result<tempfile::TempDir, VaultError> {
        tempfile::tempdir().map_err(|e| VaultError::Tpm(format!("temporary directory: {e}")))
    }

    /// Writes an authValue where `tpm2-tools` reads it (`-p file:auth`), never on a command
    /// line other processes could read; the work directory is private and removed after.
    fn write_auth(dir: &Path, auth: &[u8]) -> Result<(), VaultError> {
        std::fs::write(dir.join("auth"), auth)
            .map_err(|e| VaultError::Tpm(format!("temporary file: {e}")))
    }

    /// Seals `secret` under the DA-exempt primary. With `auth`, the object is DA-protected and
    /// opens only with that authValue; without, it is `noda` with an empty authValue (the vault).
    pub fn seal_as(
        tcti: &str,
        secret: &[u8],
        magic: &[u8; 8],
        auth: Option<&[u8; SECRET_LEN]>,
    ) -> Result<Vec<u8>, VaultError> {
        let _one = TPM_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let tmp = work_dir()?;
        let dir = tmp.path();
        if let Some(auth) = auth {
            write_auth(dir, auth)?;
        }
        let result = (|| {
            primary(tcti, dir, true)?;
            let mut args = vec![
                "tpm2_create",
                "-Q",
                "-C",
                "primary.ctx",
                "-g",
                "sha256",
                "-i-",
                "-u",
                "seal.pub",
                "-r",
                "seal.priv",
            ];
            if auth.is_some() {
                args.extend(["-p", "file:auth"]);
            } else {
                args.extend(["-a", "fixedtpm|fixedparent|userwithauth|noda"]);
            }
            run(tcti, &args, Some(secret), dir)?;
            let public = std::fs::read(dir.join("seal.pub")).map_err(|e| e.to_string())?;
            let private = std::fs::read(dir.join("seal.priv")).map_err(|e| e.to_string())?;
            Ok::<_, String>((public, private))
        })();
        flush(tcti, dir);
        let (public, private) = result.map_err(VaultError::Tpm)?;
        let mut blob = magic.to_vec();
        for part in [&public, &private] {
            let len = u32::try_from(part.len())
                .map_err(|_| VaultError::Tpm("sealed object too large".into()))?;
            blob.extend_from_slice(&len.to_be_bytes());
            blob.extend_from_slice(part);
        }
        Ok(blob)
    }

    /// Seals the vault secret.
    pub fn seal(tcti: &str, secret: &[u8]) -> Result<Vec<u8>, VaultError> {
        seal_as(tcti, secret, SEALED_MAGIC_NODA, None)
    }

    /// (magic, public, private) of a sealed blob.
    fn split(blob: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
        let (magic, rest) = (blob.get(..8)?, blob.get(8..)?);
        let take = |b: &[u8]| -> Option<(usize, usize)> {
            let len = u32::from_be_bytes(b.get(..4)?.try_into().ok()?) as usize;
            (b.len() >= 4 + len).then_some((4, 4 + len))
        };
        let (s, e) = take(rest)?;
        let public = &rest[s..e];
        let rest = &rest[e..];
        let (s, e) = take(rest)?;
        (e == rest.len()).then_some((magic, public, &rest[s..e]))
    }

    /// Unseals a blob whose magic is one of `magics`, with `auth` as its authValue; `what`
    /// names where the blob is kept, for the error when it is damaged.
    pub fn unseal_as(
        tcti: &str,
        blob: &[u8],
        magics: &[&[u8; 8]],
        auth: Option<&[u8; SECRET_LEN]>,
        what: &str,
    ) -> Result<Vec<u8>, VaultError> {
        let bad = || VaultError::BadFile(what.into());
        let (magic, public, private) = split(blob).ok_or_else(bad)?;
        if !magics.iter().any(|m| m.as_slice() == magic) {
            return Err(bad());
        }
        let _one = TPM_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let tmp = work_dir()?;
        let dir = tmp.path();
        std::fs::write(dir.join("seal.pub"), public)
            .and_then(|_| std::fs::write(dir.join("seal.priv"), private))
            .map_err(|e| VaultError::Tpm(format!("temporary file: {e}")))?;
        if let Some(auth) = auth {
            write_auth(dir, auth)?;
        }
        primary(tcti, dir, magic != SEALED_MAGIC.as_slice()).map_err(VaultError::Tpm)?;
        // Loading fails when the private part was not made under this TPM's primary key.
        let loaded = run(
            tcti,
            &[
                "tpm2_load",
                "-Q",
                "-C",
                "primary.ctx",
                "-u",
                "seal.pub",
                "-r",
                "seal.priv",
                "-c",
                "seal.ctx",
            ],
            None,
            dir,
        );
        flush(tcti, dir);
        if let Err(e) = loaded {
            return Err(match refusal(e) {
                VaultError::Tpm(e) => VaultError::WrongTpm(e),
                other => other,
            });
        }
        let mut args = vec!["tpm2_unseal", "-c", "seal.ctx"];
        if auth.is_some() {
            args.extend(["-p", "file:auth"]);
        }
        let out = run(tcti, &args, None, dir);
        flush(tcti, dir);
        out.map_err(refusal)
    }

    /// Unseals the vault secret (either template).
    pub fn unseal(tcti: &str, blob: &[u8]) -> Result<Vec<u8>, VaultError> {
        unseal_as(
            tcti,
            blob,
            &[SEALED_MAGIC, SEALED_MAGIC_NODA],
            None,
            VAULT_SEALED_FILE,
        )
    }
}
