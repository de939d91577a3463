//! `kiosk camera list|snap`, run as the operator runs them.

mod common;

use common::{kiosk, stderr, stdout};
use enroll_hardware::camera::v4l2::list_devices;
use enroll_hardware::photo::load_image;
use serde_json::Value;

fn no_camera_here() -> bool {
    list_devices().map(|d| d.is_empty()).unwrap_or(false)
}

#[test]
fn list_reports_no_camera_plainly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = kiosk(tmp.path(), &["camera", "list", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["simulator"], "sim");
    let devices = v["devices"].as_array().expect("devices array");
    if no_camera_here() {
        assert!(devices.is_empty());
        let out = kiosk(tmp.path(), &["camera", "list"]);
        assert!(out.status.success());
        assert!(
            stdout(&out).contains("Không tìm thấy camera nào"),
            "{}",
            stdout(&out)
        );
        assert!(stdout(&out).contains("No camera found"));
    }
}

#[test]
fn snap_from_the_simulator_writes_a_frame() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (device, name) in [("sim", "a.png"), ("sim:dark", "b.jpg")] {
        let file = tmp.path().join(name);
        let out = kiosk(
            tmp.path(),
            &[
                "camera",
                "snap",
                "--device",
                device,
                "--out",
                file.to_str().expect("utf8"),
            ],
        );
        assert!(out.status.success(), "{device}: {}", stderr(&out));
        let img = load_image(&file).expect("saved picture loads");
        assert_eq!(img.dimensions(), (1280, 720));
    }
    // No temporary files left behind.
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains("tmp")), "{names:?}");
}

#[test]
fn snap_without_a_camera_fails_clearly_unless_in_demo_mode() {
    if !no_camera_here() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("x.png");
    let f = file.to_str().expect("utf8");
    for args in [
        vec!["camera", "snap", "--out", f],
        vec!["camera", "snap", "--out", f, "--device", "0"],
    ] {
        let out = kiosk(tmp.path(), &args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert!(stderr(&out).contains("No camera found"), "{}", stderr(&out));
        assert!(!file.exists());
    }
    let out = kiosk(tmp.path(), &["camera", "snap", "--out", f, "--demo"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("simulated camera"));
    assert!(file.exists());
}

#[test]
fn bad_device_or_file_name_is_a_usage_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("x.png");
    let out = kiosk(
        tmp.path(),
        &[
            "camera",
            "snap",
            "--device",
            "webcam",
            "--out",
            file.to_str().expect("utf8"),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("sim"));
    let out = kiosk(
        tmp.path(),
        &[
            "camera",
            "snap",
            "--device",
            "sim",
            "--out",
            tmp.path().join("x.gif").to_str().expect("utf8"),
        ],
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains(".png"), "{}", stderr(&out));
}
