//! Live validation, the finger exception dialog, the language switch and the idle lock,
//! driven by accessible labels through the Slint testing backend. One test function: the
//! Slint platform can be set once per process.

mod ui_common;

use std::time::Duration;

use enroll_sync::record::{ExceptionReason, Finger, FingerOutcome};
use slint::{ComponentHandle, Model};
use ui_common::*;

fn finding_paths(app: &kiosk::ui::AppWindow) -> Vec<(String, String, bool)> {
    wizard_state(app)
        .get_findings()
        .iter()
        .map(|f| (f.path.to_string(), f.code.to_string(), f.acknowledged))
        .collect()
}

async fn live_validation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let k = kiosk(dir.path());
    settle(&k).await;
    sign_in(&k, OPERATOR_PIN).await;
    press(&k, "Đăng ký hồ sơ mới").await;
    press(&k, "Cấp mới thẻ căn cước").await;
    press(&k, "Tiếp").await;
    let app = &k.window;

    // Half an ID number: the finding appears under the field while typing.
    fill(&k, "Số định danh cá nhân (12 số)", "0010").await;
    let f = finding_paths(app);
    assert!(
        f.iter()
            .any(|(p, c, _)| p == "applicant.id_number" && c == "id_number.format"),
        "{f:?}"
    );
    let message = wizard_state(app)
        .get_findings()
        .iter()
        .find(|x| x.code == "id_number.format")
        .expect("format finding")
        .message
        .to_string();
    assert!(
        !find_all(app, &message).is_empty(),
        "the message is shown on screen"
    );

    // Complete and consistent with a man born 1958: the format finding goes away.
    fill(&k, "Số định danh cá nhân (12 số)", "001058012345").await;
    assert!(!finding_paths(app)
        .iter()
        .any(|(_, c, _)| c == "id_number.format"));
    press(&k, "Tiếp").await;
    fill(&k, "Ngày sinh", "14/03/1958").await;
    press(&k, "Nữ").await;
    // Declared female, but the century digit 0 says male: a warning that must be acknowledged.
    let f = finding_paths(app);
    let (path, code, acked) = f
        .iter()
        .find(|(_, c, _)| c == "id_number.sex_mismatch")
        .cloned()
        .unwrap_or_else(|| panic!("no sex mismatch warning: {f:?}"));
    assert!(!acked);
    assert!(wizard_state(app).get_open_warnings() >= 1);
    press(&k, "Đã kiểm tra, vẫn giữ").await;
    let form = k.form();
    let ack = form
        .acknowledged
        .iter()
        .find(|a| a.code == code && a.path == path)
        .expect("acknowledgement recorded");
    assert_eq!(ack.by, "canbo");
    assert!(finding_paths(app).iter().any(|(_, c, a)| *c == code && *a));

    // An impossible date is explained in plain words on the date field.
    fill(&k, "Ngày sinh", "31/13/1958").await;
    assert!(finding_paths(app)
        .iter()
        .any(|(p, c, _)| p == "applicant.birth_date" && c == "form.birth_date.format"));
    settle(&k).await;
}

async fn exception_dialog() {
    let dir = tempfile::tempdir().expect("tempdir");
    let k = kiosk(dir.path());
    settle(&k).await;
    sign_in(&k, OPERATOR_PIN).await;
    press(&k, "Đăng ký hồ sơ mới").await;
    press(&k, "Vân tay").await;
    let app = &k.window;
    assert_eq!(wizard_state(app).get_step(), 6);
    // The simulated scanner says plainly that its fingers are synthetic.
    assert!(capture_state(app).get_scanner_status().contains("mô phỏng"));

    press(&k, "Không lấy được ngón này").await;
    assert!(capture_state(app).get_exception_open());
    assert_eq!(
        find(app, "Lưu ngoại lệ").accessible_enabled(),
        Some(false),
        "a reason is required"
    );
    press(&k, "Đang băng bó").await;
    press(&k, "Tạm thời").await;
    // Proof photo (face and both hands) from the simulated camera, off the UI thread.
    press(&k, "Chụp ảnh chứng minh (mặt và hai bàn tay)").await;
    wait_until(&k, 60, |k| !state(&k.window).get_busy()).await;
    assert!(
        capture_state(app).get_exception_has_proof(),
        "{:?}",
        state(app).get_banner()
    );
    press(&k, "Lưu ngoại lệ").await;
    assert!(!capture_state(app).get_exception_open());
    let form = k.form();
    let rec = form
        .finger(Finger::RightThumb)
        .expect("right thumb recorded");
    assert!(
        matches!(
            &rec.outcome,
            FingerOutcome::Exception {
                reason: ExceptionReason::Bandaged,
                permanent: false,
                proof_photo_sha256: Some(_),
                ..
            }
        ),
        "{rec:?}"
    );
    assert_eq!(
        capture_state(app).get_current_finger(),
        1,
        "moves on to the next finger"
    );
    let slot = capture_state(app).get_fingers().row_data(0).expect("slot");
    assert_eq!(slot.state, "exception");

    // Huỷ closes the dialog without recording anything.
    press(&k, "Không lấy được ngón này").await;
    press(&k, "Huỷ").await;
    assert!(k.form().finger(Finger::RightIndex).is_none());

    // The right index through the R307 simulator on a real pseudo-terminal, off the UI thread.
    press(&k, "Lấy vân tay ngón này").await;
    assert!(state(app).get_busy(), "capture runs in the background");
    wait_until(&k, 60, |k| !state(&k.window).get_busy()).await;
    let form = k.form();
    let rec = form.finger(Finger::RightIndex).unwrap_or_else(|| {
        panic!(
            "no capture: {:?} {:?}",
            capture_state(app).get_finger_message(),
            state(app).get_banner()
        )
    });
    let FingerOutcome::Captured {
        image_sha256,
        quality,
        attempts,
        ..
    } = &rec.outcome
    else {
        panic!("expected a capture, got {rec:?}");
    };
    assert!(*quality > 0 && *attempts >= 1);
    let slot = capture_state(app).get_fingers().row_data(1).expect("slot");
    assert!(
        slot.state == "captured" || slot.state == "forced",
        "{}",
        slot.state
    );
    assert_eq!(slot.quality, i32::from(*quality));
    assert_eq!(capture_state(app).get_current_finger(), 2);
    // The image is a blob in the store, referenced by its hash.
    let image = image_sha256.clone();
    let mut store = kiosk::store::Store::open(dir.path()).expect("store");
    store
        .unlock("canbo", OPERATOR_PIN, chrono::Utc::now())
        .expect("unlock");
    let blob = store
        .blob(&image)
        .expect("blob query")
        .expect("image blob stored");
    assert_eq!(blob.1, "image/png");

    // The face photo through the camera pipeline (crop to 2:3, checks, JPEG).
    press(&k, "Ảnh").await;
    // The live view (cropped to the guide) runs while the step is on screen.
    wait_until(&k, 60, |k| capture_state(&k.window).get_previewing()).await;
    let live = capture_state(app).get_live_preview().size();
    assert_eq!((live.width, live.height), (300, 450));
    press(&k, "Chụp ảnh").await;
    wait_until(&k, 60, |k| !state(&k.window).get_busy()).await;
    let photo = k
        .form()
        .photo
        .unwrap_or_else(|| panic!("no photo: {:?}", state(app).get_banner()));
    assert_eq!((photo.width, photo.height), (600, 900));
    assert!(capture_state(app).get_has_photo());
    // Leaving the step stops the live view.
    press(&k, "Vân tay").await;
    assert!(!capture_state(app).get_previewing());
    settle(&k).await;
}

async fn language_switch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let k = kiosk(dir.path());
    settle(&k).await;
    sign_in(&k, OPERATOR_PIN).await;
    let app = &k.window;
    press(&k, "Cài đặt").await;
    press(&k, "English").await;
    assert_eq!(state(app).get_language(), "en");
    // Markup strings (bundled translation) and Rust strings switch at once.
    assert!(!find_all(app, "Lock").is_empty());
    assert!(find_all(app, "Khoá máy").is_empty());
    assert_eq!(
        wizard_state(app).get_step_names().row_data(0).as_deref(),
        Some("Application")
    );
    press(&k, "Home").await;
    press(&k, "New enrollment").await;
    press(&k, "Next").await;
    fill(&k, "Personal ID number (12 digits)", "12").await;
    let msg = wizard_state(app)
        .get_findings()
        .iter()
        .find(|f| f.path == "applicant.id_number")
        .expect("finding")
        .message;
    assert!(msg.is_ascii(), "finding in English: {msg}");
    // The choice survives a restart of the UI.
    press(&k, "Keep draft, go home").await;
    press(&k, "Settings").await;
    press(&k, "Tiếng Việt").await;
    assert!(!find_all(app, "Khoá máy").is_empty());
    settle(&k).await;
}

async fn idle_lock_keeps_the_draft() {
    let dir = tempfile::tempdir().expect("tempdir");
    let k = kiosk(dir.path());
    settle(&k).await;
    sign_in(&k, OPERATOR_PIN).await;
    let app = &k.window;
    press(&k, "Cài đặt").await;
    press(&k, "2 phút").await;
    assert_eq!(settings_state(app).get_idle_seconds(), 120);
    press(&k, "Trang chính").await;
    press(&k, "Đăng ký hồ sơ mới").await;
    press(&k, "Cá nhân").await;
    fill(&k, "Tên", "Hoà").await;

    i_slint_backend_testing::mock_elapsed_time(Duration::from_secs(119));
    settle(&k).await;
    assert_eq!(state(app).get_page(), "wizard", "not yet");
    i_slint_backend_testing::mock_elapsed_time(Duration::from_secs(2));
    settle(&k).await;
    assert_eq!(state(app).get_page(), "lock");
    assert!(state(app).get_has_draft());
    assert_eq!(state(app).get_operator_name(), "");

    sign_in(&k, OPERATOR_PIN).await;
    assert_eq!(state(app).get_page(), "wizard");
    assert_eq!(wizard_state(app).get_step(), 2);
    assert_eq!(find(app, "Tên").accessible_value().as_deref(), Some("Hoà"));

    // Nothing is timed against the resident: the review screen never locks. (It opens only
    // once there is something to confirm.)
    fill(&k, "Họ", "Trần").await;
    fill(&k, "Ngày sinh", "1950").await;
    press(&k, "Nam").await;
    press(&k, "Địa chỉ").await;
    pick(&k, "Chọn Tỉnh, thành phố…", "ha noi").await;
    press(&k, "Người dân xem").await;
    assert_eq!(wizard_state(app).get_step(), 7);
    i_slint_backend_testing::mock_elapsed_time(Duration::from_secs(600));
    settle(&k).await;
    assert_eq!(state(app).get_page(), "wizard");
    settle(&k).await;
}

/// The QR code on the back of a card, shown to the (simulated) camera, fills the form.
async fn qr_prefill() {
    use enroll_hardware::camera::sim::{SimConfig, SimSource};
    use enroll_hardware::camera::DeviceSelector;
    let dir = tempfile::tempdir().expect("tempdir");
    let pictures = tempfile::tempdir().expect("tempdir");
    let card = "038185012345|173456789|Lê Thị Mai|12031985|Nữ|Thôn Thượng, Xã Quảng Phú, Tỉnh Thanh Hóa|20052021";
    // The card in front of a 1280×720 camera: the code on a white page, not stretched.
    let code = enroll_hardware::qr::render_qr(card, 10).expect("render");
    let mut page = image::GrayImage::from_pixel(1280, 720, image::Luma([255]));
    let (x, y) = ((1280 - code.width()) / 2, (720 - code.height()) / 2);
    image::imageops::overlay(&mut page, &code, i64::from(x), i64::from(y));
    page.save(pictures.path().join("card.png")).expect("save");
    let camera = DeviceSelector::Sim(SimConfig {
        source: SimSource::Folder(pictures.path().to_owned()),
        ..SimConfig::default()
    });
    let k = kiosk_with_camera(dir.path(), camera);
    settle(&k).await;
    sign_in(&k, OPERATOR_PIN).await;
    press(&k, "Đăng ký hồ sơ mới").await;
    press(&k, "Số định danh").await;
    press(&k, "Quét mã QR trên thẻ cũ").await;
    wait_until(&k, 60, |k| !state(&k.window).get_busy()).await;
    let form = k.form();
    assert_eq!(
        form.get("applicant.id_number"),
        "038185012345",
        "{:?}",
        state(&k.window).get_banner()
    );
    assert_eq!(form.get("applicant.name.family"), "Lê");
    assert_eq!(form.get("applicant.name.middle"), "Thị");
    assert_eq!(form.get("applicant.name.given"), "Mai");
    assert_eq!(form.get("applicant.birth_date"), "12/03/1985");
    assert_eq!(form.get("applicant.sex"), "female");
    assert_eq!(
        find(&k.window, "Số định danh cá nhân (12 số)")
            .accessible_value()
            .as_deref(),
        Some("038185012345")
    );
    settle(&k).await;
}

async fn type_pin(k: &Kiosk, pin: &str) {
    for d in pin.chars() {
        tap(k, &d.to_string()).await;
    }
}

/// An operator changes their own PIN on the touch screen: a wrong current PIN locks the kiosk
/// as a wrong sign-in does; the new PIN must follow the rule, differ, and be typed twice alike;
/// afterwards only the new PIN opens the kiosk.
async fn pin_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let k = kiosk(dir.path());
    settle(&k).await;
    sign_in(&k, OPERATOR_PIN).await;
    let app = &k.window;
    let pc = app.global::<kiosk::ui::PinChangeState>();
    press(&k, "Cài đặt").await;
    press(&k, "Đổi mã PIN").await;
    assert_eq!(state(app).get_page(), "pin-change");
    assert_eq!(pc.get_min_digits(), 10, "no TPM here: 10 digits at least");

    // A wrong current PIN: signed out, told why on the lock screen.
    type_pin(&k, "1111111111").await;
    tap(&k, "Tiếp").await;
    wait_until(&k, 60, |k| !state(&k.window).get_busy()).await;
    assert_eq!(state(app).get_page(), "lock");
    let msg = lock_state(app).get_pin_message();
    assert!(msg.contains("Sai mã PIN"), "{msg}");
    sign_in(&k, OPERATOR_PIN).await;
    assert_eq!(
        state(app).get_page(),
        "settings",
        "back where the person was"
    );

    press(&k, "Đổi mã PIN").await;
    type_pin(&k, OPERATOR_PIN).await;
    tap(&k, "Tiếp").await;
    wait_until(&k, 60, |k| !state(&k.window).get_busy()).await;
    assert_eq!(pc.get_step(), 1, "{}", pc.get_message());
    // Too short for a kiosk without a TPM; then the same as before.
    type_pin(&k, "246802").await;
    tap(&k, "Tiếp").await;
    assert_eq!(pc.get_step(), 1);
    assert!(pc.get_message().contains("10"), "{}", pc.get_message());
    assert_eq!(pc.get_count(), 0, "a refused PIN is cleared");
    type_pin(&k, OPERATOR_PIN).await;
    tap(&k, "Tiếp").await;
    assert_eq!(pc.get_step(), 1);
    assert!(pc.get_message().contains("khác"), "{}", pc.get_message());
    // Typed twice, differently: the new PIN is asked again.
    type_pin(&k, "5556667778").await;
    tap(&k, "⌫").await;
    type_pin(&k, "8").await;
    tap(&k, "Tiếp").await;
    assert_eq!(pc.get_step(), 2, "{}", pc.get_message());
    type_pin(&k, "5556667779").await;
    tap(&k, "Đổi mã PIN").await;
    assert_eq!(pc.get_step(), 1);
    assert!(
        pc.get_message().contains("không giống"),
        "{}",
        pc.get_message()
    );
    type_pin(&k, "5556667778").await;
    tap(&k, "Tiếp").await;
    type_pin(&k, "5556667778").await;
    tap(&k, "Đổi mã PIN").await;
    wait_until(&k, 60, |k| !state(&k.window).get_busy()).await;
    assert_eq!(state(app).get_page(), "settings");
    let banner = state(app).get_banner();
    assert!(banner.contains("Đã đổi mã PIN"), "{banner}");
    assert!(!state(app).get_banner_error());

    // Only the new PIN opens the kiosk now.
    press(&k, "Khoá máy").await;
    sign_in(&k, OPERATOR_PIN).await;
    assert_eq!(state(app).get_page(), "lock");
    sign_in(&k, "5556667778").await;
    assert_ne!(
        state(app).get_page(),
        "lock",
        "{}",
        lock_state(app).get_pin_message()
    );
    settle(&k).await;
}

#[test]
fn validation_exceptions_language_idle_lock() {
    init(false);
    run(async {
        live_validation().await;
        exception_dialog().await;
        language_switch().await;
        idle_lock_keeps_the_draft().await;
        qr_prefill().await;
        pin_change().await;
    });
}
