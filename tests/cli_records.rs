//! The `kiosk records`, `check` and `demo-data` commands, run as a user runs them.

mod common;

use common::{kiosk, kiosk_pin, stderr, stdout, with_accounts, OP_PIN, SUP_PIN};
use serde_json::Value;
use std::path::Path;

fn demo_json(dir: &Path, count: &str) -> Vec<Value> {
    let out = kiosk(
        dir,
        &["demo-data", "--count", count, "--seed", "7", "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("demo JSON")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path.to_string_lossy().into_owned()
}

/// `kiosk records add --json FILE` as operator `op`, signed in with its PIN.
fn add(data: &Path, file: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["records", "add", "--json", file, "--operator", "op"];
    args.extend_from_slice(extra);
    kiosk_pin(data, OP_PIN, None, &args)
}

fn count(data: &Path) -> usize {
    let out = kiosk(data, &["records", "list", "--json", "--limit", "1000"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice::<Vec<Value>>(&out.stdout)
        .expect("list JSON")
        .len()
}

#[test]
fn add_list_search_show() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let records = demo_json(tmp.path(), "6");
    let file = write(
        tmp.path(),
        "in.json",
        &serde_json::to_vec(&records).expect("json"),
    );
    with_accounts(&data);
    let out = add(&data, &file, &[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out).matches("saved").count(), 6);
    assert_eq!(count(&data), 6);

    // Search by the first record's family name without diacritics.
    let family = records[0]["applicant"]["name"]["family"]
        .as_str()
        .expect("family");
    let plain = enroll_sync::text::search_key(family);
    let out = kiosk(&data, &["records", "list", "--search", &plain, "--json"]);
    let hits: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|h| enroll_sync::text::search_key(
        h["full_name"].as_str().unwrap_or("")
    )
    .contains(&plain)));

    let no = hits[0]["enrollment_no"].as_str().expect("no");
    let out = kiosk(&data, &["records", "show", no, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(shown["enrollment_no"], no);
    assert_eq!(shown["capture"]["operator_id"], "op");
    let out = kiosk(&data, &["records", "show", no]);
    assert!(stdout(&out).contains("Họ tên / Name"), "{}", stdout(&out));

    let out = kiosk(&data, &["records", "list", "--status", "draft"]);
    assert!(
        stdout(&out).contains("6 hồ sơ / records"),
        "{}",
        stdout(&out)
    );
    let out = kiosk(&data, &["records", "list", "--status", "nonsense"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn malformed_input_exits_2_and_writes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let mut good = demo_json(tmp.path(), "2");
    let mut unknown = good[1].clone();
    unknown["applicant"]["shoe_size"] = Value::from(42);
    let mut wrong_type = good[1].clone();
    wrong_type["applicant"]["birth_date"]["year"] = Value::from("nineteen");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "syntax.json",
            b"[{\"application\": }]".to_vec(),
            "line 1, column",
        ),
        (
            "unknown.json",
            serde_json::to_vec(&vec![good[0].clone(), unknown]).expect("json"),
            "shoe_size",
        ),
        (
            "type.json",
            serde_json::to_vec(&vec![good[0].clone(), wrong_type]).expect("json"),
            "applicant.birth_date.year",
        ),
        ("utf8.json", b"{\"a\": \"\xff\xfe\"}".to_vec(), "UTF-8"),
        ("scalar.json", b"42".to_vec(), "expected a record"),
    ];
    for (name, bytes, expect) in cases {
        let file = write(tmp.path(), name, &bytes);
        let out = add(&data, &file, &[]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(expect), "{name}: {}", stderr(&out));
        let out = kiosk(&data, &["check", "--json", &file]);
        assert_eq!(out.status.code(), Some(2), "{name}");
    }
    let missing = tmp.path().join("nope.json");
    let out = add(&data, &missing.to_string_lossy(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nope.json"), "{}", stderr(&out));
    assert_eq!(count(&data), 0, "nothing was written");
    good.truncate(1);
}

#[test]
fn rule_errors_exit_1_and_warnings_need_acknowledgement() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    with_accounts(&data);
    let records = demo_json(tmp.path(), "2");
    let mut bad = records[1].clone();
    bad["applicant"]["id_number"] = Value::from("12345");
    let file = write(
        tmp.path(),
        "bad.json",
        &serde_json::to_vec(&vec![records[0].clone(), bad]).expect("json"),
    );
    let out = add(&data, &file, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("id_number.format") && stderr(&out).contains("12 chữ số"),
        "{}",
        stderr(&out)
    );
    assert_eq!(count(&data), 0, "a file with one bad record writes nothing");

    let check = kiosk(&data, &["check", "--json", &file]);
    assert_eq!(check.status.code(), Some(1));
    let report: Vec<Value> = serde_json::from_slice(&check.stdout).expect("check JSON");
    assert_eq!(report[0]["findings"], Value::Array(vec![]));
    assert_eq!(report[1]["findings"][0]["code"], "id_number.format");

    // The same person enrolled twice: a warning that blocks until acknowledged.
    let first = write(
        tmp.path(),
        "first.json",
        &serde_json::to_vec(&records[0]).expect("json"),
    );
    assert!(add(&data, &first, &[]).status.success());
    let mut again = records[0].clone();
    again.as_object_mut().expect("object").remove("id");
    let again = write(
        tmp.path(),
        "again.json",
        &serde_json::to_vec(&again).expect("json"),
    );
    let out = add(&data, &again, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("duplicate.id_number"),
        "{}",
        stderr(&out)
    );
    assert_eq!(count(&data), 1);
    let out = add(&data, &again, &["--accept-warnings"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out)
        .split_whitespace()
        .nth(4)
        .expect("id")
        .to_owned();
    let shown: Value =
        serde_json::from_slice(&kiosk(&data, &["records", "show", &id, "--json"]).stdout)
            .expect("json");
    assert_eq!(
        shown["review"]["acknowledged"][0]["code"],
        "duplicate.id_number"
    );
    assert_eq!(shown["review"]["acknowledged"][0]["by"], "op");
}

#[test]
fn an_import_speaks_only_for_the_signed_in_operator_on_this_kiosk() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    with_accounts(&data);
    let records = demo_json(tmp.path(), "1");
    let base = records[0].clone();
    let file = write(
        tmp.path(),
        "one.json",
        &serde_json::to_vec(&base).expect("json"),
    );

    // No PIN, a wrong PIN, or a supervisor's PIN for the operator: nothing is saved.
    let o = kiosk(&data, &["records", "add", "--json", &file]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--operator"), "{}", stderr(&o));
    let o = kiosk_pin(
        &data,
        SUP_PIN,
        None,
        &["records", "add", "--json", &file, "--operator", "op"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(count(&data), 0);

    let at = "2026-11-27T08:00:00Z";
    let forged: Vec<(&str, Value, &str)> = vec![
        (
            "review.status",
            serde_json::json!({"status": "approved"}),
            "import.review_state",
        ),
        (
            "review.hq",
            serde_json::json!({"hq": {"status": "card_printed", "at": at}}),
            "import.hq_state",
        ),
        (
            "review.history",
            serde_json::json!({"history": [{"at": at, "by": "sup", "device": "KS01", "action": "approved"}]}),
            "import.review_history",
        ),
        (
            "review.acknowledged[0].by",
            serde_json::json!({"acknowledged": [{"code": "duplicate.id_number", "path": "applicant.id_number", "by": "sup", "at": at}]}),
            "import.other_person",
        ),
    ];
    for (path, review, code) in forged {
        let mut r = base.clone();
        r["review"] = review;
        let f = write(
            tmp.path(),
            "forged.json",
            &serde_json::to_vec(&r).expect("json"),
        );
        let o = add(&data, &f, &["--accept-warnings"]);
        assert_eq!(o.status.code(), Some(1), "{path}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(code) && stderr(&o).contains(path),
            "{path}: {}",
            stderr(&o)
        );
    }
    for (field, value, code) in [
        ("operator_id", "sup", "import.other_person"),
        ("kiosk_id", "KS9999", "import.other_kiosk"),
    ] {
        let mut r = base.clone();
        r["capture"][field] = Value::from(value);
        let f = write(
            tmp.path(),
            "forged.json",
            &serde_json::to_vec(&r).expect("json"),
        );
        let o = add(&data, &f, &[]);
        assert_eq!(o.status.code(), Some(1), "{field}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(code) && stderr(&o).contains(&format!("capture.{field}")),
            "{field}: {}",
            stderr(&o)
        );
    }
    let twice = write(
        tmp.path(),
        "twice.json",
        &serde_json::to_vec(&vec![base.clone(), base.clone()]).expect("json"),
    );
    let o = add(&data, &twice, &[]);
    assert!(stderr(&o).contains("import.repeated"), "{}", stderr(&o));
    assert_eq!(count(&data), 0, "refused imports write nothing");

    // Saved once as the operator; the same file cannot overwrite it afterwards.
    let o = add(&data, &file, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = add(&data, &file, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("import.exists"), "{}", stderr(&o));
    let id = base["id"].as_str().expect("id");
    let shown: Value =
        serde_json::from_slice(&kiosk(&data, &["records", "show", id, "--json"]).stdout)
            .expect("json");
    assert_eq!(shown["capture"]["operator_id"], "op");
    assert_eq!(shown["review"]["history"][0]["by"], "op");
    assert_eq!(count(&data), 1);
}

#[test]
fn schema_help_and_demo_save() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let out = kiosk(&data, &["records", "schema"]);
    let schema: Value = serde_json::from_slice(&out.stdout).expect("schema JSON");
    assert!(schema["properties"]["applicant"].is_object(), "{schema}");
    // With no subcommand the kiosk opens its screen; the command list is under --help.
    let out = kiosk(&data, &["--help"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("records"));
    let out = kiosk(&data, &["demo-data", "--count", "40", "--save"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out)
            .lines()
            .filter(|l| l.starts_with("saved "))
            .count(),
        40
    );
    assert_eq!(count(&data), 40);
}
