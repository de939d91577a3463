//! Saving, loading, listing and searching records.

use automerge::ChangeHash;
use chrono::Utc;
use enroll_sync::protocol::blob_refs;
use enroll_sync::record::{Attribution, Enrollment, RecordDoc, RecordStatus};
use enroll_sync::text::{card_upper, search_key};
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use uuid::Uuid;

use super::{timestamp, Store, StoreError};

/// After this many change chunks a record is rewritten as one compact snapshot.
const COMPACT_AT: i64 = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveOutcome {
    pub id: Uuid,
    pub enrollment_no: String,
    pub created: bool,
    /// False when the record was already stored exactly so (nothing written).
    pub changed: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub status: Option<RecordStatus>,
    /// Words matched as prefixes, ignoring accents, tone placement and đ/d.
    pub search: Option<String>,
    pub limit: usize,
    /// Only records created before this one (the `seq` of the last row of the previous page).
    pub before: Option<i64>,
}

/// One row of the query projection: what lists show, without loading the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordSummary {
    #[serde(skip)]
    pub seq: i64,
    pub id: String,
    pub enrollment_no: String,
    pub status: String,
    pub kind: String,
    pub id_number: Option<String>,
    pub full_name: String,
    pub birth_date: String,
    pub commune_code: Option<String>,
    pub updated_at: String,
}

fn enum_str<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}

pub(crate) fn heads_bytes(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

pub(crate) fn heads_from(bytes: &[u8]) -> Vec<ChangeHash> {
    bytes
        .chunks_exact(32)
        .filter_map(|c| ChangeHash::try_from(c).ok())
        .collect()
}

/// The projection columns for a record.
pub(crate) struct Projection {
    pub(crate) status: String,
    pub(crate) kind: String,
    pub(crate) id_number: Option<String>,
    pub(crate) full_name: String,
    pub(crate) search_key: String,
    pub(crate) birth_date: String,
    pub(crate) province_code: Option<String>,
    pub(crate) commune_code: Option<String>,
    /// SHA-256 (hex) of every blob the record refers to, sorted, each once, space-separated.
    pub(crate) blob_refs: String,
}

impl Projection {
    pub(crate) fn of(r: &Enrollment) -> Self {
        let a = &r.applicant;
        let full = a.name.full();
        let words = [
            full.as_str(),
            a.other_name.as_deref().unwrap_or(""),
            a.id_number.as_deref().unwrap_or(""),
            r.enrollment_no.as_str(),
        ];
        let residence = a
            .permanent_residence
            .as_ref()
            .or(a.current_residence.as_ref());
        Projection {
            status: r.review.status.as_str().to_owned(),
            kind: enum_str(&r.application.kind),
            id_number: a.id_number.clone(),
            full_name: card_upper(&full),
            search_key: search_key(&words.join(" ")),
            birth_date: a.birth_date.sort_key(),
            province_code: residence.map(|x| x.province_code.clone()),
            commune_code: residence
                .map(|x| x.commune_code.clone())
                .filter(|c| !c.is_empty()),
            blob_refs: blob_refs_of(r).join(" "),
        }
    }
}

/// The blobs a record refers to (hex), sorted, each once: what a sync must make sure HQ has.
pub(crate) fn blob_refs_of(r: &Enrollment) -> Vec<String> {
    let mut blobs = Vec::new();
    blob_refs(&serde_json::to_value(r).unwrap_or_default(), &mut blobs);
    blobs.sort();
    blobs.dedup();
    blobs
}

impl Store {
    /// Saves `record` in one transaction: its document change, projection and audit entry.
    /// A new record without an enrollment number gets the next one for today.
    pub fn save(
        &mut self,
        record: &Enrollment,
        by: &Attribution,
    ) -> Result<SaveOutcome, StoreError> {
        let signer = self.change_signer.key();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let outcome = save_in(&tx, &self.kiosk, signer, record, by)?;
        tx.commit()?;
        Ok(outcome)
    }

    /// Saves many records in one transaction: all of them, or none.
    pub fn save_batch(
        &mut self,
        records: &[Enrollment],
        by: &Attribution,
    ) -> Result<Vec<SaveOutcome>, StoreError> {
        let signer = self.change_signer.key();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let outcomes = records
            .iter()
            .map(|r| save_in(&tx, &self.kiosk, signer, r, by))
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit()?;
        Ok(outcomes)
    }

    /// The record's row number and document, or `None` if there is no such record.
    pub(crate) fn doc_of(&self, id: &Uuid) -> Result<Option<(i64, RecordDoc)>, StoreError> {
        let Some(seq) = self
            .conn
            .query_row(
                "SELECT seq FROM records WHERE id = ?1",
                [id.to_string()],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
        else {
            return Ok(None);
        };
        let bytes = load_chunks(&self.conn, seq)?;
        Ok(Some((
            seq,
            RecordDoc::load(&bytes, self.kiosk.actor.clone())?,
        )))
    }

    /// The record as its document holds it, or `None` if there is no such record.
    pub fn load(&self, id: &Uuid) -> Result<Option<Enrollment>, StoreError> {
        let Some((_, doc)) = self.doc_of(id)? else {
            return Ok(None);
        };
        doc.read().map(Some).map_err(|e| StoreError::BadRecord {
            id: id.to_string(),
            reason: e.to_string(),
        })
    }

    pub fn contains(&self, id: &Uuid) -> Result<bool, StoreError> {
        let found = self
            .conn
            .query_row(
                "SELECT 1 FROM records WHERE id = ?1",
                [id.to_string()],
                |_| Ok(()),
            )
            .optional()?;
        Ok(found.is_some())
    }

    /// Finds a record by its id, enrollment number, or a unique id prefix.
    pub fn resolve(&self, key: &str) -> Result<Option<Uuid>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id FROM records WHERE id = ?1 OR enrollment_no = ?1 OR id_number = ?1
             UNION SELECT id FROM records WHERE id LIKE ?1 || '%' LIMIT 2",
        )?;
        let ids: Vec<String> = stmt
            .query_map([key], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(match ids.as_slice() {
            [one] => Uuid::parse_str(one).ok(),
            _ => None,
        })
    }

    /// One page of records, newest first, filtered by status and/or a search.
    pub fn list(&self, q: &ListQuery) -> Result<Vec<RecordSummary>, StoreError> {
        let limit = i64::try_from(q.limit.max(1)).unwrap_or(i64::MAX);
        let status = q.status.map(|s| s.as_str());
        let before = q.before.unwrap_or(i64::MAX);
        let cols = "r.seq, r.id, r.enrollment_no, r.status, r.kind, r.id_number, r.full_name, r.birth_date,
                    r.commune_code, r.updated_at";
        let words = q
            .search
            .as_deref()
            .map(search_key)
            .filter(|k| !k.is_empty());
        let rows = match words {
            Some(key) => {
                // Each word as a quoted prefix; the key holds only letters, digits and spaces.
                let fts: Vec<String> = key.split(' ').map(|w| format!("\"{w}\"*")).collect();
                let sql = format!(
                    "SELECT {cols} FROM records_fts f JOIN records r ON r.seq = f.rowid
                     WHERE records_fts MATCH ?1 AND (?2 IS NULL OR r.status = ?2) AND f.rowid < ?3
                     ORDER BY f.rowid DESC LIMIT ?4"
                );
                let mut stmt = self.conn.prepare_cached(&sql)?;
                let rows =
                    stmt.query_map(params![fts.join(" "), status, before, limit], summary)?;
                rows.collect::<Result<Vec<_>, _>>()?
            }
            None => {
                let sql = format!(
                    "SELECT {cols} FROM records r WHERE (?1 IS NULL OR r.status = ?1) AND r.seq < ?2
                     ORDER BY r.seq DESC LIMIT ?3"
                );
                let mut stmt = self.conn.prepare_cached(&sql)?;
                let rows = stmt.query_map(params![status, before, limit], summary)?;
                rows.collect::<Result<Vec<_>, _>>()?
            }
        };
        Ok(rows)
    }

    /// Other records carrying this personal ID number: (id, enrollment number).
    pub fn with_id_number(
        &self,
        id_number: &str,
        except: &Uuid,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, enrollment_no FROM records WHERE id_number = ?1 AND id != ?2",
        )?;
        let rows = stmt.query_map(params![id_number, except.to_string()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many records stand in each status.
    pub fn count_by_status(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT status, COUNT(*) FROM records GROUP BY status ORDER BY status")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every stored record id, oldest first.
    pub fn record_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT id FROM records ORDER BY seq")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordSummary> {
    Ok(RecordSummary {
        seq: r.get(0)?,
        id: r.get(1)?,
        enrollment_no: r.get(2)?,
        status: r.get(3)?,
        kind: r.get(4)?,
        id_number: r.get(5)?,
        full_name: r.get(6)?,
        birth_date: r.get(7)?,
        commune_code: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

/// The record's stored chunks, concatenated: a snapshot followed by change chunks.
pub(crate) fn load_chunks(conn: &rusqlite::Connection, seq: i64) -> Result<Vec<u8>, StoreError> {
    // CAST: with a bare `?1` SQLite prepares this again at every new binding (constant
    // propagation marks the parameter as plan-changing); see the test of that.
    let mut stmt = conn.prepare_cached(
        "SELECT data FROM record_chunks WHERE record_seq = CAST(?1 AS INTEGER) ORDER BY n",
    )?;
    let mut out = Vec::new();
    let mut rows = stmt.query([seq])?;
    while let Some(row) = rows.next()? {
        let data: Vec<u8> = row.get(0)?;
        out.extend_from_slice(&data);
    }
    Ok(out)
}

/// `KS3FA2-20261127-0007`: kiosk code, local date, the day's sequence on this kiosk.
fn next_enrollment_no(
    tx: &rusqlite::Transaction<'_>,
    kiosk: &str,
    at: chrono::DateTime<Utc>,
) -> Result<String, StoreError> {
    let day = at
        .with_timezone(&chrono::Local)
        .format("%Y%m%d")
        .to_string();
    let n: i64 = tx.query_row(
        "INSERT INTO enrollment_counters(day, last) VALUES (?1, 1)
         ON CONFLICT(day) DO UPDATE SET last = last + 1 RETURNING last",
        [&day],
        |r| r.get(0),
    )?;
    Ok(format!("{kiosk}-{day}-{n:04}"))
}

/// One record's save inside an open transaction: document chunk, projection, audit entry.
pub(super) fn save_in(
    tx: &rusqlite::Transaction<'_>,
    kiosk: &super::KioskInfo,
    signer: Option<&enroll_sync::identity::DeviceKey>,
    record: &Enrollment,
    by: &Attribution,
) -> Result<SaveOutcome, StoreError> {
    let id = record.id.to_string();
    let existing: Option<(i64, Vec<u8>, i64, String)> = tx
        .query_row(
            "SELECT seq, heads, chunk_count, enrollment_no FROM records WHERE id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let now = timestamp(by.at);
    let outcome = match existing {
        None => {
            let mut record = record.clone();
            if record.enrollment_no.is_empty() {
                record.enrollment_no = next_enrollment_no(tx, &kiosk.code, by.at)?;
            }
            let mut doc = RecordDoc::create(&record, kiosk.actor.clone(), by)?;
            let p = Projection::of(&record);
            let created_at = record
                .capture
                .started_at
                .map_or_else(|| now.clone(), timestamp);
            tx.execute(
                "INSERT INTO records(id, enrollment_no, status, kind, id_number, full_name, search_key,
                    birth_date, province_code, commune_code, created_at, updated_at, heads, chunk_count,
                    blob_refs)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 1, ?14)",
                params![id, record.enrollment_no, p.status, p.kind, p.id_number, p.full_name, p.search_key,
                    p.birth_date, p.province_code, p.commune_code, created_at, now, heads_bytes(&doc.heads()),
                    p.blob_refs],
            )?;
            let seq = tx.last_insert_rowid();
            // Change chunks rather than a snapshot: a push sends them as they are.
            tx.execute(
                "INSERT INTO record_chunks(record_seq, n, data) VALUES (?1, 0, ?2)",
                params![seq, doc.save_changes()],
            )?;
            super::signatures::keep(tx, signer, seq, record.id, &doc.heads())?;
            SaveOutcome {
                id: record.id,
                enrollment_no: record.enrollment_no,
                created: true,
                changed: true,
            }
        }
        Some((seq, heads, chunks, enrollment_no)) => {
            let mut record = record.clone();
            if record.enrollment_no.is_empty() {
                record.enrollment_no = enrollment_no.clone();
            }
            let mut doc = RecordDoc::load(&load_chunks(tx, seq)?, kiosk.actor.clone())?;
            if doc.update(&record, by)?.is_none() {
                return Ok(SaveOutcome {
                    id: record.id,
                    enrollment_no,
                    created: false,
                    changed: false,
                });
            }
            let new_heads = doc.heads();
            let old_heads = heads_from(&heads);
            let made: Vec<ChangeHash> = new_heads
                .iter()
                .filter(|h| !old_heads.contains(h))
                .copied()
                .collect();
            super::signatures::keep(tx, signer, seq, record.id, &made)?;
            if chunks + 1 >= COMPACT_AT {
                tx.execute("DELETE FROM record_chunks WHERE record_seq = ?1", [seq])?;
                tx.execute(
                    "INSERT INTO record_chunks(record_seq, n, data) VALUES (?1, 0, ?2)",
                    params![seq, doc.save()],
                )?;
            } else {
                let delta = doc.save_after(&old_heads);
                tx.execute(
                    "INSERT INTO record_chunks(record_seq, n, data)
                     VALUES (?1, (SELECT COALESCE(MAX(n), -1) + 1 FROM record_chunks WHERE record_seq = ?1), ?2)",
                    params![seq, delta],
                )?;
            }
            let p = Projection::of(&record);
            tx.execute(
                "UPDATE records SET enrollment_no = ?2, status = ?3, kind = ?4, id_number = ?5, full_name = ?6,
                    search_key = ?7, birth_date = ?8, province_code = ?9, commune_code = ?10, updated_at = ?11,
                    heads = ?12, chunk_count = (SELECT COUNT(*) FROM record_chunks WHERE record_seq = ?1),
                    blob_refs = ?13
                 WHERE seq = ?1",
                params![seq, record.enrollment_no, p.status, p.kind, p.id_number, p.full_name, p.search_key,
                    p.birth_date, p.province_code, p.commune_code, now, heads_bytes(&new_heads), p.blob_refs],
            )?;
            SaveOutcome {
                id: record.id,
                enrollment_no: record.enrollment_no,
                created: false,
                changed: true,
            }
        }
    };
    let action = if outcome.created {
        "record.create"
    } else {
        "record.update"
    };
    super::audit::append(tx, by, action, Some(&id), Some(&outcome.enrollment_no))?;
    Ok(outcome)
}
