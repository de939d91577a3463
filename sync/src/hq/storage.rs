//! What HQ keeps, behind a trait so that PostgreSQL can follow the embedded SQLite default.
//! Callers group writes between `begin` and `commit`; every method is one small query.

use automerge::ChangeHash;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("HQ database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("HQ database holds a damaged value: {0}")]
    Corrupt(String),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KioskEntry {
    /// Also the kiosk code printed in its enrollment numbers.
    pub id: String,
    pub name: String,
    pub public_key: String,
    pub added_at: String,
    pub revoked_at: Option<String>,
}

/// A record as HQ holds it: the document (snapshot and/or change chunks) and a projection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub id: Uuid,
    pub kiosk_id: String,
    pub doc: Vec<u8>,
    pub chunks: u32,
    pub heads: Vec<ChangeHash>,
    pub enrollment_no: String,
    pub full_name: String,
    pub id_number: Option<String>,
    pub status: String,
    pub hq_status: Option<String>,
    pub hq_reason: Option<String>,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecordRow {
    pub id: String,
    pub kiosk_id: String,
    pub enrollment_no: String,
    pub full_name: String,
    pub id_number: Option<String>,
    pub status: String,
    pub hq_status: Option<String>,
    pub hq_reason: Option<String>,
    pub updated_at: String,
}

pub trait HqStorage: Send {
    fn begin(&mut self) -> Result<(), StorageError>;
    fn commit(&mut self) -> Result<(), StorageError>;
    fn rollback(&mut self) -> Result<(), StorageError>;

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    fn set_meta(&mut self, key: &str, value: &[u8]) -> Result<(), StorageError>;

    fn add_kiosk(&mut self, k: &KioskEntry) -> Result<(), StorageError>;
    fn kiosk(&self, id: &str) -> Result<Option<KioskEntry>, StorageError>;
    fn kiosks(&self) -> Result<Vec<KioskEntry>, StorageError>;
    fn revoke_kiosk(&mut self, id: &str, at: &str) -> Result<bool, StorageError>;

    fn record(&self, id: &Uuid) -> Result<Option<StoredRecord>, StorageError>;
    fn put_record(&mut self, r: &StoredRecord) -> Result<(), StorageError>;
    fn records(&self) -> Result<Vec<RecordRow>, StorageError>;
    fn records_with_id_number(
        &self,
        id_number: &str,
        except: &Uuid,
    ) -> Result<Vec<Uuid>, StorageError>;

    /// Bytes held of a blob and whether it is complete.
    fn blob_have(&self, sha256: &[u8; 32]) -> Result<(u64, bool), StorageError>;
    /// Appends at the end of a partial blob; returns the bytes now held.
    fn append_blob(
        &mut self,
        sha256: &[u8; 32],
        media_type: &str,
        total: u64,
        data: &[u8],
    ) -> Result<u64, StorageError>;
    fn partial_blob(&self, sha256: &[u8; 32]) -> Result<Option<Vec<u8>>, StorageError>;
    /// Marks a fully received, hash-checked blob complete.
    fn complete_blob(&mut self, sha256: &[u8; 32]) -> Result<(), StorageError>;
    fn drop_blob(&mut self, sha256: &[u8; 32]) -> Result<(), StorageError>;
    fn blob(&self, sha256: &[u8; 32]) -> Result<Option<Vec<u8>>, StorageError>;

    /// Queues an HQ-made change for the kiosk that owns the record; returns its sequence.
    fn add_outbox(
        &mut self,
        kiosk_id: &str,
        record: &Uuid,
        change: &[u8],
    ) -> Result<u64, StorageError>;
    fn outbox_since(
        &self,
        kiosk_id: &str,
        after: u64,
    ) -> Result<Vec<(u64, Uuid, Vec<u8>)>, StorageError>;
    /// Where the kiosk last said it had read HQ's changes up to.
    fn set_cursor(&mut self, kiosk_id: &str, cursor: u64) -> Result<(), StorageError>;
    fn cursor(&self, kiosk_id: &str) -> Result<u64, StorageError>;

    fn put_receipt(&mut self, id: &str, kiosk_id: &str, bytes: &[u8]) -> Result<(), StorageError>;
    fn audit(
        &mut self,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &str,
    ) -> Result<(), StorageError>;
    fn audit_count(&self) -> Result<u64, StorageError>;
}
