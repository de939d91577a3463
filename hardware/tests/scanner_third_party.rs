//! The R307 simulator driven by a third-party R30x client: pyfingerprint (PyPI) with pyserial,
//! over the simulator's real pseudo-terminal. `scripts/setup.sh` installs both into a venv in
//! the target directory; `R30X_PYTHON` names another interpreter that has them.

mod common;

use common::*;
use enroll_hardware::fingerprint::synth::ImageCondition;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("R30X_PYTHON") {
        return PathBuf::from(p);
    }
    // CARGO_TARGET_TMPDIR is <target>/tmp; setup.sh puts the venv beside it.
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .to_owned();
    let p = target.join("r30x-clients/venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup.sh (it installs pyfingerprint into that venv)",
        p.display()
    );
    p
}

#[test]
fn pyfingerprint_enrolls_searches_and_configures_the_simulator() {
    const BAUD: u32 = 115_200;
    let placements = vec![
        good("p/thumb"),
        good("p/thumb"),
        good("p/thumb"),
        good("q/stranger"),
        poor("p/blank", ImageCondition::Blank),
    ];
    let rig = Rig::start(scenario(BAUD, placements));
    let out = tempfile::tempdir().expect("tempdir");
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/r30x_clients/pyfingerprint_visit.py");
    let run = Command::new(python())
        .arg(&script)
        .arg(&rig.link)
        .arg(BAUD.to_string())
        .arg(out.path())
        .output()
        .expect("run python");
    assert!(
        run.status.success(),
        "pyfingerprint failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let r: Value = serde_json::from_slice(&run.stdout).expect("JSON from the client");
    let get = |k: &str| r.get(k).unwrap_or_else(|| panic!("no {k} in {r}")).clone();
    eprintln!("pyfingerprint saw: {r}");

    assert_eq!(get("verify_password"), true);
    // status, system id, capacity, security level, address, packet size code, baud N.
    let params = get("params");
    assert_eq!(params[2], 1000);
    assert_eq!(params[3], 3);
    assert_eq!(params[4], 0xFFFF_FFFFu32);
    assert_eq!(params[6], BAUD / 9600);
    assert_eq!(get("capacity"), 1000);
    assert_eq!(get("count_before"), 0);

    // compareCharacteristics returns the Match score; 0 would mean no match.
    assert!(
        get("compare_two_placements").as_u64().unwrap_or(0) > 0,
        "{r}"
    );
    assert_eq!(
        get("stored_first_free"),
        0,
        "ReadIndexTable showed slot 0 free"
    );
    assert_eq!(get("stored_at_7"), 7);
    assert_eq!(get("index_page_0"), serde_json::json!([0, 7]));
    assert_eq!(get("index_page_1"), serde_json::json!([]));
    assert_eq!(get("count_after_store"), 2);

    let found = get("search_thumb");
    assert!(found[0] == 0 || found[0] == 7, "{found}");
    assert!(found[1].as_u64().unwrap_or(0) > 0, "{found}");
    let png = image::open(get("image_path").as_str().expect("path")).expect("thumb.png");
    assert_eq!((png.width(), png.height()), (256, 288));
    let gray = png.to_luma8();
    let dark = gray.pixels().filter(|p| p.0[0] < 128).count();
    assert!(
        dark > 5_000 && dark < 60_000,
        "ridges on the uploaded image: {dark}"
    );
    assert_eq!(get("template_len"), 512);
    assert_eq!(get("template_round_trip"), true);
    assert_eq!(get("load_7"), true);
    assert!(get("compare_loaded").as_u64().unwrap_or(0) > 0, "{r}");
    // 0x0C: pyfingerprint's words for "no template there".
    assert_eq!(
        get("load_empty_slot_error"),
        "The template could not be read"
    );

    assert_eq!(get("search_stranger"), serde_json::json!([-1, -1]));
    let blank = get("blank_convert_error");
    assert_eq!(
        blank, "The image contains too few feature points",
        "0x07 for a blank image"
    );

    let random: Vec<u64> = get("random")
        .as_array()
        .expect("array")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert_eq!(random.len(), 3);
    assert!(
        random[0] != random[1] || random[1] != random[2],
        "{random:?}"
    );
    assert_eq!(get("security_level"), 4);
    assert_eq!(get("packet_size"), 64);
    assert_eq!(get("stored_baud"), 57600);
    assert_eq!(get("delete_7"), true);
    assert_eq!(get("count_after_delete"), 1);
    assert_eq!(get("clear"), true);
    assert_eq!(get("count_after_clear"), 0);

    assert_eq!(get("set_password"), true);
    assert_eq!(get("verify_old_password"), false);
    assert_eq!(get("verify_new_password"), true);
    assert_eq!(get("set_address"), true);
    assert_eq!(get("count_at_new_address"), 0);
    assert_eq!(get("params_at_new_address")[4], 0x1234_5678u32);
}
