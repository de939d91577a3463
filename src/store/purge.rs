//! The store side of purging biometrics after HQ's receipt: which records HQ holds as they
//! are now, and deleting blobs while remembering that they were purged (not lost).

use chrono::{DateTime, Utc};
use rusqlite::params;
use uuid::Uuid;

use super::{timestamp, Store, StoreError};

impl Store {
    /// Records whose current version HQ acknowledged, with the acknowledgement time.
    pub fn acknowledged_current(&self) -> Result<Vec<(Uuid, String)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT r.id, a.acked_at FROM records r JOIN acks a ON a.record_seq = r.seq
             WHERE a.heads = r.heads ORDER BY r.seq",
        )?;
        let rows: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, at)| Some((Uuid::parse_str(&id).ok()?, at)))
            .collect())
    }

    /// Which of `hashes` are stored, with their sealed size.
    pub fn stored_blobs(&self, hashes: &[String]) -> Result<Vec<(String, i64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT LENGTH(data) FROM blobs WHERE sha256 = ?1")?;
        let mut out = Vec::new();
        for h in hashes {
            let mut rows = stmt.query([h])?;
            if let Some(r) = rows.next()? {
                out.push((h.clone(), r.get(0)?));
            }
        }
        Ok(out)
    }

    /// Deletes the blobs (sha256, record id) in one transaction, marking each as purged.
    pub fn purge_blobs(
        &self,
        blobs: &[(String, Uuid)],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let mut n = 0;
        for (sha, record) in blobs {
            n += tx.execute("DELETE FROM blobs WHERE sha256 = ?1", [sha])?;
            tx.execute(
                "INSERT INTO purged_blobs(sha256, record_id, purged_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(sha256) DO NOTHING",
                params![sha, record.to_string(), timestamp(now)],
            )?;
        }
        tx.commit()?;
        Ok(n)
    }
}
