//! A complete enrollment from the lock screen to the receipt, driven by accessible labels
//! through the Slint testing backend, then checked in the real store on disk.
//!
//! The applicant is a four-year-old: below the age for biometrics (6), so no camera or
//! scanner is needed while those drivers are not on this branch.

mod ui_common;

use chrono::{Datelike, Utc};
use enroll_sync::record::{ConsentBy, FingerOutcome, RecordStatus};
use kiosk::store::Store;
use slint::Model;
use ui_common::*;

#[test]
fn complete_enrollment_lock_to_receipt() {
    init(false);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_owned();
    let year = Utc::now().year() - 4;
    let receipt = std::rc::Rc::new(std::cell::RefCell::new(String::new()));
    let out = receipt.clone();
    run(async move {
        let k = kiosk(&path);
        settle(&k).await;
        let app = &k.window;
        assert_eq!(state(app).get_page(), "lock");

        // A wrong PIN is refused in plain words; the right one opens the home screen.
        sign_in(&k, "1111111111").await;
        assert_eq!(state(app).get_page(), "lock");
        assert!(
            lock_state(app).get_pin_message().contains("Sai mã PIN"),
            "{}",
            lock_state(app).get_pin_message()
        );
        sign_in(&k, OPERATOR_PIN).await;
        assert_eq!(state(app).get_page(), "home");

        press(&k, "Đăng ký hồ sơ mới").await;
        assert_eq!(state(app).get_page(), "wizard");
        press(&k, "Cấp mới thẻ căn cước").await;
        press(&k, "Tiếp").await;

        // Identity: ID number of a girl born `year` in Hà Nội (001, century digit 3).
        let id_number = format!("0013{:02}004217", year % 100);
        fill(&k, "Số định danh cá nhân (12 số)", &id_number).await;
        press(&k, "Tiếp").await;

        // Demographics: the family name typed on the on-screen keyboard with Telex.
        let family = find(app, "Họ");
        family.mock_single_click(slint::platform::PointerEventButton::Left);
        settle(&k).await;
        assert!(
            state(app).get_keyboard_open(),
            "focusing a field opens the keyboard"
        );
        press(&k, "Chữ hoa").await;
        for key in ["n", "g", "u", "y", "e", "e", "n", "x"] {
            press(&k, key).await;
        }
        assert_eq!(family.accessible_value().as_deref(), Some("Nguyễn"));
        fill(&k, "Chữ đệm", "Thị").await;
        fill(&k, "Tên", "Lan").await;
        fill(&k, "Ngày sinh", &format!("10/05/{year}")).await;
        press(&k, "Nữ").await;
        pick(&k, "Chọn Dân tộc…", "kinh").await;
        pick(&k, "Chọn Tôn giáo…", "khong").await;
        press(&k, "Tiếp").await;

        // Addresses: province and commune pickers with accent-free search.
        pick(&k, "Chọn Tỉnh, thành phố…", "ha noi").await;
        pick(&k, "Chọn Xã, phường…", "").await;
        fill(&k, "Thôn, xóm, số nhà, đường", "Số 12 ngõ 5 phố Đội Cấn").await;
        press(&k, "Nơi ở hiện tại giống nơi thường trú").await;
        // Birth registration place and home town.
        pick(&k, "Chọn Tỉnh, thành phố…", "ha noi").await;
        pick(&k, "Chọn Tỉnh, thành phố…", "ha noi").await;
        press(&k, "Tiếp").await;

        fill(&k, "Họ tên mẹ", "Trần Thị Hoa").await;
        fill(&k, "Người đại diện hợp pháp", "Trần Thị Hoa").await;
        fill(&k, "Số định danh người đại diện", "001190012345").await;
        fill(&k, "Họ tên chủ hộ", "Trần Thị Hoa").await;
        fill(&k, "Quan hệ với chủ hộ", "con").await;
        press(&k, "Tiếp").await; // photo: not needed under 6
        press(&k, "Tiếp").await; // fingers: not needed under 6
        press(&k, "Cho người dân xem lại").await;

        // The resident's screen: one fact per line, big Yes.
        let lines: Vec<String> = resident_state(app)
            .get_resident_lines()
            .iter()
            .map(|l| format!("{}: {}", l.label, l.value))
            .collect();
        assert!(
            lines.iter().any(|l| l.contains("NGUYỄN THỊ LAN")),
            "{lines:?}"
        );
        press(&k, "Đúng").await;
        assert_eq!(wizard_state(app).get_step(), 8);

        press(&k, "Người đại diện").await;
        // Any warning must be acknowledged explicitly.
        while wizard_state(app).get_open_warnings() > 0 {
            press(&k, "Đã kiểm tra, vẫn giữ").await;
        }
        assert_eq!(
            wizard_state(app).get_open_errors(),
            0,
            "{:#?}",
            findings(app)
        );
        press(&k, "Hoàn tất và lưu hồ sơ").await;
        assert_eq!(
            wizard_state(app).get_step(),
            9,
            "{:?}",
            state(app).get_banner()
        );
        let number = wizard_state(app).get_receipt_number().to_string();
        assert!(!number.is_empty());
        assert!(find_all(app, "Số hồ sơ")
            .iter()
            .any(|e| e.accessible_value().as_deref() == Some(number.as_str())));
        *out.borrow_mut() = number;
    });

    let number = receipt.borrow().clone();
    let store = Store::open(dir.path()).expect("store");
    let id = store
        .resolve(&number)
        .expect("resolve")
        .expect("record saved");
    let rec = store.load(&id).expect("load").expect("record");
    assert_eq!(rec.enrollment_no, number);
    assert_eq!(rec.applicant.name.full(), "Nguyễn Thị Lan");
    assert_eq!(rec.applicant.birth_date.year, year);
    assert_eq!(rec.applicant.birth_date.month, Some(5));
    assert_eq!(rec.review.status, RecordStatus::Captured);
    assert_eq!(
        rec.biometrics.consent.map(|c| c.given_by),
        Some(ConsentBy::Representative)
    );
    assert_eq!(rec.capture.operator_id, "canbo");
    assert!(rec.applicant.permanent_residence.is_some());
    assert_eq!(
        rec.relatives.representative.map(|r| r.name),
        Some("Trần Thị Hoa".to_owned())
    );
    assert!(
        store.latest_draft().expect("drafts").is_none(),
        "the draft is gone once sealed"
    );
    drop(store);

    adult_with_photo_and_ten_fingers(dir.path());
}

/// A 68-year-old: face photo from the simulated camera and ten fingers from the R307
/// simulator on a real pseudo-terminal, then the sealed record and its blobs in the store.
fn adult_with_photo_and_ten_fingers(dir: &std::path::Path) {
    let path = dir.to_owned();
    let receipt = std::rc::Rc::new(std::cell::RefCell::new(String::new()));
    let out = receipt.clone();
    run(async move {
        let k = kiosk(&path);
        settle(&k).await;
        let app = &k.window;
        sign_in(&k, OPERATOR_PIN).await;
        press(&k, "Đăng ký hồ sơ mới").await;
        press(&k, "Cấp mới thẻ căn cước").await;
        press(&k, "Tiếp").await;
        fill(&k, "Số định danh cá nhân (12 số)", "001058012345").await;
        press(&k, "Tiếp").await;
        fill(&k, "Họ", "Nguyễn").await;
        fill(&k, "Chữ đệm", "Văn").await;
        fill(&k, "Tên", "Hoà").await;
        fill(&k, "Ngày sinh", "14/03/1958").await;
        press(&k, "Nam").await;
        pick(&k, "Chọn Dân tộc…", "kinh").await;
        pick(&k, "Chọn Tôn giáo…", "khong").await;
        press(&k, "Tiếp").await;
        pick(&k, "Chọn Tỉnh, thành phố…", "ha noi").await;
        pick(&k, "Chọn Xã, phường…", "ba dinh").await;
        fill(&k, "Thôn, xóm, số nhà, đường", "Số 12 ngõ 5 phố Đội Cấn").await;
        press(&k, "Nơi ở hiện tại giống nơi thường trú").await;
        pick(&k, "Chọn Tỉnh, thành phố…", "ha noi").await;
        pick(&k, "Chọn Tỉnh, thành phố…", "ha noi").await;
        press(&k, "Tiếp").await;
        fill(&k, "Họ tên chủ hộ", "Nguyễn Văn Hoà").await;
        fill(&k, "Quan hệ với chủ hộ", "chủ hộ").await;
        fill(&k, "Số điện thoại", "0912345678").await;
        press(&k, "Tiếp").await;

        press(&k, "Chụp ảnh").await;
        wait_until(&k, 60, |k| !state(&k.window).get_busy()).await;
        assert!(k.form().photo.is_some(), "{:?}", state(app).get_banner());
        press(&k, "Tiếp").await;

        for i in 0..10 {
            assert_eq!(capture_state(app).get_current_finger(), i);
            press(&k, "Lấy vân tay ngón này").await;
            wait_until(&k, 120, |k| !state(&k.window).get_busy()).await;
        }
        let form = k.form();
        assert_eq!(
            form.fingers.len(),
            10,
            "{:?}",
            capture_state(app).get_finger_message()
        );
        press(&k, "Cho người dân xem lại").await;
        press(&k, "Đúng").await;
        while wizard_state(app).get_open_warnings() > 0 {
            press(&k, "Đã kiểm tra, vẫn giữ").await;
        }
        assert_eq!(
            wizard_state(app).get_open_errors(),
            0,
            "{:#?}",
            findings(app)
        );
        press(&k, "Hoàn tất và lưu hồ sơ").await;
        assert_eq!(
            wizard_state(app).get_step(),
            9,
            "{:?}",
            state(app).get_banner()
        );
        *out.borrow_mut() = wizard_state(app).get_receipt_number().to_string();

        // The supervisor signs in and approves it from the review list.
        press(&k, "Khoá máy").await;
        press(&k, "Lê Văn Nam (giám sát)").await;
        sign_in(&k, SUPERVISOR_PIN).await;
        assert!(state(app).get_is_supervisor());
        press(&k, "Trang chính").await;
        press(&k, "Duyệt hồ sơ (giám sát)").await;
        settle(&k).await;
        press(&k, "NGUYỄN VĂN HOÀ").await;
        assert_eq!(state(app).get_page(), "detail");
        press(&k, "Duyệt hồ sơ").await;
        assert_eq!(
            state(app).get_page(),
            "supervisor",
            "{:?}",
            state(app).get_banner()
        );
    });
    let number = receipt.borrow().clone();
    let mut store = Store::open(dir).expect("store");
    // Biometric blobs are sealed at rest: reading them needs a signed-in person.
    store
        .unlock("canbo", OPERATOR_PIN, chrono::Utc::now())
        .expect("unlock");
    let id = store.resolve(&number).expect("resolve").expect("saved");
    let rec = store.load(&id).expect("load").expect("record");
    assert_eq!(rec.applicant.name.full(), "Nguyễn Văn Hoà");
    assert_eq!(rec.review.status, RecordStatus::Approved);
    assert!(rec
        .review
        .history
        .iter()
        .any(|e| e.by == "giamsat" && e.action == enroll_sync::record::ReviewAction::Approved));
    let photo = rec.biometrics.photo.expect("photo");
    assert_eq!(
        store
            .blob(&photo.sha256)
            .expect("blob")
            .expect("photo blob")
            .1,
        "image/jpeg"
    );
    assert_eq!(rec.biometrics.fingers.len(), 10);
    for f in &rec.biometrics.fingers {
        if let FingerOutcome::Captured {
            image_sha256,
            template_sha256,
            ..
        } = &f.outcome
        {
            assert!(store.blob(image_sha256).expect("blob").is_some());
            assert!(store.blob(template_sha256).expect("blob").is_some());
        }
    }
    assert!(rec
        .biometrics
        .fingers
        .iter()
        .any(|f| matches!(f.outcome, FingerOutcome::Captured { .. })));
}
