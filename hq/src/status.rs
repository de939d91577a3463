//! HQ-made status changes: an Automerge change by HQ's actor, written to the record and queued
//! for the kiosk that owns it, which merges it on its next sync.

use uuid::Uuid;

use enroll_sync::protocol::SignedChange;
use enroll_sync::record::{
    Attribution, Enrollment, HqState, HqStatus, RecordDoc, ReviewAction, ReviewEvent,
};

use crate::intake::{project, record_blobs};
use crate::storage::review::{ChangeSig, HQ_SIGNER};
use crate::storage::{Session, StoredRecord};
use crate::{Hq, HqError};

impl Hq {
    /// Sets a record's HQ status in its own transaction.
    pub fn set_status(
        &self,
        id: &Uuid,
        state: HqState,
        reason: Option<String>,
        by: &str,
    ) -> Result<(), HqError> {
        let mut s = self.session()?;
        s.begin()?;
        self.change_status(&mut *s, id, state, reason, by)?;
        s.commit()?;
        Ok(())
    }

    /// Inside the caller's transaction: reads the record (locking it), changes its HQ status,
    /// writes it back and queues the change for its kiosk.
    pub(crate) fn change_status(
        &self,
        s: &mut dyn Session,
        id: &Uuid,
        state: HqState,
        reason: Option<String>,
        by: &str,
    ) -> Result<(), HqError> {
        let at = self.now();
        let detail = hq_state_str(state);
        self.hq_change(s, id, by, "record.hq_status", &detail, |record| {
            record.review.hq = Some(HqStatus {
                status: state,
                reason: reason.clone(),
                at,
            });
            record.review.history.push(ReviewEvent {
                at,
                by: by.to_owned(),
                device: "HQ".into(),
                action: ReviewAction::HqStatus,
                reason: Some(format!(
                    "{}: {}",
                    hq_state_str(state),
                    reason.unwrap_or_default()
                )),
                // HQ's own change is signed as a change (see `change_sigs`); kiosk signatures
                // in review events cover approvals and returns only.
                signature: None,
            });
        })
    }

    /// Inside the caller's transaction: one HQ change to a record made by `edit`, signed with
    /// HQ's key, written, queued for the owning kiosk and audited as `action` by `by`.
    pub(crate) fn hq_change(
        &self,
        s: &mut dyn Session,
        id: &Uuid,
        by: &str,
        action: &str,
        detail: &str,
        edit: impl FnOnce(&mut Enrollment),
    ) -> Result<(), HqError> {
        let rec = s
            .records(&[*id])?
            .pop()
            .ok_or_else(|| HqError::NoSuchRecord(id.to_string()))?;
        let bad = |e: enroll_sync::record::DocError| HqError::BadStoredRecord(*id, e.to_string());
        let mut doc = RecordDoc::load(&rec.doc, self.actor.clone()).map_err(bad)?;
        let mut record = doc.read().map_err(bad)?;
        let at = self.now();
        edit(&mut record);
        let who = Attribution {
            person: by.to_owned(),
            device: "HQ".into(),
            at,
        };
        let Some(hash) = doc.update(&record, &who).map_err(bad)? else {
            return Ok(());
        };
        let change = doc
            .automerge()
            .get_change_by_hash(&hash)
            .map(|c| c.raw_bytes().to_vec())
            .ok_or_else(|| HqError::Internal(format!("record {id}: new change not found")))?;
        let signed = SignedChange::sign(&self.sign, *id, &hash, Vec::new());
        let mut bytes = rec.doc;
        bytes.extend_from_slice(&change);
        let stored = StoredRecord {
            id: *id,
            kiosk_id: rec.kiosk_id.clone(),
            doc: bytes,
            chunks: rec.chunks + 1,
            heads: doc.heads(),
            blobs: record_blobs(&record),
            p: project(&record, at),
        };
        s.put_records(&[stored])?;
        s.put_change_sigs(&[ChangeSig {
            record: *id,
            hash: hash.0,
            signer: HQ_SIGNER.into(),
            signature: signed.signature.to_vec(),
        }])?;
        s.add_outbox(&rec.kiosk_id, id, &change)?;
        s.audit(&[self.audit_entry(by, action, &id.to_string(), detail)])?;
        Ok(())
    }
}

pub fn hq_state_str(s: HqState) -> String {
    match serde_json::to_value(s) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{s:?}"),
    }
}

pub fn parse_hq_state(s: &str) -> Option<HqState> {
    serde_json::from_value(serde_json::Value::String(s.replace([' ', '-'], "_"))).ok()
}
