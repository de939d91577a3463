//! Purging biometrics: once HQ's receipt covers a record as it is now and the configured delay
//! has passed, its photo, finger images and templates leave the kiosk. The text record stays
//! for the status view. Never before a receipt: no acknowledgement, no purge.

use chrono::{DateTime, Duration, Utc};
use enroll_sync::record::{Attribution, Enrollment, FingerOutcome};
use serde::Serialize;
use std::collections::HashSet;
use uuid::Uuid;

use crate::store::{Store, StoreError};

/// Every blob hash a record names.
pub fn biometric_refs(record: &Enrollment) -> Vec<String> {
    let b = &record.biometrics;
    let mut out: Vec<String> = b.photo.iter().map(|p| p.sha256.clone()).collect();
    for f in &b.fingers {
        match &f.outcome {
            FingerOutcome::Captured {
                image_sha256,
                template_sha256,
                ..
            } => {
                out.push(image_sha256.clone());
                out.push(template_sha256.clone());
            }
            FingerOutcome::Exception {
                proof_photo_sha256, ..
            } => out.extend(proof_photo_sha256.iter().cloned()),
        }
    }
    out
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PurgeReport {
    /// Records whose biometrics were (or would be) purged.
    pub records: Vec<Uuid>,
    pub blobs: usize,
    pub bytes: i64,
    pub dry_run: bool,
}

/// Purges (or, with `dry_run`, lists) what is due at `now`.
pub fn purge(
    store: &Store,
    by: &Attribution,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<PurgeReport, StoreError> {
    // Capped at a century so a typo in the setting cannot overflow the time arithmetic.
    let hours = store.settings()?.purge_after_hours.min(24 * 365 * 100);
    let delay = Duration::hours(i64::try_from(hours).unwrap_or(0));
    let due: HashSet<Uuid> = store
        .acknowledged_current()?
        .into_iter()
        .filter(|(_, at)| {
            DateTime::parse_from_rfc3339(at).is_ok_and(|at| at.with_timezone(&Utc) + delay <= now)
        })
        .map(|(id, _)| id)
        .collect();
    // A blob shared with a record that is not due yet stays.
    let mut keep = HashSet::new();
    let mut candidates = Vec::new();
    for id in store.record_ids()? {
        let Ok(uuid) = Uuid::parse_str(&id) else {
            continue;
        };
        let Some(record) = store.load(&uuid)? else {
            continue;
        };
        for sha in biometric_refs(&record) {
            if due.contains(&uuid) {
                candidates.push((sha, uuid));
            } else {
                keep.insert(sha);
            }
        }
    }
    candidates.retain(|(sha, _)| !keep.contains(sha));
    let hashes: Vec<String> = candidates.iter().map(|(s, _)| s.clone()).collect();
    let stored: Vec<(String, i64)> = store.stored_blobs(&hashes)?;
    let stored_set: HashSet<&str> = stored.iter().map(|(s, _)| s.as_str()).collect();
    candidates.retain(|(sha, _)| stored_set.contains(sha.as_str()));
    let mut records: Vec<Uuid> = candidates.iter().map(|(_, id)| *id).collect();
    records.sort();
    records.dedup();
    let report = PurgeReport {
        records,
        blobs: candidates.len(),
        bytes: stored.iter().map(|(_, n)| n).sum(),
        dry_run,
    };
    if !dry_run && !candidates.is_empty() {
        store.purge_blobs(&candidates, now)?;
        let detail = format!("records={} blobs={}", report.records.len(), report.blobs);
        store.audit(by, "biometrics.purge", None, Some(&detail))?;
    }
    Ok(report)
}
