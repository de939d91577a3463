//! SQLite side of the review tables (helper dashB); the trait methods delegate here.

use chrono::NaiveDate;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use uuid::Uuid;

use super::{time1, ts, uuid, Result, StorageError};
use crate::storage::review::{
    AdjudicationRow, ChangeSig, CommentRow, QualityBy, QualityFacts, QualityQuery, QualityWeek,
    RefusedRecord, SessionQuery, SyncSessionRow,
};

pub(super) const MIGRATION: &str = r#"
CREATE TABLE change_sigs (
    record_id BLOB NOT NULL, hash BLOB NOT NULL, signer TEXT NOT NULL, signature BLOB NOT NULL,
    PRIMARY KEY (record_id, hash)
) WITHOUT ROWID;
CREATE TABLE comments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, record_id BLOB NOT NULL, at TEXT NOT NULL,
    author TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX comments_record ON comments(record_id, seq);
CREATE TABLE adjudications (
    a BLOB NOT NULL, b BLOB NOT NULL, id_number TEXT NOT NULL, verdict TEXT NOT NULL,
    reason TEXT NOT NULL, by_user TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (a, b)
) WITHOUT ROWID;
CREATE INDEX adjudications_id_number ON adjudications(id_number);
CREATE TABLE sync_sessions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, kiosk_id TEXT NOT NULL,
    started_at TEXT NOT NULL, ended_at TEXT NOT NULL, records_in INTEGER NOT NULL,
    refused INTEGER NOT NULL, refusals TEXT NOT NULL, changes_out INTEGER NOT NULL,
    bytes INTEGER NOT NULL, duration_ms INTEGER NOT NULL, error TEXT, receipt_id TEXT,
    receipt_len INTEGER NOT NULL, receipt BLOB NOT NULL
);
CREATE INDEX sync_sessions_kiosk ON sync_sessions(kiosk_id, seq);
CREATE TABLE record_quality (
    record_id BLOB PRIMARY KEY, kiosk_id TEXT NOT NULL, operator_id TEXT NOT NULL,
    province_code TEXT, week TEXT, minutes INTEGER, photo_failed INTEGER NOT NULL,
    fingers_captured INTEGER NOT NULL, finger_exceptions INTEGER NOT NULL,
    q0 INTEGER NOT NULL, q1 INTEGER NOT NULL, q2 INTEGER NOT NULL, q3 INTEGER NOT NULL,
    q4 INTEGER NOT NULL, returns INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX record_quality_kiosk ON record_quality(kiosk_id, week);
CREATE INDEX record_quality_operator ON record_quality(operator_id, week);
"#;

pub(super) fn put_change_sigs(c: &Connection, sigs: &[ChangeSig]) -> Result<()> {
    let mut st = c.prepare_cached(
        "INSERT INTO change_sigs(record_id, hash, signer, signature) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
    )?;
    for s in sigs {
        st.execute(params![
            &s.record.as_bytes()[..],
            &s.hash[..],
            s.signer,
            s.signature
        ])?;
    }
    Ok(())
}

pub(super) fn change_sigs(
    c: &Connection,
    record: &Uuid,
    hashes: &[[u8; 32]],
) -> Result<Vec<ChangeSig>> {
    let mut st = c.prepare_cached(
        "SELECT signer, signature FROM change_sigs WHERE record_id = ?1 AND hash = ?2",
    )?;
    let mut out = Vec::new();
    for h in hashes {
        let found: Option<(String, Vec<u8>)> = st
            .query_row(params![&record.as_bytes()[..], &h[..]], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        if let Some((signer, signature)) = found {
            out.push(ChangeSig {
                record: *record,
                hash: *h,
                signer,
                signature,
            });
        }
    }
    Ok(out)
}

pub(super) fn add_comment(c: &Connection, x: &CommentRow) -> Result<u64> {
    c.prepare_cached("INSERT INTO comments(record_id, at, author, body) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![
            &x.record.as_bytes()[..],
            ts(x.at),
            x.author,
            x.body
        ])?;
    Ok(c.last_insert_rowid() as u64)
}

pub(super) fn comments(
    c: &Connection,
    record: &Uuid,
    after: u64,
    limit: u32,
) -> Result<Vec<CommentRow>> {
    let raws: Vec<(i64, String, String, String)> = c
        .prepare_cached(
            "SELECT seq, at, author, body FROM comments WHERE record_id = ?1 AND seq > ?2
             ORDER BY seq LIMIT ?3",
        )?
        .query_map(params![&record.as_bytes()[..], after as i64, limit], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    raws.into_iter()
        .map(|(seq, at, author, body)| {
            Ok(CommentRow {
                seq: seq as u64,
                record: *record,
                at: time1(at)?,
                author,
                body,
            })
        })
        .collect()
}

pub(super) fn put_adjudication(c: &Connection, a: &AdjudicationRow) -> Result<()> {
    c.prepare_cached(
        "INSERT OR REPLACE INTO adjudications(a, b, id_number, verdict, reason, by_user, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        &a.a.as_bytes()[..],
        &a.b.as_bytes()[..],
        a.id_number,
        a.verdict,
        a.reason,
        a.by,
        ts(a.at)
    ])?;
    Ok(())
}

type AdjRaw = (Vec<u8>, Vec<u8>, String, String, String, String, String);

pub(super) fn adjudications(
    c: &Connection,
    id_number: &str,
    limit: u32,
) -> Result<Vec<AdjudicationRow>> {
    let raws: Vec<AdjRaw> = c
        .prepare_cached(
            "SELECT a, b, id_number, verdict, reason, by_user, at FROM adjudications
             WHERE id_number = ?1 ORDER BY a, b LIMIT ?2",
        )?
        .query_map(params![id_number, limit], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    raws.into_iter()
        .map(|(a, b, id_number, verdict, reason, by, at)| {
            Ok(AdjudicationRow {
                id_number,
                a: uuid(a)?,
                b: uuid(b)?,
                verdict,
                reason,
                by,
                at: time1(at)?,
            })
        })
        .collect()
}

pub(super) fn is_duplicate_pair(c: &Connection, a: &Uuid, b: &Uuid) -> Result<bool> {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    Ok(
        c.prepare_cached("SELECT 1 FROM duplicates WHERE a = ?1 AND b = ?2")?
            .query_row(params![&lo.as_bytes()[..], &hi.as_bytes()[..]], |_| Ok(()))
            .optional()?
            .is_some(),
    )
}

pub(super) fn add_sync_session(c: &Connection, r: &SyncSessionRow, receipt: &[u8]) -> Result<u64> {
    let refusals = serde_json::to_string(&r.refusals)
        .map_err(|e| StorageError::Corrupt(format!("refusals: {e}")))?;
    c.prepare_cached(
        "INSERT INTO sync_sessions(kind, kiosk_id, started_at, ended_at, records_in, refused,
             refusals, changes_out, bytes, duration_ms, error, receipt_id, receipt_len, receipt)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        r.kind,
        r.kiosk_id,
        ts(r.started_at),
        ts(r.ended_at),
        r.records_in as i64,
        r.refused as i64,
        refusals,
        r.changes_out as i64,
        r.bytes as i64,
        r.duration_ms as i64,
        r.error,
        r.receipt_id,
        receipt.len() as i64,
        receipt
    ])?;
    Ok(c.last_insert_rowid() as u64)
}

const SESSION_COLS: &str = "seq, kind, kiosk_id, started_at, ended_at, records_in, refused, refusals, changes_out, bytes, duration_ms, error, receipt_id, receipt_len";

fn session_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<(SyncSessionRow, String, String, String)> {
    let n = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
    Ok((
        SyncSessionRow {
            seq: n(0)?,
            kind: r.get(1)?,
            kiosk_id: r.get(2)?,
            started_at: Default::default(),
            ended_at: Default::default(),
            records_in: n(5)?,
            refused: n(6)?,
            refusals: Vec::new(),
            changes_out: n(8)?,
            bytes: n(9)?,
            duration_ms: n(10)?,
            error: r.get(11)?,
            receipt_id: r.get(12)?,
            receipt_len: n(13)?,
        },
        r.get(3)?,
        r.get(4)?,
        r.get(7)?,
    ))
}

fn finish_session(raw: (SyncSessionRow, String, String, String)) -> Result<SyncSessionRow> {
    let (mut row, started, ended, refusals) = raw;
    row.started_at = time1(started)?;
    row.ended_at = time1(ended)?;
    row.refusals = serde_json::from_str::<Vec<RefusedRecord>>(&refusals)
        .map_err(|e| StorageError::Corrupt(format!("session refusals: {e}")))?;
    Ok(row)
}

pub(super) fn sync_sessions(c: &Connection, q: &SessionQuery) -> Result<Vec<SyncSessionRow>> {
    let before = q.before.map_or(i64::MAX, |b| b as i64);
    let raws = match &q.kiosk {
        Some(k) => c
            .prepare_cached(&format!(
                "SELECT {SESSION_COLS} FROM sync_sessions WHERE kiosk_id = ?1 AND seq < ?2
                 ORDER BY seq DESC LIMIT ?3"
            ))?
            .query_map(params![k, before, q.limit], session_of)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
        None => c
            .prepare_cached(&format!(
                "SELECT {SESSION_COLS} FROM sync_sessions WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2"
            ))?
            .query_map(params![before, q.limit], session_of)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
    };
    raws.into_iter().map(finish_session).collect()
}

pub(super) fn sync_session(c: &Connection, seq: u64) -> Result<Option<(SyncSessionRow, Vec<u8>)>> {
    let found = c
        .prepare_cached(&format!(
            "SELECT {SESSION_COLS}, receipt FROM sync_sessions WHERE seq = ?1"
        ))?
        .query_row([seq as i64], |r| {
            Ok((session_of(r)?, r.get::<_, Vec<u8>>(14)?))
        })
        .optional()?;
    found
        .map(|(raw, receipt)| Ok((finish_session(raw)?, receipt)))
        .transpose()
}

pub(super) fn put_quality(c: &Connection, facts: &[QualityFacts]) -> Result<()> {
    let mut st = c.prepare_cached(
        "INSERT OR REPLACE INTO record_quality(record_id, kiosk_id, operator_id, province_code,
             week, minutes, photo_failed, fingers_captured, finger_exceptions, q0, q1, q2, q3, q4,
             returns)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?;
    for f in facts {
        let b = f.quality_bins;
        st.execute(params![
            &f.record.as_bytes()[..],
            f.kiosk_id,
            f.operator_id,
            f.province_code,
            f.week.map(|w| w.to_string()),
            f.minutes,
            f.photo_failed,
            f.fingers_captured,
            f.finger_exceptions,
            b[0],
            b[1],
            b[2],
            b[3],
            b[4],
            f.returns
        ])?;
    }
    Ok(())
}

fn day(s: &str) -> Result<NaiveDate> {
    s.parse()
        .map_err(|e| StorageError::Corrupt(format!("week `{s}`: {e}")))
}

pub(super) fn quality(c: &Connection, q: &QualityQuery) -> Result<Vec<QualityWeek>> {
    let key = match q.by {
        QualityBy::Kiosk => "kiosk_id",
        QualityBy::Operator => "operator_id",
    };
    let mut args: Vec<rusqlite::types::Value> =
        vec![q.from_week.to_string().into(), q.to_week.to_string().into()];
    let mut filter = String::from("week >= ?1 AND week <= ?2");
    if let Some(ps) = &q.provinces {
        let marks: Vec<String> = ps
            .iter()
            .map(|p| {
                args.push(p.clone().into());
                format!("?{}", args.len())
            })
            .collect();
        if marks.is_empty() {
            return Ok(Vec::new());
        }
        filter.push_str(&format!(" AND province_code IN ({})", marks.join(", ")));
    }
    let mut key_args = args.clone();
    key_args.push(q.after.clone().unwrap_or_default().into());
    let after_mark = key_args.len();
    key_args.push(i64::from(q.limit).into());
    let keys: Vec<String> = c
        .prepare(&format!(
            "SELECT DISTINCT {key} FROM record_quality WHERE {filter} AND {key} > ?{after_mark}
             ORDER BY {key} LIMIT ?{}",
            after_mark + 1
        ))?
        .query_map(params_from_iter(key_args), |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for k in keys {
        let mut a = args.clone();
        a.push(k.clone().into());
        let kmark = a.len();
        let sums: Vec<(String, [i64; 10])> = c
            .prepare(&format!(
                "SELECT week, COUNT(*), SUM(photo_failed), SUM(fingers_captured),
                     SUM(finger_exceptions), SUM(q0), SUM(q1), SUM(q2), SUM(q3), SUM(q4), SUM(returns)
                 FROM record_quality WHERE {filter} AND {key} = ?{kmark}
                 GROUP BY week ORDER BY week"
            ))?
            .query_map(params_from_iter(a.clone()), |r| {
                let mut v = [0i64; 10];
                for (i, slot) in v.iter_mut().enumerate() {
                    *slot = r.get(i + 1)?;
                }
                Ok((r.get(0)?, v))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let minutes: Vec<(String, i64, i64)> = c
            .prepare(&format!(
                "SELECT week, minutes, COUNT(*) FROM record_quality
                 WHERE {filter} AND {key} = ?{kmark} AND minutes IS NOT NULL
                 GROUP BY week, minutes"
            ))?
            .query_map(params_from_iter(a), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        for (week, v) in sums {
            let n = |i: usize| v[i].max(0) as u64;
            out.push(QualityWeek {
                key: k.clone(),
                week: Some(day(&week)?),
                records: n(0),
                photo_failed: n(1),
                fingers_captured: n(2),
                finger_exceptions: n(3),
                quality_bins: [n(4), n(5), n(6), n(7), n(8)],
                returns: n(9),
                minutes: minutes
                    .iter()
                    .filter(|(w, _, _)| *w == week)
                    .map(|(_, m, c)| ((*m).max(0) as u32, (*c).max(0) as u64))
                    .collect(),
            });
        }
    }
    Ok(out)
}
