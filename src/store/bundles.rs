//! USB bundles this kiosk wrote, by the stream id in their signed header, and whether HQ's
//! receipt for each was imported: a receipt is taken only for a bundle of this kiosk's, once,
//! and never after a newer bundle's receipt.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::{timestamp, Store, StoreError};

const PREFIX: &str = "bundle.";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// Export order on this kiosk (1, 2, …).
    pub seq: i64,
    pub exported_at: String,
    pub receipt_id: Option<String>,
    pub imported_at: Option<String>,
}

impl Store {
    /// Notes a bundle written with header stream id `stream_id`.
    pub fn record_bundle(&self, stream_id: &[u8; 16], at: DateTime<Utc>) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let n: i64 = tx.query_row(
            "SELECT COUNT(*) FROM kiosk WHERE key >= ?1 AND key < ?2",
            params![PREFIX, "bundle/"],
            |r| r.get(0),
        )?;
        let b = Bundle {
            seq: n + 1,
            exported_at: timestamp(at),
            receipt_id: None,
            imported_at: None,
        };
        put(&tx, stream_id, &b)?;
        tx.commit()?;
        Ok(())
    }

    /// The bundle this kiosk wrote with `stream_id`, if any.
    pub fn bundle(&self, stream_id: &[u8; 16]) -> Result<Option<Bundle>, StoreError> {
        let raw: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT value FROM kiosk WHERE key = ?1",
                [key(stream_id)],
                |r| r.get(0),
            )
            .optional()?;
        raw.map(|b| serde_json::from_slice(&b).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    /// The newest bundle (highest `seq`) whose receipt was imported.
    pub fn newest_receipted_bundle(&self) -> Result<Option<Bundle>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT value FROM kiosk WHERE key >= ?1 AND key < ?2")?;
        let rows: Vec<Vec<u8>> = stmt
            .query_map(params![PREFIX, "bundle/"], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(rows
            .iter()
            .filter_map(|b| serde_json::from_slice::<Bundle>(b).ok())
            .filter(|b| b.receipt_id.is_some())
            .max_by_key(|b| b.seq))
    }

    /// Marks the bundle's receipt imported.
    pub fn bundle_receipted(
        &self,
        stream_id: &[u8; 16],
        receipt_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(mut b) = self.bundle(stream_id)? else {
            return Ok(());
        };
        b.receipt_id = Some(receipt_id.to_owned());
        b.imported_at = Some(timestamp(at));
        put(&self.conn, stream_id, &b)
    }
}

fn key(stream_id: &[u8; 16]) -> String {
    format!("{PREFIX}{}", hex::encode(stream_id))
}

fn put(conn: &rusqlite::Connection, stream_id: &[u8; 16], b: &Bundle) -> Result<(), StoreError> {
    let json = serde_json::to_vec(b).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    conn.execute(
        "INSERT INTO kiosk(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key(stream_id), json],
    )?;
    Ok(())
}
