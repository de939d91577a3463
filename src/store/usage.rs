//! Figures the guards and `kiosk doctor` need: space used per record, last contact with HQ.

use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;

use super::{timestamp, Store, StoreError};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub records: i64,
    /// Bytes of document chunks plus stored blobs.
    pub bytes: i64,
    /// Newest time HQ was reached: the `hq` sync cursor's update or the latest receipt.
    pub last_sync: Option<String>,
    pub first_record_at: Option<String>,
    /// Newest time written anywhere (records, audit): a clock set back shows against it.
    pub latest_write: Option<String>,
}

impl Store {
    pub fn usage(&self) -> Result<Usage, StoreError> {
        let one = |sql: &str| -> Result<Option<String>, StoreError> {
            Ok(self
                .conn
                .query_row(sql, [], |r| r.get::<_, Option<String>>(0))
                .optional()?
                .flatten())
        };
        let (records, chunk_bytes): (i64, i64) = self.conn.query_row(
            "SELECT (SELECT COUNT(*) FROM records), (SELECT COALESCE(SUM(LENGTH(data)), 0) FROM record_chunks)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let (blob_bytes, _) = self.blob_usage()?;
        let cursor = one("SELECT updated_at FROM sync_cursors WHERE peer = 'hq'")?;
        let ack = one("SELECT MAX(acked_at) FROM acks")?;
        let latest_record = one("SELECT MAX(updated_at) FROM records")?;
        let latest_audit = one("SELECT MAX(at) FROM audit")?;
        Ok(Usage {
            records,
            bytes: chunk_bytes + blob_bytes,
            // Fixed-width RFC 3339 UTC text: string order is time order.
            last_sync: cursor.max(ack),
            first_record_at: one("SELECT MIN(created_at) FROM records")?,
            latest_write: latest_record.max(latest_audit),
        })
    }

    /// Records whose capture started at or after `since`: the recent pace of enrollment.
    pub fn records_created_since(&self, since: DateTime<Utc>) -> Result<u64, StoreError> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM records WHERE created_at >= ?1",
            [timestamp(since)],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
