//! Accounts, lockout, key slots, sealed blobs, review, purge and guards against a real store
//! in a temporary directory. Key slots use the explicit test-only Argon2 cost.

use chrono::{DateTime, Duration, Utc};
use enroll_sync::identity::DeviceKey;
use enroll_sync::record::{
    example, new_record_id, Attribution, Enrollment, FingerOutcome, RecordStatus,
};
use kiosk::accounts::{AccountError, BootClock, BootTime, Role, Session};
use kiosk::guards::{self, GuardInputs, Level};
use kiosk::review::{self, ReviewError};
use kiosk::store::{Settings, Store, StoreError};
use std::path::Path;

const SUP_PIN: &str = "1357902468";
const OP_PIN: &str = "2468101357";

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-27T08:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

fn open(dir: &Path) -> Store {
    let mut s = Store::open(dir).expect("open");
    s.use_test_only_kdf();
    s
}

/// A boot clock the test moves by hand (seconds since boot, and which boot).
#[derive(Clone)]
struct TestBoot(std::sync::Arc<std::sync::Mutex<BootTime>>);

impl TestBoot {
    fn new() -> Self {
        TestBoot(std::sync::Arc::new(std::sync::Mutex::new(BootTime {
            boot_id: "boot-1".into(),
            secs: 100,
        })))
    }
    fn advance(&self, secs: i64) {
        self.0.lock().expect("clock").secs += secs;
    }
    fn reboot(&self) {
        let mut t = self.0.lock().expect("clock");
        t.boot_id.push('+');
        t.secs = 5;
    }
}

impl BootClock for TestBoot {
    fn now(&self) -> BootTime {
        self.0.lock().expect("clock").clone()
    }
}

/// A kiosk with supervisor `sup` and operator `lan`, left unlocked as `sup`.
fn provisioned(dir: &Path) -> (Store, Session) {
    let mut store = open(dir);
    let sup = store
        .init_supervisor("sup", "Trần Văn Giám", SUP_PIN, t0())
        .expect("init");
    store
        .add_account(&sup, "lan", "Nguyễn Thị Lan", Role::Operator, OP_PIN, t0())
        .expect("add operator");
    (store, sup)
}

fn by(person: &str, at: DateTime<Utc>) -> Attribution {
    Attribution {
        person: person.into(),
        device: "KS01".into(),
        at,
    }
}

fn captured(operator: &str) -> Enrollment {
    let mut r = example(t0());
    r.id = new_record_id();
    r.capture.operator_id = operator.into();
    r
}

// ---- accounts and lockout ----

#[test]
fn first_supervisor_only_on_an_empty_kiosk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, _) = provisioned(dir.path());
    assert!(matches!(
        store.init_supervisor("eve", "Eve", "9999999999", t0()),
        Err(AccountError::AlreadyInitialized)
    ));
    assert!(matches!(
        store.init_supervisor("x", "X", "123", t0()),
        Err(AccountError::BadName(_)
            | AccountError::BadPinForm { .. }
            | AccountError::AlreadyInitialized)
    ));
    let empty = tempfile::tempdir().expect("tempdir");
    let mut fresh = open(empty.path());
    assert!(matches!(
        fresh.unlock("sup", SUP_PIN, t0()),
        Err(AccountError::NotInitialized)
    ));
    assert!(matches!(
        fresh.init_supervisor("sup", "Sup", "12345", t0()),
        Err(AccountError::BadPinForm { .. })
    ));
}

#[test]
fn only_a_supervisor_adds_accounts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, _) = provisioned(dir.path());
    let op = store
        .unlock("lan", OP_PIN, t0())
        .expect("operator signs in");
    assert_eq!(op.role, Role::Operator);
    assert!(matches!(
        store.add_account(&op, "mai", "Mai", Role::Operator, "1112223334", t0()),
        Err(AccountError::NotSupervisor(_))
    ));
    let sup = store.unlock("sup", SUP_PIN, t0()).expect("sup");
    assert!(matches!(
        store.add_account(&sup, "lan", "Lan 2", Role::Operator, "1112223334", t0()),
        Err(AccountError::NameTaken(_))
    ));
    assert!(matches!(
        store.remove_account(&sup, "sup", t0()),
        Err(AccountError::LastSupervisor)
    ));
}

#[test]
fn lockout_after_five_failures_grows_and_survives_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, _) = provisioned(dir.path());
    let boot = TestBoot::new();
    store.use_boot_clock(Box::new(boot.clone()));
    assert!(store.is_unlocked());
    let t = t0();
    for left in [4, 3, 2, 1] {
        match store.unlock("lan", "0000000000", t) {
            Err(AccountError::WrongPin { left: l }) => assert_eq!(l, left),
            other => panic!("expected a wrong PIN, got {other:?}"),
        }
    }
    // A failed attempt signs the previous person out.
    assert!(!store.is_unlocked());
    match store.unlock("lan", "0000000000", t) {
        Err(AccountError::LockedOut { until }) => assert_eq!(until, t + Duration::minutes(1)),
        other => panic!("expected a lockout, got {other:?}"),
    }
    // Even the right PIN is refused while locked, and a restart changes nothing.
    boot.advance(30);
    assert!(matches!(
        store.unlock("lan", OP_PIN, t + Duration::seconds(30)),
        Err(AccountError::LockedOut { .. })
    ));
    drop(store);
    let mut store = open(dir.path());
    store.use_boot_clock(Box::new(boot.clone()));
    boot.advance(29);
    assert!(matches!(
        store.unlock("lan", OP_PIN, t + Duration::seconds(59)),
        Err(AccountError::LockedOut { .. })
    ));
    assert_eq!(store.account("lan").expect("get").expect("lan").failures, 5);
    // After the lock, one more failure locks again, for longer: 2 minutes, then 4.
    boot.advance(2);
    let t1 = t + Duration::seconds(61);
    match store.unlock("lan", "0000000000", t1) {
        Err(AccountError::LockedOut { until }) => assert_eq!(until, t1 + Duration::minutes(2)),
        other => panic!("expected a longer lockout, got {other:?}"),
    }
    boot.advance(120);
    let t2 = t1 + Duration::minutes(2);
    match store.unlock("lan", "0000000000", t2) {
        Err(AccountError::LockedOut { until }) => assert_eq!(until, t2 + Duration::minutes(4)),
        other => panic!("expected a longer lockout, got {other:?}"),
    }
    // The right PIN after the lock signs in and clears the count.
    boot.advance(240);
    let s = store
        .unlock("lan", OP_PIN, t2 + Duration::minutes(4))
        .expect("signs in after the lock");
    assert_eq!(s.person, "lan");
    assert_eq!(store.account("lan").expect("get").expect("lan").failures, 0);
    // Other accounts were never affected.
    store.unlock("sup", SUP_PIN, t).expect("sup unaffected");
}

#[test]
fn a_lockout_ignores_the_wall_clock_and_survives_a_reboot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, _) = provisioned(dir.path());
    let boot = TestBoot::new();
    store.use_boot_clock(Box::new(boot.clone()));
    let t = t0();
    for _ in 0..5 {
        let _ = store.unlock("lan", "0000000000", t);
    }
    // Someone sets the clock a day ahead: the lock holds, and says how long is really left.
    boot.advance(10);
    let ahead = t + Duration::days(1);
    match store.unlock("lan", OP_PIN, ahead) {
        Err(AccountError::LockedOut { until }) => assert_eq!(until, ahead + Duration::seconds(50)),
        other => panic!("a forward clock ended the lockout: {other:?}"),
    }
    // Setting it back does not lengthen it either.
    boot.advance(50);
    store
        .unlock("lan", OP_PIN, t - Duration::days(1))
        .expect("the minute passed on the boot clock");
    for _ in 0..5 {
        let _ = store.unlock("lan", "0000000000", t);
    }
    // A reboot (power cut) counts the whole minute again from boot; it never frees the account.
    boot.advance(40);
    boot.reboot();
    assert!(matches!(
        store.unlock("lan", OP_PIN, ahead),
        Err(AccountError::LockedOut { .. })
    ));
    boot.advance(60);
    store.unlock("lan", OP_PIN, t).expect("a minute after boot");
}

#[test]
fn idle_lock_time_is_a_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, _) = provisioned(dir.path());
    assert_eq!(
        store.settings().expect("settings").idle_lock_secs,
        Settings::default().idle_lock_secs
    );
    store.set_setting("idle_lock_secs", "45").expect("set");
    assert!(store.set_setting("idle_lock_secs", "soon").is_err());
    assert!(store.set_setting("no_such", "1").is_err());
    let idle = std::time::Duration::from_secs(store.settings().expect("settings").idle_lock_secs);
    let s = store.unlock("lan", OP_PIN, t0()).expect("sign in");
    let start = s.last_activity;
    assert!(!s.is_idle(start + std::time::Duration::from_secs(44), idle));
    assert!(s.is_idle(start + std::time::Duration::from_secs(45), idle));
    store.lock();
    assert!(matches!(
        store.put_blob(b"x", "image/png"),
        Err(StoreError::Locked)
    ));
}

#[test]
fn changing_a_pin_rewraps_the_slot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, _) = provisioned(dir.path());
    let hash = store
        .put_blob(b"template bytes", "application/octet-stream")
        .expect("put");
    store
        .change_pin("lan", OP_PIN, "8642001357", t0())
        .expect("change");
    drop(store);
    let mut store = open(dir.path());
    assert!(matches!(
        store.unlock("lan", OP_PIN, t0()),
        Err(AccountError::WrongPin { .. })
    ));
    store.unlock("lan", "8642001357", t0()).expect("new PIN");
    assert_eq!(
        store.blob(&hash).expect("get").map(|(b, _)| b),
        Some(b"template bytes".to_vec())
    );
}

// ---- privacy ----

fn fake_jpeg() -> Vec<u8> {
    let mut v = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00,
    ];
    v.extend(b"PLAINTEXT-FACE-MARKER ".repeat(200));
    v.extend([0xFF, 0xD9]);
    v
}

fn fake_png() -> Vec<u8> {
    let mut v = vec![
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R',
    ];
    v.extend(b"PLAINTEXT-FINGER-MARKER ".repeat(200));
    v
}

fn data_dir_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn blobs_on_disk_hold_no_image_bytes_and_need_a_pin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = provisioned(dir.path());
    let jpeg = fake_jpeg();
    let png = fake_png();
    let hj = store.put_blob(&jpeg, "image/jpeg").expect("put jpeg");
    let hp = store.put_blob(&png, "image/png").expect("put png");
    assert_eq!(
        store.blob(&hj).expect("get"),
        Some((jpeg.clone(), "image/jpeg".into()))
    );
    drop(store);
    let files = data_dir_bytes(dir.path());
    assert!(files.iter().any(|(n, _)| n == "kiosk.db"));
    for (name, bytes) in &files {
        for needle in [
            &jpeg[..11],
            &png[..16],
            b"PLAINTEXT-FACE-MARKER",
            b"PLAINTEXT-FINGER-MARKER",
        ] {
            assert!(
                !contains(bytes, needle),
                "{name} holds plaintext {needle:?}"
            );
        }
    }
    // Reopened, the kiosk is locked; any account's PIN opens the same data key.
    let mut store = open(dir.path());
    assert!(matches!(store.blob(&hj), Err(StoreError::Locked)));
    assert!(matches!(
        store.put_blob(b"x", "image/png"),
        Err(StoreError::Locked)
    ));
    store.unlock("lan", OP_PIN, t0()).expect("operator PIN");
    assert_eq!(store.blob(&hp).expect("get").map(|(b, _)| b), Some(png));
    // A sealed blob altered on disk is refused, not returned.
    let conn = kiosk::store::open_keyed(dir.path()).expect("raw");
    conn.execute(
        "UPDATE blobs SET data = CAST(substr(data, 1, 40) || x'00' || substr(data, 42) AS BLOB) WHERE sha256 = ?1",
        [&hj],
    )
    .expect("tamper");
    assert!(matches!(store.blob(&hj), Err(StoreError::Corrupt(_))));
}

#[test]
fn the_data_key_is_not_in_the_data_directory() {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = provisioned(dir.path());
    let plain = b"tiny template";
    let hash = store
        .put_blob(plain, "application/octet-stream")
        .expect("put");
    kiosk::store::vault::device_key(dir.path()).expect("device key");
    drop(store);
    let conn = kiosk::store::open_keyed(dir.path()).expect("raw");
    let sealed: Vec<u8> = conn
        .query_row("SELECT data FROM blobs WHERE sha256 = ?1", [&hash], |r| {
            r.get(0)
        })
        .expect("sealed row");
    drop(conn);
    let (nonce, body) = sealed.split_at(24);
    let ad = format!("kiosk/blob/v1\n{hash}\napplication/octet-stream");
    // Try every 32-byte window of every file in the data directory as the key.
    let mut tried = 0usize;
    for (name, bytes) in data_dir_bytes(dir.path()) {
        for w in bytes.windows(32) {
            tried += 1;
            let cipher = XChaCha20Poly1305::new(w.into());
            let opened = cipher.decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: ad.as_bytes(),
                },
            );
            assert!(opened.is_err(), "{name} holds the data key");
        }
    }
    assert!(tried > 10_000, "scanned {tried} windows");
    // And the slots do not open without the PIN.
    let mut store = open(dir.path());
    for guess in ["0000000000", "1234567890", "1357913579"] {
        assert!(store.unlock("sup", guess, t0()).is_err());
    }
    assert!(!store.is_unlocked());
}

#[test]
fn removing_an_account_removes_its_slot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, sup) = provisioned(dir.path());
    let conn = kiosk::store::open_keyed(dir.path()).expect("raw");
    let wrapped: Vec<u8> = conn
        .query_row(
            "SELECT wrapped FROM key_slots WHERE account = 'lan'",
            [],
            |r| r.get(0),
        )
        .expect("lan has a slot");
    store.remove_account(&sup, "lan", t0()).expect("remove");
    let slots: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM key_slots WHERE account = 'lan'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(slots, 0);
    drop(conn);
    drop(store);
    for (name, bytes) in data_dir_bytes(dir.path()) {
        assert!(
            !contains(&bytes, &wrapped),
            "{name} still holds lan's wrapped key"
        );
    }
    let mut store = open(dir.path());
    assert!(matches!(
        store.unlock("lan", OP_PIN, t0()),
        Err(AccountError::NoSuchAccount(_))
    ));
    store
        .unlock("sup", SUP_PIN, t0())
        .expect("others still open it");
}

#[test]
fn a_slot_copied_onto_another_account_does_not_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, sup) = provisioned(dir.path());
    store
        .add_account(&sup, "mai", "Mai", Role::Operator, "7777777777", t0())
        .expect("add");
    let conn = kiosk::store::open_keyed(dir.path()).expect("raw");
    conn.execute(
        "UPDATE key_slots SET (salt, nonce, wrapped) = (SELECT salt, nonce, wrapped FROM key_slots WHERE account = 'lan') WHERE account = 'mai'",
        [],
    )
    .expect("copy slot");
    store.lock();
    assert!(matches!(
        store.unlock("mai", OP_PIN, t0()),
        Err(AccountError::WrongPin { .. })
    ));
}

// ---- review ----

fn device_key(dir: &Path) -> DeviceKey {
    kiosk::store::vault::device_key(dir).expect("device key")
}

#[test]
fn supervisors_approve_or_return_with_signed_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, sup) = provisioned(dir.path());
    let key = device_key(dir.path());
    let a = captured("lan");
    let b = captured("lan");
    store.save(&a, &by("lan", t0())).expect("save a");
    store.save(&b, &by("lan", t0())).expect("save b");
    assert_eq!(review::awaiting(&store).expect("list").len(), 2);

    let op = store.unlock("lan", OP_PIN, t0()).expect("operator");
    assert!(matches!(
        review::approve(&mut store, &key, &op, &a.id, t0()),
        Err(ReviewError::NotSupervisor(_))
    ));
    let ev = review::approve(&mut store, &key, &sup, &a.id, t0()).expect("approve");
    assert!(review::verify_event(&key.public(), &a.id, &ev));
    assert!(
        !review::verify_event(&key.public(), &b.id, &ev),
        "bound to the record"
    );
    let mut forged = ev.clone();
    forged.by = "lan".into();
    assert!(!review::verify_event(&key.public(), &a.id, &forged));
    let stored = store.load(&a.id).expect("load").expect("a");
    assert_eq!(stored.review.status, RecordStatus::Approved);
    assert_eq!(stored.review.history.last(), Some(&ev));
    assert!(matches!(
        review::approve(&mut store, &key, &sup, &a.id, t0()),
        Err(ReviewError::NotAwaitingReview(RecordStatus::Approved))
    ));

    assert!(matches!(
        review::return_to_operator(&mut store, &key, &sup, &b.id, "  ", t0()),
        Err(ReviewError::ReasonRequired)
    ));
    let ev = review::return_to_operator(
        &mut store,
        &key,
        &sup,
        &b.id,
        "Ảnh bị mờ / blurred photo",
        t0(),
    )
    .expect("return");
    assert!(review::verify_event(&key.public(), &b.id, &ev));
    let back = review::returned_to(&store, "lan").expect("returned");
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].1, "Ảnh bị mờ / blurred photo");
    assert_eq!(back[0].0.review.status, RecordStatus::Returned);
    // The operator fixes and seals it again; it is back in review.
    let mut fixed = back[0].0.clone();
    fixed.review.status = RecordStatus::Captured;
    store.save(&fixed, &by("lan", t0())).expect("reseal");
    assert_eq!(review::awaiting(&store).expect("list").len(), 1);
}

#[test]
fn exceptions_need_a_supervisor_other_than_the_operator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, sup) = provisioned(dir.path());
    store
        .add_account(&sup, "hoa", "Hoa", Role::Supervisor, "5556667778", t0())
        .expect("second supervisor");
    let key = device_key(dir.path());
    let hoa = store.unlock("hoa", "5556667778", t0()).expect("hoa");

    // A forced capture, captured by supervisor hoa herself.
    let mut forced = captured("hoa");
    if let FingerOutcome::Captured { force_captured, .. } =
        &mut forced.biometrics.fingers[3].outcome
    {
        *force_captured = true;
    }
    // A clean record hoa captured: she may approve it.
    let clean = captured("hoa");
    // An acknowledged warning counts as an exception too.
    let mut warned = captured("hoa");
    warned
        .review
        .acknowledged
        .push(enroll_sync::record::Acknowledgement {
            code: "age.unusual".into(),
            path: "applicant.birth_date".into(),
            by: "hoa".into(),
            at: t0(),
        });
    for r in [&forced, &clean, &warned] {
        store.save(r, &by("hoa", t0())).expect("save");
    }
    assert!(!review::exceptions(&forced).is_empty());
    assert!(review::exceptions(&clean).is_empty());
    match review::approve(&mut store, &key, &hoa, &forced.id, t0()) {
        Err(ReviewError::OwnExceptions(found)) => assert!(found[0].contains("forced")),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(matches!(
        review::approve(&mut store, &key, &hoa, &warned.id, t0()),
        Err(ReviewError::OwnExceptions(_))
    ));
    review::approve(&mut store, &key, &hoa, &clean.id, t0()).expect("own clean record");
    review::approve(&mut store, &key, &sup, &forced.id, t0()).expect("another supervisor");
    review::approve(&mut store, &key, &sup, &warned.id, t0()).expect("another supervisor");
}

// ---- purge ----

/// A captured record whose photo and fingers are real stored blobs.
fn with_blobs(store: &Store, tag: u8) -> Enrollment {
    let mut r = captured("lan");
    let photo = store.put_blob(&[tag; 300], "image/jpeg").expect("photo");
    if let Some(p) = r.biometrics.photo.as_mut() {
        p.sha256 = photo;
    }
    for (i, f) in r.biometrics.fingers.iter_mut().enumerate() {
        if let FingerOutcome::Captured {
            image_sha256,
            template_sha256,
            ..
        } = &mut f.outcome
        {
            *image_sha256 = store
                .put_blob(&[tag, i as u8, 1], "image/png")
                .expect("image");
            *template_sha256 = store
                .put_blob(&[tag, i as u8, 2], "application/octet-stream")
                .expect("tpl");
        }
    }
    r
}

#[test]
fn purge_only_after_a_receipt_and_the_delay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, _) = provisioned(dir.path());
    store
        .set_setting("purge_after_hours", "24")
        .expect("setting");
    let a = with_blobs(&store, 1);
    let b = with_blobs(&store, 2);
    store.save(&a, &by("lan", t0())).expect("save a");
    store.save(&b, &by("lan", t0())).expect("save b");
    let refs = kiosk::purge::biometric_refs(&a);
    assert_eq!(refs.len(), 21);
    let who = by("kiosk", t0());

    // No receipt: nothing, however late.
    let r = kiosk::purge::purge(&store, &who, t0() + Duration::days(365), false).expect("purge");
    assert_eq!((r.blobs, r.records.len()), (0, 0));

    let ack_at = t0() + Duration::hours(1);
    let heads = store.heads(&a.id).expect("heads").expect("a");
    assert!(store
        .mark_acknowledged(&a.id, &heads, "receipt-1", ack_at)
        .expect("ack"));
    // A receipt, but the delay has not passed.
    let r = kiosk::purge::purge(&store, &who, ack_at + Duration::hours(23), false).expect("purge");
    assert_eq!(r.blobs, 0);
    // Dry run lists without deleting.
    let r = kiosk::purge::purge(&store, &who, ack_at + Duration::hours(25), true).expect("dry");
    assert_eq!((r.blobs, r.records.clone()), (21, vec![a.id]));
    assert!(store.blob(&refs[0]).expect("get").is_some());
    let r = kiosk::purge::purge(&store, &who, ack_at + Duration::hours(25), false).expect("purge");
    assert_eq!((r.blobs, r.records.clone()), (21, vec![a.id]));
    for h in &refs {
        assert_eq!(store.blob(h).expect("get"), None);
        assert!(store.blob_purged(h).expect("purged?"));
    }
    // The text record stays; b (no receipt) keeps its biometrics.
    assert!(store.load(&a.id).expect("load").is_some());
    for h in kiosk::purge::biometric_refs(&b) {
        assert!(store.blob(&h).expect("get").is_some());
    }
    assert!(store
        .audit_entries(5)
        .expect("audit")
        .iter()
        .any(|e| e.action == "biometrics.purge"));
}

#[test]
fn a_receipt_for_an_older_version_does_not_purge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, _) = provisioned(dir.path());
    store
        .set_setting("purge_after_hours", "0")
        .expect("setting");
    let mut a = with_blobs(&store, 3);
    store.save(&a, &by("lan", t0())).expect("save");
    let heads = store.heads(&a.id).expect("heads").expect("a");
    store
        .mark_acknowledged(&a.id, &heads, "r", t0())
        .expect("ack");
    // Changed after the receipt (a new photo HQ has not got yet).
    let photo = store.put_blob(&[9; 100], "image/jpeg").expect("new photo");
    if let Some(p) = a.biometrics.photo.as_mut() {
        p.sha256 = photo.clone();
    }
    store.save(&a, &by("lan", t0())).expect("update");
    let r = kiosk::purge::purge(&store, &by("kiosk", t0()), t0() + Duration::days(30), false)
        .expect("purge");
    assert_eq!(r.blobs, 0);
    assert!(store.blob(&photo).expect("get").is_some());
}

// ---- guards ----

#[test]
fn guards_warn_then_stop() {
    let s = Settings::default();
    let gb = 1024 * 1024 * 1024;
    let inputs = |free: u64, days: Option<i64>, unapproved: u64| GuardInputs {
        free_bytes: free,
        avg_record_bytes: 1_000_000,
        days_since_sync: days,
        never_synced: false,
        unapproved,
        recent_records: 0,
    };
    let ok = guards::evaluate(&inputs(10 * gb, Some(0), 0), &s);
    assert_eq!(ok.level, Level::Ok);
    assert!(ok.allows_new_enrollment());
    // Storage: 200 records fit (warn below 300), then 20 (stop below 50).
    let warn = guards::evaluate(&inputs(guards::RESERVE_BYTES + 200_000_000, Some(0), 0), &s);
    assert_eq!((warn.level, warn.records_fit), (Level::Warning, 200));
    assert!(warn.allows_new_enrollment());
    let stop = guards::evaluate(&inputs(guards::RESERVE_BYTES + 20_000_000, Some(0), 0), &s);
    assert_eq!(stop.level, Level::Stop);
    assert!(!stop.allows_new_enrollment());
    assert!(stop.text().contains("Bộ nhớ đầy") && stop.text().contains("Storage is full"));
    // Days since sync.
    assert_eq!(
        guards::evaluate(&inputs(10 * gb, Some(3), 0), &s).level,
        Level::Warning
    );
    assert_eq!(
        guards::evaluate(&inputs(10 * gb, Some(7), 0), &s).level,
        Level::Stop
    );
    assert_eq!(
        guards::evaluate(&inputs(10 * gb, None, 0), &s).level,
        Level::Ok
    );
    // Unapproved records.
    assert_eq!(
        guards::evaluate(&inputs(10 * gb, Some(0), 150), &s).level,
        Level::Warning
    );
    assert_eq!(
        guards::evaluate(&inputs(10 * gb, Some(0), 300), &s).level,
        Level::Stop
    );
}

#[test]
fn guards_read_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, _) = provisioned(dir.path());
    store.set_setting("unapproved_warn", "2").expect("set");
    store.set_setting("unapproved_stop", "3").expect("set");
    store.set_setting("records_fit_warn", "0").expect("set");
    store.set_setting("records_fit_stop", "0").expect("set");
    // A fixed clock: the records are captured at t0, so days are counted from there.
    let now = t0() + Duration::hours(1);
    let level = |store: &Store, at| guards::check(store, at).expect("check").level;
    assert_eq!(level(&store, now), Level::Ok);
    store.save(&captured("lan"), &by("lan", now)).expect("save");
    assert_eq!(level(&store, now), Level::Ok);
    store.save(&captured("lan"), &by("lan", now)).expect("save");
    assert_eq!(level(&store, now), Level::Warning);
    store.save(&captured("lan"), &by("lan", now)).expect("save");
    let r = guards::check(&store, now).expect("check");
    assert_eq!(r.level, Level::Stop);
    assert!(r.text().contains("chờ duyệt"));
    assert_eq!(r.inputs.unapproved, 3);

    store.set_setting("unapproved_stop", "100").expect("set");
    store.set_setting("unapproved_warn", "100").expect("set");
    // Never synced: counted from the first record. A sync resets it.
    assert_eq!(r.inputs.days_since_sync, Some(0));
    assert_eq!(level(&store, now + Duration::days(4)), Level::Warning);
    assert_eq!(level(&store, now + Duration::days(8)), Level::Stop);
    store
        .set_cursor("hq", b"c1", now + Duration::days(8))
        .expect("cursor");
    assert_eq!(level(&store, now + Duration::days(9)), Level::Ok);
}

#[test]
fn the_forecast_counts_days_at_the_recent_pace() {
    let s = Settings::default();
    // Room for 1,000 records, 70 captured in the last week: 10 a day; the stop is at 50 left.
    let inputs = GuardInputs {
        free_bytes: guards::RESERVE_BYTES + 1_000 * 1_000_000,
        avg_record_bytes: 1_000_000,
        days_since_sync: Some(2),
        never_synced: false,
        unapproved: 0,
        recent_records: 70,
    };
    let f = guards::evaluate(&inputs, &s).forecast;
    assert_eq!(f.records_per_day, 10.0);
    assert_eq!(f.storage_stop_days, Some(95));
    assert_eq!(f.sync_stop_days, Some(s.sync_stop_days - 2));
    assert_eq!(f.soonest(), Some(5));
    // Nothing enrolled lately: storage does not fill; nothing to sync: no sync stop.
    let idle = GuardInputs {
        recent_records: 0,
        days_since_sync: None,
        ..inputs
    };
    let f = guards::evaluate(&idle, &s).forecast;
    assert_eq!((f.storage_stop_days, f.sync_stop_days), (None, None));
}

// ---- doctor ----

#[test]
fn doctor_on_a_never_synced_store_says_so_and_forecasts_the_stop() {
    use kiosk::doctor::{self, Probes, Verdict};
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, _) = provisioned(dir.path());
    store.set_setting("unapproved_warn", "1000").expect("set");
    store.set_setting("unapproved_stop", "1000").expect("set");
    // The oldest record was captured at t0; thirteen more in the last day: 14 in a week.
    let now = t0() + Duration::days(5);
    store
        .save(&captured("lan"), &by("lan", t0()))
        .expect("save");
    for _ in 0..13 {
        let mut r = captured("lan");
        r.capture.started_at = Some(now - Duration::hours(1));
        store.save(&r, &by("lan", now)).expect("save");
    }
    let report = doctor::run(&store, now, &Probes::default());
    let get = |n: &str| {
        report
            .checks
            .iter()
            .find(|c| c.name == n)
            .unwrap_or_else(|| panic!("no {n} check"))
            .clone()
    };
    let sync = get("last_sync");
    assert_eq!(sync.verdict, Verdict::Warning);
    assert!(
        sync.message_en
            .starts_with("Never synced — oldest waiting record 5 days old"),
        "{}",
        sync.message_en
    );
    assert!(
        sync.message_vi
            .starts_with("Chưa đồng bộ lần nào — hồ sơ chờ gửi lâu nhất đã 5 ngày"),
        "{}",
        sync.message_vi
    );
    assert!(!sync.message_en.contains("ago"), "{}", sync.message_en);
    let forecast = get("forecast");
    assert!(
        forecast.message_en.contains("2.0 records a day")
            // Storage days depend on this disk's free space; the figures are tested above.
            && (forecast
                .message_en
                .contains("Storage will stop enrollment in about")
                || forecast.message_en.contains("Storage lasts more than a year"))
            && forecast
                .message_en
                .contains("the sync limit will stop enrollment in 2 days"),
        "{}",
        forecast.message_en
    );
    assert!(
        forecast.message_vi.contains("sau 2 ngày"),
        "{}",
        forecast.message_vi
    );
    assert_eq!(forecast.verdict, Verdict::Warning);

    // Once HQ is reached the words are about that sync.
    store.set_cursor("hq", b"c1", now).expect("cursor");
    let after = doctor::run(&store, now + Duration::days(1), &Probes::default());
    let sync = after
        .checks
        .iter()
        .find(|c| c.name == "last_sync")
        .expect("sync");
    assert_eq!(sync.message_en, "Last sync: 1 days ago.");
    assert_eq!(sync.verdict, Verdict::Ok);
}

#[test]
fn doctor_reports_every_area_and_uses_pluggable_probes() {
    use kiosk::doctor::{self, Check, Probe, Probes, Verdict, VideoNodes};
    struct Failing;
    impl Probe for Failing {
        fn check(&self) -> Check {
            Check::new("scanner", Verdict::Fail, "hỏng".into(), "broken".into())
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, _) = provisioned(dir.path());
    let now = t0() + Duration::hours(1);
    store.save(&captured("lan"), &by("lan", now)).expect("save");
    let dev = tempfile::tempdir().expect("dev");
    std::fs::write(dev.path().join("video0"), b"").expect("node");
    std::fs::write(dev.path().join("video-not"), b"").expect("other");
    let probes = Probes {
        scanner: Box::new(Failing),
        cameras: Box::new(VideoNodes {
            dev_dir: dev.path().to_owned(),
        }),
    };
    let report = doctor::run(&store, now, &probes);
    let names: Vec<&str> = report.checks.iter().map(|c| c.name).collect();
    for n in [
        "database",
        "storage",
        "forecast",
        "last_sync",
        "unapproved",
        "records",
        "scanner",
        "cameras",
        "clock",
        "audit",
    ] {
        assert!(names.contains(&n), "missing {n} in {names:?}");
    }
    let get = |n: &str| {
        report
            .checks
            .iter()
            .find(|c| c.name == n)
            .expect("check")
            .clone()
    };
    assert_eq!(get("cameras").verdict, Verdict::Ok);
    assert!(
        get("cameras").message_en.contains("video0")
            && !get("cameras").message_en.contains("video-not")
    );
    assert_eq!(report.verdict, Verdict::Fail);
    // A clock behind the newest saved data fails.
    let past = doctor::run(&store, now - Duration::days(2), &Probes::default());
    assert_eq!(
        past.checks
            .iter()
            .find(|c| c.name == "clock")
            .expect("clock")
            .verdict,
        Verdict::Fail
    );
    let empty = tempfile::tempdir().expect("dev");
    let none = VideoNodes {
        dev_dir: empty.path().to_owned(),
    }
    .check();
    assert_eq!(none.verdict, Verdict::Warning);
}

#[test]
fn blobs_stored_before_encryption_are_sealed_at_the_next_sign_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = provisioned(dir.path());
    drop(store);
    let plain = fake_png();
    let hash = kiosk::store::sha256_hex(&plain);
    let conn = kiosk::store::open_keyed(dir.path()).expect("raw");
    conn.execute(
        "INSERT INTO blobs(sha256, media_type, size, data, created_at) VALUES (?1, 'image/png', ?2, ?3, '2026-01-01T00:00:00.000Z')",
        rusqlite::params![hash, plain.len() as i64, plain],
    )
    .expect("legacy row");
    let mut store = open(dir.path());
    store.unlock("lan", OP_PIN, t0()).expect("sign in");
    let (sealed, data): (bool, Vec<u8>) = conn
        .query_row(
            "SELECT sealed, data FROM blobs WHERE sha256 = ?1",
            [&hash],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row");
    assert!(sealed);
    assert!(!contains(&data, b"PLAINTEXT-FINGER-MARKER"));
    assert_eq!(store.blob(&hash).expect("get").map(|(b, _)| b), Some(plain));
}
