//! The enrollment form as the wizard edits it: raw text per field (what is on screen, kept in
//! drafts), biometrics and acknowledgements, and its mapping to `Enrollment`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use enroll_sync::record::*;
use enroll_sync::refdata::refdata;
use enroll_sync::validate::{Finding, Severity};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The six address fields of the record, as form key prefixes.
pub const ADDRESSES: [&str; 6] = [
    "applicant.permanent_residence",
    "applicant.current_residence",
    "applicant.temporary_residence",
    "applicant.birth_registration_place",
    "applicant.home_town",
    "applicant.birth_place",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Form {
    pub id: Uuid,
    /// Field key → text as typed or code as chosen.
    pub raw: BTreeMap<String, String>,
    pub photo: Option<PhotoRef>,
    pub fingers: Vec<FingerRecord>,
    pub acknowledged: Vec<Acknowledgement>,
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// Field keys the operator has edited, and `step:N` for each step left with "Tiếp": a
    /// field's finding shows only then, so nothing is flagged before it was filled in.
    #[serde(default)]
    pub touched: BTreeSet<String>,
}

/// The wizard step a finding's path belongs to (where the operator fixes it).
pub fn step_of(path: &str) -> usize {
    let under = |p: &str| path == p || path.starts_with(&format!("{p}."));
    if under("application") {
        0
    } else if under("applicant.id_number") || under("applicant.old_id_number") {
        1
    } else if ADDRESSES.iter().any(|a| under(a)) {
        3
    } else if under("applicant") {
        2
    } else if under("relatives") || under("contact") {
        4
    } else if under("biometrics.photo") {
        5
    } else if under("biometrics.fingers") {
        6
    } else {
        8
    }
}

impl Default for Form {
    fn default() -> Self {
        Self::new()
    }
}

fn code_of<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn parse_code<T: for<'de> Deserialize<'de>>(s: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

/// `dd/mm/yyyy`, `mm/yyyy` or `yyyy`; never pads unknown parts.
pub fn parse_date(s: &str) -> Option<(i32, Option<u8>, Option<u8>)> {
    let parts: Vec<&str> = s.trim().split(['/', '-', '.']).collect();
    let num = |p: &str| p.trim().parse::<i64>().ok();
    match parts.as_slice() {
        [y] if y.trim().len() == 4 => Some((num(y)? as i32, None, None)),
        [m, y] if y.trim().len() == 4 => {
            let m = num(m)?;
            (1..=12)
                .contains(&m)
                .then_some((num(y)? as i32, Some(m as u8), None))
        }
        [d, m, y] if y.trim().len() == 4 => {
            let (d, m) = (num(d)?, num(m)?);
            ((1..=31).contains(&d) && (1..=12).contains(&m)).then_some((
                num(y)? as i32,
                Some(m as u8),
                Some(d as u8),
            ))
        }
        _ => None,
    }
}

fn finding(path: &str, code: &str, vi: &str, en: &str) -> Finding {
    Finding {
        path: path.into(),
        severity: Severity::Error,
        code: code.into(),
        message_vi: vi.into(),
        message_en: en.into(),
    }
}

impl Form {
    pub fn new() -> Self {
        let mut raw = BTreeMap::new();
        raw.insert("applicant.nationality".into(), "VN".into());
        raw.insert(
            "applicant.birth_date.provenance".into(),
            "documented".into(),
        );
        raw.insert("biometrics.consent".into(), "applicant".into());
        Form {
            id: new_record_id(),
            raw,
            photo: None,
            fingers: Vec::new(),
            acknowledged: Vec::new(),
            started_at: None,
            touched: BTreeSet::new(),
        }
    }

    /// Marks a field as edited by the operator.
    pub fn touch(&mut self, key: &str) {
        self.touched.insert(key.to_owned());
    }

    /// Marks a step as left with "Tiếp": all its findings show from now on.
    pub fn attempt_step(&mut self, step: usize) {
        self.touched.insert(format!("step:{step}"));
    }

    /// Whether a finding at `path` is shown under its field yet.
    pub fn shows(&self, path: &str) -> bool {
        self.touched.contains(&format!("step:{}", step_of(path)))
            || self.touched.iter().any(|k| {
                k == path
                    || k.starts_with(&format!("{path}."))
                    || path.starts_with(&format!("{k}."))
            })
    }

    pub fn get(&self, key: &str) -> &str {
        self.raw.get(key).map(String::as_str).unwrap_or("")
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.raw.insert(key.to_owned(), value.to_owned());
        if key.ends_with(".province") {
            // A commune belongs to one province: a new province clears it.
            let commune = key.replace(".province", ".commune");
            let keep = refdata()
                .commune(self.get(&commune))
                .is_some_and(|c| c.province_code == value);
            if !keep {
                self.raw.remove(&commune);
            }
        }
    }

    /// What a widget shows for `key`: names for picked codes, the raw text otherwise.
    pub fn display(&self, key: &str, lang: &str) -> String {
        let v = self.get(key);
        let data = refdata();
        if key.ends_with(".province") {
            return data.province(v).map(|p| p.name.clone()).unwrap_or_default();
        }
        if key.ends_with(".commune") {
            return data.commune(v).map(|c| c.name.clone()).unwrap_or_default();
        }
        match key {
            "applicant.ethnicity" => data
                .ethnic_groups(EthnicList::Qd121_1979)
                .iter()
                .find(|e| e.code == v)
                .map(|e| e.name.clone())
                .unwrap_or_default(),
            "applicant.religion" => {
                if v == "none" {
                    return if lang == "en" { "None" } else { "Không" }.into();
                }
                data.religion(v).map(|r| r.name.clone()).unwrap_or_default()
            }
            _ => v.to_owned(),
        }
    }

    fn text(&self, key: &str) -> Option<String> {
        let v = self.get(key).trim();
        (!v.is_empty()).then(|| v.to_owned())
    }

    fn address(&self, prefix: &str) -> Option<Address> {
        let province = self.text(&format!("{prefix}.province"));
        let commune = self.text(&format!("{prefix}.commune"));
        let detail = self.text(&format!("{prefix}.detail"));
        if province.is_none() && commune.is_none() && detail.is_none() {
            return None;
        }
        Some(Address {
            province_code: province.unwrap_or_default(),
            commune_code: commune.unwrap_or_default(),
            detail: detail.unwrap_or_default(),
            list_version: ADMIN_LIST_2025.into(),
        })
    }

    fn relative(&self, prefix: &str) -> Option<Relative> {
        let name = self.text(&format!("{prefix}.name"));
        let id = self.text(&format!("{prefix}.id_number"));
        if name.is_none() && id.is_none() {
            return None;
        }
        Some(Relative {
            name: name.unwrap_or_default(),
            id_number: id,
            nationality: self.text(&format!("{prefix}.nationality")),
        })
    }

    /// The record this form stands for, and the findings only the form can see (a choice not
    /// made yet, a date that does not parse). Where a required choice is missing the record
    /// carries a stand-in, and findings that depend on it are dropped by `filter`.
    pub fn to_record(&self, now: DateTime<Utc>) -> (Enrollment, Vec<Finding>) {
        let mut own = Vec::new();
        let kind = parse_code(self.get("application.kind"));
        if kind.is_none() {
            own.push(finding(
                "application.kind",
                "form.kind.required",
                "Hãy chọn loại thủ tục.",
                "Choose the type of application.",
            ));
        }
        let sex = parse_code(self.get("applicant.sex"));
        if sex.is_none() {
            own.push(finding(
                "applicant.sex",
                "form.sex.required",
                "Hãy chọn giới tính.",
                "Choose the sex.",
            ));
        }
        let date = parse_date(self.get("applicant.birth_date"));
        if self.get("applicant.birth_date").trim().is_empty() {
            own.push(finding(
                "applicant.birth_date",
                "form.birth_date.required",
                "Hãy nhập ngày sinh (chỉ năm nếu không rõ).",
                "Enter the date of birth (the year alone if unknown).",
            ));
        } else if date.is_none() {
            own.push(finding(
                "applicant.birth_date",
                "form.birth_date.format",
                "Sai dạng ngày. Gõ 14/03/1958, 03/1958 hoặc 1958.",
                "Not a date. Type 14/03/1958, 03/1958 or 1958.",
            ));
        }
        let (year, month, day) = date.unwrap_or((1900, None, None));
        let ethnicity = self.text("applicant.ethnicity").map(|code| Ethnicity {
            code,
            list: EthnicList::Qd121_1979,
        });
        let household_head = {
            let name = self.text("relatives.household_head.name");
            let relation = self.text("relatives.household_head.relation");
            (name.is_some() || relation.is_some()).then(|| HouseholdHead {
                name: name.unwrap_or_default(),
                id_number: None,
                relation: relation.unwrap_or_default(),
            })
        };
        let consent_by = parse_code(self.get("biometrics.consent"));
        let rec = Enrollment {
            id: self.id,
            enrollment_no: String::new(),
            application: Application {
                kind: kind.unwrap_or(ApplicationKind::NewCard),
                exchange_reason: parse_code(self.get("application.exchange_reason")),
                reason: self.text("application.reason"),
            },
            applicant: Applicant {
                id_number: self.text("applicant.id_number"),
                old_id_number: self.text("applicant.old_id_number"),
                name: PersonName {
                    family: self.get("applicant.name.family").to_owned(),
                    middle: self.get("applicant.name.middle").to_owned(),
                    given: self.get("applicant.name.given").to_owned(),
                },
                other_name: self.text("applicant.other_name"),
                birth_date: PartialDate {
                    year,
                    month,
                    day,
                    provenance: parse_code(self.get("applicant.birth_date.provenance"))
                        .unwrap_or(DateProvenance::Documented),
                },
                sex: sex.unwrap_or(Sex::Male),
                nationality: self.text("applicant.nationality").unwrap_or_default(),
                ethnicity,
                religion: self.text("applicant.religion"),
                birth_place: self.address("applicant.birth_place"),
                birth_registration_place: self.address("applicant.birth_registration_place"),
                home_town: self.address("applicant.home_town"),
                permanent_residence: self.address("applicant.permanent_residence"),
                temporary_residence: self.address("applicant.temporary_residence"),
                current_residence: self.address("applicant.current_residence"),
                marital_status: parse_code(self.get("applicant.marital_status")),
                blood_type: parse_code(self.get("applicant.blood_type")),
            },
            relatives: Relatives {
                father: self.relative("relatives.father"),
                mother: self.relative("relatives.mother"),
                spouse: self.relative("relatives.spouse"),
                representative: self.relative("relatives.representative"),
                household_head,
            },
            contact: Contact {
                phone: self.text("contact.phone"),
                email: self.text("contact.email"),
            },
            biometrics: Biometrics {
                photo: self.photo.clone(),
                fingers: self.fingers.clone(),
                consent: consent_by.map(|given_by| Consent { at: now, given_by }),
            },
            capture: CaptureMeta {
                started_at: self.started_at,
                ..CaptureMeta::default()
            },
            review: Review {
                acknowledged: self.acknowledged.clone(),
                ..Review::default()
            },
        };
        (rec, own)
    }

    /// Drops rule findings that only arise from a stand-in value.
    pub fn filter(&self, own: &[Finding], found: Vec<Finding>) -> Vec<Finding> {
        let no_sex = own.iter().any(|f| f.code == "form.sex.required");
        let no_date = own.iter().any(|f| f.code.starts_with("form.birth_date."));
        let mut out: Vec<Finding> = own.to_vec();
        out.extend(found.into_iter().filter(|f| {
            !(no_sex && f.code.contains("sex_mismatch"))
                && !(no_date
                    && (f.path.starts_with("applicant.birth_date")
                        || f.code.contains("year_mismatch")
                        || f.code.contains("century_mismatch")
                        || f.code.contains("age")))
                // Consent is asked at the end; the shared rule would nag from the first screen.
                && f.code != "consent.required"
        }));
        out
    }

    pub fn is_acknowledged(&self, f: &Finding) -> bool {
        self.acknowledged
            .iter()
            .any(|a| a.code == f.code && a.path == f.path)
    }

    pub fn acknowledge(&mut self, code: &str, path: &str, by: &str, at: DateTime<Utc>) {
        if !self
            .acknowledged
            .iter()
            .any(|a| a.code == code && a.path == path)
        {
            self.acknowledged.push(Acknowledgement {
                code: code.into(),
                path: path.into(),
                by: by.into(),
                at,
            });
        }
    }

    pub fn set_finger(&mut self, rec: FingerRecord) {
        self.fingers.retain(|f| f.finger != rec.finger);
        self.fingers.push(rec);
        self.fingers.sort_by_key(|f| f.finger);
    }

    pub fn finger(&self, finger: Finger) -> Option<&FingerRecord> {
        self.fingers.iter().find(|f| f.finger == finger)
    }

    /// Prefills the form from an existing record (QR of an old card, a returned record).
    pub fn from_record(rec: &Enrollment) -> Form {
        let mut f = Form::new();
        f.id = rec.id;
        let a = &rec.applicant;
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                f.raw.insert(k.into(), v);
            }
        };
        put("application.kind", Some(code_of(&rec.application.kind)));
        put(
            "application.exchange_reason",
            rec.application.exchange_reason.map(|r| code_of(&r)),
        );
        put("application.reason", rec.application.reason.clone());
        put("applicant.id_number", a.id_number.clone());
        put("applicant.old_id_number", a.old_id_number.clone());
        put("applicant.name.family", Some(a.name.family.clone()));
        put("applicant.name.middle", Some(a.name.middle.clone()));
        put("applicant.name.given", Some(a.name.given.clone()));
        put("applicant.other_name", a.other_name.clone());
        put("applicant.birth_date", Some(a.birth_date.display()));
        put(
            "applicant.birth_date.provenance",
            Some(code_of(&a.birth_date.provenance)),
        );
        put("applicant.sex", Some(code_of(&a.sex)));
        put("applicant.nationality", Some(a.nationality.clone()));
        put(
            "applicant.ethnicity",
            a.ethnicity.as_ref().map(|e| e.code.clone()),
        );
        put("applicant.religion", a.religion.clone());
        put(
            "applicant.marital_status",
            a.marital_status.map(|m| code_of(&m)),
        );
        put("applicant.blood_type", a.blood_type.map(|b| code_of(&b)));
        let addrs = [
            &a.permanent_residence,
            &a.current_residence,
            &a.temporary_residence,
            &a.birth_registration_place,
            &a.home_town,
            &a.birth_place,
        ];
        for (prefix, addr) in ADDRESSES.iter().zip(addrs) {
            if let Some(addr) = addr {
                put(
                    &format!("{prefix}.province"),
                    Some(addr.province_code.clone()),
                );
                put(
                    &format!("{prefix}.commune"),
                    Some(addr.commune_code.clone()),
                );
                put(&format!("{prefix}.detail"), Some(addr.detail.clone()));
            }
        }
        let r = &rec.relatives;
        for (prefix, rel) in [
            ("relatives.father", &r.father),
            ("relatives.mother", &r.mother),
            ("relatives.spouse", &r.spouse),
            ("relatives.representative", &r.representative),
        ] {
            if let Some(rel) = rel {
                put(&format!("{prefix}.name"), Some(rel.name.clone()));
                put(&format!("{prefix}.id_number"), rel.id_number.clone());
                put(&format!("{prefix}.nationality"), rel.nationality.clone());
            }
        }
        if let Some(h) = &r.household_head {
            put("relatives.household_head.name", Some(h.name.clone()));
            put(
                "relatives.household_head.relation",
                Some(h.relation.clone()),
            );
        }
        put("contact.phone", rec.contact.phone.clone());
        put("contact.email", rec.contact.email.clone());
        f.photo = rec.biometrics.photo.clone();
        f.fingers = rec.biometrics.fingers.clone();
        f.acknowledged = rec.review.acknowledged.clone();
        f.started_at = rec.capture.started_at;
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_dates_parse_without_padding() {
        assert_eq!(parse_date("14/03/1958"), Some((1958, Some(3), Some(14))));
        assert_eq!(parse_date("03/1958"), Some((1958, Some(3), None)));
        assert_eq!(parse_date("1958"), Some((1958, None, None)));
        assert_eq!(parse_date("31/13/1958"), None);
        assert_eq!(parse_date("58"), None);
    }

    #[test]
    fn a_record_survives_the_form_round_trip() {
        let now = Utc::now();
        let mut rec = example(now);
        rec.biometrics.consent = Some(Consent {
            at: now,
            given_by: ConsentBy::Applicant,
        });
        let form = Form::from_record(&rec);
        let (back, own) = form.to_record(now);
        assert!(own.is_empty(), "{own:?}");
        assert_eq!(back.applicant, rec.applicant);
        assert_eq!(back.relatives, rec.relatives);
        assert_eq!(back.biometrics.fingers, rec.biometrics.fingers);
    }

    #[test]
    fn a_new_province_clears_a_commune_of_another() {
        let mut f = Form::new();
        f.set("applicant.permanent_residence.province", "01");
        f.set("applicant.permanent_residence.commune", "00004");
        f.set("applicant.permanent_residence.province", "79");
        assert_eq!(f.get("applicant.permanent_residence.commune"), "");
    }
}
