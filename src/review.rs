//! Supervisor review: each captured record is approved, or returned to its operator with a
//! reason. Both are signed (device key) events in the record, and the change that writes them
//! is signed by the supervisor's own certified key as well (`Store::endorse`). Records with exceptions (missing
//! fingers, forced captures, acknowledged warnings) need a supervisor other than the operator.

use chrono::{DateTime, Utc};
use enroll_sync::identity::{self, DeviceKey};
use enroll_sync::record::{Enrollment, FingerOutcome, RecordStatus, ReviewAction, ReviewEvent};
use uuid::Uuid;

use crate::accounts::Session;
use crate::store::{timestamp, ListQuery, RecordSummary, Store, StoreError};

pub const REVIEW_DOMAIN: &str = "kiosk/review/v1";

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("{} / {}", self.message_vi(), self.message_en())]
    NotSupervisor(String),
    #[error("{} / {}", self.message_vi(), self.message_en())]
    NoSuchRecord(String),
    #[error("{} / {}", self.message_vi(), self.message_en())]
    NotAwaitingReview(RecordStatus),
    #[error("{} / {}", self.message_vi(), self.message_en())]
    OwnExceptions(Vec<String>),
    #[error("{} / {}", self.message_vi(), self.message_en())]
    ReasonRequired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ReviewError {
    pub fn message_vi(&self) -> String {
        match self {
            Self::NotSupervisor(p) => {
                format!("\"{p}\" không phải giám sát viên: chỉ giám sát viên được duyệt hồ sơ.")
            }
            Self::NoSuchRecord(id) => format!("Không tìm thấy hồ sơ {id}."),
            Self::NotAwaitingReview(s) => format!(
                "Hồ sơ không ở trạng thái chờ duyệt (đang: {}).",
                s.label().0
            ),
            Self::OwnExceptions(e) => format!(
                "Hồ sơ có ngoại lệ ({}) nên phải do một giám sát viên khác người thu nhận duyệt.",
                e.join("; ")
            ),
            Self::ReasonRequired => "Cần ghi lý do khi trả lại hồ sơ.".into(),
            Self::Store(e) => format!("Lỗi lưu trữ: {e}"),
        }
    }

    pub fn message_en(&self) -> String {
        match self {
            Self::NotSupervisor(p) => format!("\"{p}\" is not a supervisor: only supervisors review records."),
            Self::NoSuchRecord(id) => format!("No record {id}."),
            Self::NotAwaitingReview(s) => format!("The record is not awaiting review (it is {}).", s.label().1),
            Self::OwnExceptions(e) => format!(
                "The record has exceptions ({}), so a supervisor other than the operator who captured it must approve it.",
                e.join("; ")
            ),
            Self::ReasonRequired => "A returned record needs a reason.".into(),
            Self::Store(e) => format!("Storage error: {e}"),
        }
    }
}

/// Records awaiting a supervisor, oldest first.
pub fn awaiting(store: &Store) -> Result<Vec<RecordSummary>, StoreError> {
    let mut rows = store.list(&ListQuery {
        status: Some(RecordStatus::Captured),
        search: None,
        limit: usize::MAX,
        before: None,
    })?;
    rows.reverse();
    Ok(rows)
}

/// What in `record` needs a second person's approval (English codes, for logs and messages).
pub fn exceptions(record: &Enrollment) -> Vec<String> {
    let mut out = Vec::new();
    for f in &record.biometrics.fingers {
        match &f.outcome {
            FingerOutcome::Exception { .. } => out.push(format!("missing finger {:?}", f.finger)),
            FingerOutcome::Captured {
                force_captured: true,
                ..
            } => out.push(format!("forced capture {:?}", f.finger)),
            FingerOutcome::Captured { .. } => {}
        }
    }
    for a in &record.review.acknowledged {
        out.push(format!("acknowledged warning {}", a.code));
    }
    out
}

fn signed_parts(record: &Uuid, e: &ReviewEvent) -> Vec<Vec<u8>> {
    let action = match e.action {
        ReviewAction::Approved => "approved",
        ReviewAction::Returned => "returned",
        _ => "other",
    };
    vec![
        record.to_string().into_bytes(),
        action.as_bytes().to_vec(),
        e.by.as_bytes().to_vec(),
        e.device.as_bytes().to_vec(),
        timestamp(e.at).into_bytes(),
        e.reason.clone().unwrap_or_default().into_bytes(),
    ]
}

/// Checks a review event's signature against the kiosk's public key.
pub fn verify_event(public: &[u8], record: &Uuid, event: &ReviewEvent) -> bool {
    let Some(sig) = event.signature.as_deref().and_then(|s| hex::decode(s).ok()) else {
        return false;
    };
    let parts = signed_parts(record, event);
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    identity::verify(public, REVIEW_DOMAIN, &refs, &sig).is_ok()
}

fn decide(
    store: &mut Store,
    key: &DeviceKey,
    by: &Session,
    id: &Uuid,
    action: ReviewAction,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<ReviewEvent, ReviewError> {
    if !by.is_supervisor() {
        return Err(ReviewError::NotSupervisor(by.person.clone()));
    }
    let mut record = store
        .load(id)?
        .ok_or_else(|| ReviewError::NoSuchRecord(id.to_string()))?;
    if record.review.status != RecordStatus::Captured {
        return Err(ReviewError::NotAwaitingReview(record.review.status));
    }
    if action == ReviewAction::Approved {
        let found = exceptions(&record);
        if !found.is_empty() && record.capture.operator_id == by.person {
            return Err(ReviewError::OwnExceptions(found));
        }
    }
    let mut event = ReviewEvent {
        at: now,
        by: by.person.clone(),
        device: store.kiosk().code.clone(),
        action,
        reason: reason.map(str::to_owned),
        signature: None,
    };
    let parts = signed_parts(id, &event);
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    event.signature = Some(hex::encode(key.sign(REVIEW_DOMAIN, &refs)));
    record.review.status = match action {
        ReviewAction::Approved => RecordStatus::Approved,
        _ => RecordStatus::Returned,
    };
    record.review.history.push(event.clone());
    let attribution = by.attribution(&event.device, now);
    // The change is signed by the supervisor's own key too, in the same transaction: HQ
    // accepts an approval or return only with it.
    store.save_endorsed(&record, &attribution, key, &by.person)?;
    let action = match action {
        ReviewAction::Approved => "review.approve",
        _ => "review.return",
    };
    store.audit(&attribution, action, Some(&id.to_string()), reason)?;
    Ok(event)
}

/// Approves a captured record (signed).
pub fn approve(
    store: &mut Store,
    key: &DeviceKey,
    by: &Session,
    id: &Uuid,
    now: DateTime<Utc>,
) -> Result<ReviewEvent, ReviewError> {
    decide(store, key, by, id, ReviewAction::Approved, None, now)
}

/// Returns a captured record to its operator with a reason (signed); it reopens for editing.
pub fn return_to_operator(
    store: &mut Store,
    key: &DeviceKey,
    by: &Session,
    id: &Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<ReviewEvent, ReviewError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ReviewError::ReasonRequired);
    }
    decide(
        store,
        key,
        by,
        id,
        ReviewAction::Returned,
        Some(reason),
        now,
    )
}

/// Records returned to `operator`, with the supervisor's latest reason.
pub fn returned_to(store: &Store, operator: &str) -> Result<Vec<(Enrollment, String)>, StoreError> {
    let rows = store.list(&ListQuery {
        status: Some(RecordStatus::Returned),
        search: None,
        limit: usize::MAX,
        before: None,
    })?;
    let mut out = Vec::new();
    for row in rows {
        let Ok(id) = Uuid::parse_str(&row.id) else {
            continue;
        };
        let Some(record) = store.load(&id)? else {
            continue;
        };
        if record.capture.operator_id != operator {
            continue;
        }
        let reason = record
            .review
            .history
            .iter()
            .rev()
            .find(|e| e.action == ReviewAction::Returned)
            .and_then(|e| e.reason.clone())
            .unwrap_or_default();
        out.push((record, reason));
    }
    Ok(out)
}
