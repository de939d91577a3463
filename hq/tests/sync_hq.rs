//! Sync against a real HQ server (on SQLite and on PostgreSQL) on a loopback port, with real kiosk data directories and the
//! real `kiosk` binary where the command line is what is tested.

#[macro_use]
mod backend;
mod common;

use backend::Backend;

use chrono::Utc;
use common::{kiosk, proxy, replace_hashes, stderr, stdout};
use enroll_hq::{server, Page, RecordQuery};
use enroll_sync::identity::DeviceKey;
use enroll_sync::protocol::{Frame, Header, RecordChanges, SignedChange, StreamKind};
use enroll_sync::record::{Attribution, Enrollment, HqState};
use enroll_sync::seal::Sealer;
use kiosk::store::Store;
use kiosk::sync::{self as ksync, Provisioned};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tempfile::TempDir;
use uuid::Uuid;

/// Starts HQ (library server, real TCP) in `dir`; returns its URL.
fn start_hq(db: &Backend, dir: &Path) -> String {
    let hq = db.open(dir);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || server::serve(listener, hq));
    url
}

/// Enrols a kiosk the way a field team does: request file → HQ allowlist → provisioning file.
fn enrol(db: &Backend, hq_dir: &Path, data: &Path, name: &str, url: &str) -> String {
    let req = data.with_extension("req.json");
    let out = kiosk(
        data,
        &["provision", "--request", req.to_str().expect("utf8")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let key = stdout(&out).trim().to_owned();
    let hq = db.open(hq_dir);
    let entry = hq.add_kiosk(name, &key, None).expect("add kiosk");
    let prov = data.with_extension("prov.json");
    let text = serde_json::to_string(&hq.provisioning(&entry, url)).expect("json");
    std::fs::write(&prov, text).expect("write");
    let out = kiosk(data, &["provision", prov.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    entry.id
}

fn by(who: &str) -> Attribution {
    Attribution {
        person: who.into(),
        device: "test".into(),
        at: Utc::now(),
    }
}

fn add_demo(data: &Path, n: usize, seed: u64) -> Vec<Uuid> {
    let mut store = Store::open(data).expect("store");
    let mut g = kiosk::demo::DemoGenerator::new(seed, Utc::now());
    (0..n)
        .map(|_| {
            match kiosk::enroll::submit(&mut store, g.record(), &by("op"), false).expect("submit") {
                kiosk::enroll::Submission::Saved { outcome, .. } => outcome.id,
                kiosk::enroll::Submission::Rejected { blocking, .. } => {
                    panic!("demo record rejected: {blocking:?}")
                }
            }
        })
        .collect()
}

const PIN: &str = "2468101357";

/// Creates the kiosk's supervisor (cheap test KDF), leaving the store unlocked.
fn with_supervisor(data: &Path) -> Store {
    let mut store = Store::open(data).expect("store");
    store.use_test_only_kdf();
    store
        .init_supervisor("sup", "Trần Văn Giám", PIN, Utc::now())
        .expect("supervisor");
    store
}

fn sync_lib(data: &Path, url: &str) -> Result<ksync::SyncReport, ksync::SyncError> {
    let mut store = Store::open(data).expect("store");
    // Kiosks with biometrics have a supervisor: signed in, blobs can be read for sending.
    let _ = store.unlock("sup", PIN, Utc::now());
    let prov = Provisioned::load(&store).expect("provisioned");
    let key = ksync::device_key(data).expect("key");
    ksync::sync(&mut store, &key, &prov, url, &mut |_| {})
}

/// HQ's view: record id → (kiosk, heads as hex, hq status).
fn hq_records(db: &Backend, hq_dir: &Path) -> Vec<enroll_hq::RecordRow> {
    let page = Page {
        limit: 100_000,
        ..Page::default()
    };
    db.open(hq_dir)
        .list_records(&RecordQuery::default(), &page)
        .expect("records")
}

fn hq_heads(db: &Backend, hq_dir: &Path, id: &Uuid) -> Vec<automerge::ChangeHash> {
    let hq = db.open(hq_dir);
    let mut s = hq.session().expect("session");
    s.records(&[*id])
        .expect("read")
        .pop()
        .expect("present")
        .heads
}

fn kiosk_heads(data: &Path, id: &Uuid) -> Vec<automerge::ChangeHash> {
    Store::open(data)
        .expect("store")
        .heads(id)
        .expect("heads")
        .expect("present")
}

fn two_kiosks_of_a_thousand_records_sync_and_duplicates_are_marked(db: &Backend) {
    let root = TempDir::new().expect("tmp");
    let hq_dir = root.path().join("hq");
    let url = start_hq(db, &hq_dir);
    let a = root.path().join("a");
    let b = root.path().join("b");
    enrol(db, &hq_dir, &a, "Xã A", &url);
    enrol(db, &hq_dir, &b, "Xã B", &url);
    let (ra, rb) = std::thread::scope(|s| {
        let ja = s.spawn(|| {
            kiosk(
                &a,
                &["demo-data", "--count", "1000", "--save", "--seed", "1"],
            )
        });
        let jb = s.spawn(|| {
            kiosk(
                &b,
                &["demo-data", "--count", "1000", "--save", "--seed", "2"],
            )
        });
        (ja.join().expect("a"), jb.join().expect("b"))
    });
    assert!(ra.status.success() && rb.status.success());
    // The same person enrolled at both kiosks: a copy of one of A's records saved on B.
    let first = stdout(&ra)
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| Uuid::parse_str(s).ok())
        .expect("a record id");
    let mut copy: Enrollment = Store::open(&a)
        .expect("a")
        .load(&first)
        .expect("load")
        .expect("present");
    copy.id = Uuid::now_v7();
    copy.enrollment_no.clear();
    Store::open(&b)
        .expect("b")
        .save(&copy, &by("op"))
        .expect("save copy");

    for data in [&a, &b] {
        let out = kiosk(data, &["sync"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stdout(&out).contains("2 lượt / round trips"),
            "{}",
            stdout(&out)
        );
        assert!(stderr(&out).contains("hồ sơ/records"), "progress line");
    }
    let rows = hq_records(db, &hq_dir);
    assert_eq!(rows.len(), 2001);
    let dups: Vec<_> = rows
        .iter()
        .filter(|r| r.p.hq_status.as_deref() == Some("duplicate"))
        .collect();
    assert_eq!(dups.len(), 2, "both records of the person are marked");
    // The two records are on different kiosks: a notice never names the other kiosk's record.
    assert!(dups.iter().all(|r| !r
        .p
        .hq_reason
        .as_deref()
        .unwrap_or("")
        .contains(&copy.id.to_string())
        && !r
            .p
            .hq_reason
            .as_deref()
            .unwrap_or("")
            .contains(&first.to_string())));
    // A learns of the duplicate on its next sync; then nothing is left to send.
    let report = sync_lib(&a, &url).expect("sync a");
    assert_eq!(report.merged_from_hq, 1);
    let shown = kiosk(&a, &["records", "show", &first.to_string()]);
    assert!(stdout(&shown).contains("Trùng hồ sơ"), "{}", stdout(&shown));
    // Nothing changed: one round trip, well under 2 KB each way for 1,000 records.
    let idle = sync_lib(&a, &url).expect("idle sync");
    assert_eq!(idle.round_trips, 1);
    assert!(
        idle.traffic.sent < 2048 && idle.traffic.received < 2048,
        "{idle:?}"
    );
    let status = kiosk(&a, &["sync", "status"]);
    assert!(
        stdout(&status).contains("chờ gửi / waiting to sync: 0"),
        "{}",
        stdout(&status)
    );
}

fn concurrent_edits_at_kiosk_and_hq_converge(db: &Backend) {
    let root = TempDir::new().expect("tmp");
    let hq_dir = root.path().join("hq");
    let url = start_hq(db, &hq_dir);
    let k = root.path().join("k");
    enrol(db, &hq_dir, &k, "Xã C", &url);
    let ids = add_demo(&k, 3, 7);
    sync_lib(&k, &url).expect("first sync");
    let id = ids[1];
    // The kiosk edits the contact while HQ asks for a recapture.
    let mut store = Store::open(&k).expect("store");
    let mut r = store.load(&id).expect("load").expect("present");
    r.applicant.other_name = Some("Tý".into());
    store.save(&r, &by("op")).expect("edit");
    drop(store);
    db.open(&hq_dir)
        .set_status(
            &id,
            HqState::RecaptureNeeded,
            Some("ảnh mờ / blurred".into()),
            "hq-admin",
        )
        .expect("set status");
    let report = sync_lib(&k, &url).expect("sync");
    assert_eq!(report.merged_from_hq, 1);
    let r = Store::open(&k)
        .expect("store")
        .load(&id)
        .expect("load")
        .expect("present");
    assert_eq!(r.applicant.other_name.as_deref(), Some("Tý"));
    assert_eq!(
        r.review.hq.as_ref().map(|h| h.status),
        Some(HqState::RecaptureNeeded)
    );
    assert_eq!(kiosk_heads(&k, &id), hq_heads(db, &hq_dir, &id));
    let row = hq_records(db, &hq_dir)
        .into_iter()
        .find(|x| x.id == id)
        .expect("row");
    assert_eq!(row.p.hq_status.as_deref(), Some("recapture_needed"));
    // The HQ status shows in `kiosk records show`, and nothing waits any more.
    let shown = kiosk(&k, &["records", "show", &id.to_string()]);
    assert!(
        stdout(&shown).contains("Re-capture needed"),
        "{}",
        stdout(&shown)
    );
    assert_eq!(
        Store::open(&k)
            .expect("s")
            .unacknowledged()
            .expect("u")
            .len(),
        0
    );
}

/// A record with a photo bigger than one blob chunk, so blobs resume across cuts.
fn add_photo_record(data: &Path) -> Uuid {
    let store = with_supervisor(data);
    let mut r = enroll_sync::record::example(Utc::now());
    r.id = Uuid::now_v7();
    r.enrollment_no.clear();
    r.applicant.id_number = Some("001058777777".into());
    let photo: Vec<u8> = (0..600_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let sha = store.put_blob(&photo, "image/jpeg").expect("blob");
    let mut v = serde_json::to_value(&r).expect("json");
    replace_hashes(&mut v, &store, &sha);
    let r: Enrollment = serde_json::from_value(v).expect("record");
    let mut store = store;
    store.save(&r, &by("op")).expect("save");
    r.id
}

fn sessions_cut_at_random_points_leave_hq_exact(db: &Backend) {
    let root = TempDir::new().expect("tmp");
    let hq_dir = root.path().join("hq");
    let url = start_hq(db, &hq_dir);
    let k = root.path().join("k");
    enrol(db, &hq_dir, &k, "Xã D", &url);
    let photo_record = add_photo_record(&k);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let proxy_url = format!("http://{}", listener.local_addr().expect("addr"));
    let cuts = Arc::new(AtomicI64::new(0));
    let to = url.trim_start_matches("http://").to_owned();
    let c = cuts.clone();
    std::thread::spawn(move || proxy(listener, to, c));
    let mut ids = vec![photo_record];
    let mut rng_state = 0x2545F4914F6CDD1Du64;
    let mut next = move || {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        rng_state
    };
    let (mut ok, mut failed) = (0, 0);
    for round in 0..100u64 {
        if round % 3 == 0 {
            ids.extend(add_demo(&k, 2, 100 + round));
        }
        // Most sessions are cut in their first 1.5 KB (hello or push), some while the photo
        // streams, an eighth run whole.
        let budget = match next() % 8 {
            0 => i64::MAX,
            1 => (next() % 700_000) as i64,
            _ => (next() % 1_500) as i64,
        };
        cuts.store(budget, Ordering::SeqCst);
        match sync_lib(&k, &proxy_url) {
            Ok(_) => ok += 1,
            Err(_) => failed += 1,
        }
    }
    assert!(failed > 40 && ok > 5, "ok {ok} failed {failed}");
    let last = sync_lib(&k, &url).expect("final sync");
    assert!(last.rejected.is_empty(), "{:?}", last.rejected);
    let rows = hq_records(db, &hq_dir);
    let mut at_hq: Vec<String> = rows.iter().map(|r| r.id.to_string()).collect();
    at_hq.sort();
    let before = at_hq.len();
    at_hq.dedup();
    assert_eq!(before, at_hq.len(), "no duplicates");
    let mut local: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    local.sort();
    assert_eq!(at_hq, local, "HQ holds exactly the kiosk's records");
    for id in &ids {
        assert_eq!(kiosk_heads(&k, id), hq_heads(db, &hq_dir, id));
    }
    assert_eq!(
        Store::open(&k)
            .expect("s")
            .unacknowledged()
            .expect("u")
            .len(),
        0
    );
    // The photo arrived whole (its hash checked) despite the cuts.
    let photo_sha = {
        let r = Store::open(&k)
            .expect("s")
            .load(&photo_record)
            .expect("l")
            .expect("p");
        r.biometrics.photo.expect("photo").sha256
    };
    let hq = db.open(&hq_dir);
    let sha = enroll_sync::protocol::sha_from_hex(&photo_sha).expect("hex");
    assert_eq!(
        hq.blobs().get(&sha).expect("blob").map(|b| b.len()),
        Some(600_000)
    );
}

fn import(
    db: &Backend,
    hq_dir: &Path,
    file: &Path,
) -> Result<enroll_sync::protocol::Receipt, String> {
    let hq = db.open(hq_dir);
    let bytes = std::fs::read(file).expect("read");
    match hq.import_bundle(&bytes) {
        Ok((sealed, receipt)) => {
            std::fs::write(file.with_extension("receipt"), sealed).expect("write");
            Ok(receipt)
        }
        Err(e) => Err(e.to_string()),
    }
}

/// A hand-made bundle from `data`'s kiosk carrying `groups`.
fn crafted_bundle(
    data: &Path,
    kiosk_id: &str,
    hq_seal: &[u8; 32],
    groups: Vec<RecordChanges>,
) -> Vec<u8> {
    let key = kiosk::store::vault::device_key(data).expect("key");
    let mut s = Sealer::new(hq_seal).expect("sealer");
    let mut out = s.header().to_vec();
    let h = Header::new(StreamKind::Bundle, kiosk_id, &key, s.header());
    out.extend(s.frame(&Frame::Header(h).encode(), false));
    out.extend(s.frame(&Frame::Changes(groups).encode(), false));
    out.extend(s.frame(&Frame::End { frames: 2 }.encode(), true));
    out
}

fn bundles_in_any_order_and_every_refusal_states_its_reason(db: &Backend) {
    let root = TempDir::new().expect("tmp");
    let hq_dir = root.path().join("hq");
    let url = start_hq(db, &hq_dir);
    let k = root.path().join("k");
    let kiosk_id = enrol(db, &hq_dir, &k, "Xã E", &url);
    // Receipts are taken in by a signed-in supervisor.
    drop(with_supervisor(&k));
    let import_receipt = |file: &Path| {
        std::process::Command::new(common::kiosk_bin())
            .args([
                "import-receipt",
                file.to_str().expect("utf8"),
                "--supervisor",
                "sup",
            ])
            .env("KIOSK_DATA_DIR", &k)
            .env("KIOSK_PIN", PIN)
            .output()
            .expect("run kiosk")
    };
    let first = add_demo(&k, 5, 11);
    let b1: PathBuf = root.path().join("b1.bundle");
    let out = kiosk(&k, &["export", "--out", b1.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let second = add_demo(&k, 4, 12);
    let b2 = root.path().join("b2.bundle");
    assert!(kiosk(&k, &["export", "--out", b2.to_str().expect("utf8")])
        .status
        .success());

    // Tampered and truncated copies are refused whole: nothing applied.
    let bytes = std::fs::read(&b2).expect("read");
    let mut tampered = bytes.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x40;
    let t = root.path().join("tampered.bundle");
    std::fs::write(&t, &tampered).expect("write");
    let e = import(db, &hq_dir, &t).expect_err("tampered");
    assert!(e.contains("damaged or was altered"), "{e}");
    let t = root.path().join("short.bundle");
    std::fs::write(&t, &bytes[..bytes.len() - 10]).expect("write");
    let e = import(db, &hq_dir, &t).expect_err("truncated");
    assert!(e.contains("cut short"), "{e}");
    assert_eq!(hq_records(db, &hq_dir).len(), 0);

    // Newest first, then the older one, then the newest again: same result, all acknowledged.
    let r2 = import(db, &hq_dir, &b2).expect("b2");
    assert_eq!(r2.acks.len(), 9);
    let r1 = import(db, &hq_dir, &b1).expect("b1");
    assert_eq!(r1.acks.len(), 5);
    import(db, &hq_dir, &b2).expect("b2 again");
    assert_eq!(hq_records(db, &hq_dir).len(), 9);
    // The kiosk verifies HQ's signature and marks the records acknowledged.
    for f in [
        root.path().join("b1.receipt"),
        root.path().join("b2.receipt"),
    ] {
        let out = import_receipt(&f);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(
        Store::open(&k)
            .expect("s")
            .unacknowledged()
            .expect("u")
            .len(),
        0
    );
    // A receipt with a forged HQ signature is refused by the kiosk.
    let mut forged = std::fs::read(root.path().join("b1.receipt")).expect("read");
    let n = forged.len();
    forged[n - 20] ^= 1;
    let f = root.path().join("forged.receipt");
    std::fs::write(&f, forged).expect("write");
    let out = import_receipt(&f);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    let prov = Provisioned::load(&Store::open(&k).expect("s")).expect("prov");
    let (a, b) = (first[0], second[0]);
    let hq_before = (hq_heads(db, &hq_dir, &a), hq_heads(db, &hq_dir, &b));
    // A new signed change of record A, then the same change replayed into record B.
    let mut store = Store::open(&k).expect("s");
    let mut r = store.load(&a).expect("l").expect("p");
    r.applicant.other_name = Some("Mới".into());
    store.save(&r, &by("op")).expect("edit");
    let change = store.changes_after(&a, &hq_before.0).expect("changes");
    assert_eq!(change.len(), 1);
    let (hash, bytes) = change[0].clone();
    let key = kiosk::store::vault::device_key(&k).expect("key");
    let signed = SignedChange::sign(&key, a, &hash, bytes.clone());
    let replay = crafted_bundle(
        &k,
        &kiosk_id,
        &prov.hq_seal,
        vec![RecordChanges {
            record: b,
            changes: vec![signed.clone()],
            heads: vec![],
        }],
    );
    let file = root.path().join("replay.bundle");
    std::fs::write(&file, replay).expect("write");
    let r = import(db, &hq_dir, &file).expect("imports with a refusal");
    assert_eq!(r.rejections.len(), 1);
    assert_eq!(r.rejections[0].code, "record_mismatch");
    // The same change re-labelled for B but still signed for A: the signature fails.
    let mut relabelled = signed.clone();
    relabelled.record = b;
    let file = root.path().join("relabel.bundle");
    std::fs::write(
        &file,
        crafted_bundle(
            &k,
            &kiosk_id,
            &prov.hq_seal,
            vec![RecordChanges {
                record: b,
                changes: vec![relabelled],
                heads: vec![],
            }],
        ),
    )
    .expect("write");
    assert_eq!(
        import(db, &hq_dir, &file).expect("refusal").rejections[0].code,
        "bad_signature"
    );
    // A forged signature (another key) on a real change.
    let other = DeviceKey::generate();
    let forged = SignedChange::sign(&other, a, &hash, bytes.clone());
    let file = root.path().join("forged.bundle");
    std::fs::write(
        &file,
        crafted_bundle(
            &k,
            &kiosk_id,
            &prov.hq_seal,
            vec![RecordChanges {
                record: a,
                changes: vec![forged],
                heads: vec![],
            }],
        ),
    )
    .expect("write");
    let r = import(db, &hq_dir, &file).expect("refusal");
    assert_eq!(r.rejections[0].code, "bad_signature");
    assert!(r.acks.is_empty());
    // Malformed change bytes.
    let junk = SignedChange::sign(&key, a, &hash, vec![1, 2, 3]);
    let file = root.path().join("junk.bundle");
    std::fs::write(
        &file,
        crafted_bundle(
            &k,
            &kiosk_id,
            &prov.hq_seal,
            vec![RecordChanges {
                record: a,
                changes: vec![junk],
                heads: vec![],
            }],
        ),
    )
    .expect("write");
    // Bytes that are not a raw change are refused whole, before automerge parses them.
    let e = import(db, &hq_dir, &file).expect_err("not a raw change");
    assert!(e.contains("limit_change_chunk"), "{e}");
    assert_eq!(
        (hq_heads(db, &hq_dir, &a), hq_heads(db, &hq_dir, &b)),
        hq_before,
        "nothing applied"
    );

    // After revocation, the kiosk's real bundle is refused whole, by the command line too.
    let b3 = root.path().join("b3.bundle");
    assert!(kiosk(&k, &["export", "--out", b3.to_str().expect("utf8")])
        .status
        .success());
    db.open(&hq_dir).revoke_kiosk(&kiosk_id).expect("revoke");
    let e = import(db, &hq_dir, &b3).expect_err("revoked");
    assert!(e.contains("revoked_kiosk"), "{e}");
    assert_eq!(hq_heads(db, &hq_dir, &a), hq_before.0, "nothing applied");
    let err = sync_lib(&k, &url).expect_err("revoked kiosk cannot sync");
    assert!(err.to_string().contains("revoked"), "{err}");
}

on_each_backend!(
    two_kiosks_of_a_thousand_records_sync_and_duplicates_are_marked,
    concurrent_edits_at_kiosk_and_hq_converge,
    sessions_cut_at_random_points_leave_hq_exact,
    bundles_in_any_order_and_every_refusal_states_its_reason,
);
