//! The data rules (đúng, đủ, sạch, sống), shared by kiosk and HQ. Each finding names the field,
//! carries a stable code, and says what is wrong in Vietnamese and English.

mod people;
mod rules;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::record::Enrollment;
use crate::text::normalize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The record cannot be saved as it is.
    Error,
    /// The record may be saved once a person acknowledges the warning.
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    /// Dotted path of the field, e.g. `applicant.id_number`.
    pub path: String,
    pub severity: Severity,
    /// Stable machine code, e.g. `id_number.sex_mismatch`.
    pub code: String,
    pub message_vi: String,
    pub message_en: String,
}

impl Finding {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Runs every rule against `record` as of `now`.
pub fn validate(record: &Enrollment, now: DateTime<Utc>) -> Vec<Finding> {
    let mut out = Findings::default();
    rules::check(record, now, &mut out);
    people::check(record, now, &mut out);
    out.0
}

/// Findings that stop a save: every error, and every warning nobody has acknowledged.
pub fn blocking<'a>(record: &Enrollment, findings: &'a [Finding]) -> Vec<&'a Finding> {
    findings
        .iter()
        .filter(|f| {
            f.is_error()
                || !record
                    .review
                    .acknowledged
                    .iter()
                    .any(|a| a.code == f.code && a.path == f.path)
        })
        .collect()
}

/// Puts every free-text field in its stored form: NFC, single spaces, trimmed.
pub fn normalize_record(record: &mut Enrollment) {
    let a = &mut record.applicant;
    for s in [&mut a.name.family, &mut a.name.middle, &mut a.name.given] {
        *s = normalize(s);
    }
    let opt_strings = [
        &mut a.id_number,
        &mut a.old_id_number,
        &mut a.other_name,
        &mut a.religion,
        &mut record.contact.phone,
        &mut record.contact.email,
        &mut record.application.reason,
    ];
    for s in opt_strings.into_iter().flatten() {
        *s = normalize(s);
    }
    for field in [&mut a.id_number, &mut a.old_id_number, &mut a.other_name] {
        if field.as_deref() == Some("") {
            *field = None;
        }
    }
    a.nationality = normalize(&a.nationality).to_uppercase();
    for addr in [
        &mut a.birth_place,
        &mut a.birth_registration_place,
        &mut a.home_town,
        &mut a.permanent_residence,
        &mut a.temporary_residence,
        &mut a.current_residence,
    ]
    .into_iter()
    .flatten()
    {
        addr.detail = normalize(&addr.detail);
    }
    let r = &mut record.relatives;
    for rel in [
        &mut r.father,
        &mut r.mother,
        &mut r.spouse,
        &mut r.representative,
    ]
    .into_iter()
    .flatten()
    {
        rel.name = normalize(&rel.name);
    }
    if let Some(h) = &mut r.household_head {
        h.name = normalize(&h.name);
        h.relation = normalize(&h.relation);
    }
}

#[derive(Default)]
pub(crate) struct Findings(Vec<Finding>);

impl Findings {
    pub(crate) fn error(
        &mut self,
        path: &str,
        code: &str,
        vi: impl Into<String>,
        en: impl Into<String>,
    ) {
        self.push(path, Severity::Error, code, vi.into(), en.into());
    }

    pub(crate) fn warning(
        &mut self,
        path: &str,
        code: &str,
        vi: impl Into<String>,
        en: impl Into<String>,
    ) {
        self.push(path, Severity::Warning, code, vi.into(), en.into());
    }

    fn push(
        &mut self,
        path: &str,
        severity: Severity,
        code: &str,
        message_vi: String,
        message_en: String,
    ) {
        self.0.push(Finding {
            path: path.to_owned(),
            severity,
            code: code.to_owned(),
            message_vi,
            message_en,
        });
    }
}

#[cfg(test)]
mod tests;
