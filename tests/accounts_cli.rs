//! `kiosk accounts|review|audit|purge|doctor`, run as the real binary. PINs come through
//! env `KIOSK_PIN` / `KIOSK_NEW_PIN`; slots use the product Argon2 cost.

use chrono::Utc;
use enroll_sync::record::{example, new_record_id, FingerOutcome};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const SUP_PIN: &str = "1357902468";
const OP_PIN: &str = "2468101357";

fn run(data: &Path, pins: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiosk"));
    cmd.args(args)
        .env("KIOSK_DATA_DIR", data)
        .env_remove("KIOSK_OPERATOR")
        .env_remove("KIOSK_PIN")
        .env_remove("KIOSK_NEW_PIN")
        // As on TPM-less hardware, even where the test machine has a TPM.
        .env(kiosk::store::vault::TPM_TCTI_ENV, "none");
    for (k, v) in pins {
        cmd.env(k, v);
    }
    cmd.output().expect("run kiosk")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", text(&o));
    o
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).expect("JSON output")
}

fn provision(data: &Path) {
    ok(run(
        data,
        &[("KIOSK_NEW_PIN", SUP_PIN)],
        &["accounts", "init-supervisor", "--name", "sup"],
    ));
    ok(run(
        data,
        &[("KIOSK_PIN", SUP_PIN), ("KIOSK_NEW_PIN", OP_PIN)],
        &[
            "accounts",
            "add",
            "--name",
            "lan",
            "--role",
            "operator",
            "--supervisor",
            "sup",
        ],
    ));
}

/// A sealed record captured by `lan`, one finger force-captured, written to a file.
fn record_file(dir: &Path, name: &str) -> (String, String) {
    let mut r = example(Utc::now());
    r.id = new_record_id();
    r.capture.operator_id = "lan".into();
    // The file is made on this kiosk, which fills in its own code.
    r.capture.kiosk_id = String::new();
    if let FingerOutcome::Captured { force_captured, .. } = &mut r.biometrics.fingers[0].outcome {
        *force_captured = true;
    }
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(&r).expect("json")).expect("write");
    (path.to_string_lossy().into_owned(), r.id.to_string())
}

#[test]
fn accounts_review_and_audit_from_the_command_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    provision(&data);
    let again = run(
        &data,
        &[("KIOSK_NEW_PIN", SUP_PIN)],
        &["accounts", "init-supervisor", "--name", "eve"],
    );
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    let short = run(
        &data,
        &[("KIOSK_PIN", SUP_PIN), ("KIOSK_NEW_PIN", "123")],
        &[
            "accounts",
            "add",
            "--name",
            "mai",
            "--role",
            "operator",
            "--supervisor",
            "sup",
        ],
    );
    assert_eq!(short.status.code(), Some(2), "{}", text(&short));
    // This machine has no TPM: the refusal asks for ten digits and says why.
    assert!(
        text(&short).contains("10 to 12 digits") && text(&short).contains("TPM"),
        "{}",
        text(&short)
    );
    let by_operator = run(
        &data,
        &[("KIOSK_PIN", OP_PIN), ("KIOSK_NEW_PIN", "1112223334")],
        &[
            "accounts",
            "add",
            "--name",
            "mai",
            "--role",
            "operator",
            "--supervisor",
            "lan",
        ],
    );
    assert_eq!(by_operator.status.code(), Some(1));
    assert!(
        text(&by_operator).contains("not a supervisor"),
        "{}",
        text(&by_operator)
    );

    let wrong = run(
        &data,
        &[("KIOSK_PIN", "0000000000")],
        &["accounts", "sign-in", "lan"],
    );
    assert_eq!(wrong.status.code(), Some(1));
    assert!(text(&wrong).contains("4 tries left"), "{}", text(&wrong));
    let accounts = json(&ok(run(&data, &[], &["accounts", "list", "--json"])));
    let lan = accounts
        .as_array()
        .expect("array")
        .iter()
        .find(|a| a["name"] == "lan")
        .expect("lan")
        .clone();
    assert_eq!(
        (lan["role"].as_str(), lan["failures"].as_i64()),
        (Some("operator"), Some(1))
    );
    ok(run(
        &data,
        &[("KIOSK_PIN", OP_PIN)],
        &["accounts", "sign-in", "lan"],
    ));

    let (file, id) = record_file(tmp.path(), "r.json");
    ok(run(
        &data,
        &[("KIOSK_PIN", OP_PIN)],
        &[
            "records",
            "add",
            "--json",
            &file,
            "--operator",
            "lan",
            "--accept-warnings",
        ],
    ));
    let listed = json(&ok(run(&data, &[], &["review", "list", "--json"])));
    assert_eq!(listed.as_array().map(Vec::len), Some(1));

    let bad_pin = run(
        &data,
        &[("KIOSK_PIN", "9999999999")],
        &["review", "approve", &id, "--supervisor", "sup"],
    );
    assert_eq!(bad_pin.status.code(), Some(1), "{}", text(&bad_pin));
    let no_reason = run(
        &data,
        &[("KIOSK_PIN", SUP_PIN)],
        &[
            "review",
            "return",
            &id,
            "--reason",
            " ",
            "--supervisor",
            "sup",
        ],
    );
    assert_eq!(no_reason.status.code(), Some(2), "{}", text(&no_reason));
    ok(run(
        &data,
        &[("KIOSK_PIN", SUP_PIN)],
        &["review", "approve", &id, "--supervisor", "sup"],
    ));
    let shown = json(&ok(run(&data, &[], &["records", "show", &id, "--json"])));
    assert_eq!(shown["review"]["status"], "approved");
    let last = shown["review"]["history"]
        .as_array()
        .and_then(|h| h.last())
        .expect("event")
        .clone();
    assert_eq!(
        (last["action"].as_str(), last["by"].as_str()),
        (Some("approved"), Some("sup"))
    );
    assert_eq!(last["signature"].as_str().map(str::len), Some(128));

    let verified = ok(run(&data, &[], &["audit", "verify"]));
    assert!(text(&verified).contains("intact"));
    let entries = json(&ok(run(
        &data,
        &[],
        &["audit", "show", "--json", "--limit", "100"],
    )));
    let actions: Vec<&str> = entries
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in [
        "account.init_supervisor",
        "account.add",
        "account.pin_failed",
        "account.sign_in",
        "record.create",
        "review.approve",
        "record.update",
    ] {
        assert!(actions.contains(&a), "no {a} in {actions:?}");
    }
    ok(run(&data, &[], &["audit", "checkpoint"]));
    let conn = kiosk::store::open_keyed(&data).expect("raw");
    conn.execute(
        "UPDATE audit SET subject = 'someone-else' WHERE seq = 2",
        [],
    )
    .expect("tamper");
    drop(conn);
    let broken = run(&data, &[], &["audit", "verify"]);
    assert_eq!(broken.status.code(), Some(1));
    assert!(
        text(&broken).contains("Audit entry 2 was edited"),
        "{}",
        text(&broken)
    );
    let doctor = run(&data, &[], &["doctor"]);
    assert_eq!(doctor.status.code(), Some(1));
    assert!(
        text(&doctor).contains("[fail   ] audit"),
        "{}",
        text(&doctor)
    );
}

#[test]
fn doctor_purge_and_guards_from_the_command_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let report = json(&ok(run(&data, &[], &["doctor", "--json"])));
    let names: Vec<&str> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "database",
            "storage",
            "unapproved",
            "forecast",
            "records",
            "scanner",
            "cameras",
            "clock",
            "audit"
        ]
    );
    assert!(report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .all(|c| {
            c["message_vi"].as_str().is_some_and(|s| !s.is_empty())
                && c["message_en"].as_str().is_some_and(|s| !s.is_empty())
        }));

    provision(&data);
    for kv in ["unapproved_warn=1", "unapproved_stop=2"] {
        ok(run(
            &data,
            &[("KIOSK_PIN", SUP_PIN)],
            &["accounts", "settings", "--set", kv, "--supervisor", "sup"],
        ));
    }
    let bad = run(
        &data,
        &[("KIOSK_PIN", SUP_PIN)],
        &[
            "accounts",
            "settings",
            "--set",
            "unapproved_stop=lots",
            "--supervisor",
            "sup",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    let (f1, _) = record_file(tmp.path(), "a.json");
    let (f2, _) = record_file(tmp.path(), "b.json");
    let (f3, _) = record_file(tmp.path(), "c.json");
    ok(run(
        &data,
        &[("KIOSK_PIN", OP_PIN)],
        &[
            "records",
            "add",
            "--json",
            &f1,
            "--operator",
            "lan",
            "--accept-warnings",
        ],
    ));
    let warned = ok(run(
        &data,
        &[("KIOSK_PIN", OP_PIN)],
        &[
            "records",
            "add",
            "--json",
            &f2,
            "--operator",
            "lan",
            "--accept-warnings",
        ],
    ));
    assert!(
        text(&warned).contains("waiting for a supervisor"),
        "{}",
        text(&warned)
    );
    let stopped = run(
        &data,
        &[("KIOSK_PIN", OP_PIN)],
        &[
            "records",
            "add",
            "--json",
            &f3,
            "--operator",
            "lan",
            "--accept-warnings",
        ],
    );
    assert_eq!(stopped.status.code(), Some(1));
    assert!(
        text(&stopped).contains("chờ duyệt") && text(&stopped).contains("no new enrollments"),
        "{}",
        text(&stopped)
    );
    let listed = json(&ok(run(&data, &[], &["records", "list", "--json"])));
    assert_eq!(listed.as_array().map(Vec::len), Some(2));

    let purge = json(&ok(run(&data, &[], &["purge", "--dry-run", "--json"])));
    assert_eq!(
        (purge["blobs"].as_u64(), purge["dry_run"].as_bool()),
        (Some(0), Some(true))
    );
}

#[test]
fn lockout_holds_across_processes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    provision(&data);
    for _ in 0..4 {
        let o = run(
            &data,
            &[("KIOSK_PIN", "0000000000")],
            &["accounts", "sign-in", "lan"],
        );
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    }
    let fifth = run(
        &data,
        &[("KIOSK_PIN", "0000000000")],
        &["accounts", "sign-in", "lan"],
    );
    assert!(text(&fifth).contains("locked"), "{}", text(&fifth));
    // A new process with the right PIN is still refused, without the PIN being tried.
    let right = run(
        &data,
        &[("KIOSK_PIN", OP_PIN)],
        &["accounts", "sign-in", "lan"],
    );
    assert_eq!(right.status.code(), Some(1));
    assert!(text(&right).contains("Try again after"), "{}", text(&right));
    // The wall clock set a day ahead (libfaketime moves it for the child alone; the boot clock
    // stays true) does not end the lockout.
    let ahead = Command::new("faketime")
        .args([
            "-f",
            "+1d",
            env!("CARGO_BIN_EXE_kiosk"),
            "accounts",
            "sign-in",
            "lan",
        ])
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .env("KIOSK_DATA_DIR", &data)
        .env("KIOSK_PIN", OP_PIN)
        .output()
        .expect("faketime (scripts/setup.sh installs it)");
    assert_eq!(ahead.status.code(), Some(1), "{}", text(&ahead));
    assert!(text(&ahead).contains("Try again after"), "{}", text(&ahead));
    let listed = ok(run(&data, &[], &["accounts", "list"]));
    assert!(text(&listed).contains("locked until"), "{}", text(&listed));
    ok(run(
        &data,
        &[("KIOSK_PIN", SUP_PIN)],
        &["accounts", "sign-in", "sup"],
    ));
}
