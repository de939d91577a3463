//! Supervisors' own signatures on the changes that approve or return a record. Each account's
//! key (in its PIN key slot) is certified by the device key: the certificate is public and
//! kept in plain; the endorsement of a change is kept until the change is pushed with it.

use automerge::ChangeHash;
use enroll_sync::identity::DeviceKey;
use enroll_sync::protocol::{Certificate, Endorsement};
use enroll_sync::record::{Attribution, Enrollment};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::collections::HashMap;
use uuid::Uuid;

use super::records::{heads_from, save_in, SaveOutcome};
use super::{Store, StoreError};

impl Store {
    /// The certificate of `account`'s own key (signed in since the last lock), issued by the
    /// device key and kept when none is held for its current key, role and kiosk id.
    pub fn account_certificate(
        &mut self,
        device: &DeviceKey,
        account: &str,
    ) -> Result<Certificate, StoreError> {
        let public = self
            .account_keys
            .get(account)
            .ok_or_else(|| StoreError::AccountKeyClosed(account.to_owned()))?
            .public();
        let role: String = self
            .conn
            .query_row(
                "SELECT role FROM accounts WHERE name = ?1",
                [account],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| StoreError::AccountKeyClosed(account.to_owned()))?;
        let held: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT cert FROM account_certs WHERE account = ?1",
                [account],
                |r| r.get(0),
            )
            .optional()?;
        let code = self.kiosk.code.clone();
        if let Some(c) = held.and_then(|b| Certificate::from_bytes(&b).ok()) {
            if c.public_key == public && c.role == role && c.kiosk_id == code {
                return Ok(c);
            }
        }
        let cert = Certificate::issue(device, &code, account, &role, public);
        self.conn.execute(
            "INSERT INTO account_certs(account, cert) VALUES (?1, ?2)
             ON CONFLICT(account) DO UPDATE SET cert = excluded.cert",
            params![account, cert.to_bytes()],
        )?;
        Ok(cert)
    }

    /// Signs change `hash` of `record` with `account`'s own key and keeps the endorsement,
    /// with the account's certificate, for the push.
    pub fn endorse(
        &mut self,
        device: &DeviceKey,
        account: &str,
        record: &Uuid,
        hash: &ChangeHash,
    ) -> Result<Endorsement, StoreError> {
        let cert = self.account_certificate(device, account)?;
        let key = self
            .account_keys
            .get(account)
            .ok_or_else(|| StoreError::AccountKeyClosed(account.to_owned()))?;
        let e = Endorsement::sign(key, cert, *record, hash);
        self.keep_endorsement(record, hash, &e)?;
        Ok(e)
    }

    /// Saves `record` and endorses the change that makes it with `account`'s own key, in one
    /// transaction: a crash in between would leave an approval that HQ refuses for want of
    /// its supervisor's signature. Nothing is endorsed when nothing changed.
    pub fn save_endorsed(
        &mut self,
        record: &Enrollment,
        by: &Attribution,
        device: &DeviceKey,
        account: &str,
    ) -> Result<SaveOutcome, StoreError> {
        let cert = self.account_certificate(device, account)?;
        let key = self
            .account_keys
            .get(account)
            .ok_or_else(|| StoreError::AccountKeyClosed(account.to_owned()))?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let outcome = save_in(&tx, &self.kiosk, Some(device), record, by)?;
        if outcome.changed {
            let heads: Vec<u8> = tx.query_row(
                "SELECT heads FROM records WHERE id = ?1",
                [record.id.to_string()],
                |r| r.get(0),
            )?;
            // A local save leaves one head: the change it just made.
            if let [head] = heads_from(&heads).as_slice() {
                let e = Endorsement::sign(key, cert, record.id, head);
                insert(&tx, &record.id, head, &e)?;
            }
        }
        tx.commit()?;
        Ok(outcome)
    }

    /// Keeps `e` as the endorsement of change `hash` of `record`, sent with it on the push.
    pub fn keep_endorsement(
        &mut self,
        record: &Uuid,
        hash: &ChangeHash,
        e: &Endorsement,
    ) -> Result<(), StoreError> {
        insert(&self.conn, record, hash, e)
    }

    /// Whether any change was endorsed (so a push of plain records asks no more).
    pub fn has_endorsements(&self) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT EXISTS(SELECT 1 FROM endorsements)", [], |r| {
                r.get(0)
            })?)
    }

    /// The endorsements kept for `record`'s changes, by change hash.
    pub fn endorsements(
        &self,
        record: &Uuid,
    ) -> Result<HashMap<ChangeHash, Endorsement>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT hash, cert, signature FROM endorsements WHERE record_id = ?1",
        )?;
        let rows = stmt.query_map([record.to_string()], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })?;
        let mut out = HashMap::new();
        for row in rows {
            let (hash, cert, sig) = row?;
            let bad = || StoreError::Corrupt(format!("endorsement of record {record}"));
            let hash = <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| bad())?;
            let certificate = Certificate::from_bytes(&cert).map_err(|_| bad())?;
            let signature = <[u8; 64]>::try_from(sig.as_slice()).map_err(|_| bad())?;
            out.insert(
                ChangeHash(hash),
                Endorsement {
                    certificate,
                    signature,
                },
            );
        }
        Ok(out)
    }
}

fn insert(
    conn: &Connection,
    record: &Uuid,
    hash: &ChangeHash,
    e: &Endorsement,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR REPLACE INTO endorsements(record_id, hash, cert, signature)
         VALUES (?1, ?2, ?3, ?4)",
        params![
            record.to_string(),
            &hash.0[..],
            e.certificate.to_bytes(),
            &e.signature[..]
        ],
    )?;
    Ok(())
}
