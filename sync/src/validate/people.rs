//! Rules on names, relatives, the household head and the legal representative.

use chrono::{DateTime, Utc};

use super::rules::age;
use super::Findings;
use crate::idnumber;
use crate::record::{Enrollment, Relative};

/// A name is letters (any script, with diacritics), spaces, and the apostrophe or hyphen some
/// ethnic-minority names use.
fn name_chars_ok(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_alphabetic()
            || c == ' '
            || c == '\''
            || c == '-'
            || unicode_normalization::char::is_combining_mark(c)
    })
}

pub(super) fn check(r: &Enrollment, now: DateTime<Utc>, out: &mut Findings) {
    let n = &r.applicant.name;
    if n.family.is_empty() {
        out.error(
            "applicant.name.family",
            "name.family.required",
            "Hãy nhập họ.",
            "Enter the family name.",
        );
    }
    if n.given.is_empty() {
        out.error(
            "applicant.name.given",
            "name.given.required",
            "Hãy nhập tên.",
            "Enter the given name.",
        );
    }
    for (path, part) in [
        ("applicant.name.family", &n.family),
        ("applicant.name.middle", &n.middle),
        ("applicant.name.given", &n.given),
    ] {
        if !name_chars_ok(part) {
            out.error(
                path,
                "name.invalid_chars",
                "Họ tên chỉ gồm chữ cái, dấu cách, dấu nháy (') hoặc gạch nối (-).",
                "A name holds only letters, spaces, an apostrophe (') or a hyphen (-).",
            );
        }
    }
    if let Some(other) = &r.applicant.other_name {
        if !name_chars_ok(other) {
            out.error(
                "applicant.other_name",
                "name.invalid_chars",
                "Tên gọi khác chỉ gồm chữ cái, dấu cách, dấu nháy (') hoặc gạch nối (-).",
                "The other name holds only letters, spaces, an apostrophe (') or a hyphen (-).",
            );
        }
    }
    let rel = &r.relatives;
    let people: [(&str, &Option<Relative>, &str, &str); 4] = [
        ("relatives.father", &rel.father, "Cha", "Father"),
        ("relatives.mother", &rel.mother, "Mẹ", "Mother"),
        ("relatives.spouse", &rel.spouse, "Vợ/chồng", "Spouse"),
        (
            "relatives.representative",
            &rel.representative,
            "Người đại diện hợp pháp",
            "Legal representative",
        ),
    ];
    for (path, person, vi, en) in people {
        if let Some(p) = person {
            relative(path, &p.name, p.id_number.as_deref(), vi, en, out);
        }
    }
    if let Some(h) = &rel.household_head {
        relative(
            "relatives.household_head",
            &h.name,
            h.id_number.as_deref(),
            "Chủ hộ",
            "Head of household",
            out,
        );
        if h.relation.is_empty() {
            out.error(
                "relatives.household_head.relation",
                "household_head.relation.required",
                "Hãy ghi quan hệ với chủ hộ.",
                "Enter the relation to the head of household.",
            );
        }
    }
    if age(r, now).is_some_and(|a| a < 14) && rel.representative.is_none() {
        out.error(
            "relatives.representative",
            "representative.required",
            "Người dưới 14 tuổi cần có người đại diện hợp pháp.",
            "An applicant under 14 needs a legal representative.",
        );
    }
}

fn relative(path: &str, name: &str, id: Option<&str>, vi: &str, en: &str, out: &mut Findings) {
    if name.is_empty() {
        out.error(
            &format!("{path}.name"),
            "relative.name.required",
            format!("{vi}: hãy nhập họ tên."),
            format!("{en}: enter the full name."),
        );
    } else if !name_chars_ok(name) {
        out.error(
            &format!("{path}.name"),
            "name.invalid_chars",
            format!("{vi}: họ tên chỉ gồm chữ cái, dấu cách, dấu nháy hoặc gạch nối."),
            format!("{en}: a name holds only letters, spaces, an apostrophe or a hyphen."),
        );
    }
    if let Some(id) = id.filter(|s| !s.is_empty()) {
        if idnumber::parse(id).is_err() {
            out.error(
                &format!("{path}.id_number"),
                "relative.id_number.format",
                format!("{vi}: số định danh phải gồm 12 chữ số với mã tỉnh hợp lệ."),
                format!("{en}: the ID number must be 12 digits with a valid province code."),
            );
        }
    }
}
