//! QR prefill: find and decode the QR code of a chip identity card (CCCD) in a picture and
//! parse it into a typed [`CardQr`], all or nothing.
//!
//! The card's QR holds seven fields separated by `|`:
//! `ID number|old 9-digit ID|full name|date of birth ddmmyyyy|sex|address|issue date ddmmyyyy`,
//! e.g. `001090123456|012345678|Nguyễn Văn A|01011990|Nam|Thôn 1, Xã A, Tỉnh B|15042021`.
//! The old ID is empty when the person never had one (it may also be an old 12-digit
//! number). Variants tolerated: a trailing `|`, a byte-order mark, surrounding whitespace,
//! and the decomposed spelling of "Nữ". Anything else is refused with a reason.

mod card;
mod decode;

pub use card::{parse_card_qr, parse_card_qr_at, CardQr, QrWarning, Sex};
pub use decode::{decode_qr_texts, read_card_qr, read_card_qr_rgb, render_qr};

use thiserror::Error;

/// Why a QR code could not be used; nothing from it is applied.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum QrError {
    #[error("no QR code found in the picture")]
    NoCode,
    #[error("a QR code was found but could not be read ({0})")]
    Unreadable(String),
    #[error("the QR code is a web link, not an identity card")]
    Url,
    #[error("the QR code is not from an identity card")]
    NotCard,
    #[error("the QR code has {found} fields, an identity card has 7")]
    FieldCount { found: usize },
    #[error("{field}: {value:?} is not valid ({reason})")]
    BadField {
        field: Field,
        value: String,
        reason: String,
    },
    #[error("the issue date {issued} is before the date of birth {born}")]
    IssuedBeforeBirth { born: String, issued: String },
    #[error("cannot make a QR code: {0}")]
    Render(String),
}

/// The card fields, for naming them in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    IdNumber,
    OldId,
    FullName,
    DateOfBirth,
    Sex,
    Address,
    IssueDate,
}

impl Field {
    pub fn name_vi(self) -> &'static str {
        match self {
            Field::IdNumber => "Số định danh cá nhân",
            Field::OldId => "Số CMND cũ",
            Field::FullName => "Họ, chữ đệm và tên",
            Field::DateOfBirth => "Ngày sinh",
            Field::Sex => "Giới tính",
            Field::Address => "Nơi thường trú",
            Field::IssueDate => "Ngày cấp",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            Field::IdNumber => "Personal ID number",
            Field::OldId => "Old ID number",
            Field::FullName => "Full name",
            Field::DateOfBirth => "Date of birth",
            Field::Sex => "Sex",
            Field::Address => "Permanent address",
            Field::IssueDate => "Issue date",
        }
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name_en())
    }
}

impl QrError {
    pub fn message_vi(&self) -> String {
        match self {
            QrError::NoCode => {
                "Không tìm thấy mã QR: đưa mặt trước thẻ căn cước lại gần camera, giữ yên.".into()
            }
            QrError::Unreadable(_) => {
                "Mã QR bị mờ hoặc hỏng, không đọc được: giữ thẻ yên và tránh lóa sáng.".into()
            }
            QrError::Url => {
                "Mã QR này là một đường dẫn web, không phải mã trên thẻ căn cước.".into()
            }
            QrError::NotCard => "Mã QR này không phải mã trên thẻ căn cước.".into(),
            QrError::FieldCount { found } => format!(
                "Mã QR có {found} trường, mã trên thẻ căn cước có 7 trường: không dùng được."
            ),
            QrError::BadField {
                field,
                value,
                reason,
            } => format!(
                "{}: \"{value}\" không hợp lệ ({}).",
                field.name_vi(),
                reason_vi(reason)
            ),
            QrError::IssuedBeforeBirth { born, issued } => {
                format!("Ngày cấp {issued} trước ngày sinh {born}: mã QR không hợp lệ.")
            }
            QrError::Render(d) => format!("Không tạo được mã QR ({d})."),
        }
    }

    pub fn message_en(&self) -> String {
        match self {
            QrError::NoCode => {
                "No QR code found: hold the front of the identity card close to the camera, still."
                    .into()
            }
            QrError::Unreadable(_) => {
                "The QR code is blurred or damaged: hold the card still and avoid glare.".into()
            }
            other => {
                let mut s = other.to_string();
                if let Some(first) = s.get(0..1) {
                    let upper = first.to_uppercase();
                    s.replace_range(0..1, &upper);
                }
                s.push('.');
                s
            }
        }
    }
}

/// Vietnamese for the fixed reasons the parser gives (kept next to the English ones).
fn reason_vi(reason: &str) -> String {
    match reason {
        card::R_DIGITS_12 => "phải gồm đúng 12 chữ số".into(),
        card::R_PROVINCE => "3 chữ số đầu không phải mã tỉnh nơi đăng ký khai sinh".into(),
        card::R_OLD_ID => "phải trống, hoặc gồm 9 hay 12 chữ số".into(),
        card::R_EMPTY => "bị trống".into(),
        card::R_NAME_CHARS => "chứa chữ số hoặc ký tự lạ".into(),
        card::R_DATE_FORMAT => "phải là ngày dạng ddmmyyyy".into(),
        card::R_DATE_INVALID => "không phải ngày có thật".into(),
        card::R_DATE_FUTURE => "ở tương lai".into(),
        card::R_DATE_RANGE => "năm nằm ngoài khoảng 1900–2399".into(),
        card::R_SEX => "phải là \"Nam\" hoặc \"Nữ\"".into(),
        other => other.to_owned(),
    }
}
