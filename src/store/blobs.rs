//! Content-addressed blobs (photos, finger images, templates): the record holds the hash.

use chrono::Utc;
use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};

use super::{timestamp, Store, StoreError};

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Store {
    /// Stores `bytes` once under their SHA-256 and returns the hash (hex).
    pub fn put_blob(&self, bytes: &[u8], media_type: &str) -> Result<String, StoreError> {
        let hash = sha256_hex(bytes);
        self.conn.execute(
            "INSERT INTO blobs(sha256, media_type, size, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(sha256) DO NOTHING",
            params![hash, media_type, bytes.len() as i64, bytes, timestamp(Utc::now())],
        )?;
        Ok(hash)
    }

    /// The blob and its media type, if stored.
    pub fn blob(&self, sha256: &str) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT data, media_type FROM blobs WHERE sha256 = ?1",
                [sha256],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }
}
