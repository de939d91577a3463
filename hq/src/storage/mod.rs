//! What HQ keeps in its database, behind two traits so that PostgreSQL sits beside the embedded
//! SQLite default. `HqStorage` is the pool; a `Session` is one pooled connection owned by one
//! sync session or command, so sessions never wait on a process-wide lock and a panic in one
//! leaves the others untouched (its connection is rolled back, never shared while in use).
//!
//! Sessions are synchronous and are always driven from a blocking thread (`spawn_blocking` in
//! the server): SQLite works there directly; an async back-end (tokio-postgres) bridges with
//! `Handle::block_on` on that thread. Methods work on batches so that one frame of a sync
//! session costs a handful of statements, not a few per record. Blobs are not here (`blobs`).
//! The storage never reads the clock: every time is passed in.

pub mod postgres;
pub mod review;
pub mod sqlite;

use automerge::ChangeHash;
use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("HQ database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Any other back-end (PostgreSQL, the pool) reports its error as text.
    #[error("HQ database error ({backend}): {message}")]
    Backend {
        backend: &'static str,
        message: String,
    },
    #[error("HQ database holds a damaged value: {0}")]
    Corrupt(String),
    #[error("HQ database schema version {found} is newer than this enroll-hq ({known})")]
    TooNew { found: i64, known: i64 },
}

/// Storage errors as text in logs, with both languages for the operator.
pub type Result<T> = std::result::Result<T, StorageError>;

/// The pool of sessions.
pub trait HqStorage: Send + Sync + 'static {
    /// A session on its own connection, returned to the pool when dropped; a transaction left
    /// open (a panic, an early return) is rolled back first.
    fn session(&self) -> Result<Box<dyn Session>>;
    /// A second connection for a session that can do without one: `None` rather than wait
    /// when the pool has none free (a session holding one never waits for another).
    fn spare_session(&self) -> Result<Option<Box<dyn Session>>> {
        self.session().map(Some)
    }
    /// "sqlite" or "postgres", for logs and listings.
    fn backend(&self) -> &'static str;
}

/// One connection. Reads outside a transaction see committed data; inside `begin`..`commit`
/// the rows read with `records` stay locked against other writers until the end (SQLite: the
/// one write lock; PostgreSQL: `FOR UPDATE`), so read-modify-write of a record never races.
pub trait Session: Send {
    fn begin(&mut self) -> Result<()>;
    fn commit(&mut self) -> Result<()>;
    fn rollback(&mut self) -> Result<()>;
    /// Commits without waiting for the disk where the back-end can. The log is written in
    /// order, so the next plain `commit` on any session makes this one durable too; used for
    /// a sync session's frames, which nobody sees acknowledged before the receipt's commit.
    fn commit_unsynced(&mut self) -> Result<()> {
        self.commit()
    }

    fn meta(&mut self, key: &str) -> Result<Option<Vec<u8>>>;
    fn set_meta(&mut self, key: &str, value: &[u8]) -> Result<()>;

    // Kiosks.
    fn add_kiosk(&mut self, k: &KioskEntry) -> Result<()>;
    fn kiosk(&mut self, id: &str) -> Result<Option<KioskEntry>>;
    fn kiosk_by_key(&mut self, public_key: &str) -> Result<Option<KioskEntry>>;
    fn kiosk_count(&mut self) -> Result<u64>;
    /// Kiosks ordered by id, the page after `after`.
    fn kiosks(&mut self, after: Option<&str>, limit: u32) -> Result<Vec<KioskEntry>>;
    fn revoke_kiosk(&mut self, id: &str, at: DateTime<Utc>) -> Result<bool>;
    /// A hello arrived: last seen time and what the kiosk says about itself.
    fn kiosk_seen(&mut self, id: &str, at: DateTime<Utc>, t: &KioskTelemetry) -> Result<()>;
    /// A push or bundle was applied.
    fn kiosk_synced(&mut self, id: &str, at: DateTime<Utc>) -> Result<()>;

    // Records.
    /// Whole records (document and projection) for these ids; missing ids are left out.
    fn records(&mut self, ids: &[Uuid]) -> Result<Vec<StoredRecord>>;
    /// Owner, heads and blob references only: what a hello needs, without documents.
    fn record_states(&mut self, ids: &[Uuid]) -> Result<Vec<RecordState>>;
    /// Inserts or replaces each record (document and projection).
    fn put_records(&mut self, records: &[StoredRecord]) -> Result<()>;
    /// Writes each record whose stored heads are still the given ones (`None`: not stored)
    /// and returns the ids of the others, unwritten: written by another session since they
    /// were read. Inside a transaction.
    fn put_records_if(
        &mut self,
        records: Vec<(StoredRecord, Option<Vec<ChangeHash>>)>,
    ) -> Result<Vec<Uuid>> {
        let ids: Vec<Uuid> = records.iter().map(|(r, _)| r.id).collect();
        let held: std::collections::HashMap<Uuid, Vec<ChangeHash>> = self
            .record_states(&ids)?
            .into_iter()
            .map(|st| (st.id, st.heads))
            .collect();
        let (current, stale): (Vec<_>, Vec<_>) = records
            .into_iter()
            .partition(|(r, read)| held.get(&r.id) == read.as_ref());
        let current: Vec<StoredRecord> = current.into_iter().map(|(r, _)| r).collect();
        self.put_records(&current)?;
        Ok(stale.into_iter().map(|(r, _)| r.id).collect())
    }
    /// Serialises deduplication of these ID numbers until the transaction ends.
    fn lock_id_numbers(&mut self, numbers: &[String]) -> Result<()>;
    fn records_with_id_number(&mut self, id_number: &str) -> Result<Vec<Uuid>>;
    /// Every record holding one of these ID numbers, as (ID number, record id), ordered by
    /// both: one round trip for a whole frame where the back-end is remote.
    fn records_with_id_numbers(&mut self, numbers: &[String]) -> Result<Vec<(String, Uuid)>> {
        let mut out = Vec::new();
        let mut sorted: Vec<&String> = numbers.iter().collect();
        sorted.sort();
        sorted.dedup();
        for n in sorted {
            for id in self.records_with_id_number(n)? {
                out.push((n.clone(), id));
            }
        }
        Ok(out)
    }
    /// Records one duplicate pair (order-free); false when the pair was already recorded.
    fn add_duplicate_pair(
        &mut self,
        id_number: &str,
        a: &Uuid,
        b: &Uuid,
        at: DateTime<Utc>,
    ) -> Result<bool>;

    // Queries (keyset-paged; none loads every row).
    fn list_records(&mut self, q: &RecordQuery, page: &Page) -> Result<Vec<RecordRow>>;
    /// Groups of records sharing an ID number, ordered by ID number, after `after`.
    fn duplicate_groups(&mut self, after: Option<&str>, limit: u32) -> Result<Vec<DuplicateGroup>>;
    /// Per-kiosk record counts by status and HQ status, kiosks ordered by id after `after`.
    fn kiosk_counts(&mut self, after: Option<&str>, limit: u32) -> Result<Vec<KioskCounts>>;

    // HQ-made changes for kiosks.
    /// Queues a change for the kiosk that owns the record; returns its sequence.
    fn add_outbox(&mut self, kiosk_id: &str, record: &Uuid, change: &[u8]) -> Result<u64>;
    fn outbox_since(&mut self, kiosk_id: &str, after: u64, limit: u32) -> Result<Vec<OutboxEntry>>;
    /// Where the kiosk last said it had read HQ's changes up to (never moves back).
    fn set_cursor(&mut self, kiosk_id: &str, cursor: u64) -> Result<()>;
    fn cursor(&mut self, kiosk_id: &str) -> Result<u64>;

    fn put_receipt(
        &mut self,
        id: &str,
        kiosk_id: &str,
        at: DateTime<Utc>,
        body: &[u8],
    ) -> Result<()>;

    // Audit: a hash chain, appended in order; concurrent writers are serialised by the back-end.
    fn audit(&mut self, entries: &[AuditEntry]) -> Result<()>;
    fn audit_count(&mut self) -> Result<u64>;
    /// Entries in order after sequence `after`.
    fn audit_since(&mut self, after: u64, limit: u32) -> Result<Vec<AuditRow>>;

    // ---- dashA: dashboard users, browser sessions, telemetry history, audit search ----
    /// Adds a dashboard user; false when the name is taken.
    fn add_user(&mut self, u: &DashUser) -> Result<bool>;
    fn user_by_name(&mut self, name: &str) -> Result<Option<DashUser>>;
    fn user(&mut self, id: &str) -> Result<Option<DashUser>>;
    /// Failed sign-ins in a row and the end of a lockout.
    fn set_user_login(
        &mut self,
        id: &str,
        failed: u32,
        locked_until: Option<DateTime<Utc>>,
    ) -> Result<()>;
    /// The user's chosen record columns (comma-separated keys).
    fn set_user_columns(&mut self, id: &str, columns: &str) -> Result<()>;
    /// Stores a browser session; sessions expired by `s.created_at` are deleted on the way.
    fn add_web_session(&mut self, s: &WebSession) -> Result<()>;
    fn web_session(&mut self, token_hash: &str) -> Result<Option<WebSession>>;
    fn end_web_session(&mut self, token_hash: &str) -> Result<()>;
    /// Telemetry points (kept by `kiosk_seen`) of these kiosks since `since`, by kiosk and time.
    fn telemetry_history(
        &mut self,
        kiosks: &[String],
        since: DateTime<Utc>,
    ) -> Result<Vec<TelemetryPoint>>;
    /// Audit entries matching `q`, newest first, before sequence `before`.
    fn audit_search(
        &mut self,
        q: &AuditQuery,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditRow>>;
    // --- dashB: record timeline, comments, duplicate adjudication, session log, quality ---
    /// Keeps change signatures (an existing one for the same record and hash stays).
    fn put_change_sigs(&mut self, sigs: &[review::ChangeSig]) -> Result<()>;
    /// The signatures held for these changes of one record.
    fn change_sigs(&mut self, record: &Uuid, hashes: &[[u8; 32]])
        -> Result<Vec<review::ChangeSig>>;
    fn add_comment(&mut self, c: &review::CommentRow) -> Result<u64>;
    /// A record's comments in order, after `after`.
    fn comments(
        &mut self,
        record: &Uuid,
        after: u64,
        limit: u32,
    ) -> Result<Vec<review::CommentRow>>;
    /// Inserts or replaces the decision on one pair.
    fn put_adjudication(&mut self, a: &review::AdjudicationRow) -> Result<()>;
    /// Decisions on pairs of this ID number (a group has few records, so few pairs).
    fn adjudications(
        &mut self,
        id_number: &str,
        limit: u32,
    ) -> Result<Vec<review::AdjudicationRow>>;
    /// True when the pair was recorded as sharing an ID number.
    fn is_duplicate_pair(&mut self, a: &Uuid, b: &Uuid) -> Result<bool>;
    /// Appends a session row with its signed receipt; returns its sequence.
    fn add_sync_session(&mut self, row: &review::SyncSessionRow, receipt: &[u8]) -> Result<u64>;
    /// Sessions newest first.
    fn sync_sessions(&mut self, q: &review::SessionQuery) -> Result<Vec<review::SyncSessionRow>>;
    /// One session's row and signed receipt bytes.
    fn sync_session(&mut self, seq: u64) -> Result<Option<(review::SyncSessionRow, Vec<u8>)>>;
    /// Inserts or replaces each record's quality figures.
    fn put_quality(&mut self, facts: &[review::QualityFacts]) -> Result<()>;
    /// Figures per key and week for one page of keys.
    fn quality(&mut self, q: &review::QualityQuery) -> Result<Vec<review::QualityWeek>>;
}

// ---- dashA types ----

/// A person who signs in to the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashUser {
    pub id: String,
    pub name: String,
    /// admin, reviewer or viewer.
    pub role: String,
    /// Province codes the user may see and act on; empty: every province.
    pub provinces: Vec<String>,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub failed_logins: u32,
    pub locked_until: Option<DateTime<Utc>>,
    pub columns: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A signed-in browser; the cookie holds the token, the database only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    pub token_hash: String,
    pub user_id: String,
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// One hello's storage figures, kept a while for the fleet page's forecast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryPoint {
    pub kiosk_id: String,
    pub at: DateTime<Utc>,
    pub free_bytes: u64,
    pub records_waiting: u64,
}

/// How long telemetry points are kept.
pub const TELEMETRY_KEEP_DAYS: i64 = 30;

/// Filters for `audit_search`; all given ones must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub actor: Option<String>,
    /// Actions starting with this text.
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// `LIKE` pattern matching text that starts with `prefix`.
pub fn like_prefix(prefix: &str) -> String {
    let mut escaped = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    escaped
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KioskEntry {
    /// Also the kiosk code printed in its enrollment numbers.
    pub id: String,
    pub name: String,
    pub public_key: String,
    pub added_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The last hello (any session).
    pub last_seen_at: Option<DateTime<Utc>>,
    /// The last push or bundle applied.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// What the kiosk said about itself in its last hello.
    pub telemetry: Option<KioskTelemetry>,
}

/// A kiosk's report on itself, carried in each hello.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct KioskTelemetry {
    pub software_version: String,
    pub free_bytes: u64,
    pub records_waiting: u64,
    pub oldest_waiting_at: Option<DateTime<Utc>>,
    pub last_capture_at: Option<DateTime<Utc>>,
    /// The kiosk's clock when it made the hello (compare with `last_seen_at` for drift).
    pub clock: DateTime<Utc>,
    /// Audit entries HQ has verified as one unbroken chain from the kiosk's first.
    #[serde(default)]
    pub audit_entries: u64,
    /// Set once the kiosk's audit log was found cut short or rewritten (Vietnamese / English);
    /// it stays until someone at HQ deals with the kiosk.
    #[serde(default)]
    pub audit_problem: Option<String>,
}

/// A record as HQ holds it: the document (snapshot and/or change chunks) and its projection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub id: Uuid,
    pub kiosk_id: String,
    pub doc: Vec<u8>,
    /// Change chunks appended since the last full save.
    pub chunks: u32,
    pub heads: Vec<ChangeHash>,
    /// SHA-256 of every blob the record references.
    pub blobs: Vec<[u8; 32]>,
    pub p: Projection,
}

/// The searchable fields of a record.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Projection {
    pub enrollment_no: String,
    /// Card upper case with diacritics.
    pub full_name: String,
    /// The kiosk's accent-free search key (`enroll_sync::text::search_key`).
    pub search_key: String,
    pub id_number: Option<String>,
    pub province_code: Option<String>,
    pub commune_code: Option<String>,
    pub operator_id: String,
    pub captured_at: Option<DateTime<Utc>>,
    pub status: String,
    pub hq_status: Option<String>,
    pub hq_reason: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// The columns of `records` a write sets, in the order both back-ends bind them.
pub(crate) const RECORD_COLS: &str = "id, kiosk_id, enrollment_no, full_name, search_key,
    id_number, province_code, commune_code, operator_id, captured_at, status, hq_status,
    hq_reason, updated_at, heads, blobs, chunks, doc";
/// Every column but the id, from the row offered (`excluded`): an upsert's `SET`.
pub(crate) const RECORD_SET: &str = "kiosk_id = excluded.kiosk_id,
    enrollment_no = excluded.enrollment_no, full_name = excluded.full_name,
    search_key = excluded.search_key, id_number = excluded.id_number,
    province_code = excluded.province_code, commune_code = excluded.commune_code,
    operator_id = excluded.operator_id, captured_at = excluded.captured_at,
    status = excluded.status, hq_status = excluded.hq_status,
    hq_reason = excluded.hq_reason, updated_at = excluded.updated_at,
    heads = excluded.heads, blobs = excluded.blobs, chunks = excluded.chunks,
    doc = excluded.doc";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordState {
    pub id: Uuid,
    pub kiosk_id: String,
    pub heads: Vec<ChangeHash>,
    pub blobs: Vec<[u8; 32]>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecordRow {
    pub id: Uuid,
    pub kiosk_id: String,
    #[serde(flatten)]
    pub p: Projection,
}

/// Filters for `list_records`; all given ones must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordQuery {
    pub kiosk: Option<String>,
    pub province: Option<String>,
    pub commune: Option<String>,
    pub status: Option<String>,
    /// `Some(None)`: records HQ has not given a status yet.
    pub hq_status: Option<Option<String>>,
    /// Capture time from (inclusive) .. to (exclusive).
    pub captured_from: Option<DateTime<Utc>>,
    pub captured_to: Option<DateTime<Utc>>,
    /// Each word must begin a word of the record's search key (already a search key).
    pub name_key: Option<String>,
    pub id_number: Option<String>,
    pub operator: Option<String>,
    /// The record's province must be one of these (a user's scope); `Some(empty)` matches none.
    pub provinces_in: Option<Vec<String>>,
}

impl RecordQuery {
    /// A capture-date range pages by capture time, then id: the `(captured_at, id)` index then
    /// serves the page instead of a walk through every record created after the range.
    pub fn by_capture_time(&self) -> bool {
        self.captured_from.is_some() || self.captured_to.is_some()
    }
}

/// Keyset page: records ordered by id (UUIDv7: creation order), or by capture time when the
/// query has a capture-date range; newest first when asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The last id of the previous page.
    pub after: Option<Uuid>,
    pub limit: u32,
    pub newest_first: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DuplicateGroup {
    pub id_number: String,
    pub records: Vec<RecordRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct KioskCounts {
    pub kiosk_id: String,
    pub records: u64,
    /// (kiosk status, count)
    pub by_status: Vec<(String, u64)>,
    /// (HQ status or "none", count)
    pub by_hq_status: Vec<(String, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub seq: u64,
    pub record: Uuid,
    pub change: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub seq: u64,
    pub entry: AuditEntry,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

/// The chained hash of one audit entry: over the previous hash and each field, length-prefixed.
pub fn audit_hash(prev: &[u8; 32], e: &AuditEntry) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update((prev.len() as u64).to_be_bytes());
    h.update(prev);
    h.update(audit_fields(e));
    h.finalize().into()
}

/// What `audit_hash` covers after the previous hash: each field, length-prefixed.
pub fn audit_fields(e: &AuditEntry) -> Vec<u8> {
    let at = ts(e.at);
    let parts = [
        at.as_bytes(),
        e.actor.as_bytes(),
        e.action.as_bytes(),
        e.subject.as_bytes(),
        e.detail.as_bytes(),
    ];
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 8).sum());
    for part in parts {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// Checks that audit rows form one unbroken chain from `prev`; returns the last hash.
pub fn verify_audit_chain(prev: [u8; 32], rows: &[AuditRow]) -> std::result::Result<[u8; 32], u64> {
    let mut prev = prev;
    for r in rows {
        if r.prev_hash != prev || audit_hash(&prev, &r.entry) != r.hash {
            return Err(r.seq);
        }
        prev = r.hash;
    }
    Ok(prev)
}

/// Times as fixed-width RFC 3339 UTC text (sortable as text).
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn heads_bytes(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

pub fn heads_from(b: &[u8]) -> Result<Vec<ChangeHash>> {
    if !b.len().is_multiple_of(32) {
        return Err(StorageError::Corrupt("heads are not whole hashes".into()));
    }
    b.chunks_exact(32)
        .map(|c| ChangeHash::try_from(c).map_err(|e| StorageError::Corrupt(e.to_string())))
        .collect()
}

pub fn blobs_bytes(blobs: &[[u8; 32]]) -> Vec<u8> {
    blobs.iter().flatten().copied().collect()
}

pub fn blobs_from(b: &[u8]) -> Result<Vec<[u8; 32]>> {
    if !b.len().is_multiple_of(32) {
        return Err(StorageError::Corrupt(
            "blob list is not whole hashes".into(),
        ));
    }
    Ok(b.chunks_exact(32)
        .map(|c| {
            let mut a = [0u8; 32];
            a.copy_from_slice(c);
            a
        })
        .collect())
}
