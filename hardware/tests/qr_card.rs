//! Parsing CCCD QR text: the real layout, its variants, and everything that must be refused.

use chrono::NaiveDate;
use enroll_hardware::qr::{parse_card_qr_at, Field, QrError, QrWarning, Sex};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 27).expect("date")
}

const GOOD: &str = "001090123456|012345678|Nguyễn Văn An|01011990|Nam|Thôn Đông, Xã Yên Phong, Tỉnh Bắc Ninh|15042021";

#[test]
fn parses_the_seven_fields() {
    let c = parse_card_qr_at(GOOD, today()).expect("parse");
    assert_eq!(c.id_number, "001090123456");
    assert_eq!(c.old_id.as_deref(), Some("012345678"));
    assert_eq!(c.full_name, "Nguyễn Văn An");
    assert_eq!(
        c.date_of_birth,
        NaiveDate::from_ymd_opt(1990, 1, 1).expect("d")
    );
    assert_eq!(c.sex, Sex::Male);
    assert_eq!(c.address, "Thôn Đông, Xã Yên Phong, Tỉnh Bắc Ninh");
    assert_eq!(
        c.issue_date,
        NaiveDate::from_ymd_opt(2021, 4, 15).expect("d")
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn accepts_known_variants() {
    // No old ID, female born in the 2000s, trailing separator, BOM, CRLF, extra spaces,
    // decomposed "Nữ".
    let text = "\u{feff}079304001234||  Trần   Thị  Bích |29022004|Nu\u{31b}\u{303}|Phường Bến Nghé, TP. Hồ Chí Minh|10072024|\r\n";
    let c = parse_card_qr_at(text, today()).expect("parse");
    assert_eq!(c.old_id, None);
    assert_eq!(c.full_name, "Trần Thị Bích");
    assert_eq!(c.sex, Sex::Female);
    assert_eq!(
        c.date_of_birth,
        NaiveDate::from_ymd_opt(2004, 2, 29).expect("d")
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // Precomposed, upper case; a 12-digit old number; ethnic-minority name with a hyphen.
    let text =
        "011185000777|001185000777|Lò Thị Ún-Pao|05051985|NỮ|Bản Mường, Tỉnh Điện Biên|01022022";
    let c = parse_card_qr_at(text, today()).expect("parse");
    assert_eq!(c.sex, Sex::Female);
    assert_eq!(c.old_id.as_deref(), Some("001185000777"));
}

#[test]
fn id_digits_that_disagree_with_sex_or_year_are_warnings() {
    // G=0 says male 1900s, the card says Nữ; YY=90 but born 1991.
    let text = "001090123456||Nguyễn Thị Hoa|01011991|Nữ|Hà Nội|15042021";
    let c = parse_card_qr_at(text, today()).expect("still usable");
    assert_eq!(
        c.warnings,
        [
            QrWarning::SexCenturyDigitMismatch { digit: 0 },
            QrWarning::BirthYearDigitsMismatch {
                digits: "90".into()
            }
        ]
    );
    assert!(c.warnings[0].message_vi().contains("kiểm tra"));
}

fn field_error(text: &str) -> (Field, String) {
    match parse_card_qr_at(text, today()) {
        Err(QrError::BadField { field, reason, .. }) => (field, reason),
        other => panic!("expected a field error for {text:?}, got {other:?}"),
    }
}

#[test]
fn refuses_bad_fields_naming_the_field() {
    let cases: [(&str, Field); 12] = [
        (
            "00109012345|012345678|A B|01011990|Nam|X|15042021",
            Field::IdNumber,
        ),
        (
            "00109012345A|012345678|A B|01011990|Nam|X|15042021",
            Field::IdNumber,
        ),
        (
            "003090123456|012345678|A B|01011990|Nam|X|15042021",
            Field::IdNumber,
        ), // no province 003
        (
            "001090123456|01234567|A B|01011990|Nam|X|15042021",
            Field::OldId,
        ),
        ("001090123456||   |01011990|Nam|X|15042021", Field::FullName),
        (
            "001090123456||Nguyen Van 2|01011990|Nam|X|15042021",
            Field::FullName,
        ),
        (
            "001090123456||A B|1011990|Nam|X|15042021",
            Field::DateOfBirth,
        ),
        (
            "001090123456||A B|31021990|Nam|X|15042021",
            Field::DateOfBirth,
        ),
        ("001090123456||A B|01011990|Male|X|15042021", Field::Sex),
        ("001090123456||A B|01011990|Nam|  |15042021", Field::Address),
        (
            "001090123456||A B|01011990|Nam|X|15/04/21",
            Field::IssueDate,
        ),
        (
            "001090123456||A B|01011990|Nam|X|01012099",
            Field::IssueDate,
        ), // future
    ];
    for (text, field) in cases {
        let (got, _) = field_error(text);
        assert_eq!(got, field, "{text}");
    }
    let err =
        parse_card_qr_at("001090123456||A B|31021990|Nam|X|15042021", today()).expect_err("bad");
    assert!(
        err.message_vi().starts_with("Ngày sinh"),
        "{}",
        err.message_vi()
    );
    assert!(
        err.message_en().contains("Date of birth"),
        "{}",
        err.message_en()
    );
}

#[test]
fn refuses_foreign_codes_and_wrong_shapes() {
    assert_eq!(
        parse_card_qr_at("https://vneid.gov.vn/x", today()),
        Err(QrError::Url)
    );
    assert_eq!(
        parse_card_qr_at("WWW.example.com", today()),
        Err(QrError::Url)
    );
    assert_eq!(
        parse_card_qr_at("hello world", today()),
        Err(QrError::NotCard)
    );
    assert_eq!(parse_card_qr_at("", today()), Err(QrError::NotCard));
    // A health-insurance style code with 6 fields, and one with 9.
    assert_eq!(
        parse_card_qr_at("GD4797932|Nguyễn Văn A|01/01/1990|1|Hà Nội|01-123", today()),
        Err(QrError::FieldCount { found: 6 })
    );
    assert_eq!(
        parse_card_qr_at(&format!("{GOOD}|x|y"), today()),
        Err(QrError::FieldCount { found: 9 })
    );
    let issued_early = "001090123456||A B|01011990|Nam|X|01011989";
    assert!(matches!(
        parse_card_qr_at(issued_early, today()),
        Err(QrError::IssuedBeforeBirth { .. })
    ));
    let e = QrError::FieldCount { found: 6 };
    assert!(e.message_vi().contains("6 trường") && e.message_en().contains("6 fields"));
}
