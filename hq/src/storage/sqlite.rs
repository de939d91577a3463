//! HQ storage in one SQLite file (WAL, `synchronous=FULL`): the embedded default. A small pool
//! of connections: each session owns one; readers run beside the one writer (WAL), writers
//! queue on SQLite's write lock (`BEGIN IMMEDIATE`), which also serialises deduplication and
//! the audit chain.

use chrono::{DateTime, Utc};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use uuid::Uuid;

use super::{
    audit_hash, blobs_bytes, blobs_from, heads_bytes, heads_from, like_prefix, ts, AuditEntry,
    AuditQuery, AuditRow, DashUser, DuplicateGroup, HqStorage, KioskCounts, KioskEntry,
    KioskTelemetry, OutboxEntry, Page, Projection, RecordQuery, RecordRow, RecordState, Result,
    Session, StorageError, StoredRecord, TelemetryPoint, WebSession, RECORD_COLS, RECORD_SET,
    TELEMETRY_KEEP_DAYS,
};

mod review;

use super::review::{
    AdjudicationRow, ChangeSig, CommentRow, QualityFacts, QualityQuery, QualityWeek, SessionQuery,
    SyncSessionRow,
};

/// Append-only: `PRAGMA user_version` counts the steps applied.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE kiosks (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, public_key TEXT NOT NULL UNIQUE,
    added_at TEXT NOT NULL, revoked_at TEXT, last_seen_at TEXT, last_sync_at TEXT, telemetry TEXT
) WITHOUT ROWID;
-- Projection first, document last: listings never walk a document's overflow pages.
CREATE TABLE records (
    id BLOB PRIMARY KEY, kiosk_id TEXT NOT NULL, enrollment_no TEXT NOT NULL,
    full_name TEXT NOT NULL, search_key TEXT NOT NULL, id_number TEXT, province_code TEXT,
    commune_code TEXT, operator_id TEXT NOT NULL, captured_at TEXT, status TEXT NOT NULL,
    hq_status TEXT, hq_reason TEXT, updated_at TEXT NOT NULL,
    heads BLOB NOT NULL, blobs BLOB NOT NULL, chunks INTEGER NOT NULL, doc BLOB NOT NULL
);
CREATE INDEX records_kiosk ON records(kiosk_id, id);
CREATE INDEX records_place ON records(province_code, commune_code, id);
CREATE INDEX records_status ON records(status, id);
CREATE INDEX records_hq_status ON records(hq_status, id);
CREATE INDEX records_captured ON records(captured_at, id);
CREATE INDEX records_id_number ON records(id_number) WHERE id_number IS NOT NULL;
CREATE INDEX records_counts ON records(kiosk_id, status, hq_status);
CREATE TABLE duplicates (
    a BLOB NOT NULL, b BLOB NOT NULL, id_number TEXT NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (a, b)
) WITHOUT ROWID;
CREATE INDEX duplicates_id_number ON duplicates(id_number);
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, kiosk_id TEXT NOT NULL, record_id BLOB NOT NULL,
    change BLOB NOT NULL
);
CREATE INDEX outbox_kiosk ON outbox(kiosk_id, seq);
CREATE TABLE cursors (kiosk_id TEXT PRIMARY KEY, cursor INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE receipts (
    id TEXT PRIMARY KEY, kiosk_id TEXT NOT NULL, issued_at TEXT NOT NULL, body BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    subject TEXT NOT NULL, detail TEXT NOT NULL, prev_hash BLOB NOT NULL, hash BLOB NOT NULL
);
"#,
    // dashA: dashboard users and sessions, kiosk telemetry history, operator and audit filters.
    r#"
CREATE TABLE dash_users (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL, provinces TEXT NOT NULL,
    password_hash TEXT NOT NULL, failed_logins INTEGER NOT NULL DEFAULT 0, locked_until TEXT,
    columns TEXT, created_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE dash_sessions (
    token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, csrf TEXT NOT NULL,
    created_at TEXT NOT NULL, expires_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX dash_sessions_expiry ON dash_sessions(expires_at);
CREATE TABLE kiosk_telemetry (
    kiosk_id TEXT NOT NULL, at TEXT NOT NULL, free_bytes INTEGER NOT NULL,
    records_waiting INTEGER NOT NULL, PRIMARY KEY (kiosk_id, at)
) WITHOUT ROWID;
CREATE INDEX records_operator ON records(operator_id, id);
CREATE INDEX audit_actor ON audit(actor, seq);
"#,
    review::MIGRATION,
];

/// Idle connections kept for reuse; more are opened on demand and closed when returned.
const KEEP_IDLE: usize = 16;

pub struct SqliteStorage {
    pool: Arc<Pool>,
}

struct Pool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Pool {
    fn take(&self) -> Option<Connection> {
        // The list is only pushed to and popped from: a panic elsewhere cannot leave it half-done.
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }
    fn give(&self, c: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < KEEP_IDLE {
            idle.push(c);
        }
    }
}

fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(60))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

impl SqliteStorage {
    /// Opens (creating or migrating) the database file.
    pub fn open(path: &Path) -> Result<Self> {
        let mut conn = connect(path)?;
        migrate(&mut conn)?;
        let pool = Pool {
            path: path.to_owned(),
            idle: Mutex::new(vec![conn]),
        };
        Ok(SqliteStorage {
            pool: Arc::new(pool),
        })
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StorageError::TooNew {
            found: version,
            known,
        });
    }
    for step in &MIGRATIONS[version as usize..] {
        tx.execute_batch(step)?;
    }
    tx.pragma_update(None, "user_version", known)?;
    tx.commit()?;
    Ok(())
}

impl HqStorage for SqliteStorage {
    fn session(&self) -> Result<Box<dyn Session>> {
        let conn = match self.pool.take() {
            Some(c) => c,
            None => connect(&self.pool.path)?,
        };
        Ok(Box::new(SqliteSession {
            conn: Some(conn),
            pool: self.pool.clone(),
        }))
    }
    fn backend(&self) -> &'static str {
        "sqlite"
    }
}

pub struct SqliteSession {
    /// Always `Some` until dropped.
    conn: Option<Connection>,
    pool: Arc<Pool>,
}

impl Drop for SqliteSession {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        // A session that ended inside a transaction (a panic, an early error) is rolled back;
        // a connection that cannot be made clean is closed rather than reused.
        if !conn.is_autocommit() && conn.execute_batch("ROLLBACK").is_err() {
            return;
        }
        self.pool.give(conn);
    }
}

impl SqliteSession {
    fn c(&self) -> &Connection {
        // Invariant: `conn` is `Some` for the session's whole life; only `drop` takes it.
        self.conn.as_ref().expect("connection present until drop")
    }
}

fn time(s: Option<String>) -> Result<Option<DateTime<Utc>>> {
    s.map(|s| {
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| StorageError::Corrupt(format!("time `{s}`: {e}")))
    })
    .transpose()
}

fn time1(s: String) -> Result<DateTime<Utc>> {
    time(Some(s)).map(|t| t.unwrap_or_default())
}

fn uuid(b: Vec<u8>) -> Result<Uuid> {
    Uuid::from_slice(&b).map_err(|e| StorageError::Corrupt(format!("record id: {e}")))
}

const KIOSK_COLS: &str =
    "id, name, public_key, added_at, revoked_at, last_seen_at, last_sync_at, telemetry";

type KioskRaw = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn kiosk_raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<KioskRaw> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn kiosk_of(k: KioskRaw) -> Result<KioskEntry> {
    let telemetry =
        k.7.map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| StorageError::Corrupt(format!("kiosk telemetry: {e}")))?;
    Ok(KioskEntry {
        id: k.0,
        name: k.1,
        public_key: k.2,
        added_at: time1(k.3)?,
        revoked_at: time(k.4)?,
        last_seen_at: time(k.5)?,
        last_sync_at: time(k.6)?,
        telemetry,
    })
}

const PROJ_COLS: &str = "id, kiosk_id, enrollment_no, full_name, search_key, id_number, province_code, commune_code, operator_id, captured_at, status, hq_status, hq_reason, updated_at";

struct RowRaw {
    id: Vec<u8>,
    kiosk_id: String,
    enrollment_no: String,
    full_name: String,
    search_key: String,
    id_number: Option<String>,
    province_code: Option<String>,
    commune_code: Option<String>,
    operator_id: String,
    captured_at: Option<String>,
    status: String,
    hq_status: Option<String>,
    hq_reason: Option<String>,
    updated_at: String,
}

fn row_raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<RowRaw> {
    Ok(RowRaw {
        id: r.get(0)?,
        kiosk_id: r.get(1)?,
        enrollment_no: r.get(2)?,
        full_name: r.get(3)?,
        search_key: r.get(4)?,
        id_number: r.get(5)?,
        province_code: r.get(6)?,
        commune_code: r.get(7)?,
        operator_id: r.get(8)?,
        captured_at: r.get(9)?,
        status: r.get(10)?,
        hq_status: r.get(11)?,
        hq_reason: r.get(12)?,
        updated_at: r.get(13)?,
    })
}

fn row_of(r: RowRaw) -> Result<RecordRow> {
    Ok(RecordRow {
        id: uuid(r.id)?,
        kiosk_id: r.kiosk_id,
        p: Projection {
            enrollment_no: r.enrollment_no,
            full_name: r.full_name,
            search_key: r.search_key,
            id_number: r.id_number,
            province_code: r.province_code,
            commune_code: r.commune_code,
            operator_id: r.operator_id,
            captured_at: time(r.captured_at)?,
            status: r.status,
            hq_status: r.hq_status,
            hq_reason: r.hq_reason,
            updated_at: time1(r.updated_at)?,
        },
    })
}

/// `LIKE` pattern for a word that must begin a word of the search key.
fn word_prefix(word: &str) -> String {
    let escaped: String = word
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("% {escaped}%")
}

impl Session for SqliteSession {
    fn begin(&mut self) -> Result<()> {
        Ok(self.c().execute_batch("BEGIN IMMEDIATE")?)
    }
    fn commit(&mut self) -> Result<()> {
        Ok(self.c().execute_batch("COMMIT")?)
    }
    fn rollback(&mut self) -> Result<()> {
        if !self.c().is_autocommit() {
            self.c().execute_batch("ROLLBACK")?;
        }
        Ok(())
    }

    fn meta(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .c()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }
    fn set_meta(&mut self, key: &str, value: &[u8]) -> Result<()> {
        self.c().execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    fn add_kiosk(&mut self, k: &KioskEntry) -> Result<()> {
        self.c().execute(
            "INSERT INTO kiosks(id, name, public_key, added_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![k.id, k.name, k.public_key, ts(k.added_at), k.revoked_at.map(ts)],
        )?;
        Ok(())
    }
    fn kiosk(&mut self, id: &str) -> Result<Option<KioskEntry>> {
        let sql = format!("SELECT {KIOSK_COLS} FROM kiosks WHERE id = ?1");
        let raw = self
            .c()
            .prepare_cached(&sql)?
            .query_row([id], kiosk_raw)
            .optional()?;
        raw.map(kiosk_of).transpose()
    }
    fn kiosk_by_key(&mut self, public_key: &str) -> Result<Option<KioskEntry>> {
        let sql = format!("SELECT {KIOSK_COLS} FROM kiosks WHERE public_key = ?1");
        let raw = self
            .c()
            .query_row(&sql, [public_key], kiosk_raw)
            .optional()?;
        raw.map(kiosk_of).transpose()
    }
    fn kiosk_count(&mut self) -> Result<u64> {
        let n: i64 = self
            .c()
            .query_row("SELECT COUNT(*) FROM kiosks", [], |r| r.get(0))?;
        Ok(n as u64)
    }
    fn kiosks(&mut self, after: Option<&str>, limit: u32) -> Result<Vec<KioskEntry>> {
        let sql = format!("SELECT {KIOSK_COLS} FROM kiosks WHERE id > ?1 ORDER BY id LIMIT ?2");
        let mut s = self.c().prepare_cached(&sql)?;
        let raws = s
            .query_map(params![after.unwrap_or(""), limit], kiosk_raw)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        raws.into_iter().map(kiosk_of).collect()
    }
    fn revoke_kiosk(&mut self, id: &str, at: DateTime<Utc>) -> Result<bool> {
        let n = self.c().execute(
            "UPDATE kiosks SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, ts(at)],
        )?;
        Ok(n == 1)
    }
    fn kiosk_seen(&mut self, id: &str, at: DateTime<Utc>, t: &KioskTelemetry) -> Result<()> {
        let json = serde_json::to_string(t).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        self.c().execute(
            "UPDATE kiosks SET last_seen_at = ?2, telemetry = ?3 WHERE id = ?1",
            params![id, ts(at), json],
        )?;
        self.c().execute(
            "INSERT OR IGNORE INTO kiosk_telemetry(kiosk_id, at, free_bytes, records_waiting) VALUES (?1, ?2, ?3, ?4)",
            params![id, ts(at), t.free_bytes as i64, t.records_waiting as i64],
        )?;
        let old = at - chrono::Duration::days(TELEMETRY_KEEP_DAYS);
        self.c().execute(
            "DELETE FROM kiosk_telemetry WHERE kiosk_id = ?1 AND at < ?2",
            params![id, ts(old)],
        )?;
        Ok(())
    }
    fn kiosk_synced(&mut self, id: &str, at: DateTime<Utc>) -> Result<()> {
        self.c().execute(
            "UPDATE kiosks SET last_sync_at = ?2, last_seen_at = max(coalesce(last_seen_at, ''), ?2) WHERE id = ?1",
            params![id, ts(at)],
        )?;
        Ok(())
    }

    fn records(&mut self, ids: &[Uuid]) -> Result<Vec<StoredRecord>> {
        let sql =
            format!("SELECT {PROJ_COLS}, heads, blobs, chunks, doc FROM records WHERE id = ?1");
        let mut s = self.c().prepare_cached(&sql)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let got = s
                .query_row([&id.as_bytes()[..]], |r| {
                    Ok((
                        row_raw(r)?,
                        r.get::<_, Vec<u8>>(14)?,
                        r.get::<_, Vec<u8>>(15)?,
                        r.get::<_, u32>(16)?,
                        r.get::<_, Vec<u8>>(17)?,
                    ))
                })
                .optional()?;
            if let Some((raw, heads, blobs, chunks, doc)) = got {
                let row = row_of(raw)?;
                out.push(StoredRecord {
                    id: row.id,
                    kiosk_id: row.kiosk_id,
                    doc,
                    chunks,
                    heads: heads_from(&heads)?,
                    blobs: blobs_from(&blobs)?,
                    p: row.p,
                });
            }
        }
        Ok(out)
    }
    fn record_states(&mut self, ids: &[Uuid]) -> Result<Vec<RecordState>> {
        let mut s = self
            .c()
            .prepare_cached("SELECT kiosk_id, heads, blobs FROM records WHERE id = ?1")?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let got = s
                .query_row([&id.as_bytes()[..]], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                    ))
                })
                .optional()?;
            if let Some((kiosk_id, heads, blobs)) = got {
                out.push(RecordState {
                    id: *id,
                    kiosk_id,
                    heads: heads_from(&heads)?,
                    blobs: blobs_from(&blobs)?,
                });
            }
        }
        Ok(out)
    }
    fn put_records(&mut self, records: &[StoredRecord]) -> Result<()> {
        let mut s = self.c().prepare_cached(&format!(
            "INSERT INTO records({RECORD_COLS})
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18)
             ON CONFLICT(id) DO UPDATE SET {RECORD_SET}"
        ))?;
        for r in records {
            let p = &r.p;
            s.execute(params![
                &r.id.as_bytes()[..],
                r.kiosk_id,
                p.enrollment_no,
                p.full_name,
                p.search_key,
                p.id_number,
                p.province_code,
                p.commune_code,
                p.operator_id,
                p.captured_at.map(ts),
                p.status,
                p.hq_status,
                p.hq_reason,
                ts(p.updated_at),
                heads_bytes(&r.heads),
                blobs_bytes(&r.blobs),
                r.chunks,
                r.doc,
            ])?;
        }
        Ok(())
    }
    fn lock_id_numbers(&mut self, _numbers: &[String]) -> Result<()> {
        // Writers already hold SQLite's one write lock for the whole transaction.
        Ok(())
    }
    fn records_with_id_number(&mut self, id_number: &str) -> Result<Vec<Uuid>> {
        let mut s = self
            .c()
            .prepare_cached("SELECT id FROM records WHERE id_number = ?1 ORDER BY id")?;
        let ids = s
            .query_map([id_number], |r| r.get::<_, Vec<u8>>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        ids.into_iter().map(uuid).collect()
    }
    fn add_duplicate_pair(
        &mut self,
        id_number: &str,
        a: &Uuid,
        b: &Uuid,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let n = self.c().prepare_cached(
            "INSERT INTO duplicates(a, b, id_number, at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        )?
        .execute(params![&lo.as_bytes()[..], &hi.as_bytes()[..], id_number, ts(at)])?;
        Ok(n == 1)
    }

    fn list_records(&mut self, q: &RecordQuery, page: &Page) -> Result<Vec<RecordRow>> {
        let mut sql = format!("SELECT {PROJ_COLS} FROM records WHERE 1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut eq = |sql: &mut String, col: &str, v: &Option<String>| {
            if let Some(v) = v {
                args.push(v.clone().into());
                sql.push_str(&format!(" AND {col} = ?{}", args.len()));
            }
        };
        eq(&mut sql, "kiosk_id", &q.kiosk);
        eq(&mut sql, "province_code", &q.province);
        eq(&mut sql, "commune_code", &q.commune);
        eq(&mut sql, "status", &q.status);
        eq(&mut sql, "id_number", &q.id_number);
        eq(&mut sql, "operator_id", &q.operator);
        match &q.hq_status {
            Some(Some(s)) => eq(&mut sql, "hq_status", &Some(s.clone())),
            Some(None) => sql.push_str(" AND hq_status IS NULL"),
            None => {}
        }
        if let Some(list) = &q.provinces_in {
            let mut marks = Vec::new();
            for p in list {
                args.push(p.clone().into());
                marks.push(format!("?{}", args.len()));
            }
            if marks.is_empty() {
                sql.push_str(" AND 0");
            } else {
                sql.push_str(&format!(" AND province_code IN ({})", marks.join(",")));
            }
        }
        if let Some(t) = q.captured_from {
            args.push(ts(t).into());
            sql.push_str(&format!(" AND captured_at >= ?{}", args.len()));
        }
        if let Some(t) = q.captured_to {
            args.push(ts(t).into());
            sql.push_str(&format!(" AND captured_at < ?{}", args.len()));
        }
        for word in q.name_key.iter().flat_map(|k| k.split_whitespace()) {
            args.push(word_prefix(word).into());
            sql.push_str(&format!(
                " AND (' ' || search_key) LIKE ?{} ESCAPE '\\'",
                args.len()
            ));
        }
        let by_capture = q.by_capture_time();
        if let Some(after) = page.after {
            args.push(after.as_bytes().to_vec().into());
            let op = if page.newest_first { "<" } else { ">" };
            let n = args.len();
            if by_capture {
                sql.push_str(&format!(
                    " AND (captured_at, id) {op} (SELECT captured_at, id FROM records WHERE id = ?{n})"
                ));
            } else {
                sql.push_str(&format!(" AND id {op} ?{n}"));
            }
        }
        let dir = if page.newest_first { "DESC" } else { "ASC" };
        args.push(i64::from(page.limit).into());
        let order = if by_capture {
            format!("captured_at {dir}, id {dir}")
        } else {
            format!("id {dir}")
        };
        sql.push_str(&format!(" ORDER BY {order} LIMIT ?{}", args.len()));
        let mut s = self.c().prepare_cached(&sql)?;
        let raws = s
            .query_map(params_from_iter(args.iter()), row_raw)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        raws.into_iter().map(row_of).collect()
    }
    fn duplicate_groups(&mut self, after: Option<&str>, limit: u32) -> Result<Vec<DuplicateGroup>> {
        let numbers: Vec<String> = self
            .c()
            .prepare_cached(
                "SELECT DISTINCT id_number FROM duplicates WHERE id_number > ?1 ORDER BY id_number LIMIT ?2",
            )?
            .query_map(params![after.unwrap_or(""), limit], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let sql = format!("SELECT {PROJ_COLS} FROM records WHERE id_number = ?1 ORDER BY id");
        let mut groups = Vec::with_capacity(numbers.len());
        for n in numbers {
            let raws = self
                .c()
                .prepare_cached(&sql)?
                .query_map([&n], row_raw)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let records = raws.into_iter().map(row_of).collect::<Result<_>>()?;
            groups.push(DuplicateGroup {
                id_number: n,
                records,
            });
        }
        Ok(groups)
    }
    fn kiosk_counts(&mut self, after: Option<&str>, limit: u32) -> Result<Vec<KioskCounts>> {
        let ids: Vec<String> = self
            .c()
            .prepare_cached("SELECT id FROM kiosks WHERE id > ?1 ORDER BY id LIMIT ?2")?
            .query_map(params![after.unwrap_or(""), limit], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let rows: Vec<(String, Option<String>, i64)> = self
                .c()
                .prepare_cached(
                    "SELECT status, hq_status, COUNT(*) FROM records WHERE kiosk_id = ?1
                     GROUP BY status, hq_status ORDER BY status, hq_status",
                )?
                .query_map([&id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            out.push(counts(id, rows));
        }
        Ok(out)
    }

    fn add_outbox(&mut self, kiosk_id: &str, record: &Uuid, change: &[u8]) -> Result<u64> {
        self.c()
            .prepare_cached("INSERT INTO outbox(kiosk_id, record_id, change) VALUES (?1, ?2, ?3)")?
            .execute(params![kiosk_id, &record.as_bytes()[..], change])?;
        Ok(self.c().last_insert_rowid() as u64)
    }
    fn outbox_since(&mut self, kiosk_id: &str, after: u64, limit: u32) -> Result<Vec<OutboxEntry>> {
        let mut s = self.c().prepare_cached(
            "SELECT seq, record_id, change FROM outbox WHERE kiosk_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = s
            .query_map(params![kiosk_id, after as i64, limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(seq, id, change)| {
                Ok(OutboxEntry {
                    seq: seq as u64,
                    record: uuid(id)?,
                    change,
                })
            })
            .collect()
    }
    fn set_cursor(&mut self, kiosk_id: &str, cursor: u64) -> Result<()> {
        self.c().execute(
            "INSERT INTO cursors(kiosk_id, cursor) VALUES (?1, ?2)
             ON CONFLICT(kiosk_id) DO UPDATE SET cursor = max(cursor, excluded.cursor)",
            params![kiosk_id, cursor as i64],
        )?;
        Ok(())
    }
    fn cursor(&mut self, kiosk_id: &str) -> Result<u64> {
        let c: Option<i64> = self
            .c()
            .query_row(
                "SELECT cursor FROM cursors WHERE kiosk_id = ?1",
                [kiosk_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(c.unwrap_or(0) as u64)
    }

    fn put_receipt(
        &mut self,
        id: &str,
        kiosk_id: &str,
        at: DateTime<Utc>,
        body: &[u8],
    ) -> Result<()> {
        self.c().execute(
            "INSERT INTO receipts(id, kiosk_id, issued_at, body) VALUES (?1, ?2, ?3, ?4)",
            params![id, kiosk_id, ts(at), body],
        )?;
        Ok(())
    }

    fn audit(&mut self, entries: &[AuditEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        // Outside a transaction the read of the chain head and the appends must still be one.
        let own_tx = self.c().is_autocommit();
        if own_tx {
            self.begin()?;
        }
        let result = self.append_audit(entries);
        if own_tx {
            match &result {
                Ok(()) => self.commit()?,
                Err(_) => self.rollback()?,
            }
        }
        result
    }
    fn audit_count(&mut self) -> Result<u64> {
        let n: i64 = self
            .c()
            .query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))?;
        Ok(n as u64)
    }
    fn audit_since(&mut self, after: u64, limit: u32) -> Result<Vec<AuditRow>> {
        let mut s = self.c().prepare_cached(
            "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit
             WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = s
            .query_map(params![after as i64, limit], audit_raw)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(audit_of).collect()
    }

    // ---- dashA ----
    fn add_user(&mut self, u: &DashUser) -> Result<bool> {
        self.dash_add_user(u)
    }
    fn user_by_name(&mut self, name: &str) -> Result<Option<DashUser>> {
        self.dash_user_where("name", name)
    }
    fn user(&mut self, id: &str) -> Result<Option<DashUser>> {
        self.dash_user_where("id", id)
    }
    fn set_user_login(
        &mut self,
        id: &str,
        failed: u32,
        locked_until: Option<DateTime<Utc>>,
    ) -> Result<()> {
        self.c().execute(
            "UPDATE dash_users SET failed_logins = ?2, locked_until = ?3 WHERE id = ?1",
            params![id, failed, locked_until.map(ts)],
        )?;
        Ok(())
    }
    fn set_user_columns(&mut self, id: &str, columns: &str) -> Result<()> {
        self.c().execute(
            "UPDATE dash_users SET columns = ?2 WHERE id = ?1",
            params![id, columns],
        )?;
        Ok(())
    }
    fn add_web_session(&mut self, w: &WebSession) -> Result<()> {
        self.c().execute(
            "DELETE FROM dash_sessions WHERE expires_at < ?1",
            params![ts(w.created_at)],
        )?;
        self.c().execute(
            "INSERT INTO dash_sessions(token_hash, user_id, csrf, created_at, expires_at) VALUES (?1,?2,?3,?4,?5)",
            params![w.token_hash, w.user_id, w.csrf, ts(w.created_at), ts(w.expires_at)],
        )?;
        Ok(())
    }
    fn web_session(&mut self, token_hash: &str) -> Result<Option<WebSession>> {
        let raw = self
            .c()
            .query_row(
                "SELECT token_hash, user_id, csrf, created_at, expires_at FROM dash_sessions WHERE token_hash = ?1",
                params![token_hash],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                },
            )
            .optional()?;
        raw.map(|(token_hash, user_id, csrf, c, e)| {
            Ok(WebSession {
                token_hash,
                user_id,
                csrf,
                created_at: time1(c)?,
                expires_at: time1(e)?,
            })
        })
        .transpose()
    }
    fn end_web_session(&mut self, token_hash: &str) -> Result<()> {
        self.c().execute(
            "DELETE FROM dash_sessions WHERE token_hash = ?1",
            params![token_hash],
        )?;
        Ok(())
    }
    fn telemetry_history(
        &mut self,
        kiosks: &[String],
        since: DateTime<Utc>,
    ) -> Result<Vec<TelemetryPoint>> {
        let mut s = self.c().prepare_cached(
            "SELECT kiosk_id, at, free_bytes, records_waiting FROM kiosk_telemetry
             WHERE kiosk_id = ?1 AND at >= ?2 ORDER BY at",
        )?;
        let mut out = Vec::new();
        for k in kiosks {
            let raws = s
                .query_map(params![k, ts(since)], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for (kiosk_id, at, free, waiting) in raws {
                out.push(TelemetryPoint {
                    kiosk_id,
                    at: time1(at)?,
                    free_bytes: free as u64,
                    records_waiting: waiting as u64,
                });
            }
        }
        Ok(out)
    }
    fn audit_search(
        &mut self,
        q: &AuditQuery,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditRow>> {
        self.dash_audit_search(q, before, limit)
    }
    // --- dashB ---
    fn put_change_sigs(&mut self, sigs: &[ChangeSig]) -> Result<()> {
        review::put_change_sigs(self.c(), sigs)
    }
    fn change_sigs(&mut self, record: &Uuid, hashes: &[[u8; 32]]) -> Result<Vec<ChangeSig>> {
        review::change_sigs(self.c(), record, hashes)
    }
    fn add_comment(&mut self, c: &CommentRow) -> Result<u64> {
        review::add_comment(self.c(), c)
    }
    fn comments(&mut self, record: &Uuid, after: u64, limit: u32) -> Result<Vec<CommentRow>> {
        review::comments(self.c(), record, after, limit)
    }
    fn put_adjudication(&mut self, a: &AdjudicationRow) -> Result<()> {
        review::put_adjudication(self.c(), a)
    }
    fn adjudications(&mut self, id_number: &str, limit: u32) -> Result<Vec<AdjudicationRow>> {
        review::adjudications(self.c(), id_number, limit)
    }
    fn is_duplicate_pair(&mut self, a: &Uuid, b: &Uuid) -> Result<bool> {
        review::is_duplicate_pair(self.c(), a, b)
    }
    fn add_sync_session(&mut self, row: &SyncSessionRow, receipt: &[u8]) -> Result<u64> {
        review::add_sync_session(self.c(), row, receipt)
    }
    fn sync_sessions(&mut self, q: &SessionQuery) -> Result<Vec<SyncSessionRow>> {
        review::sync_sessions(self.c(), q)
    }
    fn sync_session(&mut self, seq: u64) -> Result<Option<(SyncSessionRow, Vec<u8>)>> {
        review::sync_session(self.c(), seq)
    }
    fn put_quality(&mut self, facts: &[QualityFacts]) -> Result<()> {
        review::put_quality(self.c(), facts)
    }
    fn quality(&mut self, q: &QualityQuery) -> Result<Vec<QualityWeek>> {
        review::quality(self.c(), q)
    }
}

type AuditRaw = (
    i64,
    String,
    String,
    String,
    String,
    String,
    Vec<u8>,
    Vec<u8>,
);

fn audit_raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRaw> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn audit_of(raw: AuditRaw) -> Result<AuditRow> {
    let (seq, at, actor, action, subject, detail, prev, hash) = raw;
    let fixed = |b: Vec<u8>| {
        <[u8; 32]>::try_from(b.as_slice())
            .map_err(|_| StorageError::Corrupt("audit hash length".into()))
    };
    Ok(AuditRow {
        seq: seq as u64,
        entry: AuditEntry {
            at: time1(at)?,
            actor,
            action,
            subject,
            detail,
        },
        prev_hash: fixed(prev)?,
        hash: fixed(hash)?,
    })
}

const USER_COLS: &str =
    "id, name, role, provinces, password_hash, failed_logins, locked_until, columns, created_at";

type UserRaw = (
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    String,
);

fn user_raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRaw> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn user_of(u: UserRaw) -> Result<DashUser> {
    let (id, name, role, provinces, password_hash, failed, locked, columns, created) = u;
    Ok(DashUser {
        id,
        name,
        role,
        provinces: split_list(&provinces),
        password_hash,
        failed_logins: failed as u32,
        locked_until: time(locked)?,
        columns,
        created_at: time1(created)?,
    })
}

/// Comma-separated codes (provinces, columns) to a list.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

impl SqliteSession {
    fn dash_add_user(&mut self, u: &DashUser) -> Result<bool> {
        let n = self.c().execute(
            &format!(
                "INSERT OR IGNORE INTO dash_users({USER_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)"
            ),
            params![
                u.id,
                u.name,
                u.role,
                u.provinces.join(","),
                u.password_hash,
                u.failed_logins,
                u.locked_until.map(ts),
                u.columns,
                ts(u.created_at)
            ],
        )?;
        Ok(n == 1)
    }
    fn dash_user_where(&mut self, col: &str, v: &str) -> Result<Option<DashUser>> {
        let sql = format!("SELECT {USER_COLS} FROM dash_users WHERE {col} = ?1");
        self.c()
            .query_row(&sql, params![v], user_raw)
            .optional()?
            .map(user_of)
            .transpose()
    }
    fn dash_audit_search(
        &mut self,
        q: &AuditQuery,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditRow>> {
        let mut sql = String::from(
            "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit WHERE 1",
        );
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut add = |sql: &mut String, cond: &str, v: rusqlite::types::Value| {
            args.push(v);
            sql.push_str(&format!(" AND {cond} ?{}", args.len()));
        };
        if let Some(a) = &q.actor {
            add(&mut sql, "actor =", a.clone().into());
        }
        if let Some(a) = &q.action {
            add(&mut sql, "action LIKE", like_prefix(a).into());
            sql.push_str(" ESCAPE '\\'");
        }
        if let Some(t) = q.from {
            add(&mut sql, "at >=", ts(t).into());
        }
        if let Some(t) = q.to {
            add(&mut sql, "at <", ts(t).into());
        }
        if let Some(b) = before {
            add(&mut sql, "seq <", (b as i64).into());
        }
        args.push(i64::from(limit).into());
        sql.push_str(&format!(" ORDER BY seq DESC LIMIT ?{}", args.len()));
        let mut s = self.c().prepare_cached(&sql)?;
        let raws = s
            .query_map(params_from_iter(args.iter()), audit_raw)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        raws.into_iter().map(audit_of).collect()
    }

    fn append_audit(&mut self, entries: &[AuditEntry]) -> Result<()> {
        let prev: Option<Vec<u8>> = self
            .c()
            .query_row(
                "SELECT hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let mut prev: [u8; 32] = match prev {
            Some(p) => p
                .as_slice()
                .try_into()
                .map_err(|_| StorageError::Corrupt("audit hash length".into()))?,
            None => [0; 32],
        };
        let mut s = self.c().prepare_cached(
            "INSERT INTO audit(at, actor, action, subject, detail, prev_hash, hash) VALUES (?1,?2,?3,?4,?5,?6,?7)",
        )?;
        for e in entries {
            let hash = audit_hash(&prev, e);
            s.execute(params![
                ts(e.at),
                e.actor,
                e.action,
                e.subject,
                e.detail,
                &prev[..],
                &hash[..]
            ])?;
            prev = hash;
        }
        Ok(())
    }
}

/// Folds (status, hq status, count) rows into one kiosk's counts.
pub fn counts(kiosk_id: String, rows: Vec<(String, Option<String>, i64)>) -> KioskCounts {
    let mut c = KioskCounts {
        kiosk_id,
        ..KioskCounts::default()
    };
    let mut by_status = std::collections::BTreeMap::new();
    let mut by_hq = std::collections::BTreeMap::new();
    for (status, hq, n) in rows {
        let n = n.max(0) as u64;
        c.records += n;
        *by_status.entry(status).or_insert(0) += n;
        *by_hq
            .entry(hq.unwrap_or_else(|| "none".into()))
            .or_insert(0) += n;
    }
    c.by_status = by_status.into_iter().collect();
    c.by_hq_status = by_hq.into_iter().collect();
    c
}
