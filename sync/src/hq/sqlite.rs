//! HQ storage in one SQLite file (WAL, `synchronous=FULL`): the embedded default.

use automerge::ChangeHash;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use std::path::Path;
use uuid::Uuid;

use super::storage::{HqStorage, KioskEntry, RecordRow, StorageError, StoredRecord};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kiosks (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, public_key TEXT NOT NULL UNIQUE,
    added_at TEXT NOT NULL, revoked_at TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY, kiosk_id TEXT NOT NULL REFERENCES kiosks(id), doc BLOB NOT NULL,
    chunks INTEGER NOT NULL, heads BLOB NOT NULL, enrollment_no TEXT NOT NULL,
    full_name TEXT NOT NULL, id_number TEXT, status TEXT NOT NULL, hq_status TEXT,
    hq_reason TEXT, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_id_number ON records(id_number);
CREATE TABLE IF NOT EXISTS blobs (
    sha256 BLOB PRIMARY KEY, media_type TEXT NOT NULL, total INTEGER NOT NULL,
    complete INTEGER NOT NULL, data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, kiosk_id TEXT NOT NULL, record_id TEXT NOT NULL,
    change BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_kiosk ON outbox(kiosk_id, seq);
CREATE TABLE IF NOT EXISTS cursors (kiosk_id TEXT PRIMARY KEY, cursor INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS receipts (
    id TEXT PRIMARY KEY, kiosk_id TEXT NOT NULL, issued_at TEXT NOT NULL, body BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    subject TEXT NOT NULL, detail TEXT NOT NULL, prev_hash BLOB NOT NULL, hash BLOB NOT NULL
);
"#;

pub struct SqliteStorage {
    conn: Connection,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn heads_bytes(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

fn heads_from(b: &[u8]) -> Vec<ChangeHash> {
    b.chunks_exact(32)
        .filter_map(|c| ChangeHash::try_from(c).ok())
        .collect()
}

impl SqliteStorage {
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteStorage { conn })
    }
}

fn kiosk_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<KioskEntry> {
    Ok(KioskEntry {
        id: r.get(0)?,
        name: r.get(1)?,
        public_key: r.get(2)?,
        added_at: r.get(3)?,
        revoked_at: r.get(4)?,
    })
}

impl HqStorage for SqliteStorage {
    fn begin(&mut self) -> Result<(), StorageError> {
        Ok(self.conn.execute_batch("BEGIN IMMEDIATE")?)
    }
    fn commit(&mut self) -> Result<(), StorageError> {
        Ok(self.conn.execute_batch("COMMIT")?)
    }
    fn rollback(&mut self) -> Result<(), StorageError> {
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK")?;
        }
        Ok(())
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }
    fn set_meta(&mut self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    fn add_kiosk(&mut self, k: &KioskEntry) -> Result<(), StorageError> {
        self.conn.execute(
            "INSERT INTO kiosks(id, name, public_key, added_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![k.id, k.name, k.public_key, k.added_at, k.revoked_at],
        )?;
        Ok(())
    }
    fn kiosk(&self, id: &str) -> Result<Option<KioskEntry>, StorageError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, name, public_key, added_at, revoked_at FROM kiosks WHERE id = ?1",
                [id],
                kiosk_row,
            )
            .optional()?)
    }
    fn kiosks(&self) -> Result<Vec<KioskEntry>, StorageError> {
        let mut s = self.conn.prepare(
            "SELECT id, name, public_key, added_at, revoked_at FROM kiosks ORDER BY added_at, id",
        )?;
        let rows = s.query_map([], kiosk_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
    fn revoke_kiosk(&mut self, id: &str, at: &str) -> Result<bool, StorageError> {
        let n = self.conn.execute(
            "UPDATE kiosks SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, at],
        )?;
        Ok(n == 1)
    }

    fn record(&self, id: &Uuid) -> Result<Option<StoredRecord>, StorageError> {
        let mut s = self.conn.prepare_cached(
            "SELECT kiosk_id, doc, chunks, heads, enrollment_no, full_name, id_number, status, hq_status,
                    hq_reason, updated_at FROM records WHERE id = ?1",
        )?;
        Ok(s.query_row([id.to_string()], |r| {
            let heads: Vec<u8> = r.get(3)?;
            Ok(StoredRecord {
                id: *id,
                kiosk_id: r.get(0)?,
                doc: r.get(1)?,
                chunks: r.get(2)?,
                heads: heads_from(&heads),
                enrollment_no: r.get(4)?,
                full_name: r.get(5)?,
                id_number: r.get(6)?,
                status: r.get(7)?,
                hq_status: r.get(8)?,
                hq_reason: r.get(9)?,
                updated_at: r.get(10)?,
            })
        })
        .optional()?)
    }
    fn put_record(&mut self, r: &StoredRecord) -> Result<(), StorageError> {
        let mut s = self.conn.prepare_cached(
            "INSERT INTO records(id, kiosk_id, doc, chunks, heads, enrollment_no, full_name, id_number,
                status, hq_status, hq_reason, updated_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)
             ON CONFLICT(id) DO UPDATE SET doc = excluded.doc, chunks = excluded.chunks,
                heads = excluded.heads, enrollment_no = excluded.enrollment_no,
                full_name = excluded.full_name, id_number = excluded.id_number, status = excluded.status,
                hq_status = excluded.hq_status, hq_reason = excluded.hq_reason,
                updated_at = excluded.updated_at",
        )?;
        s.execute(params![
            r.id.to_string(),
            r.kiosk_id,
            r.doc,
            r.chunks,
            heads_bytes(&r.heads),
            r.enrollment_no,
            r.full_name,
            r.id_number,
            r.status,
            r.hq_status,
            r.hq_reason,
            r.updated_at
        ])?;
        Ok(())
    }
    fn records(&self) -> Result<Vec<RecordRow>, StorageError> {
        let mut s = self.conn.prepare(
            "SELECT id, kiosk_id, enrollment_no, full_name, id_number, status, hq_status, hq_reason,
                    updated_at FROM records ORDER BY kiosk_id, enrollment_no",
        )?;
        let rows = s.query_map([], |r| {
            Ok(RecordRow {
                id: r.get(0)?,
                kiosk_id: r.get(1)?,
                enrollment_no: r.get(2)?,
                full_name: r.get(3)?,
                id_number: r.get(4)?,
                status: r.get(5)?,
                hq_status: r.get(6)?,
                hq_reason: r.get(7)?,
                updated_at: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
    fn records_with_id_number(
        &self,
        id_number: &str,
        except: &Uuid,
    ) -> Result<Vec<Uuid>, StorageError> {
        let mut s = self
            .conn
            .prepare_cached("SELECT id FROM records WHERE id_number = ?1 AND id != ?2")?;
        let ids: Vec<String> = s
            .query_map(params![id_number, except.to_string()], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids.iter().filter_map(|s| Uuid::parse_str(s).ok()).collect())
    }

    fn blob_have(&self, sha256: &[u8; 32]) -> Result<(u64, bool), StorageError> {
        let mut s = self
            .conn
            .prepare_cached("SELECT length(data), complete FROM blobs WHERE sha256 = ?1")?;
        let row: Option<(i64, bool)> = s
            .query_row([&sha256[..]], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(row.map_or((0, false), |(n, c)| (n as u64, c)))
    }
    fn append_blob(
        &mut self,
        sha256: &[u8; 32],
        media_type: &str,
        total: u64,
        data: &[u8],
    ) -> Result<u64, StorageError> {
        // Appended in Rust: SQLite's `||` works on text and would stop at a zero byte.
        let mut whole = self.partial_blob(sha256)?.unwrap_or_default();
        whole.extend_from_slice(data);
        self.conn.execute(
            "INSERT INTO blobs(sha256, media_type, total, complete, data) VALUES (?1, ?2, ?3, 0, ?4)
             ON CONFLICT(sha256) DO UPDATE SET data = excluded.data WHERE complete = 0",
            params![&sha256[..], media_type, total as i64, whole],
        )?;
        Ok(self.blob_have(sha256)?.0)
    }
    fn partial_blob(&self, sha256: &[u8; 32]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .conn
            .query_row(
                "SELECT data FROM blobs WHERE sha256 = ?1",
                [&sha256[..]],
                |r| r.get(0),
            )
            .optional()?)
    }
    fn complete_blob(&mut self, sha256: &[u8; 32]) -> Result<(), StorageError> {
        self.conn.execute(
            "UPDATE blobs SET complete = 1 WHERE sha256 = ?1",
            [&sha256[..]],
        )?;
        Ok(())
    }
    fn drop_blob(&mut self, sha256: &[u8; 32]) -> Result<(), StorageError> {
        self.conn.execute(
            "DELETE FROM blobs WHERE sha256 = ?1 AND complete = 0",
            [&sha256[..]],
        )?;
        Ok(())
    }
    fn blob(&self, sha256: &[u8; 32]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .conn
            .query_row(
                "SELECT data FROM blobs WHERE sha256 = ?1 AND complete = 1",
                [&sha256[..]],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn add_outbox(
        &mut self,
        kiosk_id: &str,
        record: &Uuid,
        change: &[u8],
    ) -> Result<u64, StorageError> {
        self.conn.execute(
            "INSERT INTO outbox(kiosk_id, record_id, change) VALUES (?1, ?2, ?3)",
            params![kiosk_id, record.to_string(), change],
        )?;
        Ok(self.conn.last_insert_rowid() as u64)
    }
    fn outbox_since(
        &self,
        kiosk_id: &str,
        after: u64,
    ) -> Result<Vec<(u64, Uuid, Vec<u8>)>, StorageError> {
        let mut s = self.conn.prepare_cached(
            "SELECT seq, record_id, change FROM outbox WHERE kiosk_id = ?1 AND seq > ?2 ORDER BY seq",
        )?;
        let rows = s.query_map(params![kiosk_id, after as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, id, change) = row?;
            let id = Uuid::parse_str(&id).map_err(|e| StorageError::Corrupt(e.to_string()))?;
            out.push((seq as u64, id, change));
        }
        Ok(out)
    }
    fn set_cursor(&mut self, kiosk_id: &str, cursor: u64) -> Result<(), StorageError> {
        self.conn.execute(
            "INSERT INTO cursors(kiosk_id, cursor) VALUES (?1, ?2)
             ON CONFLICT(kiosk_id) DO UPDATE SET cursor = max(cursor, excluded.cursor)",
            params![kiosk_id, cursor as i64],
        )?;
        Ok(())
    }
    fn cursor(&self, kiosk_id: &str) -> Result<u64, StorageError> {
        let c: Option<i64> = self
            .conn
            .query_row(
                "SELECT cursor FROM cursors WHERE kiosk_id = ?1",
                [kiosk_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(c.unwrap_or(0) as u64)
    }

    fn put_receipt(&mut self, id: &str, kiosk_id: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.conn.execute(
            "INSERT INTO receipts(id, kiosk_id, issued_at, body) VALUES (?1, ?2, ?3, ?4)",
            params![id, kiosk_id, now(), bytes],
        )?;
        Ok(())
    }
    fn audit(
        &mut self,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &str,
    ) -> Result<(), StorageError> {
        // Hash-chained: each entry's hash covers the previous hash and its own fields.
        let prev: Vec<u8> = self
            .conn
            .query_row(
                "SELECT hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or_else(|| vec![0; 32]);
        let at = now();
        let mut h = Sha256::new();
        for part in [
            &prev[..],
            at.as_bytes(),
            actor.as_bytes(),
            action.as_bytes(),
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        for part in [subject.as_bytes(), detail.as_bytes()] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        let hash = h.finalize().to_vec();
        self.conn.execute(
            "INSERT INTO audit(at, actor, action, subject, detail, prev_hash, hash) VALUES (?1,?2,?3,?4,?5,?6,?7)",
            params![at, actor, action, subject, detail, prev, hash],
        )?;
        Ok(())
    }
    fn audit_count(&self) -> Result<u64, StorageError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))?;
        Ok(n as u64)
    }
}
