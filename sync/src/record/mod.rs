//! The enrollment record: one per application, after the 26 items of the 2023 Identification
//! Law (art. 9) and the capture forms. `Enrollment` is the typed view; `doc` holds it as an
//! Automerge document; JSON (serde) is the import/export form.

pub mod authority;
mod chunks;
mod columns;
mod doc;
mod enums;
mod genesis;

#[cfg(test)]
pub(crate) use chunks::leb128;
pub use chunks::{change_hashes, split_changes};
pub(crate) use chunks::{CHANGE as CHUNK_CHANGE, MAGIC};
pub use columns::plain_ops;
pub use doc::{first_change_blob_refs, guarded, Attribution, DocError, RecordDoc};
pub use enums::*;
pub use genesis::genesis_json;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Which of a change's `len` operations `id` names: its counter's offset from the change's
/// `start` op, when the change's `actor` made it; `None` for any other operation.
pub(crate) fn own_offset(
    id: &automerge::legacy::OpId,
    actor: &automerge::ActorId,
    start: u64,
    len: usize,
) -> Option<usize> {
    if &id.1 != actor {
        return None;
    }
    usize::try_from(id.0.checked_sub(start)?)
        .ok()
        .filter(|k| *k < len)
}

/// Version of the administrative-unit list in force since 1 July 2025 (34 provinces, no districts).
pub const ADMIN_LIST_2025: &str = "2025-07-01";

/// A record id: a UUIDv7, so ids sort by creation time.
pub fn new_record_id() -> Uuid {
    Uuid::now_v7()
}

/// One application, as the kiosk captures it and HQ receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Enrollment {
    /// UUIDv7; generated when absent from imported JSON.
    #[serde(default = "new_record_id")]
    pub id: Uuid,
    /// What a resident reads out: kiosk code, date, sequence (`KS01-20261127-0007`).
    /// Empty until the store first saves the record.
    #[serde(default)]
    pub enrollment_no: String,
    pub application: Application,
    pub applicant: Applicant,
    #[serde(default)]
    pub relatives: Relatives,
    #[serde(default)]
    pub contact: Contact,
    #[serde(default)]
    pub biometrics: Biometrics,
    #[serde(default)]
    pub capture: CaptureMeta,
    #[serde(default)]
    pub review: Review,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub kind: ApplicationKind,
    /// Why an exchange is due (age milestone, damage, changed details).
    #[serde(default)]
    pub exchange_reason: Option<ExchangeReason>,
    /// Free-text reason (re-issue after loss, what to correct, ...).
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Applicant {
    /// Số định danh cá nhân: 12 digits `PPP G YY RRRRRR`.
    #[serde(default)]
    pub id_number: Option<String>,
    /// Old 9-digit identity card number (CMND), if any.
    #[serde(default)]
    pub old_id_number: Option<String>,
    pub name: PersonName,
    #[serde(default)]
    pub other_name: Option<String>,
    pub birth_date: PartialDate,
    pub sex: Sex,
    /// ISO 3166-1 alpha-2, upper case.
    #[serde(default = "default_nationality")]
    pub nationality: String,
    #[serde(default)]
    pub ethnicity: Option<Ethnicity>,
    /// A religion code from the QCVN 109 list, or `none`.
    #[serde(default)]
    pub religion: Option<String>,
    #[serde(default)]
    pub birth_place: Option<Address>,
    #[serde(default)]
    pub birth_registration_place: Option<Address>,
    #[serde(default)]
    pub home_town: Option<Address>,
    #[serde(default)]
    pub permanent_residence: Option<Address>,
    #[serde(default)]
    pub temporary_residence: Option<Address>,
    #[serde(default)]
    pub current_residence: Option<Address>,
    #[serde(default)]
    pub marital_status: Option<MaritalStatus>,
    #[serde(default)]
    pub blood_type: Option<BloodType>,
}

fn default_nationality() -> String {
    "VN".to_owned()
}

/// Họ, chữ đệm, tên, as on the birth certificate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonName {
    pub family: String,
    #[serde(default)]
    pub middle: String,
    pub given: String,
}

impl PersonName {
    /// The parts joined with single spaces, as written.
    pub fn full(&self) -> String {
        [&self.family, &self.middle, &self.given]
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A date of birth that may be known only to the year or the month; never padded to 01/01.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartialDate {
    pub year: i32,
    #[serde(default)]
    pub month: Option<u8>,
    #[serde(default)]
    pub day: Option<u8>,
    pub provenance: DateProvenance,
}

impl PartialDate {
    /// The earliest calendar day the date can stand for, if the parts form a real date.
    pub fn earliest(&self) -> Option<chrono::NaiveDate> {
        chrono::NaiveDate::from_ymd_opt(
            self.year,
            u32::from(self.month.unwrap_or(1)),
            u32::from(self.day.unwrap_or(1)),
        )
    }

    /// Sortable `YYYY-MM-DD` with `00` for unknown parts.
    pub fn sort_key(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}",
            self.year,
            self.month.unwrap_or(0),
            self.day.unwrap_or(0)
        )
    }

    /// As a person reads it: `dd/mm/yyyy`, `mm/yyyy` or `yyyy`.
    pub fn display(&self) -> String {
        match (self.day, self.month) {
            (Some(d), Some(m)) => format!("{d:02}/{m:02}/{:04}", self.year),
            (None, Some(m)) => format!("{m:02}/{:04}", self.year),
            _ => format!("{:04}", self.year),
        }
    }

    /// Completed years of age on `today`; with unknown parts, the youngest the person can be.
    pub fn age_on(&self, today: chrono::NaiveDate) -> Option<i32> {
        use chrono::Datelike;
        // Latest possible birthday within the known precision gives the minimum age.
        let month = self.month.unwrap_or(12);
        let day = match self.day {
            Some(d) => u32::from(d),
            None => last_day_of_month(self.year, u32::from(month))?,
        };
        let born = chrono::NaiveDate::from_ymd_opt(self.year, u32::from(month), day)?;
        let mut age = today.year() - born.year();
        if (today.month(), today.day()) < (born.month(), born.day()) {
            age -= 1;
        }
        Some(age)
    }
}

fn last_day_of_month(year: i32, month: u32) -> Option<u32> {
    let first_next = if month == 12 {
        chrono::NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        chrono::NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    use chrono::Datelike;
    Some(first_next.pred_opt()?.day())
}

/// A place: commune and province codes from a named admin-unit list, and the detail line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub province_code: String,
    #[serde(default)]
    pub commune_code: String,
    /// Hamlet, street, house number.
    #[serde(default)]
    pub detail: String,
    /// The admin-unit list the codes were picked from (`2025-07-01` for the current one).
    pub list_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ethnicity {
    pub code: String,
    pub list: EthnicList,
}

/// A relative or representative as the forms record them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Relative {
    pub name: String,
    #[serde(default)]
    pub id_number: Option<String>,
    #[serde(default)]
    pub nationality: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HouseholdHead {
    pub name: String,
    #[serde(default)]
    pub id_number: Option<String>,
    /// Relation of the applicant to the head of household (con, vợ, chồng, ...).
    pub relation: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Relatives {
    #[serde(default)]
    pub father: Option<Relative>,
    #[serde(default)]
    pub mother: Option<Relative>,
    #[serde(default)]
    pub spouse: Option<Relative>,
    /// Required for applicants under 14.
    #[serde(default)]
    pub representative: Option<Relative>,
    #[serde(default)]
    pub household_head: Option<HouseholdHead>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// Photo and fingers are referenced by the SHA-256 of their blobs; blobs never enter the document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Biometrics {
    #[serde(default)]
    pub photo: Option<PhotoRef>,
    #[serde(default)]
    pub fingers: Vec<FingerRecord>,
    #[serde(default)]
    pub consent: Option<Consent>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhotoRef {
    pub sha256: String,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FingerRecord {
    pub finger: Finger,
    pub outcome: FingerOutcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FingerOutcome {
    Captured {
        image_sha256: String,
        template_sha256: String,
        /// 0–100, scored on the host from the uploaded image.
        quality: u8,
        attempts: u8,
        /// No attempt reached the threshold; the best one was kept.
        #[serde(default)]
        force_captured: bool,
    },
    Exception {
        reason: ExceptionReason,
        permanent: bool,
        #[serde(default)]
        note: Option<String>,
        /// Face with both palms visible.
        #[serde(default)]
        proof_photo_sha256: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    pub at: DateTime<Utc>,
    pub given_by: ConsentBy,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureMeta {
    #[serde(default)]
    pub kiosk_id: String,
    #[serde(default)]
    pub operator_id: String,
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub captured_at: Option<DateTime<Utc>>,
    /// Commune code (2025 list) where the session took place.
    #[serde(default)]
    pub session_commune: Option<String>,
    #[serde(default)]
    pub gps: Option<Gps>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gps {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Review {
    #[serde(default)]
    pub status: RecordStatus,
    #[serde(default)]
    pub history: Vec<ReviewEvent>,
    /// Warnings a person looked at and accepted.
    #[serde(default)]
    pub acknowledged: Vec<Acknowledgement>,
    /// The latest status HQ sent back.
    #[serde(default)]
    pub hq: Option<HqStatus>,
    /// HQ's adjudication of the records sharing this record's ID number (absent until made,
    /// so records without one keep their document shape).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<DuplicateDecision>,
}

/// One step in the record's life, attributed to a person and a device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewEvent {
    pub at: DateTime<Utc>,
    pub by: String,
    pub device: String,
    pub action: ReviewAction,
    #[serde(default)]
    pub reason: Option<String>,
    /// Approval and return: the kiosk device key's Ed25519 signature (hex) over the record id,
    /// action, person, device, time and reason (see the kiosk's `review` module).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgement {
    pub code: String,
    pub path: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HqStatus {
    pub status: HqState,
    #[serde(default)]
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// HQ's decision on a duplicate group. It names no other record: each kiosk sees only its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DuplicateDecision {
    pub verdict: DuplicateVerdict,
    pub reason: String,
    /// The HQ user who decided.
    pub by: String,
    pub at: DateTime<Utc>,
}

/// The JSON Schema of the record's import/export form.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Enrollment))
        .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }))
}

/// A complete, valid adult new-card record sealed with biometrics: the reference example for
/// documentation and tests. `now` is the capture time.
pub fn example(now: DateTime<Utc>) -> Enrollment {
    let addr = |commune: &str, detail: &str| Address {
        province_code: "01".into(),
        commune_code: commune.into(),
        detail: detail.into(),
        list_version: ADMIN_LIST_2025.into(),
    };
    let hash = |n: u8| format!("{n:02x}").repeat(32);
    Enrollment {
        id: new_record_id(),
        enrollment_no: String::new(),
        application: Application {
            kind: ApplicationKind::NewCard,
            exchange_reason: None,
            reason: None,
        },
        applicant: Applicant {
            id_number: Some("001058012345".into()),
            old_id_number: Some("012345678".into()),
            name: PersonName {
                family: "Nguyễn".into(),
                middle: "Văn".into(),
                given: "Hoà".into(),
            },
            other_name: None,
            birth_date: PartialDate {
                year: 1958,
                month: Some(3),
                day: Some(14),
                provenance: DateProvenance::Documented,
            },
            sex: Sex::Male,
            nationality: "VN".into(),
            ethnicity: Some(Ethnicity {
                code: "01".into(),
                list: EthnicList::Qd121_1979,
            }),
            religion: Some("none".into()),
            birth_place: Some(addr("00070", "")),
            birth_registration_place: Some(addr("00070", "")),
            home_town: Some(addr("00073", "")),
            permanent_residence: Some(addr("00004", "Số 12 ngõ 5 phố Đội Cấn")),
            temporary_residence: None,
            current_residence: Some(addr("00004", "Số 12 ngõ 5 phố Đội Cấn")),
            marital_status: Some(MaritalStatus::Married),
            blood_type: None,
        },
        relatives: Relatives {
            father: Some(Relative {
                name: "Nguyễn Văn Toàn".into(),
                id_number: None,
                nationality: Some("VN".into()),
            }),
            mother: Some(Relative {
                name: "Trần Thị Lan".into(),
                id_number: None,
                nationality: Some("VN".into()),
            }),
            spouse: None,
            representative: None,
            household_head: Some(HouseholdHead {
                name: "Nguyễn Văn Hoà".into(),
                id_number: None,
                relation: "chủ hộ".into(),
            }),
        },
        contact: Contact {
            phone: Some("0912345678".into()),
            email: None,
        },
        biometrics: Biometrics {
            photo: Some(PhotoRef {
                sha256: hash(1),
                width: 600,
                height: 900,
            }),
            fingers: Finger::ORDER
                .iter()
                .enumerate()
                .map(|(i, &finger)| FingerRecord {
                    finger,
                    outcome: FingerOutcome::Captured {
                        image_sha256: hash(16 + i as u8),
                        template_sha256: hash(48 + i as u8),
                        quality: 70,
                        attempts: 1,
                        force_captured: false,
                    },
                })
                .collect(),
            consent: Some(Consent {
                at: now,
                given_by: ConsentBy::Applicant,
            }),
        },
        capture: CaptureMeta {
            kiosk_id: "KS01".into(),
            operator_id: "op-1".into(),
            started_at: Some(now),
            captured_at: Some(now),
            session_commune: Some("00004".into()),
            gps: Some(Gps {
                lat: 21.03,
                lon: 105.82,
            }),
        },
        review: Review {
            status: RecordStatus::Captured,
            ..Review::default()
        },
    }
}
