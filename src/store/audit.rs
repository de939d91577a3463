//! The append-only audit log: every entry carries the hash of the one before it, so an edit,
//! deletion or reordering breaks the chain. The chain's head (count and last hash) is also kept
//! in the `kiosk` table, updated in the same transaction, and signed checkpoints (count, head,
//! time, Ed25519 by the device key) are made on export; both catch a cut-off tail.

use chrono::{DateTime, Utc};
use enroll_sync::audit::{
    chain_hash, checkpoint_parts, AuditProof, Checkpoint, Link, CHECKPOINT_DOMAIN,
};
use enroll_sync::identity::{self, DeviceKey};
use enroll_sync::record::Attribution;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::{timestamp, Store, StoreError};

/// Audit entries one hello carries at most; a longer backlog follows on the next syncs.
pub const AUDIT_PER_HELLO: usize = 20_000;
const HEAD_KEY: &str = "audit_head";
const CHECKPOINT_KEY: &str = "audit_checkpoint";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub device: String,
    pub action: String,
    pub subject: Option<String>,
    pub detail: Option<String>,
    #[serde(serialize_with = "as_hex")]
    pub prev_hash: Vec<u8>,
    #[serde(serialize_with = "as_hex")]
    pub hash: Vec<u8>,
}

/// A signed statement "the log had `count` entries ending in `head` at `at`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditCheckpoint {
    pub count: i64,
    #[serde(serialize_with = "as_hex")]
    pub head: Vec<u8>,
    pub at: String,
    #[serde(serialize_with = "as_hex")]
    pub public_key: Vec<u8>,
    #[serde(serialize_with = "as_hex")]
    pub signature: Vec<u8>,
}

impl AuditCheckpoint {
    fn parts(count: i64, head: &[u8], at: &str) -> [Vec<u8>; 3] {
        checkpoint_parts(count, head, at)
    }

    /// Checks the signature against `public` (the kiosk's device key as HQ knows it).
    pub fn verify(&self, public: &[u8]) -> bool {
        let parts = Self::parts(self.count, &self.head, &self.at);
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        identity::verify(public, CHECKPOINT_DOMAIN, &refs, &self.signature).is_ok()
    }
}

/// What the sync helper puts in a bundle: entries after a seq and the latest signed checkpoint.
#[derive(Debug, Clone, Serialize)]
pub struct AuditExport {
    pub entries: Vec<AuditEntry>,
    pub checkpoint: AuditCheckpoint,
}

/// What is wrong with the log, at the first entry that does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditProblem {
    /// Its content does not match its hash.
    Edited,
    /// Entries with this seq onwards are missing (deleted in the middle or cut from the end).
    Missing,
    /// The entry sits out of place (its back-link names another entry).
    OutOfOrder,
    /// The latest checkpoint's signature does not verify.
    BadCheckpoint,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// Entries that verified, from the start.
    pub verified: i64,
    /// First bad entry and what is wrong with it; `None` when the whole log is intact.
    pub first_bad: Option<(i64, AuditProblem)>,
    /// The latest signed checkpoint, if any was made.
    pub checkpoint: Option<AuditCheckpoint>,
}

impl AuditReport {
    pub fn is_ok(&self) -> bool {
        self.first_bad.is_none()
    }

    pub fn problem_text(&self) -> Option<(String, String)> {
        let (seq, p) = self.first_bad?;
        Some(match p {
            AuditProblem::Edited => (
                format!("Mục nhật ký số {seq} đã bị sửa."),
                format!("Audit entry {seq} was edited."),
            ),
            AuditProblem::Missing => (
                format!("Mục nhật ký số {seq} (và có thể các mục sau) đã bị xoá."),
                format!("Audit entry {seq} (and possibly later ones) was deleted."),
            ),
            AuditProblem::OutOfOrder => (
                format!("Mục nhật ký số {seq} đã bị đổi thứ tự."),
                format!("Audit entry {seq} was moved out of order."),
            ),
            AuditProblem::BadCheckpoint => (
                format!("Chữ ký điểm kiểm tra tại mục {seq} không hợp lệ."),
                format!("The signed checkpoint at entry {seq} does not verify."),
            ),
        })
    }
}

fn as_hex<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

fn read_head(conn: &Connection) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
    let raw: Option<Vec<u8>> = conn
        .query_row("SELECT value FROM kiosk WHERE key = ?1", [HEAD_KEY], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(raw.and_then(|raw| {
        let text = String::from_utf8(raw).ok()?;
        let (count, hash) = text.split_once(':')?;
        Some((count.parse().ok()?, hex::decode(hash).ok()?))
    }))
}

fn write_head(conn: &Connection, count: i64, hash: &[u8]) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO kiosk(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![
            HEAD_KEY,
            format!("{count}:{}", hex::encode(hash)).into_bytes()
        ],
    )?;
    Ok(())
}

/// Appends an entry; call inside the transaction of the change it records.
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
    write_head(conn, seq, &hash)
}

const ENTRY_COLUMNS: &str = "seq, at, actor, device, action, subject, detail, prev_hash, hash";

fn row_to_entry(r: &rusqlite::Row) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        device: r.get(3)?,
        action: r.get(4)?,
        subject: r.get(5)?,
        detail: r.get(6)?,
        prev_hash: r.get(7)?,
        hash: r.get(8)?,
    })
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
        let tx = self.conn.unchecked_transaction()?;
        append(&tx, by, action, subject, detail)?;
        tx.commit()?;
        Ok(())
    }

    /// The newest `limit` entries, newest first.
    pub fn audit_entries(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {ENTRY_COLUMNS} FROM audit ORDER BY seq DESC LIMIT ?1"
        ))?;
        let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], row_to_entry)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Entries with seq greater than `after`, oldest first.
    pub fn audit_since(&self, after: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {ENTRY_COLUMNS} FROM audit WHERE seq > ?1 ORDER BY seq"
        ))?;
        let rows = stmt.query_map([after], row_to_entry)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Signs the current head of the log with the device key and keeps it (in the checkpoint
    /// table and, as the latest, in the `kiosk` table).
    pub fn checkpoint_audit(
        &self,
        key: &DeviceKey,
        now: DateTime<Utc>,
    ) -> Result<AuditCheckpoint, StoreError> {
        let (count, head) = read_head(&self.conn)?.unwrap_or((0, vec![0u8; 32]));
        let at = timestamp(now);
        let parts = AuditCheckpoint::parts(count, &head, &at);
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let cp = AuditCheckpoint {
            count,
            head,
            at,
            public_key: key.public().to_vec(),
            signature: key.sign(CHECKPOINT_DOMAIN, &refs).to_vec(),
        };
        let json = serde_json::to_vec(&cp).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO audit_checkpoints(count, head, at, public_key, signature) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(count) DO UPDATE SET head = excluded.head, at = excluded.at,
                public_key = excluded.public_key, signature = excluded.signature",
            params![cp.count, cp.head, cp.at, cp.public_key, cp.signature],
        )?;
        tx.execute(
            "INSERT INTO kiosk(key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![CHECKPOINT_KEY, json],
        )?;
        tx.commit()?;
        Ok(cp)
    }

    /// The latest signed checkpoint, as kept outside the audit table.
    pub fn latest_audit_checkpoint(&self) -> Result<Option<AuditCheckpoint>, StoreError> {
        let raw: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT value FROM kiosk WHERE key = ?1",
                [CHECKPOINT_KEY],
                |r| r.get(0),
            )
            .optional()?;
        let Some(raw) = raw else { return Ok(None) };
        #[derive(serde::Deserialize)]
        struct Raw {
            count: i64,
            head: String,
            at: String,
            public_key: String,
            signature: String,
        }
        let bad = |e: String| StoreError::Corrupt(format!("audit checkpoint: {e}"));
        let r: Raw = serde_json::from_slice(&raw).map_err(|e| bad(e.to_string()))?;
        let hex = |s: &str| hex::decode(s).map_err(|e| bad(e.to_string()));
        Ok(Some(AuditCheckpoint {
            count: r.count,
            head: hex(&r.head)?,
            at: r.at,
            public_key: hex(&r.public_key)?,
            signature: hex(&r.signature)?,
        }))
    }

    /// For a bundle: entries after `after` plus a fresh checkpoint signed now.
    pub fn audit_export(
        &self,
        after: i64,
        key: &DeviceKey,
        now: DateTime<Utc>,
    ) -> Result<AuditExport, StoreError> {
        let checkpoint = self.checkpoint_audit(key, now)?;
        Ok(AuditExport {
            entries: self.audit_since(after)?,
            checkpoint,
        })
    }

    /// For a hello: the entries after `acked` (the count HQ last acknowledged; fewer if the log
    /// is now shorter), at most `AUDIT_PER_HELLO`, and a checkpoint over the last one sent,
    /// signed now. HQ checks that the chain it holds continues into it.
    pub fn audit_proof(
        &self,
        acked: u64,
        key: &DeviceKey,
        now: DateTime<Utc>,
    ) -> Result<AuditProof, StoreError> {
        let last: i64 =
            self.conn
                .query_row("SELECT COALESCE(MAX(seq), 0) FROM audit", [], |r| r.get(0))?;
        let after = (acked as i64).min(last).max(0);
        let after_hash: Vec<u8> = if after == 0 {
            vec![0u8; 32]
        } else {
            self.conn
                .query_row("SELECT hash FROM audit WHERE seq = ?1", [after], |r| {
                    r.get(0)
                })
                .optional()?
                .unwrap_or_else(|| vec![0u8; 32])
        };
        let mut stmt = self.conn.prepare(
            "SELECT seq, at, actor, device, action, COALESCE(subject, ''), COALESCE(detail, ''), hash
             FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let mut head = after_hash.clone();
        let mut count = after as u64;
        let mut entries = Vec::new();
        let mut rows = stmt.query(params![after, AUDIT_PER_HELLO as i64])?;
        while let Some(r) = rows.next()? {
            let seq: i64 = r.get(0)?;
            entries.push(Link {
                seq: seq as u64,
                fields: [
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ],
            });
            head = r.get(7)?;
            count = seq as u64;
        }
        let hash32 = |h: &[u8]| <[u8; 32]>::try_from(h).unwrap_or([0u8; 32]);
        Ok(AuditProof {
            after: after as u64,
            after_hash: hash32(&after_hash),
            entries,
            checkpoint: Checkpoint::sign(key, count, hash32(&head), timestamp(now)),
        })
    }

    /// Walks the chain from the start; `Err(seq)` names the first entry that does not fit
    /// (for a cut-off tail, the first missing seq). See `audit_report` for the details.
    pub fn verify_audit(&self) -> Result<Result<usize, i64>, StoreError> {
        let report = self.audit_report(None)?;
        Ok(match report.first_bad {
            None => Ok(usize::try_from(report.verified).unwrap_or(0)),
            Some((seq, _)) => Err(seq),
        })
    }

    /// Verifies the chain, the head kept in the `kiosk` table and the latest signed checkpoint
    /// (its signature against `public`, when given, else against the key it names).
    pub fn audit_report(&self, public: Option<&[u8]>) -> Result<AuditReport, StoreError> {
        let checkpoint = self.latest_audit_checkpoint()?;
        let mut stmt = self.conn.prepare(
            "SELECT seq, at, actor, device, action, COALESCE(subject, ''), COALESCE(detail, ''), prev_hash, hash
             FROM audit ORDER BY seq",
        )?;
        let mut rows = stmt.query([])?;
        let mut prev = vec![0u8; 32];
        let mut expected = 1i64;
        let mut hashes_at_checkpoint = None;
        let report = |verified: i64, first_bad| AuditReport {
            verified,
            first_bad,
            checkpoint: checkpoint.clone(),
        };
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
            if seq != expected {
                return Ok(report(
                    expected - 1,
                    Some((expected, AuditProblem::Missing)),
                ));
            }
            if stored_prev != prev {
                // Its back-link names another entry: it was moved (or its neighbour deleted
                // and the rest renumbered).
                return Ok(report(expected - 1, Some((seq, AuditProblem::OutOfOrder))));
            }
            if chain_hash(&prev, seq, fields.each_ref().map(String::as_str)) != hash {
                return Ok(report(expected - 1, Some((seq, AuditProblem::Edited))));
            }
            if checkpoint.as_ref().is_some_and(|c| c.count == seq) {
                hashes_at_checkpoint = Some(hash.clone());
            }
            prev = hash;
            expected += 1;
        }
        let count = expected - 1;
        // The head kept outside the table must match the end of the chain.
        match read_head(&self.conn)? {
            Some((head_count, head_hash)) if head_count == count && head_hash == prev => {}
            Some((head_count, _)) if head_count > count => {
                return Ok(report(
                    expected - 1,
                    Some((count + 1, AuditProblem::Missing)),
                ));
            }
            _ => {
                return Ok(report(
                    expected - 1,
                    Some((count.max(1), AuditProblem::Edited)),
                ))
            }
        }
        if let Some(cp) = &checkpoint {
            let key = public.unwrap_or(&cp.public_key);
            if !cp.verify(key) {
                return Ok(report(
                    expected - 1,
                    Some((cp.count.max(1), AuditProblem::BadCheckpoint)),
                ));
            }
            if cp.count > count {
                return Ok(report(
                    expected - 1,
                    Some((count + 1, AuditProblem::Missing)),
                ));
            }
            let matches = if cp.count == 0 {
                cp.head == vec![0u8; 32]
            } else {
                hashes_at_checkpoint.as_deref() == Some(cp.head.as_slice())
            };
            if !matches {
                return Ok(report(expected - 1, Some((cp.count, AuditProblem::Edited))));
            }
        }
        Ok(report(count, None))
    }
}
