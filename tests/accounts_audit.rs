//! The audit log on a real SQLite file, tampered with by raw SQL: every edit, deletion,
//! reordering and truncation is caught, naming the first bad entry.

use chrono::Utc;
use enroll_sync::identity::DeviceKey;
use enroll_sync::record::Attribution;
use kiosk::store::{AuditProblem, Store};
use std::path::Path;

const ENTRIES: i64 = 6;

/// A store with six entries and a signed checkpoint over all of them.
fn logged(dir: &Path) -> DeviceKey {
    let store = Store::open(dir).expect("open");
    for i in 1..=ENTRIES {
        let by = Attribution {
            person: format!("op-{i}"),
            device: "KS01".into(),
            at: Utc::now(),
        };
        store
            .audit(&by, "test.action", Some(&format!("subject-{i}")), None)
            .expect("append");
    }
    let key = kiosk::store::vault::device_key(dir).expect("key");
    store
        .checkpoint_audit(&key, Utc::now())
        .expect("checkpoint");
    key
}

fn tamper(dir: &Path, sql: &str) {
    let conn = kiosk::store::open_keyed(dir).expect("raw open");
    conn.execute_batch(sql).expect("tamper");
}

fn first_bad(dir: &Path, key: &DeviceKey) -> Option<(i64, AuditProblem)> {
    let store = Store::open(dir).expect("reopen");
    let report = store.audit_report(Some(&key.public())).expect("report");
    let legacy = store.verify_audit().expect("verify");
    assert_eq!(legacy.err(), report.first_bad.map(|(s, _)| s));
    report.first_bad
}

fn case(sql: &str) -> Option<(i64, AuditProblem)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = logged(dir.path());
    tamper(dir.path(), sql);
    first_bad(dir.path(), &key)
}

#[test]
fn an_intact_log_verifies_and_exports_with_a_signed_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = logged(dir.path());
    assert_eq!(first_bad(dir.path(), &key), None);
    let store = Store::open(dir.path()).expect("open");
    let export = store.audit_export(4, &key, Utc::now()).expect("export");
    assert_eq!(
        export.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [5, 6]
    );
    assert_eq!(export.checkpoint.count, ENTRIES);
    assert_eq!(export.checkpoint.head, export.entries[1].hash);
    assert!(export.checkpoint.verify(&key.public()));
    assert!(!export.checkpoint.verify(&DeviceKey::generate().public()));
    // HQ can re-walk the exported tail from the previous entry's hash.
    assert_eq!(export.entries[1].prev_hash, export.entries[0].hash);
}

#[test]
fn an_edit_is_named() {
    assert_eq!(
        case("UPDATE audit SET actor = 'mallory' WHERE seq = 3"),
        Some((3, AuditProblem::Edited))
    );
    assert_eq!(
        case("UPDATE audit SET detail = 'x' WHERE seq = 6"),
        Some((6, AuditProblem::Edited))
    );
}

#[test]
fn a_deletion_is_named() {
    assert_eq!(
        case("DELETE FROM audit WHERE seq = 3"),
        Some((3, AuditProblem::Missing))
    );
    assert_eq!(
        case("DELETE FROM audit WHERE seq = 1"),
        Some((1, AuditProblem::Missing))
    );
    // Deleted and the rest renumbered to close the gap.
    assert_eq!(
        case("DELETE FROM audit WHERE seq = 3; UPDATE audit SET seq = seq - 1 WHERE seq > 3"),
        Some((3, AuditProblem::OutOfOrder))
    );
}

#[test]
fn a_reordering_is_named() {
    assert_eq!(
        case(
            "UPDATE audit SET seq = -1 WHERE seq = 3;
             UPDATE audit SET seq = 3 WHERE seq = 4;
             UPDATE audit SET seq = 4 WHERE seq = -1;"
        ),
        Some((3, AuditProblem::OutOfOrder))
    );
}

#[test]
fn a_truncated_tail_is_named() {
    assert_eq!(
        case("DELETE FROM audit WHERE seq > 4"),
        Some((5, AuditProblem::Missing))
    );
    // Even with the head in the kiosk table rewritten to match, the signed checkpoint knows.
    assert_eq!(
        case(
            "DELETE FROM audit WHERE seq > 4;
             UPDATE kiosk SET value = CAST((SELECT printf('%d:%s', seq, lower(hex(hash))) FROM audit WHERE seq = 4) AS BLOB)
             WHERE key = 'audit_head';"
        ),
        Some((5, AuditProblem::Missing))
    );
    // Everything deleted.
    assert_eq!(case("DELETE FROM audit"), Some((1, AuditProblem::Missing)));
}

#[test]
fn a_forged_checkpoint_is_named() {
    assert_eq!(
        case(
            "UPDATE kiosk SET value = CAST(replace(CAST(value AS TEXT), '\"count\":6', '\"count\":4') AS BLOB)
             WHERE key = 'audit_checkpoint'"
        ),
        Some((4, AuditProblem::BadCheckpoint))
    );
    assert_eq!(
        case("DELETE FROM kiosk WHERE key = 'audit_head'"),
        Some((6, AuditProblem::Edited))
    );
}
