//! `kiosk photo check|prepare` on pictures from the simulator's studio scene.

mod common;

use common::{kiosk, stderr, stdout};
use enroll_hardware::camera::scene::{render, Backdrop, SceneSpec};
use enroll_hardware::photo::{jpeg_metadata_segments, save_image};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn picture(dir: &Path, name: &str, spec: SceneSpec) -> PathBuf {
    let path = dir.join(name);
    save_image(&render(&spec), &path).expect("save");
    path
}

fn good() -> SceneSpec {
    SceneSpec::good(1280, 720)
}

#[test]
fn check_accepts_a_good_picture_and_rejects_defects_with_exit_1() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ok = picture(tmp.path(), "ok.png", good());
    let out = kiosk(
        tmp.path(),
        &["photo", "check", ok.to_str().expect("utf8"), "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["accepted"], true);
    assert_eq!(v["checks"].as_array().expect("checks").len(), 6);

    for (name, spec, check) in [
        (
            "dark.png",
            SceneSpec {
                gain: 0.25,
                ..good()
            },
            "exposure",
        ),
        (
            "blur.png",
            SceneSpec {
                blur_radius: 6,
                ..good()
            },
            "sharpness",
        ),
        (
            "blue.png",
            SceneSpec {
                backdrop: Backdrop::Coloured([120, 150, 185]),
                ..good()
            },
            "background_white",
        ),
        (
            "left.png",
            SceneSpec {
                subject_dx: -0.1,
                ..good()
            },
            "subject_centred",
        ),
    ] {
        let file = picture(tmp.path(), name, spec);
        let out = kiosk(
            tmp.path(),
            &["photo", "check", file.to_str().expect("utf8"), "--json"],
        );
        assert_eq!(out.status.code(), Some(1), "{name}");
        let v: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(v["accepted"], false);
        let failed: Vec<&str> = v["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .filter(|c| c["passed"] == false)
            .map(|c| c["check"].as_str().expect("name"))
            .collect();
        assert!(failed.contains(&check), "{name}: {failed:?}");
        assert!(stderr(&out).contains("photo rejected"));
    }
    // Human output names the failure in both languages.
    let dark = tmp.path().join("dark.png");
    let out = kiosk(
        tmp.path(),
        &["photo", "check", dark.to_str().expect("utf8")],
    );
    assert!(stdout(&out).contains("quá tối") && stdout(&out).contains("too dark"));
}

#[test]
fn exception_profile_checks_the_palms_photo() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let palms = picture(
        tmp.path(),
        "palms.png",
        SceneSpec {
            palms: true,
            ..good()
        },
    );
    let out = kiosk(
        tmp.path(),
        &[
            "photo",
            "check",
            palms.to_str().expect("utf8"),
            "--profile",
            "exception",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["profile"], "finger_exception");
    assert_eq!(v["checks"].as_array().expect("checks").len(), 3);
}

#[test]
fn prepare_writes_a_budgeted_jpeg_named_by_its_hash() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ok = picture(tmp.path(), "ok.png", good());
    let jpg = tmp.path().join("card.jpg");
    let out = kiosk(
        tmp.path(),
        &[
            "photo",
            "prepare",
            ok.to_str().expect("utf8"),
            "--out",
            jpg.to_str().expect("utf8"),
            "--max-bytes",
            "40000",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let bytes = std::fs::read(&jpg).expect("jpeg written");
    assert!(bytes.len() <= 40_000);
    assert_eq!(v["bytes"], bytes.len());
    assert_eq!(v["sha256"], hex::encode(Sha256::digest(&bytes)));
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(600), Some(900))
    );
    assert!(jpeg_metadata_segments(&bytes).expect("jpeg").is_empty());
}

#[test]
fn prepare_writes_nothing_for_a_rejected_or_unreadable_picture() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dark = picture(
        tmp.path(),
        "dark.png",
        SceneSpec {
            gain: 0.25,
            ..good()
        },
    );
    let jpg = tmp.path().join("card.jpg");
    let out = kiosk(
        tmp.path(),
        &[
            "photo",
            "prepare",
            dark.to_str().expect("utf8"),
            "--out",
            jpg.to_str().expect("utf8"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!jpg.exists());

    let junk = tmp.path().join("junk.png");
    std::fs::write(&junk, b"not a picture").expect("write");
    let out = kiosk(
        tmp.path(),
        &[
            "photo",
            "prepare",
            junk.to_str().expect("utf8"),
            "--out",
            jpg.to_str().expect("utf8"),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("Không đọc được ảnh"));
    assert!(!jpg.exists());

    let ok = picture(tmp.path(), "ok.png", good());
    let out = kiosk(
        tmp.path(),
        &[
            "photo",
            "prepare",
            ok.to_str().expect("utf8"),
            "--out",
            jpg.to_str().expect("utf8"),
            "--max-bytes",
            "2000",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("2000"));
    assert!(!jpg.exists());
}

#[test]
fn snap_then_prepare_is_the_whole_pipeline() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let frame = tmp.path().join("frame.png");
    let out = kiosk(
        tmp.path(),
        &[
            "camera",
            "snap",
            "--device",
            "sim",
            "--out",
            frame.to_str().expect("utf8"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let jpg = tmp.path().join("card.jpg");
    let out = kiosk(
        tmp.path(),
        &[
            "photo",
            "prepare",
            frame.to_str().expect("utf8"),
            "--out",
            jpg.to_str().expect("utf8"),
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(std::fs::metadata(&jpg).expect("written").len() <= 50_000);
}
