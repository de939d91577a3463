//! Submitting a record: normalise, fill in who and where, run the shared rules plus the
//! kiosk's duplicate check, record acknowledgements, and save only when nothing blocks.

use enroll_sync::record::{Acknowledgement, Attribution, Enrollment, ReviewAction, ReviewEvent};
use enroll_sync::validate::{self, Finding, Severity};

use crate::store::{SaveOutcome, Store, StoreError};

#[derive(Debug)]
pub enum Submission {
    Saved {
        outcome: SaveOutcome,
        findings: Vec<Finding>,
    },
    /// Nothing was written; these findings must be fixed or acknowledged.
    Rejected {
        findings: Vec<Finding>,
        blocking: Vec<Finding>,
    },
}

/// Normalises `record` and fills the capture metadata this kiosk knows.
pub fn prepare(store: &Store, record: &mut Enrollment, by: &Attribution) {
    validate::normalize_record(record);
    let c = &mut record.capture;
    if c.kiosk_id.is_empty() {
        c.kiosk_id = store.kiosk().code.clone();
    }
    if c.operator_id.is_empty() {
        c.operator_id = by.person.clone();
    }
    if c.started_at.is_none() {
        c.started_at = Some(by.at);
    }
}

/// Every finding for `record`: the shared rules and the duplicate ID-number check.
pub fn findings(
    store: &Store,
    record: &Enrollment,
    by: &Attribution,
) -> Result<Vec<Finding>, StoreError> {
    let mut out = validate::validate(record, by.at);
    if let Some(id_number) = record.applicant.id_number.as_deref() {
        let others = store.with_id_number(id_number, &record.id)?;
        if let Some((_, no)) = others.first() {
            out.push(Finding {
                path: "applicant.id_number".into(),
                severity: Severity::Warning,
                code: "duplicate.id_number".into(),
                message_vi: format!("Số định danh này đã được thu nhận trên máy ở hồ sơ {no}. Hãy kiểm tra trước khi lưu."),
                message_en: format!("This ID number was already enrolled on this kiosk in record {no}. Check before saving."),
            });
        }
    }
    Ok(out)
}

/// Validates and, when nothing blocks, saves. With `accept_warnings` every open warning is
/// acknowledged in the record by `by`.
pub fn submit(
    store: &mut Store,
    mut record: Enrollment,
    by: &Attribution,
    accept_warnings: bool,
) -> Result<Submission, StoreError> {
    prepare(store, &mut record, by);
    let found = findings(store, &record, by)?;
    if accept_warnings {
        for f in found.iter().filter(|f| f.severity == Severity::Warning) {
            let known = record
                .review
                .acknowledged
                .iter()
                .any(|a| a.code == f.code && a.path == f.path);
            if !known {
                record.review.acknowledged.push(Acknowledgement {
                    code: f.code.clone(),
                    path: f.path.clone(),
                    by: by.person.clone(),
                    at: by.at,
                });
            }
        }
    }
    let blocking: Vec<Finding> = validate::blocking(&record, &found)
        .into_iter()
        .cloned()
        .collect();
    if !blocking.is_empty() {
        return Ok(Submission::Rejected {
            findings: found,
            blocking,
        });
    }
    let is_new = !store.contains(&record.id)?;
    if is_new && record.review.history.is_empty() {
        record.review.history.push(ReviewEvent {
            at: by.at,
            by: by.person.clone(),
            device: by.device.clone(),
            action: ReviewAction::Created,
            reason: None,
            signature: None,
        });
    }
    let outcome = store.save(&record, by)?;
    Ok(Submission::Saved {
        outcome,
        findings: found,
    })
}
