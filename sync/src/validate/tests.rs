use chrono::{TimeZone, Utc};

use super::*;
use crate::record::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0)
        .single()
        .expect("valid time")
}

fn base() -> Enrollment {
    example(now())
}

fn codes(r: &Enrollment) -> Vec<(String, Severity)> {
    validate(r, now())
        .into_iter()
        .map(|f| (f.code, f.severity))
        .collect()
}

/// Applies `edit` to a valid record and expects exactly `code` with `severity` among the findings.
fn expect(code: &str, severity: Severity, edit: impl FnOnce(&mut Enrollment)) {
    let mut r = base();
    edit(&mut r);
    let found = validate(&r, now());
    let hit = found.iter().find(|f| f.code == code);
    let Some(hit) = hit else {
        panic!("expected {code}, got {found:#?}")
    };
    assert_eq!(hit.severity, severity, "{code}");
    assert!(!hit.message_vi.is_empty() && !hit.message_en.is_empty());
    assert_ne!(hit.message_vi, hit.message_en, "{code} must be translated");
    assert!(!hit.path.is_empty());
}

fn addr(province: &str, commune: &str) -> Address {
    Address {
        province_code: province.into(),
        commune_code: commune.into(),
        detail: String::new(),
        list_version: ADMIN_LIST_2025.into(),
    }
}

#[test]
fn the_example_record_is_clean() {
    assert_eq!(codes(&base()), vec![]);
}

#[test]
fn id_number_rules() {
    use Severity::*;
    expect("id_number.required", Error, |r| {
        r.applicant.id_number = None
    });
    expect("id_number.format", Error, |r| {
        r.applicant.id_number = Some("00105801234".into())
    });
    expect("id_number.format", Error, |r| {
        r.applicant.id_number = Some("00105801234X".into())
    });
    expect("id_number.province", Error, |r| {
        r.applicant.id_number = Some("003058012345".into())
    });
    expect("id_number.sex_mismatch", Warning, |r| {
        r.applicant.id_number = Some("001158012345".into())
    });
    expect("id_number.century_mismatch", Warning, |r| {
        r.applicant.id_number = Some("001258012345".into())
    });
    expect("id_number.year_mismatch", Warning, |r| {
        r.applicant.id_number = Some("001059012345".into())
    });
    expect("old_id_number.format", Error, |r| {
        r.applicant.old_id_number = Some("1234".into())
    });
}

#[test]
fn name_rules() {
    use Severity::*;
    expect("name.family.required", Error, |r| {
        r.applicant.name.family.clear()
    });
    expect("name.given.required", Error, |r| {
        r.applicant.name.given.clear()
    });
    expect("name.invalid_chars", Error, |r| {
        r.applicant.name.given = "Hoa2".into()
    });
    expect("name.invalid_chars", Error, |r| {
        r.applicant.other_name = Some("Tí@".into())
    });
    // Ethnic-minority names with apostrophes and hyphens are fine.
    let mut r = base();
    r.applicant.name = PersonName {
        family: "H'Điêu".into(),
        middle: String::new(),
        given: "Niê-Kdăm".into(),
    };
    assert_eq!(codes(&r), vec![]);
}

#[test]
fn birth_date_rules() {
    use Severity::*;
    expect("birth_date.invalid", Error, |r| {
        r.applicant.birth_date.month = Some(13)
    });
    expect("birth_date.invalid", Error, |r| {
        r.applicant.birth_date.month = Some(2);
        r.applicant.birth_date.day = Some(30);
    });
    expect("birth_date.invalid", Error, |r| {
        r.applicant.birth_date.month = None
    });
    expect("birth_date.future", Error, |r| {
        r.applicant.birth_date = PartialDate {
            year: 2027,
            month: None,
            day: None,
            provenance: DateProvenance::Declared,
        }
    });
    expect("birth_date.invented_new_year", Warning, |r| {
        r.applicant.birth_date = PartialDate {
            year: 1958,
            month: Some(1),
            day: Some(1),
            provenance: DateProvenance::Declared,
        };
    });
    expect("birth_date.very_old", Warning, |r| {
        r.applicant.birth_date = PartialDate {
            year: 1900,
            month: None,
            day: None,
            provenance: DateProvenance::Estimated,
        };
        r.applicant.id_number = Some("001000012345".into());
    });
    // A year-only date with provenance is valid: never invent 01/01.
    let mut r = base();
    r.applicant.birth_date = PartialDate {
        year: 1958,
        month: None,
        day: None,
        provenance: DateProvenance::Estimated,
    };
    assert_eq!(codes(&r), vec![]);
}

#[test]
fn coded_field_rules() {
    use Severity::*;
    expect("nationality.format", Error, |r| {
        r.applicant.nationality = "Viet Nam".into()
    });
    expect("ethnicity.unknown", Error, |r| {
        r.applicant.ethnicity = Some(Ethnicity {
            code: "99".into(),
            list: EthnicList::Qd121_1979,
        })
    });
    expect("ethnicity.required", Error, |r| {
        r.applicant.ethnicity = None
    });
    expect("religion.unknown", Error, |r| {
        r.applicant.religion = Some("77".into())
    });
    let mut r = base();
    r.applicant.religion = Some("01".into());
    r.applicant.ethnicity = Some(Ethnicity {
        code: "54".into(),
        list: EthnicList::Qd1019_2008,
    });
    assert_eq!(codes(&r), vec![]);
}

#[test]
fn address_rules() {
    use Severity::*;
    expect("address.province_unknown", Error, |r| {
        r.applicant.home_town = Some(addr("99", ""))
    });
    expect("address.province_required", Error, |r| {
        r.applicant.home_town = Some(addr("", ""))
    });
    expect("address.commune_unknown", Error, |r| {
        r.applicant.home_town = Some(addr("01", "99999"))
    });
    // Commune 00070 is in Hà Nội (01), not in province 79.
    expect("address.commune_province_mismatch", Error, |r| {
        r.applicant.home_town = Some(addr("79", "00070"))
    });
    expect("address.old_list", Warning, |r| {
        r.applicant.home_town = Some(Address {
            list_version: "2008".into(),
            ..addr("27", "09310")
        })
    });
    expect("residence.required", Error, |r| {
        r.applicant.permanent_residence = None;
        r.applicant.current_residence = None;
    });
    expect("home_town.required", Error, |r| {
        r.applicant.home_town = None
    });
    expect("birth_registration_place.required", Error, |r| {
        r.applicant.birth_registration_place = None
    });
    // A level-2 e-ID does not issue a card, so card addresses are not required.
    let mut r = base();
    r.application.kind = ApplicationKind::EidLevel2;
    r.applicant.home_town = None;
    assert_eq!(codes(&r), vec![]);
}

#[test]
fn application_rules() {
    use Severity::*;
    expect("application.exchange_reason.required", Error, |r| {
        r.application.kind = ApplicationKind::Exchange
    });
    expect(
        "application.exchange_reason.age_not_reached",
        Warning,
        |r| {
            r.application.kind = ApplicationKind::Exchange;
            r.application.exchange_reason = Some(ExchangeReason::Age40);
        },
    );
    expect("application.reason.required", Error, |r| {
        r.application.kind = ApplicationKind::Reissue
    });
    expect("application.reason.required", Error, |r| {
        r.application.kind = ApplicationKind::Correction
    });
    let mut r = base();
    r.application.kind = ApplicationKind::Exchange;
    r.application.exchange_reason = Some(ExchangeReason::Age60);
    assert_eq!(codes(&r), vec![]);
}

#[test]
fn contact_rules() {
    use Severity::*;
    expect("contact.phone.required", Error, |r| {
        r.application.kind = ApplicationKind::EidLevel2;
        r.contact.phone = None;
    });
    expect("contact.phone.format", Error, |r| {
        r.contact.phone = Some("12345".into())
    });
    expect("contact.email.format", Error, |r| {
        r.contact.email = Some("hoa@".into())
    });
    let mut r = base();
    r.contact.phone = Some("+84 912 345 678".into());
    r.contact.email = Some("hoa@example.vn".into());
    assert_eq!(codes(&r), vec![]);
}

#[test]
fn relative_rules() {
    use Severity::*;
    let child = |r: &mut Enrollment| {
        r.applicant.birth_date = PartialDate {
            year: 2016,
            month: Some(5),
            day: Some(2),
            provenance: DateProvenance::Documented,
        };
        r.applicant.id_number = Some("001216012345".into());
        r.biometrics.consent = Some(Consent {
            at: now(),
            given_by: ConsentBy::Representative,
        });
    };
    expect("representative.required", Error, child);
    expect("consent.by_representative", Error, |r| {
        child(r);
        r.relatives.representative = Some(Relative {
            name: "Nguyễn Văn Hoà".into(),
            id_number: None,
            nationality: None,
        });
        r.biometrics.consent = Some(Consent {
            at: now(),
            given_by: ConsentBy::Applicant,
        });
    });
    expect("relative.name.required", Error, |r| {
        r.relatives.father.as_mut().expect("father").name.clear()
    });
    expect("relative.id_number.format", Error, |r| {
        r.relatives.mother.as_mut().expect("mother").id_number = Some("123".into())
    });
    expect("household_head.relation.required", Error, |r| {
        r.relatives
            .household_head
            .as_mut()
            .expect("head")
            .relation
            .clear()
    });
    let mut r = base();
    child(&mut r);
    r.relatives.representative = Some(Relative {
        name: "Nguyễn Văn Hoà".into(),
        id_number: Some("001058012345".into()),
        nationality: None,
    });
    assert_eq!(codes(&r), vec![]);
}

#[test]
fn biometric_rules() {
    use Severity::*;
    expect("biometrics.photo.required", Error, |r| {
        r.biometrics.photo = None
    });
    expect("biometrics.finger_missing", Error, |r| {
        r.biometrics.fingers.pop();
    });
    expect("biometrics.finger_repeated", Error, |r| {
        let first = r.biometrics.fingers[0].clone();
        r.biometrics.fingers.push(first);
    });
    expect("biometrics.finger_forced", Warning, |r| {
        if let FingerOutcome::Captured { force_captured, .. } = &mut r.biometrics.fingers[2].outcome
        {
            *force_captured = true;
        }
    });
    expect("biometrics.finger_exception", Warning, |r| {
        r.biometrics.fingers[9].outcome = FingerOutcome::Exception {
            reason: ExceptionReason::Amputated,
            permanent: true,
            note: None,
            proof_photo_sha256: None,
        };
    });
    expect("biometrics.hash_format", Error, |r| {
        r.biometrics.photo.as_mut().expect("photo").sha256 = "abc".into()
    });
    expect("consent.required", Error, |r| r.biometrics.consent = None);
    // A draft may be incomplete; a child under 6 gives no biometrics.
    let mut r = base();
    r.review.status = RecordStatus::Draft;
    r.biometrics = Biometrics::default();
    assert_eq!(codes(&r), vec![]);
    let mut r = base();
    r.applicant.birth_date = PartialDate {
        year: 2023,
        month: Some(1),
        day: Some(9),
        provenance: DateProvenance::Documented,
    };
    r.applicant.id_number = Some("001223012345".into());
    r.relatives.representative = Some(Relative {
        name: "Nguyễn Văn Hoà".into(),
        id_number: None,
        nationality: None,
    });
    r.biometrics = Biometrics {
        consent: Some(Consent {
            at: now(),
            given_by: ConsentBy::Representative,
        }),
        ..Biometrics::default()
    };
    assert_eq!(codes(&r), vec![]);
}

#[test]
fn time_rules() {
    use Severity::*;
    expect("time.future", Error, |r| {
        r.capture.captured_at = Some(now() + chrono::Duration::days(1))
    });
    expect("gps.range", Error, |r| {
        r.capture.gps = Some(Gps {
            lat: 91.0,
            lon: 0.0,
        })
    });
}

#[test]
fn acknowledged_warnings_stop_blocking() {
    let mut r = base();
    r.applicant.id_number = Some("001158012345".into());
    let findings = validate(&r, now());
    assert_eq!(blocking(&r, &findings).len(), 1);
    r.review.acknowledged.push(Acknowledgement {
        code: "id_number.sex_mismatch".into(),
        path: "applicant.id_number".into(),
        by: "op-1".into(),
        at: now(),
    });
    assert!(blocking(&r, &findings).is_empty());
}

#[test]
fn normalize_record_cleans_free_text() {
    let mut r = base();
    r.applicant.name.family = " Nguye\u{0302}\u{0303}n ".into();
    r.applicant.old_id_number = Some("  ".into());
    r.applicant.nationality = "vn".into();
    normalize_record(&mut r);
    assert_eq!(r.applicant.name.family, "Nguyễn");
    assert_eq!(r.applicant.old_id_number, None);
    assert_eq!(r.applicant.nationality, "VN");
}
