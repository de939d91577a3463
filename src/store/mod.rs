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
mod sync_docs;
mod usage;

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
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, migrating it to the current schema.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let mut conn = Connection::open(&path)?;
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
        })
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
