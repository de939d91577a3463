//! Rules on the application, the ID number, dates, coded fields, addresses, contact and biometrics.

use chrono::{DateTime, Datelike, Duration, Utc};

use super::Findings;
use crate::idnumber::{self, IdNumberError};
use crate::record::{
    Address, ApplicationKind, ConsentBy, DateProvenance, Enrollment, Finger, FingerOutcome,
    ADMIN_LIST_2025,
};
use crate::refdata::refdata;

/// Clocks on kiosks drift; a timestamp this far ahead is still accepted.
const CLOCK_SKEW: i64 = 10;
/// Below this age no face or finger biometrics are collected (Identification Law 2023, art. 23).
const BIOMETRICS_FROM_AGE: i32 = 6;

pub(super) fn check(r: &Enrollment, now: DateTime<Utc>, out: &mut Findings) {
    application(r, now, out);
    id_numbers(r, out);
    birth_date(r, now, out);
    coded_fields(r, out);
    addresses(r, out);
    contact(r, out);
    biometrics(r, now, out);
    timestamps(r, now, out);
}

/// Kinds that issue a physical card and so need the card's full data set.
fn issues_card(kind: ApplicationKind) -> bool {
    matches!(
        kind,
        ApplicationKind::NewCard | ApplicationKind::Exchange | ApplicationKind::Reissue
    )
}

pub(super) fn age(r: &Enrollment, now: DateTime<Utc>) -> Option<i32> {
    r.applicant.birth_date.age_on(now.date_naive())
}

fn application(r: &Enrollment, now: DateTime<Utc>, out: &mut Findings) {
    let a = &r.application;
    match a.kind {
        ApplicationKind::Exchange => match a.exchange_reason {
            None => out.error(
                "application.exchange_reason",
                "application.exchange_reason.required",
                "Cấp đổi: hãy chọn lý do đổi thẻ (đủ tuổi 14/25/40/60, thẻ hỏng, thay đổi thông tin).",
                "Card exchange: choose why (age 14/25/40/60, damaged card, changed details).",
            ),
            Some(reason) => {
                if let (Some(milestone), Some(age)) = (reason.milestone_age(), age(r, now)) {
                    // The exchange is allowed from two years before a milestone until the next one.
                    let due = [14, 25, 40, 60].into_iter().filter(|m| m - 2 <= age).max();
                    if due != Some(milestone) {
                        out.warning(
                            "application.exchange_reason",
                            "application.exchange_reason.age_not_reached",
                            format!("Lý do đổi thẻ là tuổi {milestone}, nhưng người làm thủ tục mới {age} tuổi."),
                            format!("The exchange reason is age {milestone}, but the applicant is {age}."),
                        );
                    }
                }
            }
        },
        ApplicationKind::Reissue | ApplicationKind::Correction => {
            if a.reason.as_deref().is_none_or(str::is_empty) {
                let (vi, en) = if a.kind == ApplicationKind::Reissue {
                    ("Cấp lại: hãy ghi lý do (ví dụ: mất thẻ).", "Re-issue: enter the reason (e.g. card lost).")
                } else {
                    ("Điều chỉnh thông tin: hãy ghi thông tin cần điều chỉnh.", "Data correction: enter what must be corrected.")
                };
                out.error("application.reason", "application.reason.required", vi, en);
            }
        }
        ApplicationKind::NewCard | ApplicationKind::EidLevel2 => {}
    }
}

fn id_numbers(r: &Enrollment, out: &mut Findings) {
    let a = &r.applicant;
    let path = "applicant.id_number";
    match a.id_number.as_deref() {
        None => out.error(
            path,
            "id_number.required",
            "Hãy nhập số định danh cá nhân (12 chữ số).",
            "Enter the personal ID number (12 digits).",
        ),
        Some(s) => match idnumber::parse(s) {
            Err(IdNumberError::Format) => out.error(
                path,
                "id_number.format",
                "Số định danh cá nhân phải gồm đúng 12 chữ số.",
                "The personal ID number must be exactly 12 digits.",
            ),
            Err(IdNumberError::UnknownProvince(p)) => out.error(
                path,
                "id_number.province",
                format!("Số định danh cá nhân: mã tỉnh nơi đăng ký khai sinh {p} không tồn tại."),
                format!("Personal ID number: {p} is not a birth-registration province code."),
            ),
            Ok(id) => {
                if id.sex != a.sex {
                    let (vi, en) = a.sex.label();
                    out.warning(
                        path,
                        "id_number.sex_mismatch",
                        format!("Chữ số thứ 4 của số định danh không khớp giới tính đã khai ({vi}). Hãy kiểm tra lại."),
                        format!("The 4th digit of the ID number does not match the declared sex ({en}). Please check."),
                    );
                }
                let year = a.birth_date.year;
                if id.birth_year / 100 != year / 100 {
                    out.warning(
                        path,
                        "id_number.century_mismatch",
                        format!("Số định danh ghi thế kỷ sinh khác với năm sinh {year}. Hãy kiểm tra lại."),
                        format!("The ID number encodes a different century from the birth year {year}. Please check."),
                    );
                } else if id.birth_year != year {
                    out.warning(
                        path,
                        "id_number.year_mismatch",
                        format!("Chữ số 5–6 của số định danh không khớp năm sinh {year}. Hãy kiểm tra lại."),
                        format!("Digits 5–6 of the ID number do not match the birth year {year}. Please check."),
                    );
                }
            }
        },
    }
    if let Some(old) = a.old_id_number.as_deref() {
        if old.len() != 9 || !old.bytes().all(|b| b.is_ascii_digit()) {
            out.error(
                "applicant.old_id_number",
                "old_id_number.format",
                "Số CMND cũ phải gồm đúng 9 chữ số.",
                "The old identity card (CMND) number must be exactly 9 digits.",
            );
        }
    }
}

fn birth_date(r: &Enrollment, now: DateTime<Utc>, out: &mut Findings) {
    let d = &r.applicant.birth_date;
    let path = "applicant.birth_date";
    let valid_month = d.month.is_none_or(|m| (1..=12).contains(&m));
    let day_ok = match (d.day, d.month) {
        (Some(_), None) => false,
        (Some(_), Some(_)) => d.earliest().is_some(),
        _ => true,
    };
    if d.year < 1880 || !valid_month || !day_ok {
        out.error(
            path,
            "birth_date.invalid",
            "Ngày sinh không hợp lệ. Có thể chỉ nhập năm, hoặc tháng và năm, nếu không rõ ngày.",
            "The date of birth is not a real date. Enter only the year, or month and year, when the day is unknown.",
        );
        return;
    }
    let Some(earliest) = d.earliest() else { return };
    if earliest > now.date_naive() {
        out.error(
            path,
            "birth_date.future",
            "Ngày sinh không thể ở tương lai.",
            "The date of birth cannot be in the future.",
        );
        return;
    }
    if d.day == Some(1) && d.month == Some(1) && d.provenance != DateProvenance::Documented {
        out.warning(
            path,
            "birth_date.invented_new_year",
            "Ngày sinh 01/01 không có giấy tờ chứng minh: nếu chỉ biết năm sinh, hãy chỉ nhập năm.",
            "Born 01/01 without a document: if only the year is known, enter only the year.",
        );
    }
    if now.year() - d.year > 120 {
        out.warning(
            path,
            "birth_date.very_old",
            "Người làm thủ tục hơn 120 tuổi. Hãy kiểm tra năm sinh.",
            "The applicant would be over 120 years old. Please check the birth year.",
        );
    }
}

fn coded_fields(r: &Enrollment, out: &mut Findings) {
    let a = &r.applicant;
    let data = refdata();
    let n = &a.nationality;
    if n.len() != 2 || !n.bytes().all(|b| b.is_ascii_uppercase()) {
        out.error(
            "applicant.nationality",
            "nationality.format",
            "Quốc tịch phải là mã quốc gia 2 chữ cái (VN cho Việt Nam).",
            "Nationality must be a 2-letter country code (VN for Viet Nam).",
        );
    }
    let card = issues_card(r.application.kind);
    match &a.ethnicity {
        Some(e) if !data.ethnic_groups(e.list).iter().any(|g| g.code == e.code) => out.error(
            "applicant.ethnicity",
            "ethnicity.unknown",
            format!("Mã dân tộc {} không có trong danh mục đã chọn.", e.code),
            format!(
                "Ethnic group code {} is not in the chosen code list.",
                e.code
            ),
        ),
        None if card && a.nationality == "VN" => out.error(
            "applicant.ethnicity",
            "ethnicity.required",
            "Hãy chọn dân tộc.",
            "Choose the ethnic group.",
        ),
        _ => {}
    }
    match a.religion.as_deref() {
        Some("none") | None => {}
        Some(code) if data.religion(code).is_none() => out.error(
            "applicant.religion",
            "religion.unknown",
            format!("Mã tôn giáo {code} không có trong danh mục."),
            format!("Religion code {code} is not in the code list."),
        ),
        Some(_) => {}
    }
}

fn addresses(r: &Enrollment, out: &mut Findings) {
    let a = &r.applicant;
    let fields: [(&str, &Option<Address>, &str, &str); 6] = [
        (
            "applicant.birth_place",
            &a.birth_place,
            "Nơi sinh",
            "Place of birth",
        ),
        (
            "applicant.birth_registration_place",
            &a.birth_registration_place,
            "Nơi đăng ký khai sinh",
            "Place of birth registration",
        ),
        ("applicant.home_town", &a.home_town, "Quê quán", "Home town"),
        (
            "applicant.permanent_residence",
            &a.permanent_residence,
            "Nơi thường trú",
            "Permanent residence",
        ),
        (
            "applicant.temporary_residence",
            &a.temporary_residence,
            "Nơi tạm trú",
            "Temporary residence",
        ),
        (
            "applicant.current_residence",
            &a.current_residence,
            "Nơi ở hiện tại",
            "Current residence",
        ),
    ];
    for (path, addr, vi, en) in fields {
        if let Some(addr) = addr {
            address(path, addr, vi, en, out);
        }
    }
    if issues_card(r.application.kind) {
        if a.permanent_residence.is_none() && a.current_residence.is_none() {
            out.error(
                "applicant.permanent_residence",
                "residence.required",
                "Hãy nhập nơi thường trú, hoặc nơi ở hiện tại nếu không có nơi thường trú.",
                "Enter the permanent residence, or the current residence if there is none.",
            );
        }
        if a.home_town.is_none() {
            out.error(
                "applicant.home_town",
                "home_town.required",
                "Hãy nhập quê quán.",
                "Enter the home town.",
            );
        }
        if a.birth_registration_place.is_none() {
            out.error(
                "applicant.birth_registration_place",
                "birth_registration_place.required",
                "Hãy nhập nơi đăng ký khai sinh.",
                "Enter the place of birth registration.",
            );
        }
    }
}

fn address(path: &str, addr: &Address, vi: &str, en: &str, out: &mut Findings) {
    if addr.list_version != ADMIN_LIST_2025 {
        out.warning(
            path,
            "address.old_list",
            format!("{vi}: mã địa chỉ theo danh mục cũ ({}); không kiểm tra được. Nên chọn lại theo danh mục 2025.", addr.list_version),
            format!("{en}: codes from an older list ({}) cannot be checked. Prefer picking again from the 2025 list.", addr.list_version),
        );
        return;
    }
    if addr.province_code.trim().is_empty() {
        out.error(
            path,
            "address.province_required",
            format!("{vi}: hãy chọn tỉnh/thành phố."),
            format!("{en}: choose the province."),
        );
        return;
    }
    let data = refdata();
    if data.province(&addr.province_code).is_none() {
        out.error(
            path,
            "address.province_unknown",
            format!(
                "{vi}: mã tỉnh/thành phố {} không tồn tại.",
                addr.province_code
            ),
            format!("{en}: province code {} does not exist.", addr.province_code),
        );
        return;
    }
    if addr.commune_code.is_empty() {
        return;
    }
    match data.commune(&addr.commune_code) {
        None => out.error(
            path,
            "address.commune_unknown",
            format!("{vi}: mã xã/phường {} không tồn tại.", addr.commune_code),
            format!("{en}: commune code {} does not exist.", addr.commune_code),
        ),
        Some(c) if c.province_code != addr.province_code => out.error(
            path,
            "address.commune_province_mismatch",
            format!("{vi}: {} không thuộc tỉnh/thành phố đã chọn.", c.name),
            format!("{en}: {} is not in the chosen province.", c.name),
        ),
        Some(_) => {}
    }
}

fn contact(r: &Enrollment, out: &mut Findings) {
    let c = &r.contact;
    match c.phone.as_deref() {
        None | Some("") if r.application.kind == ApplicationKind::EidLevel2 => out.error(
            "contact.phone",
            "contact.phone.required",
            "Định danh điện tử mức 2 cần số điện thoại di động.",
            "A level-2 electronic ID needs a mobile phone number.",
        ),
        Some(p) if !p.is_empty() && !phone_ok(p) => out.error(
            "contact.phone",
            "contact.phone.format",
            "Số điện thoại phải có 10 chữ số bắt đầu bằng 0 (hoặc +84 và 9 chữ số).",
            "The phone number must be 10 digits starting with 0 (or +84 and 9 digits).",
        ),
        _ => {}
    }
    if let Some(e) = c.email.as_deref().filter(|e| !e.is_empty()) {
        let ok = e.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty() && host.contains('.') && !host.starts_with('.') && !host.ends_with('.')
        }) && !e.contains(char::is_whitespace);
        if !ok {
            out.error(
                "contact.email",
                "contact.email.format",
                "Địa chỉ thư điện tử không hợp lệ (ví dụ: ten@example.vn).",
                "The email address is not valid (e.g. name@example.vn).",
            );
        }
    }
}

fn phone_ok(p: &str) -> bool {
    let digits: String = p
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-'))
        .collect();
    let rest = if let Some(r) = digits.strip_prefix("+84") {
        r
    } else if let Some(r) = digits.strip_prefix('0') {
        r
    } else {
        return false;
    };
    rest.len() == 9 && rest.bytes().all(|b| b.is_ascii_digit())
}

fn biometrics(r: &Enrollment, now: DateTime<Utc>, out: &mut Findings) {
    let b = &r.biometrics;
    let hashes = b
        .photo
        .iter()
        .map(|p| ("biometrics.photo", p.sha256.as_str()))
        .chain(b.fingers.iter().flat_map(|f| {
            match &f.outcome {
                FingerOutcome::Captured {
                    image_sha256,
                    template_sha256,
                    ..
                } => {
                    vec![
                        ("biometrics.fingers", image_sha256.as_str()),
                        ("biometrics.fingers", template_sha256.as_str()),
                    ]
                }
                FingerOutcome::Exception {
                    proof_photo_sha256, ..
                } => proof_photo_sha256
                    .iter()
                    .map(|h| ("biometrics.fingers", h.as_str()))
                    .collect(),
            }
        }));
    for (path, h) in hashes {
        if h.len() != 64 || !h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
            out.error(
                path,
                "biometrics.hash_format",
                "Tham chiếu ảnh/vân tay hỏng (không phải mã SHA-256).",
                "A photo or fingerprint reference is broken (not a SHA-256 hash).",
            );
        }
    }
    for finger in Finger::ORDER {
        let entries = b.fingers.iter().filter(|f| f.finger == finger).count();
        let (vi, en) = finger.label();
        if entries > 1 {
            out.error(
                "biometrics.fingers",
                "biometrics.finger_repeated",
                format!("{vi} được ghi nhận nhiều lần."),
                format!("{en} is recorded more than once."),
            );
        }
    }
    for f in &b.fingers {
        let (vi, en) = f.finger.label();
        match &f.outcome {
            FingerOutcome::Captured {
                force_captured: true,
                ..
            } => out.warning(
                "biometrics.fingers",
                "biometrics.finger_forced",
                format!("{vi}: chất lượng chưa đạt, đã giữ lần lấy tốt nhất."),
                format!("{en}: quality below threshold; the best attempt was kept."),
            ),
            FingerOutcome::Exception { .. } => out.warning(
                "biometrics.fingers",
                "biometrics.finger_exception",
                format!("{vi}: không lấy được vân tay (ngoại lệ) — cần giám sát viên duyệt."),
                format!("{en}: not captured (exception) — a supervisor must approve."),
            ),
            _ => {}
        }
    }
    if !r.review.status.is_sealed() {
        return;
    }
    let needs_biometrics = age(r, now).is_none_or(|a| a >= BIOMETRICS_FROM_AGE);
    if needs_biometrics && b.photo.is_none() {
        out.error(
            "biometrics.photo",
            "biometrics.photo.required",
            "Chưa chụp ảnh chân dung.",
            "The face photo has not been taken.",
        );
    }
    if needs_biometrics {
        for finger in Finger::ORDER {
            if !b.fingers.iter().any(|f| f.finger == finger) {
                let (vi, en) = finger.label();
                out.error(
                    "biometrics.fingers",
                    "biometrics.finger_missing",
                    format!("{vi}: chưa lấy vân tay và chưa ghi ngoại lệ."),
                    format!("{en}: neither captured nor recorded as an exception."),
                );
            }
        }
    }
    match &b.consent {
        None => out.error(
            "biometrics.consent",
            "consent.required",
            "Chưa có xác nhận đồng ý của người làm thủ tục.",
            "The applicant's consent has not been recorded.",
        ),
        Some(c) if c.given_by == ConsentBy::Applicant && age(r, now).is_some_and(|a| a < 14) => out
            .error(
                "biometrics.consent",
                "consent.by_representative",
                "Người dưới 14 tuổi: người đại diện hợp pháp phải xác nhận.",
                "Under 14: the legal representative must give consent.",
            ),
        Some(_) => {}
    }
}

fn timestamps(r: &Enrollment, now: DateTime<Utc>, out: &mut Findings) {
    let limit = now + Duration::minutes(CLOCK_SKEW);
    let stamps = [
        ("capture.started_at", r.capture.started_at),
        ("capture.captured_at", r.capture.captured_at),
        (
            "biometrics.consent",
            r.biometrics.consent.as_ref().map(|c| c.at),
        ),
    ];
    for (path, at) in stamps {
        if at.is_some_and(|t| t > limit) {
            out.error(
                path,
                "time.future",
                "Thời điểm ghi nhận ở tương lai: hãy kiểm tra đồng hồ của máy.",
                "A recorded time is in the future: check the kiosk's clock.",
            );
        }
    }
    if let Some(g) = &r.capture.gps {
        if !(-90.0..=90.0).contains(&g.lat) || !(-180.0..=180.0).contains(&g.lon) {
            out.error(
                "capture.gps",
                "gps.range",
                "Toạ độ GPS không hợp lệ.",
                "The GPS position is not valid.",
            );
        }
    }
}
