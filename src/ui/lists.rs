//! Labels, choice lists and the rows the pages show, built from records and reference data.

use chrono::Utc;
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
                r.birth_date.trim_end_matches("-00")
            )),
            status: s(status_label(&r.status, lang)),
        })
        .collect()
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

/// What the resident checks: one fact per line.
pub fn resident_lines(form: &Form, lang: &str) -> Vec<Line> {
    let (rec, _) = form.to_record(Utc::now());
    let a = &rec.applicant;
    let mut out = vec![
        line(("Họ và tên", "Full name"), card_upper(&a.name.full()), lang),
        line(
            ("Ngày sinh", "Date of birth"),
            form.get("applicant.birth_date").to_owned(),
            lang,
        ),
        line(
            ("Giới tính", "Sex"),
            label_of(SEXES, form.get("applicant.sex"), lang),
            lang,
        ),
        line(
            ("Số định danh cá nhân", "Personal ID number"),
            a.id_number
                .clone()
                .unwrap_or_else(|| l(("Chưa có", "None"), lang)),
            lang,
        ),
        line(
            ("Nơi thường trú", "Permanent residence"),
            address_text(&a.permanent_residence),
            lang,
        ),
    ];
    if let Some(r) = &rec.relatives.representative {
        out.push(line(
            ("Người đại diện", "Representative"),
            card_upper(&r.name),
            lang,
        ));
    }
    if let Some(p) = &rec.contact.phone {
        out.push(line(("Số điện thoại", "Phone"), p.clone(), lang));
    }
    out
}

pub fn detail_lines(rec: &Enrollment, lang: &str) -> Vec<Line> {
    let a = &rec.applicant;
    let mut out = vec![
        line(
            ("Thủ tục", "Application"),
            l(rec.application.kind.label(), lang),
            lang,
        ),
        line(
            ("Số định danh", "ID number"),
            a.id_number.clone().unwrap_or_default(),
            lang,
        ),
        line(("Ngày sinh", "Date of birth"), a.birth_date.display(), lang),
        line(("Giới tính", "Sex"), l(a.sex.label(), lang), lang),
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
        line(
            ("Trạng thái", "Status"),
            l(rec.review.status.label(), lang),
            lang,
        ),
    ];
    let fingers = rec.biometrics.fingers.len();
    out.push(line(("Vân tay", "Fingers"), format!("{fingers}/10"), lang));
    out
}

pub fn history_lines(rec: &Enrollment, lang: &str) -> Vec<Line> {
    rec.review
        .history
        .iter()
        .map(|e| Line {
            label: s(e.at.format("%d/%m/%Y %H:%M").to_string()),
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
                e.by,
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

/// Demo mode on a kiosk with no accounts: a supervisor and an operator whose PINs the lock
/// screen shows (in demo mode only).
pub fn seed_demo_accounts(store: &mut Store) {
    if !store.accounts().map(|a| a.is_empty()).unwrap_or(false) {
        return;
    }
    let now = Utc::now();
    let Ok(sup) = store.init_supervisor("giamsat", "Lê Văn Nam (giám sát)", "246810", now)
    else {
        return;
    };
    let _ = store.add_account(
        &sup,
        "canbo",
        "Trần Thị Mai",
        crate::accounts::Role::Operator,
        "135790",
        now,
    );
    store.lock();
}
