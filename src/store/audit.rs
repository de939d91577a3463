//! The append-only audit log: every entry carries the hash of the one before it, so an edit,
//! deletion, reordering or truncation in the middle breaks the chain.

use enroll_sync::record::Attribution;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{timestamp, Store, StoreError};

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub device: String,
    pub action: String,
    pub subject: Option<String>,
    pub detail: Option<String>,
    #[serde(serialize_with = "as_hex")]
    pub hash: Vec<u8>,
}

fn as_hex<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

/// The chain hash of an entry: length-prefixed fields after the previous hash.
fn chain_hash(prev: &[u8], seq: i64, fields: [&str; 6]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(seq.to_be_bytes());
    for f in fields {
        h.update((f.len() as u64).to_be_bytes());
        h.update(f.as_bytes());
    }
    h.finalize().to_vec()
}

pub(crate) fn append(
    conn: &Connection,
    by: &Attribution,
    action: &str,
    subject: Option<&str>,
    detail: Option<&str>,
) -> Result<(), StoreError> {
    let last: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (seq, prev) = last.map_or((1, vec![0u8; 32]), |(s, h)| (s + 1, h));
    let at = timestamp(by.at);
    let fields = [
        at.as_str(),
        &by.person,
        &by.device,
        action,
        subject.unwrap_or(""),
        detail.unwrap_or(""),
    ];
    let hash = chain_hash(&prev, seq, fields);
    conn.execute(
        "INSERT INTO audit(seq, at, actor, device, action, subject, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![seq, at, by.person, by.device, action, subject, detail, prev, hash],
    )?;
    Ok(())
}

impl Store {
    /// Records an action that is not a record save (sign-in, export, settings...).
    pub fn audit(
        &self,
        by: &Attribution,
        action: &str,
        subject: Option<&str>,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        append(&self.conn, by, action, subject, detail)
    }

    pub fn audit_entries(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, at, actor, device, action, subject, detail, hash FROM audit ORDER BY seq DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            Ok(AuditEntry {
                seq: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                device: r.get(3)?,
                action: r.get(4)?,
                subject: r.get(5)?,
                detail: r.get(6)?,
                hash: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Walks the chain from the start; `Err(seq)` names the first entry that does not fit.
    pub fn verify_audit(&self) -> Result<Result<usize, i64>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, at, actor, device, action, COALESCE(subject, ''), COALESCE(detail, ''), prev_hash, hash
             FROM audit ORDER BY seq",
        )?;
        let mut rows = stmt.query([])?;
        let mut prev = vec![0u8; 32];
        let mut expected_seq = 1;
        let mut count = 0;
        while let Some(r) = rows.next()? {
            let seq: i64 = r.get(0)?;
            let fields: [String; 6] = [
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ];
            let stored_prev: Vec<u8> = r.get(7)?;
            let hash: Vec<u8> = r.get(8)?;
            let computed = chain_hash(&prev, seq, fields.each_ref().map(String::as_str));
            if seq != expected_seq || stored_prev != prev || hash != computed {
                return Ok(Err(seq));
            }
            prev = hash;
            expected_seq += 1;
            count += 1;
        }
        Ok(Ok(count))
    }
}
