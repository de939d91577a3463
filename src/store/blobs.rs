//! Content-addressed blobs (photos, finger images, templates): the record holds the hash.
//! Blobs are sealed with the kiosk's data key (XChaCha20-Poly1305), so storing or reading one
//! needs a signed-in person; the hash is of the plain bytes, as the record names them.

use chrono::Utc;
use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};

use super::{timestamp, Store, StoreError};

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Binds a sealed blob to its hash and media type, so rows cannot be swapped.
fn blob_ad(sha256: &str, media_type: &str) -> Vec<u8> {
    format!("kiosk/blob/v1\n{sha256}\n{media_type}").into_bytes()
}

impl Store {
    /// Stores `bytes` once under their SHA-256 and returns the hash (hex).
    /// Fails with `StoreError::Locked` when nobody is signed in.
    pub fn put_blob(&self, bytes: &[u8], media_type: &str) -> Result<String, StoreError> {
        let key = self.data_key()?;
        let hash = sha256_hex(bytes);
        let sealed = key.seal(bytes, &blob_ad(&hash, media_type))?;
        self.conn.execute(
            "INSERT INTO blobs(sha256, media_type, size, data, created_at, sealed)
             VALUES (?1, ?2, ?3, ?4, ?5, 1)
             ON CONFLICT(sha256) DO NOTHING",
            params![
                hash,
                media_type,
                bytes.len() as i64,
                sealed,
                timestamp(Utc::now())
            ],
        )?;
        self.conn
            .execute("DELETE FROM purged_blobs WHERE sha256 = ?1", [&hash])?;
        Ok(hash)
    }

    /// The blob and its media type, if stored. Fails with `StoreError::Locked` when nobody is
    /// signed in, and as `Corrupt` when the sealed bytes were altered.
    pub fn blob(&self, sha256: &str) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        let key = self.data_key()?;
        let row: Option<(Vec<u8>, String, bool)> = self
            .conn
            .query_row(
                "SELECT data, media_type, sealed FROM blobs WHERE sha256 = ?1",
                [sha256],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((data, media_type, sealed)) = row else {
            return Ok(None);
        };
        let plain = if sealed {
            key.open(&data, &blob_ad(sha256, &media_type))
                .ok_or_else(|| StoreError::Corrupt(format!("blob {sha256} fails its check")))?
        } else {
            data
        };
        if sha256_hex(&plain) != sha256 {
            return Err(StoreError::Corrupt(format!(
                "blob {sha256} does not match its hash"
            )));
        }
        Ok(Some((plain, media_type)))
    }

    /// True when `sha256` was stored and later purged after HQ's receipt.
    pub fn blob_purged(&self, sha256: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM purged_blobs WHERE sha256 = ?1",
                [sha256],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Seals blobs written before encryption existed (run on unlock); returns how many.
    pub(crate) fn seal_plain_blobs(&self) -> Result<usize, StoreError> {
        let key = self.data_key()?;
        let mut stmt = self.conn.prepare(
            "SELECT sha256, media_type, data FROM blobs INDEXED BY blobs_plain WHERE sealed = 0",
        )?;
        let rows: Vec<(String, String, Vec<u8>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        for (sha, media_type, data) in &rows {
            let sealed = key.seal(data, &blob_ad(sha, media_type))?;
            self.conn.execute(
                "UPDATE blobs SET data = ?2, sealed = 1 WHERE sha256 = ?1",
                params![sha, sealed],
            )?;
        }
        Ok(rows.len())
    }

    /// Bytes of blob data stored (sealed size), and how many blobs.
    pub fn blob_usage(&self) -> Result<(i64, i64), StoreError> {
        Ok(self.conn.query_row(
            "SELECT COALESCE(SUM(LENGTH(data)), 0), COUNT(*) FROM blobs",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }
}
