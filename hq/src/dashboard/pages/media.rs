//! A record's photo and fingers as the record and duplicate pages show them: image links only
//! to blobs the record references (served by `record::image`, scope-checked there).

use enroll_sync::record::{Enrollment, ExceptionReason, FingerOutcome};
use uuid::Uuid;

use crate::dashboard::Lang;

/// One finger's cell.
pub struct FingerView {
    pub label: String,
    /// "Chất lượng 82/100" or the exception and its reason.
    pub outcome: String,
    /// Captured below the quality threshold after every attempt, or an exception.
    pub flagged: bool,
    pub image: Option<String>,
    /// The exception's proof photo (face with both palms).
    pub proof: Option<String>,
}

pub fn image_url(id: &Uuid, sha: &str) -> String {
    format!("/records/{id}/image/{sha}")
}

pub fn photo_url(id: &Uuid, r: &Enrollment) -> Option<String> {
    r.biometrics
        .photo
        .as_ref()
        .map(|p| image_url(id, &p.sha256))
}

fn reason_label(r: ExceptionReason) -> (&'static str, &'static str) {
    match r {
        ExceptionReason::Missing => ("Mất ngón", "Missing"),
        ExceptionReason::Amputated => ("Cụt ngón", "Amputated"),
        ExceptionReason::Bandaged => ("Đang băng bó", "Bandaged"),
        ExceptionReason::Unreadable => ("Không đọc được vân", "Unreadable"),
    }
}

pub fn fingers(id: &Uuid, r: &Enrollment, lang: Lang) -> Vec<FingerView> {
    r.biometrics
        .fingers
        .iter()
        .map(|f| {
            let (vi, en) = f.finger.label();
            let label = lang.pick(vi, en).to_owned();
            match &f.outcome {
                FingerOutcome::Captured {
                    image_sha256,
                    quality,
                    attempts,
                    force_captured,
                    ..
                } => FingerView {
                    label,
                    outcome: format!(
                        "{} {quality}/100 · {attempts} {}",
                        lang.pick("Chất lượng", "Quality"),
                        lang.pick("lần lấy", "attempts")
                    ),
                    flagged: *force_captured,
                    image: Some(image_url(id, image_sha256)),
                    proof: None,
                },
                FingerOutcome::Exception {
                    reason,
                    permanent,
                    note,
                    proof_photo_sha256,
                } => {
                    let (rv, re) = reason_label(*reason);
                    let lasting = if *permanent {
                        lang.pick("vĩnh viễn", "permanent")
                    } else {
                        lang.pick("tạm thời", "temporary")
                    };
                    let note = note
                        .as_deref()
                        .map(|n| format!(" — {n}"))
                        .unwrap_or_default();
                    FingerView {
                        label,
                        outcome: format!(
                            "{}: {} ({lasting}){note}",
                            lang.pick("Ngoại lệ", "Exception"),
                            lang.pick(rv, re)
                        ),
                        flagged: true,
                        image: None,
                        proof: proof_photo_sha256.as_deref().map(|s| image_url(id, s)),
                    }
                }
            }
        })
        .collect()
}
