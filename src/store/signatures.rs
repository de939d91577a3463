//! Each own change's device-key signature, made when the change is saved rather than at every
//! push: signing was half of a kiosk's CPU per record sent (bench, 20 kiosks). A push uses a
//! kept signature only when it was made by the key it signs with; any other change it signs.

use automerge::ChangeHash;
use enroll_sync::identity::{DeviceKey, PUBLIC_KEY_LEN, SIGNATURE_LEN};
use enroll_sync::protocol::change_signature;
use rusqlite::params;
use std::cell::OnceCell;
use std::collections::HashMap;
use std::path::PathBuf;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{Store, StoreError};

/// The device key, loaded (or made, as the first sync would) at the first save.
pub(super) struct ChangeSigner {
    path: PathBuf,
    wrap: Zeroizing<[u8; 32]>,
    key: OnceCell<Option<DeviceKey>>,
}

impl ChangeSigner {
    pub(super) fn new(path: PathBuf, wrap: Zeroizing<[u8; 32]>) -> Self {
        ChangeSigner {
            path,
            wrap,
            key: OnceCell::new(),
        }
    }

    /// `None` when the key file cannot be read: saving goes on, and the push signs (and reports
    /// the key's problem, if it is still there).
    pub(super) fn key(&self) -> Option<&DeviceKey> {
        self.key
            .get_or_init(|| DeviceKey::load_or_create_wrapped(&self.path, &self.wrap).ok())
            .as_ref()
    }
}

/// Keeps `signer`'s signature on each of `hashes`, changes of record `id` (row `seq`).
pub(super) fn keep(
    tx: &rusqlite::Transaction<'_>,
    signer: Option<&DeviceKey>,
    seq: i64,
    id: Uuid,
    hashes: &[ChangeHash],
) -> Result<(), StoreError> {
    let Some(key) = signer else {
        return Ok(());
    };
    let public = key.public();
    let mut stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO change_signatures(record_seq, hash, signer, signature)
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    for hash in hashes {
        let signature = change_signature(key, id, hash);
        stmt.execute(params![seq, &hash.0[..], &public[..], &signature[..]])?;
    }
    Ok(())
}

impl Store {
    /// The kept signatures by `signer` on record `id`'s changes.
    pub fn change_signatures(
        &self,
        id: &Uuid,
        signer: &[u8; PUBLIC_KEY_LEN],
    ) -> Result<HashMap<ChangeHash, [u8; SIGNATURE_LEN]>, StoreError> {
        // CAST, as in `load_chunks`: else prepared again at every new binding.
        let mut stmt = self.conn.prepare_cached(
            "SELECT s.hash, s.signature FROM change_signatures s JOIN records r ON r.seq = s.record_seq
             WHERE r.id = CAST(?1 AS TEXT) AND s.signer = CAST(?2 AS BLOB)",
        )?;
        let rows = stmt.query_map(params![id.to_string(), &signer[..]], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = HashMap::new();
        for row in rows {
            let (hash, signature) = row?;
            // A row of another length was not written here: skip it, the push signs afresh.
            if let (Ok(h), Ok(s)) = (ChangeHash::try_from(&hash[..]), signature.try_into()) {
                out.insert(h, s);
            }
        }
        Ok(out)
    }
}
