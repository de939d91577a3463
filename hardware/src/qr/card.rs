//! Parsing the text of a CCCD QR code into a typed record.

use super::{Field, QrError};
use chrono::{Datelike, NaiveDate};
use serde::Serialize;

pub(crate) const R_DIGITS_12: &str = "must be exactly 12 digits";
pub(crate) const R_PROVINCE: &str = "the first 3 digits are not a birth-registration province code";
pub(crate) const R_OLD_ID: &str = "must be empty, or 9 or 12 digits";
pub(crate) const R_EMPTY: &str = "is empty";
pub(crate) const R_NAME_CHARS: &str = "contains digits or stray symbols";
pub(crate) const R_DATE_FORMAT: &str = "must be a ddmmyyyy date";
pub(crate) const R_DATE_INVALID: &str = "is not a real calendar date";
pub(crate) const R_DATE_FUTURE: &str = "is in the future";
pub(crate) const R_DATE_RANGE: &str = "year outside 1900-2399";
pub(crate) const R_SEX: &str = "must be \"Nam\" or \"Nữ\"";

/// Birth-registration province codes (first three digits of the ID number), from
/// Thông tư 07/2016/TT-BCA, Phụ lục I, via /work/shared/data/cccd_province_codes.csv.
const PROVINCE_CODES: [u16; 63] = [
    1, 2, 4, 6, 8, 10, 11, 12, 14, 15, 17, 19, 20, 22, 24, 25, 26, 27, 30, 31, 33, 34, 35, 36, 37,
    38, 40, 42, 44, 45, 46, 48, 49, 51, 52, 54, 56, 58, 60, 62, 64, 66, 67, 68, 70, 72, 74, 75, 77,
    79, 80, 82, 83, 84, 86, 87, 89, 91, 92, 93, 94, 95, 96,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    /// As printed on the card.
    pub fn label_vi(self) -> &'static str {
        match self {
            Sex::Male => "Nam",
            Sex::Female => "Nữ",
        }
    }
}

/// Inconsistencies the operator must acknowledge; the card data is still usable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum QrWarning {
    /// The 4th digit of the ID number implies another sex or birth century.
    SexCenturyDigitMismatch { digit: u8 },
    /// Digits 5-6 of the ID number are not the last two digits of the birth year.
    BirthYearDigitsMismatch { digits: String },
}

impl QrWarning {
    pub fn message_vi(&self) -> String {
        match self {
            QrWarning::SexCenturyDigitMismatch { digit } => format!(
                "Chữ số thứ 4 của số định danh ({digit}) không khớp giới tính hoặc thế kỷ sinh: cần kiểm tra lại."
            ),
            QrWarning::BirthYearDigitsMismatch { digits } => format!(
                "Chữ số 5–6 của số định danh ({digits}) không khớp năm sinh: cần kiểm tra lại."
            ),
        }
    }

    pub fn message_en(&self) -> String {
        match self {
            QrWarning::SexCenturyDigitMismatch { digit } => format!(
                "The 4th digit of the ID number ({digit}) does not match the sex or birth century: please check."
            ),
            QrWarning::BirthYearDigitsMismatch { digits } => format!(
                "Digits 5-6 of the ID number ({digits}) do not match the birth year: please check."
            ),
        }
    }
}

/// The fields of a chip identity card's QR code, all validated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CardQr {
    /// Personal ID number, 12 digits.
    pub id_number: String,
    /// Old 9-digit (or 12-digit) ID number, if the card lists one.
    pub old_id: Option<String>,
    /// As on the card, trimmed, inner whitespace collapsed (NFC is left to the record layer).
    pub full_name: String,
    pub date_of_birth: NaiveDate,
    pub sex: Sex,
    /// Permanent address as one line.
    pub address: String,
    pub issue_date: NaiveDate,
    pub warnings: Vec<QrWarning>,
}

/// Parses QR text, refusing dates after today (local clock).
pub fn parse_card_qr(text: &str) -> Result<CardQr, QrError> {
    parse_card_qr_at(text, chrono::Local::now().date_naive())
}

/// Parses QR text as of `today`. Every field is checked before anything is returned.
pub fn parse_card_qr_at(text: &str, today: NaiveDate) -> Result<CardQr, QrError> {
    let text = text.trim_start_matches('\u{feff}').trim();
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("www.") {
        return Err(QrError::Url);
    }
    if !text.contains('|') {
        return Err(QrError::NotCard);
    }
    let mut fields: Vec<&str> = text.split('|').collect();
    if fields.len() == 8 && fields[7].trim().is_empty() {
        fields.pop();
    }
    if fields.len() != 7 {
        return Err(QrError::FieldCount {
            found: fields.len(),
        });
    }
    let id_number = id_number(fields[0])?;
    let old_id = old_id(fields[1])?;
    let full_name = full_name(fields[2])?;
    let date_of_birth = date(Field::DateOfBirth, fields[3], today)?;
    let sex = sex(fields[4])?;
    let address = collapse(fields[5]);
    if address.is_empty() {
        return Err(bad(Field::Address, fields[5], R_EMPTY));
    }
    let issue_date = date(Field::IssueDate, fields[6], today)?;
    if issue_date < date_of_birth {
        return Err(QrError::IssuedBeforeBirth {
            born: date_of_birth.format("%d/%m/%Y").to_string(),
            issued: issue_date.format("%d/%m/%Y").to_string(),
        });
    }
    let warnings = consistency(&id_number, sex, date_of_birth);
    Ok(CardQr {
        id_number,
        old_id,
        full_name,
        date_of_birth,
        sex,
        address,
        issue_date,
        warnings,
    })
}

fn bad(field: Field, value: &str, reason: &str) -> QrError {
    QrError::BadField {
        field,
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn id_number(raw: &str) -> Result<String, QrError> {
    let s = raw.trim();
    if s.len() != 12 || !all_digits(s) {
        return Err(bad(Field::IdNumber, raw, R_DIGITS_12));
    }
    // Three ASCII digits, checked above.
    let province: u16 = s[..3]
        .parse()
        .map_err(|_| bad(Field::IdNumber, raw, R_DIGITS_12))?;
    if !PROVINCE_CODES.contains(&province) {
        return Err(bad(Field::IdNumber, raw, R_PROVINCE));
    }
    Ok(s.to_owned())
}

fn old_id(raw: &str) -> Result<Option<String>, QrError> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if all_digits(s) && (s.len() == 9 || s.len() == 12) {
        Ok(Some(s.to_owned()))
    } else {
        Err(bad(Field::OldId, raw, R_OLD_ID))
    }
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn full_name(raw: &str) -> Result<String, QrError> {
    let s = collapse(raw);
    if s.is_empty() {
        return Err(bad(Field::FullName, raw, R_EMPTY));
    }
    // Letters (with Vietnamese diacritics, precomposed or combining), spaces, and the
    // apostrophe or hyphen some ethnic-minority names use.
    let ok = s.chars().all(|c| {
        c.is_alphabetic()
            || c == ' '
            || c == '\''
            || c == '-'
            || ('\u{0300}'..='\u{036f}').contains(&c)
    });
    if !ok {
        return Err(bad(Field::FullName, raw, R_NAME_CHARS));
    }
    Ok(s)
}

fn date(field: Field, raw: &str, today: NaiveDate) -> Result<NaiveDate, QrError> {
    let s = raw.trim();
    if s.len() != 8 || !all_digits(s) {
        return Err(bad(field, raw, R_DATE_FORMAT));
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(0);
    let (d, m, y) = (num(0..2), num(2..4), num(4..8));
    if !(1900..=2399).contains(&y) {
        return Err(bad(field, raw, R_DATE_RANGE));
    }
    let date =
        NaiveDate::from_ymd_opt(y as i32, m, d).ok_or_else(|| bad(field, raw, R_DATE_INVALID))?;
    if date > today {
        return Err(bad(field, raw, R_DATE_FUTURE));
    }
    Ok(date)
}

fn sex(raw: &str) -> Result<Sex, QrError> {
    let s = raw.trim().to_lowercase();
    match s.as_str() {
        "nam" => Ok(Sex::Male),
        // Precomposed, partly and fully decomposed spellings of "nữ".
        "n\u{1eef}" | "n\u{1b0}\u{303}" | "nu\u{31b}\u{303}" => Ok(Sex::Female),
        _ => Err(bad(Field::Sex, raw, R_SEX)),
    }
}

/// The ID number's 4th digit encodes sex and century, digits 5-6 the birth year.
fn consistency(id: &str, sex: Sex, born: NaiveDate) -> Vec<QrWarning> {
    let digits = id.as_bytes();
    let g = digits[3] - b'0';
    let century = (born.year() - 1900) / 100;
    let expected = (century * 2) as u8 + u8::from(sex == Sex::Female);
    let mut warnings = Vec::new();
    if g != expected {
        warnings.push(QrWarning::SexCenturyDigitMismatch { digit: g });
    }
    let yy = &id[4..6];
    if yy != format!("{:02}", born.year() % 100) {
        warnings.push(QrWarning::BirthYearDigitsMismatch {
            digits: yy.to_owned(),
        });
    }
    warnings
}
