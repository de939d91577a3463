//! Submitting a record: normalise, fill in who and where, run the shared rules plus the
//! kiosk's duplicate check, record acknowledgements, and save only when nothing blocks.

use enroll_sync::record::{
    Acknowledgement, Attribution, Enrollment, RecordStatus, ReviewAction, ReviewEvent,
};
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

/// What a record brought in from a file may not carry: a file speaks only for the operator who
/// signed in to import it, on this kiosk, about a record this kiosk does not hold yet. Review and
/// HQ state are written by supervisors and HQ through their own paths, never by an import.
pub fn import_authority(
    store: &Store,
    record: &Enrollment,
    operator: &str,
) -> Result<Vec<Finding>, StoreError> {
    let mut out = Vec::new();
    let mut refuse = |path: &str, code: &str, vi: String, en: String| {
        out.push(Finding {
            path: path.into(),
            severity: Severity::Error,
            code: format!("import.{code}"),
            message_vi: vi,
            message_en: en,
        })
    };
    if store.contains(&record.id)? {
        refuse(
            "id",
            "exists",
            format!("Hồ sơ {} đã có trên máy: sửa hồ sơ trên màn hình, không nhập đè từ tệp.", record.id),
            format!("Record {} is already on this kiosk: edit it on the screen; a file cannot overwrite it.", record.id),
        );
    }
    let r = &record.review;
    if !matches!(r.status, RecordStatus::Draft | RecordStatus::Captured) {
        refuse(
            "review.status",
            "review_state",
            format!("Trạng thái \"{}\" chỉ giám sát viên hoặc trung tâm được đặt; tệp nhập chỉ được ghi draft hoặc captured.", r.status.as_str()),
            format!("Status \"{}\" is set only by a supervisor or HQ; an imported file may say draft or captured only.", r.status.as_str()),
        );
    }
    if !r.history.is_empty() {
        refuse(
            "review.history",
            "review_history",
            "Lịch sử duyệt do máy ghi khi lưu và khi giám sát viên duyệt; tệp nhập không được mang lịch sử.".into(),
            "The review history is written by the kiosk when saving and by supervisors when reviewing; an imported file cannot carry it.".into(),
        );
    }
    if r.hq.is_some() {
        refuse(
            "review.hq",
            "hq_state",
            "Trạng thái của trung tâm chỉ do trung tâm gửi về khi đồng bộ.".into(),
            "HQ's status only comes from HQ, through sync.".into(),
        );
    }
    for (i, a) in r.acknowledged.iter().enumerate() {
        if a.by != operator {
            refuse(
                &format!("review.acknowledged[{i}].by"),
                "other_person",
                format!("Xác nhận cảnh báo mang tên \"{}\": người nhập ({operator}) chỉ được xác nhận bằng tên mình.", a.by),
                format!("A warning acknowledged as \"{}\": the importing operator ({operator}) acknowledges only in their own name.", a.by),
            );
        }
    }
    let own_kiosk = &store.kiosk().code;
    let c = &record.capture;
    if !c.operator_id.is_empty() && c.operator_id != operator {
        refuse(
            "capture.operator_id",
            "other_person",
            format!(
                "Hồ sơ ghi người thu nhận \"{}\" nhưng người đăng nhập để nhập là {operator}.",
                c.operator_id
            ),
            format!(
                "The record names operator \"{}\" but {operator} signed in to import it.",
                c.operator_id
            ),
        );
    }
    if !c.kiosk_id.is_empty() && &c.kiosk_id != own_kiosk {
        refuse(
            "capture.kiosk_id",
            "other_kiosk",
            format!("Hồ sơ ghi máy \"{}\"; máy này là {own_kiosk}.", c.kiosk_id),
            format!(
                "The record names kiosk \"{}\"; this kiosk is {own_kiosk}.",
                c.kiosk_id
            ),
        );
    }
    Ok(out)
}
