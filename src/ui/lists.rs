//! Labels, choice lists and the rows the pages show, built from records and reference data.

use chrono::{DateTime, FixedOffset, Utc};
use enroll_sync::record::*;
use enroll_sync::refdata::refdata;
use enroll_sync::text::{card_upper, search_key};

use super::form::Form;
use super::{s, Choice, FingerSlot, Line, RecordRow};
use crate::store::{RecordSummary, Store};

type Labelled = (&'static str, (&'static str, &'static str));

pub const STEP_LABELS: [(&str, &str); 10] = [
    ("Thủ tục", "Application"),
    ("Số định danh", "ID number"),
    ("Cá nhân", "Personal"),
    ("Địa chỉ", "Addresses"),
    ("Người thân", "Relatives"),
    ("Ảnh", "Photo"),
    ("Vân tay", "Fingers"),
    ("Người dân xem", "Resident review"),
    ("Đồng ý", "Consent"),
    ("Biên nhận", "Receipt"),
];

pub fn kinds() -> Vec<Labelled> {
    ApplicationKind::ALL
        .iter()
        .map(|k| {
            let code = match k {
                ApplicationKind::NewCard => "new_card",
                ApplicationKind::Exchange => "exchange",
                ApplicationKind::Reissue => "reissue",
                ApplicationKind::EidLevel2 => "eid_level2",
                ApplicationKind::Correction => "correction",
            };
            (code, k.label())
        })
        .collect()
}

pub const EXCHANGE_REASONS: &[Labelled] = &[
    ("age14", ("Đủ 14 tuổi", "Age 14")),
    ("age25", ("Đủ 25 tuổi", "Age 25")),
    ("age40", ("Đủ 40 tuổi", "Age 40")),
    ("age60", ("Đủ 60 tuổi", "Age 60")),
    ("damaged", ("Thẻ hỏng", "Damaged card")),
    ("details_changed", ("Thay đổi thông tin", "Changed details")),
];
pub const SEXES: &[Labelled] = &[("male", ("Nam", "Male")), ("female", ("Nữ", "Female"))];
pub const PROVENANCES: &[Labelled] = &[
    ("documented", ("Giấy tờ", "Documents")),
    ("declared", ("Lời khai", "Declared")),
    ("estimated", ("Ước tính", "Estimated")),
];
pub const MARITAL: &[Labelled] = &[
    ("single", ("Chưa kết hôn", "Single")),
    ("married", ("Đã kết hôn", "Married")),
    ("divorced", ("Đã ly hôn", "Divorced")),
    ("widowed", ("Goá", "Widowed")),
];
pub const BLOOD_TYPES: &[Labelled] = &[
    ("A+", ("A+", "A+")),
    ("A-", ("A−", "A−")),
    ("B+", ("B+", "B+")),
    ("B-", ("B−", "B−")),
    ("AB+", ("AB+", "AB+")),
    ("AB-", ("AB−", "AB−")),
    ("O+", ("O+", "O+")),
    ("O-", ("O−", "O−")),
    ("", ("Không rõ", "Unknown")),
];
pub const CONSENT: &[Labelled] = &[
    ("applicant", ("Người làm thủ tục", "The applicant")),
    ("representative", ("Người đại diện", "The representative")),
];
pub const EXCEPTION_REASONS: &[Labelled] = &[
    ("missing", ("Không có ngón", "Missing")),
    ("amputated", ("Bị cắt cụt", "Amputated")),
    ("bandaged", ("Đang băng bó", "Bandaged")),
    ("unreadable", ("Vân tay mờ, không đọc được", "Unreadable")),
];

fn l(p: (&str, &str), lang: &str) -> String {
    if lang == "en" { p.1 } else { p.0 }.to_owned()
}

fn label_of(list: &[Labelled], code: &str, lang: &str) -> String {
    list.iter()
        .find(|(c, _)| *c == code)
        .map(|(_, p)| l(*p, lang))
        .unwrap_or_else(|| code.to_owned())
}

fn status_label(code: &str, lang: &str) -> String {
    RecordStatus::parse(code)
        .map(|st| l(st.label(), lang))
        .unwrap_or_else(|| code.to_owned())
}

pub fn record_rows(rows: &[RecordSummary], lang: &str) -> Vec<RecordRow> {
    rows.iter()
        .map(|r| RecordRow {
            id: s(&r.id),
            title: s(card_upper(&r.full_name)),
            subtitle: s(format!(
                "{} · {} · {}",
                if r.enrollment_no.is_empty() {
                    "—"
                } else {
                    &r.enrollment_no
                },
                r.id_number.as_deref().unwrap_or("—"),
                iso_date_display(&r.birth_date)
            )),
            status: s(status_label(&r.status, lang)),
        })
        .collect()
}

/// `1958-03-14` (or `1958-03-00`, `1958-00-00`) as the screen shows dates: `14/03/1958`,
/// `03/1958`, `1958`.
pub fn iso_date_display(iso: &str) -> String {
    let parts: Vec<&str> = iso.split('-').collect();
    match parts.as_slice() {
        [y, m, d] if *d != "00" && *m != "00" => format!("{d}/{m}/{y}"),
        [y, m, ..] if *m != "00" => format!("{m}/{y}"),
        [y, ..] => (*y).to_owned(),
        _ => iso.to_owned(),
    }
}

/// A moment as the screen shows it: the kiosk's own time zone, `dd/mm/yyyy hh:mm`.
pub fn local_time(at: DateTime<Utc>, tz: FixedOffset) -> String {
    at.with_timezone(&tz).format("%d/%m/%Y %H:%M").to_string()
}

fn address_text(a: &Option<Address>) -> String {
    let Some(a) = a else { return String::new() };
    let data = refdata();
    [
        a.detail.clone(),
        data.commune(&a.commune_code)
            .map(|c| c.name.clone())
            .unwrap_or_default(),
        data.province(&a.province_code)
            .map(|p| p.name.clone())
            .unwrap_or_default(),
    ]
    .into_iter()
    .filter(|p| !p.is_empty())
    .collect::<Vec<_>>()
    .join(", ")
}

fn line(label: (&str, &str), value: String, lang: &str) -> Line {
    Line {
        label: s(l(label, lang)),
        value: s(value),
    }
}

/// What the resident checks, one fact per line: everything the card and its chip will carry.
pub fn resident_lines(form: &Form, lang: &str) -> Vec<Line> {
    let (rec, _) = form.to_record(Utc::now());
    card_lines(&rec, form.get("applicant.birth_date"), lang)
}

/// The card's facts of a record; `birth_date` as typed (a draft) or as stored.
fn card_lines(rec: &Enrollment, birth_date: &str, lang: &str) -> Vec<Line> {
    let a = &rec.applicant;
    let none = || l(("Chưa có", "None"), lang);
    let ethnicity = a
        .ethnicity
        .as_ref()
        .and_then(|e| {
            refdata()
                .ethnic_groups(e.list)
                .iter()
                .find(|g| g.code == e.code)
                .map(|g| g.name.clone())
        })
        .unwrap_or_else(none);
    let religion = match a.religion.as_deref() {
        None => none(),
        Some("none") => l(("Không", "None"), lang),
        Some(code) => refdata()
            .religion(code)
            .map(|r| r.name.clone())
            .unwrap_or_else(|| code.to_owned()),
    };
    let mut out = vec![
        line(("Họ và tên", "Full name"), card_upper(&a.name.full()), lang),
        line(
            ("Số định danh cá nhân", "Personal ID number"),
            a.id_number.clone().unwrap_or_else(none),
            lang,
        ),
        line(("Ngày sinh", "Date of birth"), birth_date.to_owned(), lang),
        line(("Giới tính", "Sex"), l(a.sex.label(), lang), lang),
        line(("Quốc tịch", "Nationality"), a.nationality.clone(), lang),
        line(("Dân tộc", "Ethnicity"), ethnicity, lang),
        line(("Tôn giáo", "Religion"), religion, lang),
        line(("Quê quán", "Home town"), address_text(&a.home_town), lang),
        line(
            ("Nơi đăng ký khai sinh", "Birth registered in"),
            address_text(&a.birth_registration_place),
            lang,
        ),
        line(
            ("Nơi thường trú", "Permanent residence"),
            address_text(&a.permanent_residence),
            lang,
        ),
        line(
            ("Nơi ở hiện tại", "Current residence"),
            address_text(&a.current_residence),
            lang,
        ),
    ];
    if a.temporary_residence.is_some() {
        out.push(line(
            ("Nơi tạm trú", "Temporary residence"),
            address_text(&a.temporary_residence),
            lang,
        ));
    }
    if let Some(b) = a.blood_type {
        let code = serde_json::to_value(b)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        out.push(line(("Nhóm máu", "Blood type"), code, lang));
    }
    let r = &rec.relatives;
    for (label, rel) in [
        (("Họ tên cha", "Father"), &r.father),
        (("Họ tên mẹ", "Mother"), &r.mother),
        (("Họ tên vợ hoặc chồng", "Spouse"), &r.spouse),
        (("Người đại diện", "Representative"), &r.representative),
    ] {
        if let Some(rel) = rel {
            let id = rel
                .id_number
                .as_deref()
                .map(|n| format!(" — {n}"))
                .unwrap_or_default();
            out.push(line(label, format!("{}{id}", card_upper(&rel.name)), lang));
        }
    }
    if let Some(p) = &rec.contact.phone {
        out.push(line(("Số điện thoại", "Phone"), p.clone(), lang));
    }
    out
}

/// Whether a form has enough for the resident to confirm: a name, a date of birth, a sex
/// and a permanent residence. An empty review must never be confirmed.
pub fn ready_for_review(form: &Form) -> bool {
    let filled = |k: &str| !form.get(k).trim().is_empty();
    (filled("applicant.name.family") || filled("applicant.name.given"))
        && filled("applicant.birth_date")
        && filled("applicant.sex")
        && filled("applicant.permanent_residence.province")
}

/// The supervisor's view of a record: the card's facts, the application, the capture.
/// `operator` is the capturing operator's display name.
pub fn detail_lines(rec: &Enrollment, operator: &str, lang: &str) -> Vec<Line> {
    let mut out = vec![line(
        ("Thủ tục", "Application"),
        l(rec.application.kind.label(), lang),
        lang,
    )];
    out.extend(card_lines(rec, &rec.applicant.birth_date.display(), lang));
    out.push(line(
        ("Trạng thái", "Status"),
        l(rec.review.status.label(), lang),
        lang,
    ));
    out.push(line(
        ("Cán bộ thu nhận", "Captured by"),
        operator.to_owned(),
        lang,
    ));
    out
}

/// One line per finger for the supervisor: quality, attempts, or the exception and why.
pub fn finger_lines(rec: &Enrollment, lang: &str) -> Vec<Line> {
    Finger::ORDER
        .iter()
        .map(|f| {
            let value = match rec.biometrics.fingers.iter().find(|r| r.finger == *f) {
                None => l(("chưa lấy", "not taken"), lang),
                Some(FingerRecord {
                    outcome:
                        FingerOutcome::Captured {
                            quality,
                            attempts,
                            force_captured,
                            ..
                        },
                    ..
                }) => {
                    let forced = if *force_captured {
                        l(
                            (
                                " — chất lượng thấp, đã chấp nhận",
                                " — low quality, accepted",
                            ),
                            lang,
                        )
                    } else {
                        String::new()
                    };
                    match lang {
                        "en" => format!("quality {quality}, {attempts} attempt(s){forced}"),
                        _ => format!("chất lượng {quality}, {attempts} lần{forced}"),
                    }
                }
                Some(FingerRecord {
                    outcome:
                        FingerOutcome::Exception {
                            reason, permanent, ..
                        },
                    ..
                }) => {
                    let code = serde_json::to_value(reason)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    let why = label_of(EXCEPTION_REASONS, &code, lang);
                    let how = if *permanent {
                        l(("vĩnh viễn", "permanent"), lang)
                    } else {
                        l(("tạm thời", "temporary"), lang)
                    };
                    format!("{} — {why} ({how})", l(("ngoại lệ", "exception"), lang))
                }
            };
            line(f.label(), value, lang)
        })
        .collect()
}

/// `name` turns a sign-in name into the person's display name.
pub fn history_lines(
    rec: &Enrollment,
    lang: &str,
    tz: FixedOffset,
    name: &dyn Fn(&str) -> String,
) -> Vec<Line> {
    rec.review
        .history
        .iter()
        .map(|e| Line {
            label: s(local_time(e.at, tz)),
            value: s(format!(
                "{} ({}, {})",
                match e.action {
                    ReviewAction::Created => l(("Tạo hồ sơ", "Created"), lang),
                    ReviewAction::Edited => l(("Sửa", "Edited"), lang),
                    ReviewAction::Sealed => l(("Hoàn tất", "Sealed"), lang),
                    ReviewAction::Approved => l(("Duyệt", "Approved"), lang),
                    ReviewAction::Returned => l(("Trả lại", "Returned"), lang),
                    ReviewAction::Synced => l(("Đã gửi", "Synced"), lang),
                    ReviewAction::HqStatus => l(("Trung tâm báo", "HQ status"), lang),
                },
                name(&e.by),
                e.device
            )),
        })
        .collect()
}

pub fn hq_line(rec: &Enrollment, lang: &str) -> String {
    match &rec.review.hq {
        Some(h) => format!(
            "{}: {}",
            l(("Trung tâm", "HQ"), lang),
            l(h.status.label(), lang)
        ),
        None => l(
            (
                "Trung tâm chưa nhận hồ sơ này.",
                "HQ has not received this record yet.",
            ),
            lang,
        ),
    }
}

pub fn finger_slots(form: &Form, current: usize, lang: &str) -> Vec<FingerSlot> {
    Finger::ORDER
        .iter()
        .enumerate()
        .map(|(i, &f)| {
            let (state, quality, attempts) = match form.finger(f).map(|r| &r.outcome) {
                None => ("todo", 0, 0),
                Some(FingerOutcome::Captured {
                    quality,
                    attempts,
                    force_captured,
                    ..
                }) => (
                    if *force_captured {
                        "forced"
                    } else {
                        "captured"
                    },
                    i32::from(*quality),
                    i32::from(*attempts),
                ),
                Some(FingerOutcome::Exception { .. }) => ("exception", 0, 0),
            };
            FingerSlot {
                label: s(l(f.label(), lang)),
                state: s(state),
                quality,
                attempts,
                current: i == current,
            }
        })
        .collect()
}

pub fn picker_title(key: &str, en: bool) -> String {
    let p = if key.ends_with(".province") {
        ("Chọn tỉnh, thành phố", "Choose the province")
    } else if key.ends_with(".commune") {
        ("Chọn xã, phường", "Choose the commune")
    } else if key == "applicant.ethnicity" {
        ("Chọn dân tộc", "Choose the ethnic group")
    } else {
        ("Chọn tôn giáo", "Choose the religion")
    };
    if en { p.1 } else { p.0 }.to_owned()
}

/// The picker's rows for `key`, filtered by `query` ignoring accents and đ/d.
pub fn picker_items(key: &str, form: &Form, query: &str, lang: &str) -> Vec<Choice> {
    let data = refdata();
    let q = search_key(query);
    let mut items: Vec<(String, String)> = if key.ends_with(".province") {
        data.provinces
            .iter()
            .map(|p| (p.code.clone(), p.name.clone()))
            .collect()
    } else if key.ends_with(".commune") {
        let province = form.get(&key.replace(".commune", ".province")).to_owned();
        data.communes_of(&province)
            .map(|c| (c.code.clone(), c.name.clone()))
            .collect()
    } else if key == "applicant.ethnicity" {
        data.ethnic_groups(EthnicList::Qd121_1979)
            .iter()
            .map(|e| (e.code.clone(), e.name.clone()))
            .collect()
    } else {
        let mut v = vec![("none".to_owned(), l(("Không", "None"), lang))];
        v.extend(
            data.religions
                .iter()
                .map(|r| (r.code.clone(), r.name.clone())),
        );
        v
    };
    items.retain(|(_, name)| q.is_empty() || search_key(name).contains(&q));
    items
        .into_iter()
        .map(|(code, name)| Choice {
            code: s(code),
            label: s(name),
        })
        .collect()
}

/// Demo mode: a store with nothing in it gets a dozen realistic applicants (drafts, no
/// biometrics), so the lists and search have something to show.
pub fn seed_demo(store: &mut Store) {
    if store
        .list(&crate::store::ListQuery {
            limit: 1,
            ..Default::default()
        })
        .map(|r| !r.is_empty())
        .unwrap_or(true)
    {
        return;
    }
    let now = Utc::now();
    let mut generator = crate::demo::DemoGenerator::new(7, now);
    let by = Attribution {
        person: "demo".into(),
        device: store.kiosk().code.clone(),
        at: now,
    };
    for _ in 0..12 {
        let rec = generator.record();
        if store.save(&rec, &by).is_err() {
            return;
        }
    }
}

/// The accounts for the lock screen: (sign-in name, display name, supervisor).
pub fn account_list(store: &Store) -> Vec<(String, String, bool)> {
    store
        .accounts()
        .unwrap_or_default()
        .into_iter()
        .map(|a| {
            let sup = a.role == crate::accounts::Role::Supervisor;
            (a.name, a.display_name, sup)
        })
        .collect()
}

/// Demo PINs are as long as a kiosk without a TPM requires.
pub const DEMO_OPERATOR_PIN: &str = "1357902468";
pub const DEMO_SUPERVISOR_PIN: &str = "2468101357";

/// Demo mode on a kiosk with no accounts: a supervisor and an operator whose PINs the lock
/// screen shows (in demo mode only).
pub fn seed_demo_accounts(store: &mut Store) {
    if !store.accounts().map(|a| a.is_empty()).unwrap_or(false) {
        return;
    }
    let now = Utc::now();
    let Ok(sup) = store.init_supervisor("giamsat", "Lê Văn Nam", DEMO_SUPERVISOR_PIN, now) else {
        return;
    };
    let _ = store.add_account(
        &sup,
        "canbo",
        "Trần Thị Mai",
        crate::accounts::Role::Operator,
        DEMO_OPERATOR_PIN,
        now,
    );
    store.lock();
}
