//! The visit itself: sign in, every wizard step, photo, ten fingers, the resident's review,
//! consent, receipt, supervisor approval, sync to HQ — a screenshot at each screen.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

use chrono::Utc;
use slint::{ComponentHandle, Model};

use super::drive::Driver;
use super::report::Report;
use super::{TourError, OPERATOR, SUPERVISOR};
use crate::ui::scanner::ScannerSource;
use crate::ui::{Kiosk, Options};

/// The applicant: a man born in 1956, registered in Hà Nội (province 001, century digit 0).
const ID_NUMBER: &str = "001056004217";

type Result<T> = std::result::Result<T, TourError>;

/// Runs the UI on Slint's testing backend (software renderer, real time) until the visit ends.
pub fn run(data_dir: &Path, out: &Path) -> Result<Report> {
    let backend = i_slint_backend_testing::TestingBackend::new(
        i_slint_backend_testing::TestingBackendOptions {
            mock_time: false,
            threading: true,
            renderer_name: Some("software".into()),
        },
    );
    slint::platform::set_platform(Box::new(backend)).map_err(|e| TourError::Ui(e.to_string()))?;
    let kiosk = Kiosk::new(Options {
        data_dir: data_dir.to_owned(),
        demo: false,
        scanner: Some(ScannerSource::Simulated),
        camera: Some(enroll_hardware::camera::DeviceSelector::Sim(
            Default::default(),
        )),
    })
    .map_err(|e| TourError::Ui(e.to_string()))?;
    kiosk
        .window
        .show()
        .map_err(|e| TourError::Ui(e.to_string()))?;
    let result: Rc<RefCell<Option<Result<Report>>>> = Rc::default();
    let slot = result.clone();
    let driver = Driver::new(Rc::new(kiosk), out.to_owned());
    slint::spawn_local(async move {
        let mut report = Report::new(Utc::now());
        let r = visit(&driver, &mut report).await.map(|()| {
            report.steps = driver.steps.borrow().clone();
            report
        });
        *slot.borrow_mut() = Some(r);
        // Fails only when the loop has already ended, which is what we ask for.
        let _ = slint::quit_event_loop();
    })
    .map_err(|e| TourError::Ui(e.to_string()))?;
    slint::run_event_loop().map_err(|e| TourError::Ui(e.to_string()))?;
    let r = result.borrow_mut().take();
    r.unwrap_or_else(|| {
        Err(TourError::Ui(
            "vòng sự kiện dừng sớm / the event loop ended early".into(),
        ))
    })
}

fn step_error(d: &Driver, what: &str) -> TourError {
    let g = d.g();
    let findings: Vec<String> = d
        .wizard()
        .get_findings()
        .iter()
        .filter(|f| !f.acknowledged)
        .map(|f| format!("{}: {}", f.path, f.message))
        .collect();
    TourError::Step(format!(
        "{what} (trang / page {}, bước / step {}; {}; {})",
        d.page(),
        d.wizard().get_step(),
        g.get_banner(),
        findings.join("; ")
    ))
}

async fn sign_in(d: &Driver, who: (&str, &str, &str)) -> Result<()> {
    // The lock screen names supervisors with their role, as an operator reads it.
    let label = if who == SUPERVISOR {
        format!("{} {}", who.1, crate::ui::SUPERVISOR_TAG.0)
    } else {
        who.1.to_owned()
    };
    d.press(&label).await?;
    for digit in who.2.chars() {
        d.tap(&digit.to_string()).await?;
    }
    d.tap("Mở máy").await?;
    // The PIN opens the account's key slot on the store's thread (Argon2id).
    d.wait("mở máy / sign-in", 120, |d| !d.g().get_busy())
        .await?;
    if d.page() == "lock" {
        return Err(TourError::Step(format!(
            "không mở được máy / sign-in failed: {}",
            d.lock().get_pin_message()
        )));
    }
    // Unlocking returns to where the kiosk was locked; the tour goes on from home.
    if d.page() != "home" {
        d.press("Trang chính").await?;
    }
    Ok(())
}

async fn next(d: &Driver, expect_step: i32) -> Result<()> {
    d.press("Tiếp").await?;
    if d.wizard().get_step() != expect_step {
        return Err(step_error(d, "không sang được bước sau / could not go on"));
    }
    Ok(())
}

async fn visit(d: &Driver, report: &mut Report) -> Result<()> {
    d.settle().await?;
    d.wait("màn hình khoá / the lock screen", 60, |d| {
        d.has(OPERATOR.1)
    })
    .await?;
    let (op, sup) = (OPERATOR.1, SUPERVISOR.1);
    d.snap(
        "lock",
        format!("Màn hình khoá: chọn người dùng ({op}, {sup}) và nhập PIN."),
        format!("The lock screen: choose the user ({op}, {sup}) and enter the PIN."),
    )
    .await?;
    sign_in(d, OPERATOR).await?;
    let name = d.g().get_operator_name();
    d.snap(
        "home",
        format!("Trang chính: cán bộ {name} đã mở máy."),
        format!("Home: operator {name} signed in."),
    )
    .await?;

    d.press("Đăng ký hồ sơ mới").await?;
    d.press("Cấp mới thẻ căn cước").await?;
    d.snap(
        "kind",
        "Loại thủ tục: cấp mới thẻ căn cước.",
        "Application type: a new identity card.",
    )
    .await?;
    next(d, 1).await?;

    d.fill("Số định danh cá nhân (12 số)", ID_NUMBER).await?;
    d.snap(
        "identity",
        format!("Số định danh {ID_NUMBER}."),
        format!("Personal ID number {ID_NUMBER}."),
    )
    .await?;
    next(d, 2).await?;

    d.fill("Họ", "Nguyễn").await?;
    d.fill("Chữ đệm", "Văn").await?;
    d.fill("Tên", "Hùng").await?;
    d.fill("Ngày sinh", "12/03/1956").await?;
    d.press("Nam").await?;
    let ethnic = d.pick("Chọn Dân tộc…", "kinh").await?;
    let religion = d.pick("Chọn Tôn giáo…", "khong").await?;
    d.snap(
        "demographics",
        format!("Nguyễn Văn Hùng, nam, sinh 12/03/1956; dân tộc {ethnic}; tôn giáo {religion}."),
        format!("Nguyễn Văn Hùng, male, born 12/03/1956; ethnicity {ethnic}; religion {religion}."),
    )
    .await?;
    next(d, 3).await?;

    let province = d.pick("Chọn Tỉnh, thành phố…", "ha noi").await?;
    let commune = d.pick("Chọn Xã, phường…", "").await?;
    d.fill("Thôn, xóm, số nhà, đường", "Số 12 ngõ 5 phố Đội Cấn")
        .await?;
    d.press("Nơi ở hiện tại giống nơi thường trú").await?;
    // Birth registration place, home town, place of birth: the province pickers left.
    for _ in 0..4 {
        if !d.has("Chọn Tỉnh, thành phố…") {
            break;
        }
        d.pick("Chọn Tỉnh, thành phố…", "ha noi").await?;
    }
    d.snap(
        "addresses",
        format!("Thường trú: {commune}, {province}; nơi ở hiện tại giống thường trú."),
        format!("Permanent residence: {commune}, {province}; current residence the same."),
    )
    .await?;
    next(d, 4).await?;

    d.fill("Họ tên cha", "Nguyễn Văn Tư").await?;
    d.fill("Họ tên mẹ", "Trần Thị Hoa").await?;
    d.fill("Họ tên chủ hộ", "Nguyễn Văn Hùng").await?;
    d.fill("Quan hệ với chủ hộ", "chủ hộ").await?;
    d.snap(
        "relatives",
        "Cha, mẹ, chủ hộ (chính người làm thủ tục).",
        "Father, mother, head of household (the applicant).",
    )
    .await?;
    next(d, 5).await?;

    d.wait("xem trước máy ảnh / the camera preview", 60, |d| {
        d.capture().get_previewing()
    })
    .await?;
    d.snap(
        "photo-live",
        "Ảnh: máy ảnh mô phỏng đang xem trước trong khung ảnh.",
        "Photo: the simulated camera's live preview in the guide.",
    )
    .await?;
    d.press("Chụp ảnh").await?;
    d.wait("chụp ảnh / the photo", 120, |d| !d.g().get_busy())
        .await?;
    if !d.capture().get_has_photo() {
        return Err(step_error(d, "không có ảnh / no photo"));
    }
    d.snap(
        "photo",
        "Ảnh đã chụp và qua các bước kiểm tra tự động.",
        "The photo is taken and passed the automatic checks.",
    )
    .await?;
    next(d, 6).await?;

    for i in 0..10 {
        d.press("Lấy vân tay ngón này").await?;
        d.wait("máy quét / the scanner", 180, |d| !d.g().get_busy())
            .await?;
        let slot = d
            .capture()
            .get_fingers()
            .row_data(i)
            .ok_or_else(|| step_error(d, "không có ô ngón tay / no finger slot"))?;
        if slot.state != "captured" && slot.state != "forced" {
            let why = format!(
                "ngón {} chưa lấy được / finger not captured: {}",
                slot.label,
                d.capture().get_finger_message()
            );
            return Err(step_error(d, &why));
        }
        if i == 0 {
            let (label, q) = (slot.label, slot.quality);
            d.snap(
                "finger-1",
                format!("Ngón đầu tiên ({label}): chất lượng {q}."),
                format!("The first finger ({label}): quality {q}."),
            )
            .await?;
        }
    }
    let qualities: Vec<String> = d
        .capture()
        .get_fingers()
        .iter()
        .map(|f| f.quality.to_string())
        .collect();
    let qualities = qualities.join(", ");
    d.snap(
        "fingers",
        format!("Đủ mười ngón, chất lượng: {qualities}."),
        format!("All ten fingers, quality: {qualities}."),
    )
    .await?;

    d.press("Cho người dân xem lại").await?;
    let lines = d.resident().get_resident_lines().row_count();
    d.snap(
        "resident-review",
        format!("Người dân xem lại {lines} dòng thông tin, chữ lớn."),
        format!("The resident reviews {lines} lines in large type."),
    )
    .await?;
    d.press("Đúng").await?;
    if d.wizard().get_step() != 8 {
        return Err(step_error(
            d,
            "người dân chưa xác nhận / the resident's confirmation",
        ));
    }

    d.press("Người làm thủ tục").await?;
    while d.wizard().get_open_warnings() > 0 {
        d.press("Đã kiểm tra, vẫn giữ").await?;
    }
    if d.wizard().get_open_errors() > 0 {
        return Err(step_error(d, "còn lỗi / errors remain"));
    }
    d.snap(
        "consent",
        "Người làm thủ tục đồng ý; không còn lỗi hay cảnh báo.",
        "The applicant consents; no errors or warnings are left.",
    )
    .await?;
    d.press("Hoàn tất và lưu hồ sơ").await?;
    if d.wizard().get_step() != 9 {
        return Err(step_error(
            d,
            "chưa lưu được hồ sơ / the record was not saved",
        ));
    }
    report.receipt = d.wizard().get_receipt_number().to_string();
    let no = report.receipt.clone();
    d.snap(
        "receipt",
        format!("Đã lưu; biên nhận số {no} kèm mã QR."),
        format!("Saved; receipt number {no} with its QR code."),
    )
    .await?;

    d.press("Khoá máy").await?;
    sign_in(d, SUPERVISOR).await?;
    d.press("Duyệt hồ sơ (giám sát)").await?;
    let row = d
        .records()
        .get_awaiting()
        .row_data(0)
        .ok_or_else(|| step_error(d, "không có hồ sơ chờ duyệt / nothing awaits approval"))?;
    let title = row.title.to_string();
    d.snap(
        "supervisor",
        format!("Giám sát viên {sup}: hồ sơ chờ duyệt {title}."),
        format!("Supervisor {sup}: {title} awaits approval."),
    )
    .await?;
    d.press(&title).await?;
    d.snap(
        "record",
        format!("Hồ sơ {title} mở để duyệt: thông tin và lịch sử."),
        format!("The record of {title} open for review: its data and history."),
    )
    .await?;
    d.press("Duyệt hồ sơ").await?;
    d.wait("duyệt / approval", 60, |d| {
        d.g().get_banner().contains("Đã duyệt")
    })
    .await?;
    d.snap(
        "approved",
        d.g().get_banner().to_string(),
        "The supervisor approved the record (signed with the device key).",
    )
    .await?;

    d.press("Trang chính").await?;
    d.press("Gửi dữ liệu / Xuất ra USB").await?;
    d.press("Gửi qua mạng").await?;
    d.wait("đồng bộ / the sync", 180, |d| {
        let s = d.sync().get_sync_status();
        s.contains("Đã gửi xong") || s.contains("Chưa gửi")
    })
    .await?;
    let status = d.sync().get_sync_status().to_string();
    if !status.contains("Đã gửi xong") {
        return Err(step_error(
            d,
            &format!("đồng bộ không xong / the sync failed: {status}"),
        ));
    }
    d.snap(
        "sync",
        status,
        "Sent over the network to the HQ on loopback; HQ acknowledged the record.",
    )
    .await?;
    Ok(())
}
