//! PostgreSQL side of the review tables (helper dashB); the trait methods delegate here.

use chrono::NaiveDate;
use std::collections::BTreeMap;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{uuid, PgSession, Result, StorageError};
use crate::storage::review::{
    AdjudicationRow, ChangeSig, CommentRow, QualityBy, QualityFacts, QualityQuery, QualityWeek,
    RefusedRecord, SessionQuery, SyncSessionRow,
};

pub(super) const MIGRATION: &str = r#"
CREATE TABLE change_sigs (
    record_id bytea NOT NULL, hash bytea NOT NULL, signer text NOT NULL, signature bytea NOT NULL,
    PRIMARY KEY (record_id, hash)
);
CREATE TABLE comments (
    seq bigserial PRIMARY KEY, record_id bytea NOT NULL, at timestamptz NOT NULL,
    author text NOT NULL, body text NOT NULL
);
CREATE INDEX comments_record ON comments (record_id, seq);
CREATE TABLE adjudications (
    a bytea NOT NULL, b bytea NOT NULL, id_number text COLLATE "C" NOT NULL,
    verdict text NOT NULL, reason text NOT NULL, by_user text NOT NULL, at timestamptz NOT NULL,
    PRIMARY KEY (a, b)
);
CREATE INDEX adjudications_id_number ON adjudications (id_number);
CREATE TABLE sync_sessions (
    seq bigserial PRIMARY KEY, kind text NOT NULL, kiosk_id text COLLATE "C" NOT NULL,
    started_at timestamptz NOT NULL, ended_at timestamptz NOT NULL, records_in bigint NOT NULL,
    refused bigint NOT NULL, refusals text NOT NULL, changes_out bigint NOT NULL,
    bytes bigint NOT NULL, duration_ms bigint NOT NULL, error text, receipt_id text,
    receipt_len bigint NOT NULL, receipt bytea NOT NULL
);
CREATE INDEX sync_sessions_kiosk ON sync_sessions (kiosk_id, seq);
CREATE TABLE record_quality (
    record_id bytea PRIMARY KEY, kiosk_id text COLLATE "C" NOT NULL,
    operator_id text COLLATE "C" NOT NULL, province_code text COLLATE "C", week date,
    minutes integer, photo_failed integer NOT NULL, fingers_captured integer NOT NULL,
    finger_exceptions integer NOT NULL, q0 integer NOT NULL, q1 integer NOT NULL,
    q2 integer NOT NULL, q3 integer NOT NULL, q4 integer NOT NULL, returns integer NOT NULL
);
CREATE INDEX record_quality_kiosk ON record_quality (kiosk_id, week);
CREATE INDEX record_quality_operator ON record_quality (operator_id, week);
"#;

fn hash32(b: &[u8]) -> Result<[u8; 32]> {
    <[u8; 32]>::try_from(b).map_err(|_| StorageError::Corrupt("change hash length".into()))
}

fn count(r: &Row, i: usize) -> Result<u64> {
    Ok(r.try_get::<_, i64>(i)?.max(0) as u64)
}

fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

pub(super) fn put_change_sigs(s: &PgSession, sigs: &[ChangeSig]) -> Result<()> {
    if sigs.is_empty() {
        return Ok(());
    }
    // One statement per frame: columns as arrays (a row per change was a round trip each).
    let records: Vec<&[u8]> = sigs.iter().map(|x| &x.record.as_bytes()[..]).collect();
    let hashes: Vec<&[u8]> = sigs.iter().map(|x| &x.hash[..]).collect();
    let signers: Vec<&str> = sigs.iter().map(|x| x.signer.as_str()).collect();
    let signatures: Vec<&[u8]> = sigs.iter().map(|x| x.signature.as_slice()).collect();
    s.execute(
        "INSERT INTO change_sigs(record_id, hash, signer, signature)
         SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::text[], $4::bytea[])
         ON CONFLICT DO NOTHING",
        &[&records, &hashes, &signers, &signatures],
    )?;
    Ok(())
}

pub(super) fn change_sigs(
    s: &PgSession,
    record: &Uuid,
    hashes: &[[u8; 32]],
) -> Result<Vec<ChangeSig>> {
    let hs: Vec<Vec<u8>> = hashes.iter().map(|h| h.to_vec()).collect();
    s.query(
        "SELECT hash, signer, signature FROM change_sigs WHERE record_id = $1 AND hash = ANY($2)",
        &[&&record.as_bytes()[..], &hs],
    )?
    .iter()
    .map(|r| {
        Ok(ChangeSig {
            record: *record,
            hash: hash32(r.try_get(0)?)?,
            signer: r.try_get(1)?,
            signature: r.try_get(2)?,
        })
    })
    .collect()
}

pub(super) fn add_comment(s: &PgSession, c: &CommentRow) -> Result<u64> {
    let row = s.query(
        "INSERT INTO comments(record_id, at, author, body) VALUES ($1, $2, $3, $4) RETURNING seq",
        &[&&c.record.as_bytes()[..], &c.at, &c.author, &c.body],
    )?;
    let r = row
        .first()
        .ok_or_else(|| StorageError::Corrupt("no comment sequence".into()))?;
    count(r, 0)
}

pub(super) fn comments(
    s: &PgSession,
    record: &Uuid,
    after: u64,
    limit: u32,
) -> Result<Vec<CommentRow>> {
    s.query(
        "SELECT seq, at, author, body FROM comments WHERE record_id = $1 AND seq > $2
         ORDER BY seq LIMIT $3",
        &[
            &&record.as_bytes()[..],
            &(after.min(i64::MAX as u64) as i64),
            &i64::from(limit),
        ],
    )?
    .iter()
    .map(|r| {
        Ok(CommentRow {
            seq: count(r, 0)?,
            record: *record,
            at: r.try_get(1)?,
            author: r.try_get(2)?,
            body: r.try_get(3)?,
        })
    })
    .collect()
}

pub(super) fn put_adjudication(s: &PgSession, a: &AdjudicationRow) -> Result<()> {
    s.execute(
        "INSERT INTO adjudications(a, b, id_number, verdict, reason, by_user, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (a, b) DO UPDATE SET id_number = excluded.id_number,
             verdict = excluded.verdict, reason = excluded.reason, by_user = excluded.by_user,
             at = excluded.at",
        &[
            &&a.a.as_bytes()[..],
            &&a.b.as_bytes()[..],
            &a.id_number,
            &a.verdict,
            &a.reason,
            &a.by,
            &a.at,
        ],
    )?;
    Ok(())
}

pub(super) fn adjudications(
    s: &PgSession,
    id_number: &str,
    limit: u32,
) -> Result<Vec<AdjudicationRow>> {
    s.query(
        "SELECT a, b, id_number, verdict, reason, by_user, at FROM adjudications
         WHERE id_number = $1 ORDER BY a, b LIMIT $2",
        &[&id_number, &i64::from(limit)],
    )?
    .iter()
    .map(|r| {
        Ok(AdjudicationRow {
            a: uuid(r.try_get(0)?)?,
            b: uuid(r.try_get(1)?)?,
            id_number: r.try_get(2)?,
            verdict: r.try_get(3)?,
            reason: r.try_get(4)?,
            by: r.try_get(5)?,
            at: r.try_get(6)?,
        })
    })
    .collect()
}

pub(super) fn is_duplicate_pair(s: &PgSession, a: &Uuid, b: &Uuid) -> Result<bool> {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    Ok(s.query_opt(
        "SELECT 1 FROM duplicates WHERE a = $1 AND b = $2",
        &[&&lo.as_bytes()[..], &&hi.as_bytes()[..]],
    )?
    .is_some())
}

fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) fn add_sync_session(s: &PgSession, r: &SyncSessionRow, receipt: &[u8]) -> Result<u64> {
    let refusals = serde_json::to_string(&r.refusals)
        .map_err(|e| StorageError::Corrupt(format!("refusals: {e}")))?;
    let rows = s.query(
        "INSERT INTO sync_sessions(kind, kiosk_id, started_at, ended_at, records_in, refused,
             refusals, changes_out, bytes, duration_ms, error, receipt_id, receipt_len, receipt)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING seq",
        &[
            &r.kind,
            &r.kiosk_id,
            &r.started_at,
            &r.ended_at,
            &big(r.records_in),
            &big(r.refused),
            &refusals,
            &big(r.changes_out),
            &big(r.bytes),
            &big(r.duration_ms),
            &r.error,
            &r.receipt_id,
            &big(receipt.len() as u64),
            &receipt,
        ],
    )?;
    let row = rows
        .first()
        .ok_or_else(|| StorageError::Corrupt("no session sequence".into()))?;
    count(row, 0)
}

const SESSION_COLS: &str = "seq, kind, kiosk_id, started_at, ended_at, records_in, refused, refusals, changes_out, bytes, duration_ms, error, receipt_id, receipt_len";

fn session_of(r: &Row) -> Result<SyncSessionRow> {
    let refusals: String = r.try_get(7)?;
    Ok(SyncSessionRow {
        seq: count(r, 0)?,
        kind: r.try_get(1)?,
        kiosk_id: r.try_get(2)?,
        started_at: r.try_get(3)?,
        ended_at: r.try_get(4)?,
        records_in: count(r, 5)?,
        refused: count(r, 6)?,
        refusals: serde_json::from_str::<Vec<RefusedRecord>>(&refusals)
            .map_err(|e| StorageError::Corrupt(format!("session refusals: {e}")))?,
        changes_out: count(r, 8)?,
        bytes: count(r, 9)?,
        duration_ms: count(r, 10)?,
        error: r.try_get(11)?,
        receipt_id: r.try_get(12)?,
        receipt_len: count(r, 13)?,
    })
}

pub(super) fn sync_sessions(s: &PgSession, q: &SessionQuery) -> Result<Vec<SyncSessionRow>> {
    let before = q.before.map_or(i64::MAX, big);
    let limit = i64::from(q.limit);
    let rows = match &q.kiosk {
        Some(k) => s.query(
            &format!(
                "SELECT {SESSION_COLS} FROM sync_sessions WHERE kiosk_id = $1 AND seq < $2
                 ORDER BY seq DESC LIMIT $3"
            ),
            &[k, &before, &limit],
        )?,
        None => s.query(
            &format!(
                "SELECT {SESSION_COLS} FROM sync_sessions WHERE seq < $1 ORDER BY seq DESC LIMIT $2"
            ),
            &[&before, &limit],
        )?,
    };
    rows.iter().map(session_of).collect()
}

pub(super) fn sync_session(s: &PgSession, seq: u64) -> Result<Option<(SyncSessionRow, Vec<u8>)>> {
    s.query_opt(
        &format!("SELECT {SESSION_COLS}, receipt FROM sync_sessions WHERE seq = $1"),
        &[&big(seq)],
    )?
    .map(|r| Ok((session_of(&r)?, r.try_get(14)?)))
    .transpose()
}

pub(super) fn put_quality(s: &PgSession, facts: &[QualityFacts]) -> Result<()> {
    // One row per record, the last given: a statement may not update a row twice.
    let mut last: BTreeMap<Uuid, &QualityFacts> = BTreeMap::new();
    for f in facts {
        last.insert(f.record, f);
    }
    if last.is_empty() {
        return Ok(());
    }
    let facts: Vec<&QualityFacts> = last.into_values().collect();
    let col = |get: &dyn Fn(&QualityFacts) -> u32| -> Vec<i32> {
        facts.iter().map(|f| int(get(f))).collect()
    };
    let records: Vec<&[u8]> = facts.iter().map(|f| &f.record.as_bytes()[..]).collect();
    let kiosks: Vec<&str> = facts.iter().map(|f| f.kiosk_id.as_str()).collect();
    let operators: Vec<&str> = facts.iter().map(|f| f.operator_id.as_str()).collect();
    let provinces: Vec<Option<&str>> = facts.iter().map(|f| f.province_code.as_deref()).collect();
    let weeks: Vec<Option<NaiveDate>> = facts.iter().map(|f| f.week).collect();
    let minutes: Vec<Option<i32>> = facts.iter().map(|f| f.minutes.map(int)).collect();
    let photo = col(&|f| u32::from(f.photo_failed));
    let captured = col(&|f| f.fingers_captured);
    let exceptions = col(&|f| f.finger_exceptions);
    let bins: Vec<Vec<i32>> = (0..5).map(|i| col(&|f| f.quality_bins[i])).collect();
    let returns = col(&|f| f.returns);
    s.execute(
        "INSERT INTO record_quality(record_id, kiosk_id, operator_id, province_code, week,
             minutes, photo_failed, fingers_captured, finger_exceptions, q0, q1, q2, q3, q4,
             returns)
         SELECT * FROM unnest($1::bytea[], $2::text[], $3::text[], $4::text[], $5::date[],
             $6::int4[], $7::int4[], $8::int4[], $9::int4[], $10::int4[], $11::int4[],
             $12::int4[], $13::int4[], $14::int4[], $15::int4[])
         ON CONFLICT (record_id) DO UPDATE SET kiosk_id = excluded.kiosk_id,
             operator_id = excluded.operator_id, province_code = excluded.province_code,
             week = excluded.week, minutes = excluded.minutes,
             photo_failed = excluded.photo_failed, fingers_captured = excluded.fingers_captured,
             finger_exceptions = excluded.finger_exceptions, q0 = excluded.q0,
             q1 = excluded.q1, q2 = excluded.q2, q3 = excluded.q3, q4 = excluded.q4,
             returns = excluded.returns",
        &[
            &records,
            &kiosks,
            &operators,
            &provinces,
            &weeks,
            &minutes,
            &photo,
            &captured,
            &exceptions,
            &bins[0],
            &bins[1],
            &bins[2],
            &bins[3],
            &bins[4],
            &returns,
        ],
    )?;
    Ok(())
}

pub(super) fn quality(s: &PgSession, q: &QualityQuery) -> Result<Vec<QualityWeek>> {
    let key = match q.by {
        QualityBy::Kiosk => "kiosk_id",
        QualityBy::Operator => "operator_id",
    };
    let provinces: Vec<String> = q.provinces.clone().unwrap_or_default();
    if q.provinces.as_ref().is_some_and(|p| p.is_empty()) {
        return Ok(Vec::new());
    }
    let scoped = q.provinces.is_some();
    let filter = "week >= $1 AND week <= $2 AND (NOT $3 OR province_code = ANY($4))";
    let after = q.after.clone().unwrap_or_default();
    let limit = i64::from(q.limit);
    let base: [&(dyn ToSql + Sync); 4] = [&q.from_week, &q.to_week, &scoped, &provinces];
    let mut key_args: Vec<&(dyn ToSql + Sync)> = base.to_vec();
    key_args.push(&after);
    key_args.push(&limit);
    let keys: Vec<String> = s
        .query(
            &format!(
                "SELECT DISTINCT {key} FROM record_quality WHERE {filter} AND {key} > $5
                 ORDER BY {key} LIMIT $6"
            ),
            &key_args,
        )?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
    let mut out = Vec::new();
    for k in keys {
        let mut a: Vec<&(dyn ToSql + Sync)> = base.to_vec();
        a.push(&k);
        let sums = s.query(
            &format!(
                "SELECT week, COUNT(*), SUM(photo_failed), SUM(fingers_captured),
                     SUM(finger_exceptions), SUM(q0), SUM(q1), SUM(q2), SUM(q3), SUM(q4), SUM(returns)
                 FROM record_quality WHERE {filter} AND {key} = $5 GROUP BY week ORDER BY week"
            ),
            &a,
        )?;
        let minutes = s.query(
            &format!(
                "SELECT week, minutes, COUNT(*) FROM record_quality
                 WHERE {filter} AND {key} = $5 AND minutes IS NOT NULL GROUP BY week, minutes"
            ),
            &a,
        )?;
        let minutes: Vec<(NaiveDate, u32, u64)> = minutes
            .iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    r.try_get::<_, i32>(1)?.max(0) as u32,
                    count(r, 2)?,
                ))
            })
            .collect::<Result<_>>()?;
        for r in &sums {
            let week: NaiveDate = r.try_get(0)?;
            out.push(QualityWeek {
                key: k.clone(),
                week: Some(week),
                records: count(r, 1)?,
                photo_failed: count(r, 2)?,
                fingers_captured: count(r, 3)?,
                finger_exceptions: count(r, 4)?,
                quality_bins: [
                    count(r, 5)?,
                    count(r, 6)?,
                    count(r, 7)?,
                    count(r, 8)?,
                    count(r, 9)?,
                ],
                returns: count(r, 10)?,
                minutes: minutes
                    .iter()
                    .filter(|(w, _, _)| *w == week)
                    .map(|(_, m, c)| (*m, *c))
                    .collect(),
            });
        }
    }
    Ok(out)
}
