//! The kiosk as an operator and a resident meet it, driven through the real UI on the
//! kiosk's 1280×800 screen: typing into a field in the lower half with the on-screen keyboard
//! (nothing lost), the resident review (only with something to confirm, photo, read-aloud
//! rendered to a WAV), the photo step's verdicts and "Chụp lại", the tenth finger, discarding
//! a draft, the supervisor's record view, the fields the record has, and a capture stopped by
//! the lock.

mod ui_common;

use std::time::Duration;

use chrono::Utc;
use enroll_sync::record::{BloodType, ExceptionReason, FingerOutcome};
use i_slint_backend_testing::{AccessibleRole, ElementHandle};
use kiosk::store::Store;
use slint::platform::PointerEventButton;
use slint::{ComponentHandle, Model};
use ui_common::*;

/// A kiosk on the real screen size (the shared helper's window is tall).
fn screen_kiosk(dir: &std::path::Path) -> Kiosk {
    let k = kiosk(dir);
    k.window
        .window()
        .set_size(slint::PhysicalSize::new(1280, 800));
    k
}

fn control(app: &AppWindow, label: &str) -> Option<ElementHandle> {
    ElementHandle::find_by_accessible_label(app, label)
        .find(|e| e.accessible_role() != Some(AccessibleRole::Text))
}

fn bottom(e: &ElementHandle) -> f32 {
    e.absolute_position().y + e.size().height
}

/// Types on the on-screen keyboard by tapping its keys, as a finger does.
async fn type_keys(k: &Kiosk, keys: &str) {
    for c in keys.chars() {
        let key = control(&k.window, &c.to_string())
            .unwrap_or_else(|| panic!("no key {c:?} on the keyboard"));
        key.mock_single_click(PointerEventButton::Left);
        settle(k).await;
    }
}

async fn typing_in_the_lower_half() {
    let dir = tempfile::tempdir().expect("tempdir");
    let k = screen_kiosk(dir.path());
    settle(&k).await;
    sign_in(&k, OPERATOR_PIN).await;
    press(&k, "Đăng ký hồ sơ mới").await;
    press(&k, "Địa chỉ").await;
    let app = &k.window;
    let label = "Thôn, xóm, số nhà, đường";
    let field = control(app, label).expect("the address line is on screen");
    assert!(
        field.absolute_position().y > 300.0,
        "the field is in the lower half: {:?}",
        field.absolute_position()
    );
    // A finger taps the field: it takes the focus and the keyboard opens below.
    field.mock_single_click(PointerEventButton::Left);
    settle(&k).await;
    assert!(state(app).get_keyboard_open());
    let top_row = control(app, "1").expect("keyboard shown");
    let field = control(app, label).expect("the field is still on screen");
    assert!(
        bottom(&field) <= top_row.absolute_position().y,
        "the focused field ({:?}, bottom {}) is above the keyboard (top {})",
        field.absolute_position(),
        bottom(&field),
        top_row.absolute_position().y
    );
    // Telex: "thoon xoms" → "thôn xóm"; every keystroke lands in the field.
    type_keys(&k, "thoon").await;
    control(app, "Dấu cách")
        .expect("space")
        .mock_single_click(PointerEventButton::Left);
    settle(&k).await;
    type_keys(&k, "xoms").await;
    assert_eq!(
        k.form().get("applicant.permanent_residence.detail"),
        "thôn xóm",
        "no keystroke lost"
    );

    // The picker's search opens the keyboard too, so a touch screen can search.
    press(&k, "Ẩn bàn phím").await;
    press(&k, "Chọn Tỉnh, thành phố…").await;
    assert!(wizard_state(app).get_picker_open());
    settle(&k).await;
    assert!(
        state(app).get_keyboard_open(),
        "picker search opens the keyboard"
    );
    type_keys(&k, "hue").await;
    let items: Vec<String> = wizard_state(app)
        .get_picker_items()
        .iter()
        .map(|c| c.label.to_string())
        .collect();
    assert!(items.iter().any(|l| l.contains("Huế")), "{items:?}");
    press(&k, "Đóng").await;

    // At the largest text size the same field sits lower still; it is revealed all the same.
    settings_state(app).invoke_set_text_scale(1.5);
    press(&k, "Ẩn bàn phím").await;
    let field = control(app, label).expect("the address line is on screen");
    assert!(
        field.absolute_position().y > 400.0,
        "{:?}",
        field.absolute_position()
    );
    field.mock_single_click(PointerEventButton::Left);
    settle(&k).await;
    let top_row = control(app, "1").expect("keyboard shown");
    let field = control(app, label).expect("the field is still on screen");
    assert!(
        bottom(&field) <= top_row.absolute_position().y,
        "at 150 %: field bottom {} under the keyboard top {}",
        bottom(&field),
        top_row.absolute_position().y
    );
    control(app, "Dấu cách")
        .expect("space")
        .mock_single_click(PointerEventButton::Left);
    settle(&k).await;
    type_keys(&k, "ddoong").await;
    assert_eq!(
        k.form().get("applicant.permanent_residence.detail"),
        "thôn xóm đông"
    );
    settle(&k).await;
}

/// Types on a hardware keyboard: each key goes to whatever element has the focus.
async fn type_hardware(k: &Kiosk, text: &str) {
    use slint::platform::WindowEvent;
    for c in text.chars() {
        let t = slint::SharedString::from(c.to_string());
        k.window
            .window()
            .dispatch_event(WindowEvent::KeyPressed { text: t.clone() });
        k.window
            .window()
            .dispatch_event(WindowEvent::KeyReleased { text: t });
        settle(k).await;
    }
}

/// A finger's tap as a real window delivers it: press and release in one batch of events, with
/// no timer or frame between them (`mock_single_click` advances the clock between the two).
fn quick_tap(k: &Kiosk, e: &ElementHandle) {
    use slint::platform::WindowEvent;
    let p = e.absolute_position();
    let size = e.size();
    let position = slint::LogicalPosition::new(p.x + size.width / 2.0, p.y + size.height / 2.0);
    let w = k.window.window();
    w.dispatch_event(WindowEvent::PointerMoved { position });
    w.dispatch_event(WindowEvent::PointerPressed {
        position,
        button: PointerEventButton::Left,
    });
    w.dispatch_event(WindowEvent::PointerReleased {
        position,
        button: PointerEventButton::Left,
    });
}

/// A fresh visit at each text size: a quick tap on the address line keeps the focus, the step scrolls the field whole
/// between the header and the keyboard, and both hardware and on-screen keys land in it.
async fn lower_half_keeps_focus_at_every_size() {
    let label = "Thôn, xóm, số nhà, đường";
    for scale in [1.0f32, 1.25, 1.5] {
        let dir = tempfile::tempdir().expect("tempdir");
        let k = screen_kiosk(dir.path());
        let app = &k.window;
        settle(&k).await;
        settings_state(app).invoke_set_text_scale(scale);
        sign_in(&k, OPERATOR_PIN).await;
        press(&k, "Đăng ký hồ sơ mới").await;
        press(&k, "Địa chỉ").await;
        let field = control(app, label).expect("the address line");
        assert!(
            field.absolute_position().y > 300.0,
            "at {scale}: the field is in the lower half: {:?}",
            field.absolute_position()
        );
        quick_tap(&k, &field);
        settle(&k).await;
        assert!(state(app).get_keyboard_open(), "at {scale}: keyboard open");
        let top_row = control(app, "1").expect("keyboard shown");
        let header = control(app, "Trang chính").expect("header");
        let field = control(app, label)
            .unwrap_or_else(|| panic!("at {scale}: the focused field is still on screen"));
        assert!(
            field.absolute_position().y >= bottom(&header)
                && bottom(&field) <= top_row.absolute_position().y,
            "at {scale}: the field ({} to {}) lies between the header (bottom {}) and the keyboard (top {})",
            field.absolute_position().y,
            bottom(&field),
            bottom(&header),
            top_row.absolute_position().y
        );
        type_hardware(&k, "ab").await;
        type_keys(&k, "c").await;
        type_hardware(&k, "d").await;
        press(&k, "Ẩn bàn phím").await;
        assert_eq!(
            k.form().get("applicant.permanent_residence.detail"),
            "abcd",
            "at {scale}: no keystroke lost"
        );
    }
}

async fn resident_review_and_read_aloud() {
    let dir = tempfile::tempdir().expect("tempdir");
    let k = screen_kiosk(dir.path());
    settle(&k).await;
    sign_in(&k, OPERATOR_PIN).await;
    press(&k, "Đăng ký hồ sơ mới").await;
    let app = &k.window;
    // Nothing to confirm yet: the review cannot be opened.
    assert_eq!(
        control(app, "Người dân xem")
            .expect("tab")
            .accessible_enabled(),
        Some(false)
    );
    wizard_state(app).invoke_go_step(7);
    settle(&k).await;
    assert_ne!(
        wizard_state(app).get_step(),
        7,
        "an empty review never shows"
    );
    assert!(state(app)
        .get_banner()
        .contains("Chưa thể cho người dân xem"));

    // Fill in the basics through the form, take the photo, then show the resident.
    press(&k, "Cá nhân").await;
    fill(&k, "Họ", "Nguyễn").await;
    fill(&k, "Chữ đệm", "Văn").await;
    fill(&k, "Tên", "An").await;
    fill(&k, "Ngày sinh", "14/03/1958").await;
    press(&k, "Nam").await;
    press(&k, "Số định danh").await;
    fill(&k, "Số định danh cá nhân (12 số)", "001058012345").await;
    press(&k, "Địa chỉ").await;
    pick(&k, "Chọn Tỉnh, thành phố…", "ha noi").await;
    press(&k, "Ảnh").await;
    press(&k, "Chụp ảnh").await;
    wait_until(&k, 60, |k| !state(&k.window).get_busy()).await;
    assert!(k.form().photo.is_some(), "{:?}", state(app).get_banner());
    press(&k, "Người dân xem").await;
    assert_eq!(wizard_state(app).get_step(), 7);
    let photo = ElementHandle::find_by_accessible_label(app, "Ảnh chân dung")
        .find(|e| e.accessible_role() == Some(AccessibleRole::Image))
        .expect("the review shows the photo");
    assert!(photo.size().width > 100.0);
    let lines: Vec<(String, String)> = resident_state(app)
        .get_resident_lines()
        .iter()
        .map(|l| (l.label.to_string(), l.value.to_string()))
        .collect();
    for label in [
        "Họ và tên",
        "Số định danh cá nhân",
        "Ngày sinh",
        "Quốc tịch",
        "Quê quán",
        "Nơi thường trú",
    ] {
        assert!(
            lines.iter().any(|(l, _)| l == label),
            "{label} missing: {lines:?}"
        );
    }
    // The three answers are equally big.
    let widths: Vec<f32> = ["Đọc to", "Đúng", "Chưa đúng"]
        .iter()
        .map(|l| control(app, l).expect("button").size().width)
        .collect();
    assert!(
        widths.iter().all(|w| (w - widths[0]).abs() < 2.0),
        "equal buttons: {widths:?}"
    );

    // Read-aloud: on this kiosk with no sound device it says so instead of failing silently.
    press(&k, "Đọc to").await;
    wait_until(&k, 30, |k| !resident_state(&k.window).get_speaking()).await;
    if !kiosk::ui::speech::has_audio_output() {
        assert!(
            resident_state(app)
                .get_resident_message()
                .contains("không có loa"),
            "{:?}",
            resident_state(app).get_resident_message()
        );
    }
    // What the resident hears, rendered to a WAV: numbers digit by digit, dates in words,
    // not silent, and as long as the text needs.
    let lines: Vec<_> = resident_state(app).get_resident_lines().iter().collect();
    let text = kiosk::ui::speech::speech_text(&lines);
    assert!(text.contains("0 0 1 0 5 8 0 1 2 3 4 5"), "{text}");
    assert!(text.contains("ngày 14 tháng 3 năm 1958"), "{text}");
    let wav = dir.path().join("review.wav");
    kiosk::ui::speech::render_wav(&text, &wav).expect("espeak-ng renders");
    let (seconds, rms) = wav_stats(&std::fs::read(&wav).expect("wav"));
    let words = text.split_whitespace().count() as f64;
    assert!(rms > 500.0, "speech is not silent (rms {rms})");
    assert!(
        seconds > words * 0.15 && seconds < words * 1.5,
        "{seconds:.1} s for {words} words"
    );
    press(&k, "Đúng").await;
    assert_eq!(wizard_state(app).get_step(), 8);
    settle(&k).await;
}

/// Duration and loudness (RMS of 16-bit samples) of a PCM WAV file.
fn wav_stats(bytes: &[u8]) -> (f64, f64) {
    assert_eq!(&bytes[0..4], b"RIFF");
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at =
        |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let (mut i, mut rate, mut channels) = (12, 0u32, 1u16);
    while i + 8 <= bytes.len() {
        let (id, len) = (&bytes[i..i + 4], u32_at(i + 4) as usize);
        if id == b"fmt " {
            channels = u16_at(i + 10);
            rate = u32_at(i + 12);
            assert_eq!(u16_at(i + 22), 16, "16-bit samples");
        }
        if id == b"data" {
            let end = (i + 8 + len).min(bytes.len());
            let samples: Vec<f64> = bytes[i + 8..end]
                .chunks_exact(2)
                .map(|c| f64::from(i16::from_le_bytes([c[0], c[1]])))
                .collect();
            let rms =
                (samples.iter().map(|s| s * s).sum::<f64>() / samples.len().max(1) as f64).sqrt();
            let seconds = samples.len() as f64 / f64::from(channels) / f64::from(rate.max(1));
            return (seconds, rms);
        }
        i += 8 + len;
    }
    panic!("no data chunk");
}

async fn photo_verdicts_and_ten_fingers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let k = screen_kiosk(dir.path());
    settle(&k).await;
    sign_in(&k, OPERATOR_PIN).await;
    press(&k, "Đăng ký hồ sơ mới").await;
    press(&k, "Ảnh").await;
    let app = &k.window;
    wait_until(&k, 60, |k| capture_state(&k.window).get_previewing()).await;
    press(&k, "Chụp ảnh").await;
    wait_until(&k, 60, |k| !state(&k.window).get_busy()).await;
    // The shot replaces the live view, with each check's verdict in words and "Chụp lại".
    assert!(capture_state(app).get_reviewing_shot());
    assert!(
        ElementHandle::find_by_accessible_label(app, "Ảnh vừa chụp")
            .next()
            .is_some(),
        "the captured photo is shown"
    );
    let verdict = find(app, "Kết quả kiểm tra ảnh")
        .accessible_value()
        .unwrap_or_default();
    assert!(verdict.contains("Đã lưu ảnh"), "{verdict}");
    let checks: Vec<(bool, String)> = capture_state(app)
        .get_photo_checks()
        .iter()
        .map(|c| (c.ok, c.text.to_string()))
        .collect();
    assert!(checks.len() >= 4, "{checks:?}");
    assert!(
        checks.iter().all(|(ok, t)| *ok && !t.is_empty()),
        "{checks:?}"
    );
    assert!(!capture_state(app).get_camera_status().is_empty());
    press(&k, "Chụp lại").await;
    assert!(!capture_state(app).get_reviewing_shot());
    wait_until(&k, 60, |k| capture_state(&k.window).get_previewing()).await;
    assert!(control(app, "Chụp ảnh").is_some());

    // Ten fingers recorded (here all as exceptions): the operator is told they are done.
    press(&k, "Vân tay").await;
    for _ in 0..10 {
        press(&k, "Không lấy được ngón này").await;
        press(&k, "Đang băng bó").await;
        press(&k, "Lưu ngoại lệ").await;
    }
    assert_eq!(k.form().fingers.len(), 10);
    assert!(
        capture_state(app)
            .get_finger_message()
            .contains("mười ngón"),
        "{:?}",
        capture_state(app).get_finger_message()
    );
    assert!(k.form().fingers.iter().all(|f| matches!(
        f.outcome,
        FingerOutcome::Exception {
            reason: ExceptionReason::Bandaged,
            ..
        }
    )));
    settle(&k).await;
}

async fn discard_fields_supervisor_view_and_lock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let k = screen_kiosk(dir.path());
    settle(&k).await;
    let app = &k.window;
    // A wrong-PIN message belongs to the account it was about, not the next one chosen.
    sign_in(&k, "0000000000").await;
    assert!(lock_state(app).get_pin_message().contains("Sai mã PIN"));
    press(&k, "Lê Văn Nam (giám sát)").await;
    assert_eq!(lock_state(app).get_pin_message(), "");
    press(&k, "Trần Thị Mai").await;
    sign_in(&k, OPERATOR_PIN).await;

    // Blood type, spouse's ID number and temporary residence are on screen and reach the form
    // (a tall window: these steps scroll on the real screen).
    k.window
        .window()
        .set_size(slint::PhysicalSize::new(1280, 2400));
    press(&k, "Đăng ký hồ sơ mới").await;
    press(&k, "Cá nhân").await;
    press(&k, "O+").await;
    press(&k, "Người thân").await;
    fill(&k, "Số định danh vợ hoặc chồng", "001060012345").await;
    press(&k, "Địa chỉ").await;
    assert!(
        ElementHandle::find_by_accessible_label(app, "Nơi tạm trú (nếu có)")
            .next()
            .is_some()
            || labels(app).iter().any(|l| l.contains("tạm trú")),
        "temporary residence on the address step"
    );
    let (rec, _) = k.form().to_record(Utc::now());
    assert_eq!(rec.applicant.blood_type, Some(BloodType::OPos));
    assert_eq!(
        rec.relatives.spouse.and_then(|s| s.id_number).as_deref(),
        Some("001060012345")
    );

    // A capture in progress stops when the kiosk locks.
    press(&k, "Vân tay").await;
    press(&k, "Lấy vân tay ngón này").await;
    assert!(state(app).get_busy());
    state(app).invoke_lock();
    wait_until(&k, 60, |k| !state(&k.window).get_busy()).await;
    assert!(
        k.form().fingers.is_empty(),
        "no finger taken after the lock"
    );
    sign_in(&k, OPERATOR_PIN).await;

    // Discarding asks first, then the draft is gone and the audit log says who did it.
    let id = k.form().id.to_string();
    press(&k, "Huỷ hồ sơ").await;
    press(&k, "Không huỷ").await;
    assert_eq!(state(app).get_page(), "wizard");
    press(&k, "Huỷ hồ sơ").await;
    press(&k, "Huỷ hồ sơ này").await;
    assert_eq!(state(app).get_page(), "home");
    assert_eq!(home_state(app).get_draft_count(), 0);
    {
        let store = Store::open(dir.path()).expect("store");
        assert!(store.draft(&id).expect("query").is_none(), "draft removed");
        let entries = store.audit_entries(50).expect("audit");
        let e = entries
            .iter()
            .find(|e| e.action == "draft.discard")
            .expect("discard audited");
        assert_eq!(e.subject.as_deref(), Some(id.as_str()));
        assert_eq!(e.actor, "canbo");
    }

    // The supervisor's view of a sealed record: photo, ten fingers, the operator's name.
    press(&k, "Đăng ký hồ sơ mới").await;
    k.load_form(kiosk::ui::form::Form::from_record(
        &enroll_sync::record::example(Utc::now()),
    ));
    settle(&k).await;
    press(&k, "Ảnh").await;
    press(&k, "Chụp ảnh").await;
    wait_until(&k, 60, |k| !state(&k.window).get_busy()).await;
    wizard_state(app).invoke_go_step(8);
    settle(&k).await;
    for f in wizard_state(app)
        .get_findings()
        .iter()
        .filter(|f| f.warning)
    {
        wizard_state(app).invoke_acknowledge(f.code, f.path);
    }
    settle(&k).await;
    wizard_state(app).invoke_seal();
    settle(&k).await;
    assert_eq!(
        wizard_state(app).get_step(),
        9,
        "{:?}",
        state(app).get_banner()
    );
    state(app).invoke_lock();
    settle(&k).await;
    press(&k, "Lê Văn Nam (giám sát)").await;
    sign_in(&k, SUPERVISOR_PIN).await;
    state(app).invoke_navigate("supervisor".into());
    settle(&k).await;
    let row = records_state(app)
        .get_awaiting()
        .row_data(0)
        .expect("awaiting");
    records_state(app).invoke_open_record(row.id);
    settle(&k).await;
    assert_eq!(state(app).get_page(), "detail");
    assert!(records_state(app).get_detail_has_photo(), "the photo shows");
    assert_eq!(records_state(app).get_detail_fingers().row_count(), 10);
    let lines: Vec<(String, String)> = records_state(app)
        .get_detail_lines()
        .iter()
        .map(|l| (l.label.to_string(), l.value.to_string()))
        .collect();
    assert!(
        lines
            .iter()
            .any(|(l, v)| l == "Cán bộ thu nhận" && v == "Trần Thị Mai"),
        "the operator's name, not the login: {lines:?}"
    );
    settle(&k).await;
    std::thread::sleep(Duration::from_millis(10));
}

async fn errors_without_layout_jumps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let k = kiosk(dir.path());
    settle(&k).await;
    sign_in(&k, OPERATOR_PIN).await;
    press(&k, "Đăng ký hồ sơ mới").await;
    press(&k, "Cá nhân").await;
    let app = &k.window;
    let shown = |app: &AppWindow| -> Vec<String> {
        wizard_state(app)
            .get_findings()
            .iter()
            .filter(|f| f.shown)
            .map(|f| f.code.to_string())
            .collect()
    };
    // Nothing is flagged before it was touched, though the empty form has findings.
    assert!(wizard_state(app).get_findings().row_count() > 0);
    assert!(shown(app).is_empty(), "{:?}", shown(app));
    let before = control(app, "Nam")
        .expect("sex choice")
        .absolute_position()
        .y;
    fill(&k, "Ngày sinh", "31/13/1958").await;
    assert_eq!(shown(app), vec!["form.birth_date.format".to_owned()]);
    let after = control(app, "Nam")
        .expect("sex choice")
        .absolute_position()
        .y;
    assert_eq!(
        before, after,
        "the error takes reserved space: nothing below moves"
    );
    fill(&k, "Ngày sinh", "").await;
    assert_eq!(
        shown(app),
        vec!["form.birth_date.required".to_owned()],
        "empty says required"
    );
    // "Tiếp" shows every finding of the step it leaves.
    press(&k, "Tiếp").await;
    let shown_now = shown(app);
    assert!(
        shown_now.iter().any(|c| c == "form.sex.required"),
        "{shown_now:?}"
    );
    settle(&k).await;
}

#[test]
fn operator_and_resident_on_the_real_screen() {
    init(false);
    run(async {
        typing_in_the_lower_half().await;
        lower_half_keeps_focus_at_every_size().await;
        errors_without_layout_jumps().await;
        resident_review_and_read_aloud().await;
        photo_verdicts_and_ten_fingers().await;
        discard_fields_supervisor_view_and_lock().await;
    });
}
