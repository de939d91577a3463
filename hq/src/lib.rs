//! Headquarters: the kiosk allowlist, intake of signed changes and blobs from sync sessions
//! and USB bundles, deduplication by ID number, HQ status changes sent back to kiosks.
//!
//! `Hq` is shared by every session (`Arc<Hq>`); it holds keys and the storage pool, never a
//! connection. Each sync session or command takes its own `Session` from the pool.

mod ahead;
pub mod blobs;
pub mod conn;
pub mod dashboard;
pub mod intake;
pub mod kiosk_audit;
pub mod limits;
pub mod review;
pub mod server;
pub mod status;
pub mod storage;
pub mod tls;

use automerge::ActorId;
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use enroll_sync::identity::{self, DeviceKey, IdentityError};
use enroll_sync::seal::{self, SealError, SealSecret};
use enroll_sync::wire::WireError;

pub use blobs::{BlobError, Blobs};
pub use enroll_sync::record::HqState;
pub use intake::Intake;
pub use limits::Limits;
pub use status::{hq_state_str, parse_hq_state};
pub use storage::{
    HqStorage, KioskEntry, KioskTelemetry, Page, RecordQuery, RecordRow, Session, StorageError,
    StoredRecord,
};

pub const DB_FILE: &str = "hq.db";
pub const BLOB_DIR: &str = "blobs";
pub const SIGN_KEY_FILE: &str = "hq-sign.key";
pub const SEAL_KEY_FILE: &str = "hq-seal.key";

/// The time source; tests pass a fixed one.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// A stated reason for refusing a whole stream or one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message_vi: String,
    pub message_en: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} / {} [{}]",
            self.message_vi, self.message_en, self.code
        )
    }
}

pub(crate) fn refusal(code: &'static str, vi: impl Into<String>, en: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message_vi: vi.into(),
        message_en: en.into(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HqError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("refused: {0}")]
    Refused(Refusal),
    #[error("no kiosk `{0}` / không có ki-ốt `{0}`")]
    NoSuchKiosk(String),
    #[error("no record `{0}` at HQ / HQ không có hồ sơ `{0}`")]
    NoSuchRecord(String),
    #[error("the key {0} is already enrolled for kiosk {1}")]
    KeyTaken(String, String),
    #[error("stored record {0} cannot be read: {1}")]
    BadStoredRecord(uuid::Uuid, String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<SealError> for HqError {
    fn from(e: SealError) -> Self {
        if let SealError::FrameTooLarge(_) = e {
            let (vi, en) = limits::text("limit_frame");
            return HqError::Refused(refusal("limit_frame", vi, en));
        }
        HqError::Refused(refusal(
            "sealed_stream",
            format!("tệp/luồng dữ liệu bị hỏng hoặc bị cắt, không dùng phần nào ({e})"),
            format!("{e}"),
        ))
    }
}

impl From<WireError> for HqError {
    fn from(e: WireError) -> Self {
        HqError::Refused(refusal(
            "malformed",
            format!("dữ liệu sai định dạng ({e})"),
            format!("{e}"),
        ))
    }
}

/// Where HQ keeps things; the defaults put everything under one data directory.
#[derive(Clone)]
pub struct Options {
    pub data_dir: PathBuf,
    /// A `postgres://` URL; without it, SQLite in the data directory.
    pub database: Option<String>,
    /// Blob storage (`s3://bucket/prefix`); without it, `blobs/` in the data directory.
    pub blobs: Option<String>,
    /// A `postgres://` URL of a streaming replica for the read-only queries; without it, the
    /// primary serves them.
    pub read_database: Option<String>,
    pub clock: Clock,
    pub limits: Limits,
}

impl Options {
    pub fn in_dir(dir: &Path) -> Self {
        Options {
            data_dir: dir.to_owned(),
            database: None,
            blobs: None,
            read_database: None,
            clock: system_clock(),
            limits: Limits::default(),
        }
    }
}

/// HQ's keys, storage pool and blob store. Shared by every session.
pub struct Hq {
    storage: Arc<dyn HqStorage>,
    /// The replica's pool for read-only queries, if any.
    read: Option<Arc<dyn HqStorage>>,
    blobs: Blobs,
    sign: DeviceKey,
    seal: SealSecret,
    actor: ActorId,
    clock: Clock,
    limits: Limits,
}

impl Hq {
    /// Opens HQ's data directory, creating keys and the SQLite database on first use.
    pub fn open(dir: &Path) -> Result<Self, HqError> {
        Self::open_with(Options::in_dir(dir))
    }

    pub fn open_with(o: Options) -> Result<Self, HqError> {
        let dir = &o.data_dir;
        let io = |source| HqError::Io {
            path: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let sign = DeviceKey::load_or_create(&dir.join(SIGN_KEY_FILE))?;
        // The X25519 key is kept as an Ed25519-format seed file so it gets the same 0600 handling.
        let seal_holder = DeviceKey::load_or_create(&dir.join(SEAL_KEY_FILE))?;
        let storage: Arc<dyn HqStorage> = match &o.database {
            None => Arc::new(storage::sqlite::SqliteStorage::open(&dir.join(DB_FILE))?),
            Some(url) => Arc::new(storage::postgres::PgStorage::open(url)?),
        };
        let blobs = Blobs::open(dir, o.blobs.as_deref())?;
        let mut hq = Hq::new(storage, blobs, sign, seal_holder.seal_secret(), o.clock)?;
        hq.limits = o.limits;
        Ok(match &o.read_database {
            Some(url) => {
                hq.with_read_pool(Arc::new(storage::postgres::PgStorage::open_replica(url)?))
            }
            None => hq,
        })
    }

    /// Read-only queries (listings, duplicate groups, counts, kiosks) go to `read`.
    pub fn with_read_pool(mut self, read: Arc<dyn HqStorage>) -> Self {
        self.read = Some(read);
        self
    }

    /// A session for read-only queries: on the replica when there is one, else the primary.
    pub fn read_session(&self) -> Result<Box<dyn Session>, HqError> {
        match &self.read {
            Some(read) => Ok(read.session()?),
            None => self.session(),
        }
    }

    pub fn new(
        storage: Arc<dyn HqStorage>,
        blobs: Blobs,
        sign: DeviceKey,
        seal: SealSecret,
        clock: Clock,
    ) -> Result<Self, HqError> {
        let mut s = storage.session()?;
        let actor = match s.meta("actor")? {
            Some(b) => ActorId::from(b),
            None => {
                let a = ActorId::random();
                s.set_meta("actor", a.to_bytes())?;
                a
            }
        };
        Ok(Hq {
            storage,
            read: None,
            blobs,
            sign,
            seal,
            actor,
            clock,
            limits: Limits::default(),
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// A session on its own pooled connection.
    pub fn session(&self) -> Result<Box<dyn Session>, HqError> {
        Ok(self.storage.session()?)
    }

    pub fn storage(&self) -> &Arc<dyn HqStorage> {
        &self.storage
    }

    pub fn blobs(&self) -> &Blobs {
        &self.blobs
    }

    pub fn sign_public(&self) -> [u8; 32] {
        self.sign.public()
    }
    pub fn seal_public(&self) -> [u8; 32] {
        self.seal.public()
    }

    /// An opener for kiosk streams: the first frame (before the kiosk is known) is capped small.
    pub fn opener(&self) -> seal::Opener {
        let l = seal::Limits {
            first: self.limits.first_frame,
            rest: self.limits.frame,
        };
        seal::Opener::with_limits(&self.seal, l)
    }

    /// Replaces the default caps and quotas.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Every kiosk, a page at a time.
    pub fn kiosks(&self) -> Result<Vec<KioskEntry>, HqError> {
        let mut s = self.read_session()?;
        let mut out = Vec::new();
        loop {
            let page = s.kiosks(out.last().map(|k: &KioskEntry| k.id.as_str()), 500)?;
            if page.is_empty() {
                return Ok(out);
            }
            out.extend(page);
        }
    }

    /// One page of records matching `q`.
    pub fn list_records(&self, q: &RecordQuery, page: &Page) -> Result<Vec<RecordRow>, HqError> {
        Ok(self.read_session()?.list_records(q, page)?)
    }

    /// Adds a kiosk's device key to the allowlist under a new id (or `code`).
    pub fn add_kiosk(
        &self,
        name: &str,
        public_hex: &str,
        code: Option<&str>,
    ) -> Result<KioskEntry, HqError> {
        let key = hex::decode(public_hex.trim()).map_err(|_| IdentityError::BadPublicKey)?;
        identity::seal_public(&key)?;
        let public_key = hex::encode(&key);
        let mut s = self.session()?;
        s.begin()?;
        if let Some(k) = s.kiosk_by_key(&public_key)? {
            return Err(HqError::KeyTaken(public_key, k.id));
        }
        let id = match code {
            Some(c) => c.to_owned(),
            None => format!("K{:05}", s.kiosk_count()? + 1),
        };
        let now = self.now();
        let entry = KioskEntry {
            id,
            name: name.to_owned(),
            public_key,
            added_at: now,
            revoked_at: None,
            last_seen_at: None,
            last_sync_at: None,
            telemetry: None,
        };
        s.add_kiosk(&entry)?;
        s.audit(&[self.audit_entry("hq", "kiosk.add", &entry.id, &entry.public_key)])?;
        s.commit()?;
        Ok(entry)
    }

    pub fn revoke_kiosk(&self, id: &str) -> Result<(), HqError> {
        let mut s = self.session()?;
        s.begin()?;
        if s.kiosk(id)?.is_none() {
            return Err(HqError::NoSuchKiosk(id.to_owned()));
        }
        s.revoke_kiosk(id, self.now())?;
        s.audit(&[self.audit_entry("hq", "kiosk.revoke", id, "")])?;
        s.commit()?;
        Ok(())
    }

    /// The kiosk's provisioning file, signed with HQ's signing key.
    pub fn provisioning(
        &self,
        kiosk: &KioskEntry,
        hq_url: &str,
    ) -> enroll_sync::provision::Provisioning {
        self.provisioning_pinned(kiosk, hq_url, None)
    }

    /// The provisioning file with the SHA-256 of HQ's TLS certificate (DER) pinned, for an
    /// `https://` HQ: the kiosk accepts no other certificate.
    pub fn provisioning_pinned(
        &self,
        kiosk: &KioskEntry,
        hq_url: &str,
        tls_pin: Option<[u8; 32]>,
    ) -> enroll_sync::provision::Provisioning {
        enroll_sync::provision::Provisioning {
            format: enroll_sync::provision::FORMAT,
            hq_url: hq_url.to_owned(),
            hq_sign_public: hex::encode(self.sign_public()),
            hq_seal_public: hex::encode(self.seal_public()),
            kiosk_id: kiosk.id.clone(),
            kiosk_name: kiosk.name.clone(),
            kiosk_public: kiosk.public_key.clone(),
            hq_tls_pin: tls_pin.map(hex::encode),
            signature: None,
        }
        .sign(&self.sign)
    }

    pub(crate) fn audit_entry(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &str,
    ) -> storage::AuditEntry {
        storage::AuditEntry {
            at: self.now(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            subject: subject.to_owned(),
            detail: detail.to_owned(),
        }
    }
}
