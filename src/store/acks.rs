//! HQ acknowledgements: for each record, the document heads HQ confirmed holding and the
//! receipt that said so. Sync sends what changed since these heads; purge needs a receipt.

use automerge::ChangeHash;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use super::records::{heads_bytes, heads_from};
use super::{timestamp, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub heads: Vec<ChangeHash>,
    pub receipt_id: String,
    pub acked_at: String,
}

impl Store {
    /// Records that HQ holds `record` up to `heads`, per receipt `receipt_id`.
    /// Returns false when there is no such record.
    pub fn mark_acknowledged(
        &self,
        record: &Uuid,
        heads: &[ChangeHash],
        receipt_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "INSERT INTO acks(record_seq, heads, receipt_id, acked_at)
             SELECT seq, ?2, ?3, ?4 FROM records WHERE id = ?1
             ON CONFLICT(record_seq) DO UPDATE SET heads = excluded.heads,
                receipt_id = excluded.receipt_id, acked_at = excluded.acked_at",
            params![
                record.to_string(),
                heads_bytes(heads),
                receipt_id,
                timestamp(at)
            ],
        )?;
        Ok(n == 1)
    }

    /// Records many acknowledgements of one receipt in one transaction (one fsync, not one per
    /// record). Returns how many named a stored record.
    pub fn mark_acknowledged_many(
        &mut self,
        acks: &[(Uuid, Vec<ChangeHash>)],
        receipt_id: &str,
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let mut n = 0;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO acks(record_seq, heads, receipt_id, acked_at)
                 SELECT seq, ?2, ?3, ?4 FROM records WHERE id = ?1
                 ON CONFLICT(record_seq) DO UPDATE SET heads = excluded.heads,
                    receipt_id = excluded.receipt_id, acked_at = excluded.acked_at",
            )?;
            let at = timestamp(at);
            for (record, heads) in acks {
                n += stmt.execute(params![
                    record.to_string(),
                    heads_bytes(heads),
                    receipt_id,
                    at
                ])?;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// What HQ last acknowledged of `record`, if anything.
    pub fn acknowledgement(&self, record: &Uuid) -> Result<Option<Ack>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT a.heads, a.receipt_id, a.acked_at FROM acks a JOIN records r ON r.seq = a.record_seq
                 WHERE r.id = ?1",
                [record.to_string()],
                |r| {
                    let heads: Vec<u8> = r.get(0)?;
                    Ok(Ack { heads: heads_from(&heads), receipt_id: r.get(1)?, acked_at: r.get(2)? })
                },
            )
            .optional()?)
    }

    /// Records whose current heads differ from what HQ acknowledged (or that HQ never saw).
    pub fn unacknowledged(&self) -> Result<Vec<Uuid>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT r.id FROM records r LEFT JOIN acks a ON a.record_seq = r.seq
             WHERE a.heads IS NULL OR a.heads != r.heads ORDER BY r.seq",
        )?;
        let ids: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids.iter().filter_map(|s| Uuid::parse_str(s).ok()).collect())
    }

    /// How many records wait for HQ, the oldest one's last change and the newest record's
    /// creation time (fixed-width RFC 3339 text), for the hello's telemetry.
    pub fn waiting_summary(&self) -> Result<(u64, Option<String>, Option<String>), StoreError> {
        Ok(self.conn.query_row(
            "SELECT (SELECT COUNT(*) FROM records r LEFT JOIN acks a ON a.record_seq = r.seq
                     WHERE a.heads IS NULL OR a.heads != r.heads),
                    (SELECT MIN(r.updated_at) FROM records r LEFT JOIN acks a ON a.record_seq = r.seq
                     WHERE a.heads IS NULL OR a.heads != r.heads),
                    (SELECT MAX(created_at) FROM records)",
            [],
            |r| Ok((r.get::<_, i64>(0)?.max(0) as u64, r.get(1)?, r.get(2)?)),
        )?)
    }
}
