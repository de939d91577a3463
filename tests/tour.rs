//! `kiosk tour`, end to end: the real `kiosk` binary drives its real UI on the software
//! renderer with the simulated camera and scanner, and syncs to the real `enroll-hq` binary
//! beside it (`cargo test --workspace` builds it) on a loopback port.

use std::path::PathBuf;
use std::process::{Command, Stdio};

#[test]
fn the_tour_visits_every_screen_and_the_record_reaches_hq() {
    let kiosk = PathBuf::from(env!("CARGO_BIN_EXE_kiosk"));
    let hq = kiosk.with_file_name("enroll-hq");
    assert!(
        hq.is_file(),
        "{} is missing: build it (cargo build --bin enroll-hq; cargo test --workspace does)",
        hq.display()
    );
    let out = tempfile::tempdir().expect("tempdir");
    let run = Command::new(&kiosk)
        .args(["tour", "--out"])
        .arg(out.path())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null())
        .output()
        .expect("run kiosk tour");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "tour failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report = std::fs::read_to_string(out.path().join("tour.md")).expect("tour.md");
    assert!(
        report.contains("đã đến trung tâm") && report.contains("The record reached HQ"),
        "{report}"
    );
    let mut pngs: Vec<PathBuf> = std::fs::read_dir(out.path())
        .expect("out dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    pngs.sort();
    for name in [
        "lock",
        "home",
        "identity",
        "demographics",
        "addresses",
        "photo",
        "fingers",
        "resident-review",
        "receipt",
        "supervisor",
        "approved",
        "sync",
    ] {
        assert!(
            pngs.iter().any(|p| p
                .file_stem()
                .is_some_and(|s| s.to_string_lossy().ends_with(&format!("-{name}")))),
            "no {name} screen in {pngs:?}"
        );
    }
    for p in &pngs {
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        assert!(report.contains(&name), "{name} not in the report");
        let img = image::open(p).expect("png").to_rgba8();
        assert_eq!(img.dimensions(), (1280, 800), "{name}");
        // Not blank: many colours, and no single colour covers almost everything.
        let mut counts = std::collections::HashMap::new();
        for px in img.pixels() {
            *counts.entry(px.0).or_insert(0u32) += 1;
        }
        let top = counts.values().copied().max().unwrap_or(0);
        assert!(counts.len() > 20, "{name}: {} colours", counts.len());
        assert!(
            f64::from(top) < 0.97 * f64::from(1280 * 800),
            "{name} is nearly one colour"
        );
    }
}
