//! `kiosk qr read` on pictures of identity card QR codes.

mod common;

use common::{kiosk, stderr, stdout};
use enroll_hardware::qr::render_qr;
use serde_json::Value;
use std::path::{Path, PathBuf};

const CARD: &str = "038185012345|173456789|Lê Thị Mai|12031985|Nữ|Thôn Thượng, Xã Quảng Phú, Tỉnh Thanh Hóa|20052021";

fn qr_png(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    render_qr(text, 4)
        .expect("render")
        .save(&path)
        .expect("save");
    path
}

#[test]
fn reads_a_card_code() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let png = qr_png(tmp.path(), "card.png", CARD);
    let out = kiosk(
        tmp.path(),
        &["qr", "read", png.to_str().expect("utf8"), "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["id_number"], "038185012345");
    assert_eq!(v["old_id"], "173456789");
    assert_eq!(v["full_name"], "Lê Thị Mai");
    assert_eq!(v["date_of_birth"], "1985-03-12");
    assert_eq!(v["sex"], "female");
    assert_eq!(v["issue_date"], "2021-05-20");
    assert_eq!(v["warnings"].as_array().map(Vec::len), Some(0));
    let out = kiosk(tmp.path(), &["qr", "read", png.to_str().expect("utf8")]);
    assert!(stdout(&out).contains("12/03/1985") && stdout(&out).contains("Nữ"));
}

#[test]
fn refuses_foreign_malformed_and_missing_codes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (name, text, expect) in [
        ("url.png", "https://dichvucong.gov.vn", "web link"),
        (
            "short.png",
            "001090123456|012345678|A B|01011990|Nam",
            "5 fields",
        ),
        (
            "date.png",
            "001090123456||A B|30021990|Nam|X|15042021",
            "Date of birth",
        ),
    ] {
        let png = qr_png(tmp.path(), name, text);
        let out = kiosk(
            tmp.path(),
            &["qr", "read", png.to_str().expect("utf8"), "--json"],
        );
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(
            stdout(&out).is_empty(),
            "nothing is half-applied: {}",
            stdout(&out)
        );
        assert!(stderr(&out).contains(expect), "{name}: {}", stderr(&out));
    }
    let blank = tmp.path().join("blank.png");
    enroll_hardware::photo::save_image(
        &enroll_hardware::camera::scene::render(&enroll_hardware::camera::scene::SceneSpec::good(
            640, 480,
        )),
        &blank,
    )
    .expect("save");
    let out = kiosk(tmp.path(), &["qr", "read", blank.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Không tìm thấy mã QR"),
        "{}",
        stderr(&out)
    );
    let out = kiosk(
        tmp.path(),
        &[
            "qr",
            "read",
            tmp.path().join("missing.png").to_str().expect("utf8"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
}
