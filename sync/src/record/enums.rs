//! Closed vocabularies of the record, each stored as a snake_case string.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationKind {
    /// Cấp mới.
    NewCard,
    /// Cấp đổi: at 14/25/40/60, on damage or changed details.
    Exchange,
    /// Cấp lại after loss.
    Reissue,
    /// Định danh điện tử mức 2.
    EidLevel2,
    /// Điều chỉnh thông tin.
    Correction,
}

impl ApplicationKind {
    pub const ALL: [ApplicationKind; 5] = [
        Self::NewCard,
        Self::Exchange,
        Self::Reissue,
        Self::EidLevel2,
        Self::Correction,
    ];

    /// (Vietnamese, English) label.
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Self::NewCard => ("Cấp mới thẻ căn cước", "New identity card"),
            Self::Exchange => ("Cấp đổi thẻ căn cước", "Card exchange"),
            Self::Reissue => ("Cấp lại thẻ căn cước", "Card re-issue"),
            Self::EidLevel2 => ("Định danh điện tử mức 2", "Level-2 electronic ID"),
            Self::Correction => ("Điều chỉnh thông tin", "Data correction"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeReason {
    Age14,
    Age25,
    Age40,
    Age60,
    Damaged,
    DetailsChanged,
}

impl ExchangeReason {
    /// The age at which this exchange falls due, for the age milestones.
    pub fn milestone_age(self) -> Option<i32> {
        match self {
            Self::Age14 => Some(14),
            Self::Age25 => Some(25),
            Self::Age40 => Some(40),
            Self::Age60 => Some(60),
            Self::Damaged | Self::DetailsChanged => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Self::Male => ("Nam", "Male"),
            Self::Female => ("Nữ", "Female"),
        }
    }
}

/// Where a date of birth comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DateProvenance {
    /// Read from a document (birth certificate, old card).
    Documented,
    /// Stated by the applicant or a relative.
    Declared,
    /// Estimated by the operator.
    Estimated,
}

/// Which official ethnic-group code list a code comes from; the two lists disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum EthnicList {
    #[serde(rename = "qd121-1979")]
    Qd121_1979,
    #[serde(rename = "qd1019-2008")]
    Qd1019_2008,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MaritalStatus {
    Single,
    Married,
    Divorced,
    Widowed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum BloodType {
    #[serde(rename = "A+")]
    APos,
    #[serde(rename = "A-")]
    ANeg,
    #[serde(rename = "B+")]
    BPos,
    #[serde(rename = "B-")]
    BNeg,
    #[serde(rename = "AB+")]
    AbPos,
    #[serde(rename = "AB-")]
    AbNeg,
    #[serde(rename = "O+")]
    OPos,
    #[serde(rename = "O-")]
    ONeg,
}

/// The ten fingers in capture order: right thumb → right little, left thumb → left little.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Finger {
    RightThumb,
    RightIndex,
    RightMiddle,
    RightRing,
    RightLittle,
    LeftThumb,
    LeftIndex,
    LeftMiddle,
    LeftRing,
    LeftLittle,
}

impl Finger {
    pub const ORDER: [Finger; 10] = [
        Self::RightThumb,
        Self::RightIndex,
        Self::RightMiddle,
        Self::RightRing,
        Self::RightLittle,
        Self::LeftThumb,
        Self::LeftIndex,
        Self::LeftMiddle,
        Self::LeftRing,
        Self::LeftLittle,
    ];

    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Self::RightThumb => ("Ngón cái tay phải", "Right thumb"),
            Self::RightIndex => ("Ngón trỏ tay phải", "Right index"),
            Self::RightMiddle => ("Ngón giữa tay phải", "Right middle"),
            Self::RightRing => ("Ngón áp út tay phải", "Right ring"),
            Self::RightLittle => ("Ngón út tay phải", "Right little"),
            Self::LeftThumb => ("Ngón cái tay trái", "Left thumb"),
            Self::LeftIndex => ("Ngón trỏ tay trái", "Left index"),
            Self::LeftMiddle => ("Ngón giữa tay trái", "Left middle"),
            Self::LeftRing => ("Ngón áp út tay trái", "Left ring"),
            Self::LeftLittle => ("Ngón út tay trái", "Left little"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionReason {
    Missing,
    Amputated,
    Bandaged,
    Unreadable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentBy {
    Applicant,
    Representative,
}

/// Where a record stands on the kiosk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    /// Being filled in; not yet sealed.
    #[default]
    Draft,
    /// Sealed by the operator, awaiting a supervisor.
    Captured,
    Approved,
    /// Sent back to the operator with a reason.
    Returned,
    /// Acknowledged by HQ.
    Synced,
}

impl RecordStatus {
    pub const ALL: [RecordStatus; 5] = [
        Self::Draft,
        Self::Captured,
        Self::Approved,
        Self::Returned,
        Self::Synced,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Captured => "captured",
            Self::Approved => "approved",
            Self::Returned => "returned",
            Self::Synced => "synced",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Self::Draft => ("Đang nhập", "Draft"),
            Self::Captured => ("Chờ duyệt", "Awaiting approval"),
            Self::Approved => ("Đã duyệt", "Approved"),
            Self::Returned => ("Trả lại", "Returned"),
            Self::Synced => ("Đã gửi", "Synced"),
        }
    }

    /// Sealed records must be complete: biometrics, consent.
    pub fn is_sealed(self) -> bool {
        !matches!(self, Self::Draft | Self::Returned)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewAction {
    Created,
    Edited,
    Sealed,
    Approved,
    Returned,
    Synced,
    HqStatus,
}

/// Statuses HQ sends back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HqState {
    Received,
    Duplicate,
    RecaptureNeeded,
    CardPrinted,
    Rejected,
}

impl HqState {
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Self::Received => ("HQ đã nhận", "Received by HQ"),
            Self::Duplicate => ("Trùng hồ sơ", "Duplicate found"),
            Self::RecaptureNeeded => ("Cần thu nhận lại", "Re-capture needed"),
            Self::CardPrinted => ("Đã in thẻ", "Card printed"),
            Self::Rejected => ("Bị từ chối", "Rejected"),
        }
    }
}

/// HQ's decision on records that share an ID number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateVerdict {
    /// The records are one person's: one card at most.
    SamePerson,
    /// Different people share the number: the number itself needs correcting.
    DifferentPeople,
}

impl DuplicateVerdict {
    pub const ALL: [DuplicateVerdict; 2] = [Self::SamePerson, Self::DifferentPeople];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SamePerson => "same_person",
            Self::DifferentPeople => "different_people",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Self::SamePerson => ("Cùng một người", "Same person"),
            Self::DifferentPeople => ("Hai người khác nhau", "Different people"),
        }
    }
}
