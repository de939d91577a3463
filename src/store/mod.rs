//! The kiosk's local store: one SQLite file in the data directory (WAL, `synchronous=FULL`).
//! Records are Automerge documents kept as a snapshot plus change chunks, with a query
//! projection beside them so that listing and searching never load a document.

mod accounts;
mod acks;
mod audit;
mod blobs;
mod bundles;
mod drafts;
mod endorse;
mod keyslots;
mod purge;
mod records;
mod schema;
mod settings;
mod signatures;
mod sync_docs;
mod usage;
pub mod vault;

pub use acks::Ack;
pub use audit::{
    AuditCheckpoint, AuditEntry, AuditExport, AuditProblem, AuditReport, AUDIT_PER_HELLO,
};
pub use blobs::sha256_hex;
pub use bundles::Bundle;
pub use drafts::Draft;
pub use keyslots::{DataKey, KdfParams};
pub use records::{ListQuery, RecordSummary, SaveOutcome};
pub use settings::{SettingError, Settings};
pub use sync_docs::PendingRecord;
pub use usage::Usage;

use automerge::ActorId;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension};
use std::path::{Path, PathBuf};

pub const DB_FILE: &str = "kiosk.db";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the kiosk's storage is full; nothing was written. Free space or sync and purge records."
    )]
    DiskFull,
    #[error("the database file is damaged ({0}); saved records are untouched, run `kiosk doctor`")]
    Corrupt(String),
    #[error("the database was written by a newer kiosk version (schema {found}, this build knows {supported})")]
    TooNew { found: usize, supported: usize },
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    #[error(transparent)]
    Doc(#[from] enroll_sync::record::DocError),
    #[error("stored record {id} cannot be read: {reason}")]
    BadRecord { id: String, reason: String },
    /// Biometric blobs need the data key, which only a signed-in person's PIN opens.
    #[error("máy đang khoá, hãy đăng nhập bằng mã PIN / the kiosk is locked: sign in with a PIN to read or store biometrics")]
    Locked,
    /// Approving or returning needs the supervisor's own key, opened by their PIN.
    #[error("khoá riêng của \"{0}\" chưa được mở: hãy đăng nhập lại bằng mã PIN / the own key of \"{0}\" is not open: sign in again with the PIN")]
    AccountKeyClosed(String),
    #[error(transparent)]
    Vault(#[from] vault::VaultError),
    #[error("khoá thiết bị / device key: {0}")]
    DeviceKey(#[from] enroll_sync::identity::IdentityError),
    /// The database is encrypted under a key this kiosk's vault does not give.
    #[error("cơ sở dữ liệu không mở được bằng khoá của máy này (sao chép từ máy khác, hoặc bị hỏng); đừng xoá dữ liệu / the database does not open with this kiosk's key (copied from another kiosk, or damaged); do not delete data: {0}")]
    WrongKey(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StoreError::DiskFull,
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
                StoreError::Corrupt(e.to_string())
            }
            _ => StoreError::Sqlite(e),
        }
    }
}

/// This install's identity in the store: a code people read, an Automerge actor.
#[derive(Debug, Clone)]
pub struct KioskInfo {
    /// Short code printed in enrollment numbers, e.g. `KS3FA2`; replaced at provisioning.
    pub code: String,
    pub actor: ActorId,
}

pub struct Store {
    conn: Connection,
    kiosk: KioskInfo,
    path: PathBuf,
    /// The per-kiosk data key while someone is signed in; `None` when locked.
    data_key: Option<keyslots::DataKey>,
    /// The own signing keys of accounts signed in since the last lock (opened from their
    /// PIN key slots); a supervisor's signs the changes that approve or return a record.
    account_keys: std::collections::HashMap<String, enroll_sync::identity::DeviceKey>,
    /// Argon2id cost for new key slots (the product setting unless a test lowered it).
    kdf: KdfParams,
    /// Lockouts are timed on this clock, not the wall clock.
    boot_clock: Box<dyn crate::accounts::BootClock>,
    /// Mixed into every key slot's key-encryption key (from the vault).
    slot_binding: keyslots::SlotBinding,
    /// Whether the vault secret is sealed by a TPM.
    hardware_vault: bool,
    /// Signs own changes as they are saved.
    change_signer: signatures::ChangeSigner,
}

/// See [`Store::read_snapshot`]; reads only (it is rolled back when dropped).
pub struct ReadSnapshot<'s>(#[allow(dead_code)] rusqlite::Transaction<'s>);

impl Store {
    /// Opens (creating if needed) the store in `dir`, migrating it to the current schema. The
    /// file is SQLCipher, keyed from the data directory's vault (see `vault.rs`); a plain
    /// SQLite file from an older kiosk is encrypted in place first.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with_tpm(dir, vault::tpm_tcti().as_deref())
    }

    /// [`Store::open`] with the TPM named by `tcti` (a `tpm2-tools` TCTI string), or none.
    pub fn open_with_tpm(dir: &Path, tcti: Option<&str>) -> Result<Store, StoreError> {
        let path = dir.join(DB_FILE);
        let (mut conn, vault) = open_conn(dir, tcti)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Deleted key slots and purged blobs are overwritten, not left in free pages.
        conn.pragma_update(None, "secure_delete", "ON")?;
        schema::migrate(&mut conn)?;
        let kiosk = load_or_create_kiosk(&conn)?;
        Ok(Store {
            conn,
            kiosk,
            path,
            data_key: None,
            account_keys: Default::default(),
            kdf: KdfParams::PRODUCT,
            boot_clock: Box::new(crate::accounts::SystemBootClock),
            slot_binding: keyslots::SlotBinding {
                secret: vault.derive(vault::PURPOSE_KEY_SLOT),
                tpm: vault.tpm().map(str::to_owned),
            },
            hardware_vault: vault.is_hardware(),
            change_signer: signatures::ChangeSigner::new(
                dir.join(crate::DEVICE_KEY_FILE),
                vault.derive(vault::PURPOSE_DEVICE_KEY),
            ),
        })
    }

    /// True when this kiosk's vault secret is sealed by a TPM; false on TPM-less hardware,
    /// where a copied disk carries it (see ARCHITECTURE.md, "Encryption at rest").
    pub fn has_hardware_vault(&self) -> bool {
        self.hardware_vault
    }

    /// How long a new PIN must be here: longer without a TPM.
    pub fn pin_policy(&self) -> crate::accounts::PinPolicy {
        crate::accounts::PinPolicy::for_vault(self.hardware_vault)
    }

    pub fn kiosk(&self) -> &KioskInfo {
        &self.kiosk
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets the kiosk code people read in enrollment numbers (done at provisioning).
    pub fn set_kiosk_code(&mut self, code: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO kiosk(key, value) VALUES ('code', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [code.as_bytes()],
        )?;
        self.kiosk.code = code.to_owned();
        Ok(())
    }

    /// One read transaction for many reads (a push's frame): one snapshot and one WAL read
    /// lock, where each statement on its own takes and drops its own. Ends when dropped.
    pub fn read_snapshot(&self) -> Result<ReadSnapshot<'_>, StoreError> {
        Ok(ReadSnapshot(self.conn.unchecked_transaction()?))
    }

    /// `PRAGMA integrity_check`: `Ok(())` or the problems SQLite lists.
    pub fn integrity_check(&self) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let lines: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        if lines == ["ok"] {
            Ok(())
        } else {
            Err(StoreError::Corrupt(lines.join("; ")))
        }
    }

    pub fn cursor(&self, peer: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT cursor FROM sync_cursors WHERE peer = ?1",
                [peer],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn set_cursor(
        &self,
        peer: &str,
        cursor: &[u8],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO sync_cursors(peer, cursor, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(peer) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
            rusqlite::params![peer, cursor, timestamp(at)],
        )?;
        Ok(())
    }
}

/// Opens the database file of `dir` keyed from its vault, encrypting a plain file first: for
/// the store, `kiosk doctor` and tests that look at the raw tables.
pub fn open_keyed(dir: &Path) -> Result<Connection, StoreError> {
    open_keyed_with(dir, vault::tpm_tcti().as_deref())
}

/// [`open_keyed`] with the TPM named by `tcti`, or none.
pub fn open_keyed_with(dir: &Path, tcti: Option<&str>) -> Result<Connection, StoreError> {
    Ok(open_conn(dir, tcti)?.0)
}

fn open_conn(dir: &Path, tcti: Option<&str>) -> Result<(Connection, vault::Vault), StoreError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
        path: dir.to_owned(),
        source,
    })?;
    let path = dir.join(DB_FILE);
    let vault = vault::Vault::open_with(dir, tcti)?;
    let key = database_key(&vault);
    sqlcipher_ready()?;
    if is_plain_sqlite(&path)? {
        // One process migrates; another waiting here finds the file encrypted.
        let _lock = migration_lock(dir)?;
        if is_plain_sqlite(&path)? {
            encrypt_plain(&path, &key, false)?;
        }
    }
    let conn = Connection::open(&path)?;
    let pragma = zeroize::Zeroizing::new(format!("PRAGMA key = \"{}\";", key.as_str()));
    conn.execute_batch(&pragma)?;
    // The first read checks the key: a wrong key reads as "not a database".
    if let Err(e) = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    }) {
        return Err(match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) => StoreError::WrongKey(e.to_string()),
            _ => e.into(),
        });
    }
    Ok((conn, vault))
}

/// Waits until SQLCipher is set up. `sqlite3_initialize` lets other threads through before it
/// runs SQLCipher's own set-up, and a key set in that window fails ("An error occurred with
/// PRAGMA key"). That set-up holds SQLite's global mutex and returns at once when done, so
/// calling it here waits for whichever thread runs it.
fn sqlcipher_ready() -> Result<(), StoreError> {
    extern "C" {
        // Defined in the SQLCipher amalgamation that rusqlite's `bundled-sqlcipher` links.
        fn sqlcipher_extra_init(arg: *const std::ffi::c_char) -> std::ffi::c_int;
    }
    // SAFETY: both take no pointers from us (a null argument is what SQLite itself passes) and
    // are safe to call from any thread at any time.
    let rc = unsafe {
        match rusqlite::ffi::sqlite3_initialize() {
            rusqlite::ffi::SQLITE_OK => sqlcipher_extra_init(std::ptr::null()),
            rc => rc,
        }
    };
    if rc == rusqlite::ffi::SQLITE_OK {
        return Ok(());
    }
    Err(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rc),
        Some("SQLCipher could not be set up".into()),
    )
    .into())
}

/// SQLCipher's raw-key form, `x'<64 hex digits>'`: used as the key directly, no PBKDF2.
fn database_key(vault: &vault::Vault) -> zeroize::Zeroizing<String> {
    let key = vault.derive(vault::PURPOSE_DATABASE);
    zeroize::Zeroizing::new(format!("x'{}'", hex::encode(key.as_ref())))
}

/// An exclusive `flock` on `kiosk.db-migrate.lock`, released when the file is closed.
fn migration_lock(dir: &Path) -> Result<std::fs::File, StoreError> {
    use std::os::unix::io::AsRawFd;
    let path = dir.join("kiosk.db-migrate.lock");
    let err = |source| StoreError::DataDir {
        path: path.clone(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(err)?;
    // SAFETY: flock on a descriptor this function owns for the call's duration.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(err(std::io::Error::last_os_error()));
    }
    Ok(file)
}

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

fn is_plain_sqlite(path: &Path) -> Result<bool, StoreError> {
    use std::io::Read;
    let mut head = [0u8; 16];
    match std::fs::File::open(path) {
        Ok(mut f) => match f.read_exact(&mut head) {
            Ok(()) => Ok(&head == SQLITE_MAGIC),
            // Shorter than a header: empty or new, nothing to migrate.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
            Err(source) => Err(StoreError::DataDir {
                path: path.to_owned(),
                source,
            }),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(StoreError::DataDir {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Encrypts the plain database at `path` in place: its WAL folded in, `sqlcipher_export` into
/// a new file, fsync, atomic rename over the old one, fsync of the directory. A crash before
/// the rename leaves the plain file whole (the next open starts again); after it, the
/// encrypted one. `stop_before_rename` simulates that crash in tests.
pub(crate) fn encrypt_plain(
    path: &Path,
    key: &str,
    stop_before_rename: bool,
) -> Result<(), StoreError> {
    let dir_err = |source| StoreError::DataDir {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("db-encrypting");
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(dir_err(e)),
    }
    {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Rollback journal: the WAL is folded in and removed, so none is left beside the
        // encrypted file to be replayed into it.
        conn.pragma_update(None, "journal_mode", "DELETE")?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let tmp_str = tmp
            .to_str()
            .ok_or_else(|| StoreError::Corrupt("data directory path is not UTF-8".into()))?;
        conn.execute("ATTACH DATABASE ?1 AS encrypted KEY ?2", [tmp_str, key])?;
        conn.query_row("SELECT sqlcipher_export('encrypted')", [], |_| Ok(()))?;
        // sqlcipher_export copies the schema and rows, not the header's user_version.
        conn.pragma_update(Some("encrypted"), "user_version", version)?;
        conn.execute("DETACH DATABASE encrypted", [])?;
    }
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(dir_err)?;
    if stop_before_rename {
        return Ok(());
    }
    std::fs::rename(&tmp, path).map_err(dir_err)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(dir_err)?;
    }
    Ok(())
}

fn load_or_create_kiosk(conn: &Connection) -> Result<KioskInfo, StoreError> {
    let get = |key: &str| -> Result<Option<Vec<u8>>, StoreError> {
        Ok(conn
            .query_row("SELECT value FROM kiosk WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    };
    let actor = match get("actor")? {
        Some(bytes) => ActorId::from(bytes),
        None => {
            // A fresh random actor per install: two copies must never commit as one actor.
            let actor = ActorId::random();
            conn.execute(
                "INSERT INTO kiosk(key, value) VALUES ('actor', ?1)",
                [actor.to_bytes()],
            )?;
            actor
        }
    };
    let code = match get("code")? {
        Some(bytes) => {
            String::from_utf8(bytes).map_err(|e| StoreError::Corrupt(format!("kiosk code: {e}")))?
        }
        None => {
            let code = format!("KS{:04X}", rand::random::<u16>());
            conn.execute(
                "INSERT INTO kiosk(key, value) VALUES ('code', ?1)",
                [code.as_bytes()],
            )?;
            code
        }
    };
    Ok(KioskInfo { code, actor })
}

/// Timestamps are stored as fixed-width RFC 3339 UTC so that text order is time order.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests;
