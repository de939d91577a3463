//! Vietnamese and English labels for the record's field paths (`applicant.name.family`), as the
//! timeline and the record page show them. List indexes in a path are matched as `*`.

/// (path pattern, Vietnamese, English). Longer patterns win over their prefixes.
const LABELS: &[(&str, &str, &str)] = &[
    ("id", "Mã hồ sơ", "Record id"),
    ("enrollment_no", "Số hồ sơ", "Enrollment number"),
    ("application", "Loại thủ tục", "Application"),
    ("application.kind", "Loại thủ tục", "Application kind"),
    (
        "application.exchange_reason",
        "Lý do cấp đổi",
        "Exchange reason",
    ),
    ("application.reason", "Lý do", "Reason"),
    ("applicant", "Người đề nghị", "Applicant"),
    (
        "applicant.id_number",
        "Số định danh cá nhân",
        "Personal ID number",
    ),
    (
        "applicant.old_id_number",
        "Số CMND cũ",
        "Old ID card number",
    ),
    ("applicant.name.family", "Họ", "Family name"),
    ("applicant.name.middle", "Chữ đệm", "Middle name"),
    ("applicant.name.given", "Tên", "Given name"),
    ("applicant.other_name", "Tên gọi khác", "Other name"),
    ("applicant.birth_date", "Ngày sinh", "Date of birth"),
    ("applicant.birth_date.year", "Năm sinh", "Birth year"),
    ("applicant.birth_date.month", "Tháng sinh", "Birth month"),
    ("applicant.birth_date.day", "Ngày sinh (ngày)", "Birth day"),
    (
        "applicant.birth_date.provenance",
        "Nguồn ngày sinh",
        "Birth date source",
    ),
    ("applicant.sex", "Giới tính", "Sex"),
    ("applicant.nationality", "Quốc tịch", "Nationality"),
    ("applicant.ethnicity", "Dân tộc", "Ethnicity"),
    ("applicant.religion", "Tôn giáo", "Religion"),
    ("applicant.birth_place", "Nơi sinh", "Place of birth"),
    (
        "applicant.birth_registration_place",
        "Nơi đăng ký khai sinh",
        "Birth registration place",
    ),
    ("applicant.home_town", "Quê quán", "Home town"),
    (
        "applicant.permanent_residence",
        "Nơi thường trú",
        "Permanent residence",
    ),
    (
        "applicant.temporary_residence",
        "Nơi tạm trú",
        "Temporary residence",
    ),
    (
        "applicant.current_residence",
        "Nơi ở hiện tại",
        "Current residence",
    ),
    (
        "applicant.marital_status",
        "Tình trạng hôn nhân",
        "Marital status",
    ),
    ("applicant.blood_type", "Nhóm máu", "Blood type"),
    ("relatives.father", "Cha", "Father"),
    ("relatives.mother", "Mẹ", "Mother"),
    ("relatives.spouse", "Vợ/chồng", "Spouse"),
    (
        "relatives.representative",
        "Người đại diện",
        "Representative",
    ),
    ("relatives.household_head", "Chủ hộ", "Head of household"),
    ("contact.phone", "Số điện thoại", "Phone"),
    ("contact.email", "Thư điện tử", "Email"),
    ("biometrics.photo", "Ảnh chân dung", "Photo"),
    ("biometrics.fingers", "Vân tay", "Fingerprints"),
    (
        "biometrics.fingers.*.outcome.captured.quality",
        "Chất lượng vân tay",
        "Finger quality",
    ),
    (
        "biometrics.fingers.*.outcome.exception",
        "Ngoại lệ vân tay",
        "Finger exception",
    ),
    ("biometrics.consent", "Đồng ý thu nhận", "Consent"),
    ("capture", "Thông tin thu nhận", "Capture details"),
    ("capture.operator_id", "Cán bộ thu nhận", "Operator"),
    ("capture.kiosk_id", "Ki-ốt", "Kiosk"),
    ("capture.started_at", "Bắt đầu", "Started"),
    ("capture.captured_at", "Thời điểm thu nhận", "Captured at"),
    (
        "capture.session_commune",
        "Xã nơi thu nhận",
        "Capture commune",
    ),
    ("capture.gps", "Toạ độ", "GPS"),
    ("review.status", "Trạng thái", "Status"),
    ("review.history", "Lịch sử duyệt", "Review history"),
    (
        "review.acknowledged",
        "Cảnh báo đã xác nhận",
        "Accepted warnings",
    ),
    ("review.hq", "Trạng thái HQ", "HQ status"),
    ("review.hq.status", "Trạng thái HQ", "HQ status"),
    ("review.hq.reason", "Lý do của HQ", "HQ reason"),
    (
        "review.duplicate",
        "Kết luận trùng hồ sơ",
        "Duplicate decision",
    ),
    (
        "review.duplicate.verdict",
        "Kết luận trùng hồ sơ",
        "Duplicate decision",
    ),
    (
        "review.duplicate.reason",
        "Lý do kết luận trùng",
        "Duplicate decision reason",
    ),
];

/// The path with list indexes as `*`, and the indexes in order.
fn pattern(path: &str) -> (String, Vec<usize>) {
    let mut idx = Vec::new();
    let parts: Vec<&str> = path
        .split('.')
        .map(|p| match p.parse::<usize>() {
            Ok(i) => {
                idx.push(i);
                "*"
            }
            Err(_) => p,
        })
        .collect();
    (parts.join("."), idx)
}

/// (Vietnamese, English) label of a field path: the longest labelled prefix, then the rest of
/// the path; list items numbered from 1.
pub fn label(path: &str) -> (String, String) {
    let (pat, idx) = pattern(path);
    let best = LABELS
        .iter()
        .filter(|(p, _, _)| pat == *p || pat.starts_with(&format!("{p}.")))
        .max_by_key(|(p, _, _)| p.len());
    let Some((p, vi, en)) = best else {
        return (path.to_owned(), path.to_owned());
    };
    let rest: Vec<&str> = pat[p.len()..]
        .split('.')
        .filter(|s| !s.is_empty() && *s != "*")
        .collect();
    let items: String = idx.iter().map(|i| format!(" #{}", i + 1)).collect();
    let tail = if rest.is_empty() {
        String::new()
    } else {
        format!(" ({})", rest.join("."))
    };
    (format!("{vi}{items}{tail}"), format!("{en}{items}{tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_by_longest_prefix_with_item_numbers() {
        assert_eq!(label("applicant.name.family").0, "Họ");
        assert_eq!(
            label("biometrics.fingers.3.outcome.captured.quality"),
            (
                "Chất lượng vân tay #4".to_owned(),
                "Finger quality #4".to_owned()
            )
        );
        assert_eq!(
            label("applicant.permanent_residence.detail").1,
            "Permanent residence (detail)"
        );
        assert_eq!(label("nowhere.at.all").0, "nowhere.at.all");
    }
}
