//! The review side of the HQ dashboard against a real HQ server on loopback (SQLite and
//! PostgreSQL) and real kiosk stores: the timeline from the document's own history with its
//! signatures, comments and HQ status changes that reach the kiosk, duplicate adjudication that
//! reaches both kiosks (and names no other kiosk's record), the session log with its signed
//! receipts, and the quality figures kept at intake.

#[macro_use]
mod backend;

use backend::Backend;

use chrono::{DateTime, Duration, Utc};
use enroll_hq::review::quality::week_of;
use enroll_hq::review::{Adjudication, Scope, SigState, Who};
use enroll_hq::storage::review::{QualityBy, QualityQuery, SessionQuery};
use enroll_hq::{server, Hq, HqError, Options};
use enroll_sync::protocol::Reply;
use enroll_sync::record::{Attribution, DuplicateVerdict, Enrollment, HqState};
use kiosk::store::Store;
use kiosk::sync::{self as ksync, Provisioned};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use tempfile::TempDir;
use uuid::Uuid;

/// The day the records are captured: tests never read today's date for their figures.
fn day0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T08:30:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

/// HQ on a loopback port, its clock a day after the captures; the test keeps the same `Hq`.
fn start_hq(db: &Backend, dir: &Path) -> (Arc<Hq>, String) {
    let at = day0() + Duration::days(1);
    let hq = Arc::new(
        Hq::open_with(Options {
            clock: Arc::new(move || at),
            ..db.options(dir)
        })
        .expect("open hq"),
    );
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let shared = hq.clone();
    std::thread::spawn(move || server::serve_shared(listener, shared));
    (hq, url)
}

/// Enrols a kiosk as a field team does (request → HQ allowlist → provisioning), through the
/// kiosk library.
fn enrol(hq: &Hq, data: &Path, name: &str, url: &str) -> String {
    std::fs::create_dir_all(data).expect("dir");
    let mut store = Store::open(data).expect("store");
    let key = ksync::device_key(data).expect("key");
    let req = ksync::enrolment_request(&store, &key);
    let entry = hq
        .add_kiosk(name, &req.kiosk_public, None)
        .expect("add kiosk");
    let text = serde_json::to_string(&hq.provisioning(&entry, url)).expect("json");
    ksync::provision(&mut store, &key, &text, &by("setup"), None).expect("provision");
    entry.id
}

fn by(who: &str) -> Attribution {
    Attribution {
        person: who.into(),
        device: "test".into(),
        at: day0(),
    }
}

fn save(data: &Path, r: Enrollment) -> Uuid {
    let mut store = Store::open(data).expect("store");
    match kiosk::enroll::submit(&mut store, r, &by("op-7"), false).expect("submit") {
        kiosk::enroll::Submission::Saved { outcome, .. } => outcome.id,
        kiosk::enroll::Submission::Rejected { blocking, .. } => {
            panic!("demo record rejected: {blocking:?}")
        }
    }
}

fn demo(seed: u64) -> kiosk::demo::DemoGenerator {
    kiosk::demo::DemoGenerator::new(seed, day0())
}

fn sync(data: &Path, url: &str) -> Result<ksync::SyncReport, ksync::SyncError> {
    let mut store = Store::open(data).expect("store");
    let prov = Provisioned::load(&store).expect("provisioned");
    let key = ksync::device_key(data).expect("key");
    ksync::sync(&mut store, &key, &prov, url, &mut |_| {})
}

fn load(data: &Path, id: &Uuid) -> Enrollment {
    Store::open(data)
        .expect("store")
        .load(id)
        .expect("load")
        .expect("present")
}

fn timeline_shows_who_what_and_verified_signatures(db: &Backend) {
    let root = TempDir::new().expect("tmp");
    let (hq, url) = start_hq(db, &root.path().join("hq"));
    let k = root.path().join("k");
    let kiosk_id = enrol(&hq, &k, "Xã Timeline", &url);
    let id = save(&k, demo(3).record());
    sync(&k, &url).expect("first sync");
    // The operator corrects the phone number; it reaches HQ as a second signed change.
    let mut r = load(&k, &id);
    r.contact.phone = Some("0987654321".into());
    Store::open(&k)
        .expect("store")
        .save(&r, &by("op-7"))
        .expect("edit");
    sync(&k, &url).expect("second sync");
    hq.review_status(
        &id,
        HqState::RecaptureNeeded,
        "ảnh bị mờ / photo is blurred",
        "hq-lan",
        &Scope::all(),
    )
    .expect("status");

    let t = hq.timeline(&id).expect("timeline");
    assert_eq!(t.kiosk_id, kiosk_id);
    assert_eq!(t.changes_cut, 0);
    assert!(t.entries.len() >= 3, "{:#?}", t.entries);
    for e in &t.entries[..t.entries.len() - 1] {
        assert_eq!(
            e.signature,
            SigState::Verified {
                signer: kiosk_id.clone()
            },
            "{e:#?}"
        );
        assert_ne!(e.who, Who::HqUser);
    }
    let first = &t.entries[0];
    assert!(first
        .fields
        .iter()
        .any(|f| f.path == "applicant.name.family" && f.before.is_none() && f.label_vi == "Họ"));
    let phone = t
        .entries
        .iter()
        .flat_map(|e| e.fields.iter().map(move |f| (e, f)))
        .find(|(_, f)| f.path == "contact.phone" && f.after.as_deref() == Some("0987654321"))
        .expect("the phone change is in the timeline");
    assert_eq!(phone.0.who, Who::Operator);
    assert_eq!(phone.0.person, "op-7");
    assert_eq!(phone.1.label_en, "Phone");
    let last = t.entries.last().expect("entries");
    assert_eq!(last.who, Who::HqUser);
    assert_eq!(last.person, "hq-lan");
    assert_eq!(last.at, Some(day0() + Duration::days(1)));
    assert_eq!(
        last.signature,
        SigState::Verified {
            signer: "HQ".into()
        }
    );
    assert!(last
        .fields
        .iter()
        .any(|f| f.path == "review.hq.status" && f.after.as_deref() == Some("recapture_needed")));

    // A signature altered in the database no longer verifies, and the timeline says so.
    if matches!(db, Backend::Sqlite) {
        let conn = rusqlite::Connection::open(root.path().join("hq").join(enroll_hq::DB_FILE))
            .expect("db");
        conn.execute(
            "UPDATE change_sigs SET signature = zeroblob(64) WHERE signer = 'HQ'",
            [],
        )
        .expect("tamper");
        let t = hq.timeline(&id).expect("timeline");
        assert_eq!(
            t.entries.last().expect("entries").signature,
            SigState::Invalid {
                signer: "HQ".into()
            }
        );
    }
}

fn comments_and_status_with_reasons_reach_the_kiosk(db: &Backend) {
    let root = TempDir::new().expect("tmp");
    let (hq, url) = start_hq(db, &root.path().join("hq"));
    let k = root.path().join("k");
    enrol(&hq, &k, "Xã Nhận xét", &url);
    let id = save(&k, demo(5).record());
    sync(&k, &url).expect("sync");
    let province = load(&k, &id)
        .applicant
        .permanent_residence
        .map(|a| a.province_code)
        .expect("residence");

    // Returning and rejecting need a reason; an empty one is refused and changes nothing.
    for state in [HqState::RecaptureNeeded, HqState::Rejected] {
        match hq.review_status(&id, state, "   ", "hq-lan", &Scope::all()) {
            Err(HqError::Refused(r)) => assert_eq!(r.code, "reason_required"),
            other => panic!("{other:?}"),
        }
    }
    // A user scoped to another province cannot see or touch the record.
    let elsewhere = Scope::provinces(vec![if province == "01" { "79" } else { "01" }.into()]);
    assert!(matches!(
        hq.add_comment(&id, "hq-minh", "xem lại", &elsewhere),
        Err(HqError::NoSuchRecord(_))
    ));
    assert!(matches!(
        hq.review_status(&id, HqState::CardPrinted, "", "hq-minh", &elsewhere),
        Err(HqError::NoSuchRecord(_))
    ));
    let mine = Scope::provinces(vec![province]);
    let c1 = hq
        .add_comment(&id, "hq-lan", "Ảnh hơi tối, đề nghị chụp lại.", &mine)
        .expect("comment");
    let c2 = hq
        .add_comment(&id, "hq-minh", "Đồng ý.", &Scope::all())
        .expect("comment");
    assert!(matches!(
        hq.add_comment(&id, "hq-lan", " ", &mine),
        Err(HqError::Refused(_))
    ));
    let thread = hq.comments(&id, 0, 50).expect("comments");
    assert_eq!(thread, vec![c1.clone(), c2.clone()]);
    assert_eq!(hq.comments(&id, c1.seq, 50).expect("page"), vec![c2]);
    assert_eq!(thread[0].author, "hq-lan");
    assert_eq!(thread[0].at, day0() + Duration::days(1));

    hq.review_status(
        &id,
        HqState::RecaptureNeeded,
        "Ảnh tối / photo too dark",
        "hq-lan",
        &mine,
    )
    .expect("status");
    let report = sync(&k, &url).expect("sync");
    assert_eq!(report.merged_from_hq, 1);
    let hqs = load(&k, &id).review.hq.expect("HQ status at the kiosk");
    assert_eq!(hqs.status, HqState::RecaptureNeeded);
    assert_eq!(hqs.reason.as_deref(), Some("Ảnh tối / photo too dark"));

    // Every action is in HQ's audit log with the user's id.
    let mut s = hq.session().expect("session");
    let audit = s.audit_since(0, 1000).expect("audit");
    let acts: Vec<(&str, &str)> = audit
        .iter()
        .map(|r| (r.entry.actor.as_str(), r.entry.action.as_str()))
        .collect();
    assert!(acts.contains(&("hq-lan", "record.comment")));
    assert!(acts.contains(&("hq-minh", "record.comment")));
    assert!(acts.contains(&("hq-lan", "record.hq_status")));
}

fn an_adjudication_reaches_both_kiosks_and_names_no_other_record(db: &Backend) {
    let root = TempDir::new().expect("tmp");
    let (hq, url) = start_hq(db, &root.path().join("hq"));
    let a = root.path().join("a");
    let b = root.path().join("b");
    enrol(&hq, &a, "Xã A", &url);
    enrol(&hq, &b, "Xã B", &url);
    // The same person enrolled at two kiosks.
    let first = demo(11).record();
    let mut second = demo(12).record();
    second.applicant = first.applicant.clone();
    let number = first.applicant.id_number.clone().expect("id number");
    let ra = save(&a, first);
    let rb = save(&b, second);
    sync(&a, &url).expect("sync a");
    sync(&b, &url).expect("sync b");

    let view = hq.duplicate_view(&number, &Scope::all()).expect("group");
    let mut ids: Vec<Uuid> = view.records.iter().map(|(r, _)| r.id).collect();
    ids.sort();
    let mut want = vec![ra, rb];
    want.sort();
    assert_eq!(ids, want);
    assert!(view.decisions.is_empty());
    // Same applicant, different capture details: the diff shows what differs, not the name.
    let diff = view.differing_fields();
    assert!(
        !diff.iter().any(|d| d.0.starts_with("applicant.")),
        "{diff:?}"
    );
    assert!(diff.iter().any(|d| d.0 == "enrollment_no"), "{diff:?}");

    // A reason is required; records that are not a duplicate pair are refused.
    let decision = |reason: &str| Adjudication {
        a: ra,
        b: rb,
        verdict: DuplicateVerdict::SamePerson,
        reason: reason.into(),
    };
    assert!(matches!(
        hq.adjudicate(&decision(""), "hq-lan", &Scope::all()),
        Err(HqError::Refused(_))
    ));
    let lone = save(&a, demo(13).record());
    sync(&a, &url).expect("sync a");
    assert!(matches!(
        hq.adjudicate(
            &Adjudication {
                b: lone,
                ..decision("x")
            },
            "hq-lan",
            &Scope::all()
        ),
        Err(HqError::Refused(r)) if r.code == "not_duplicates"
    ));
    hq.adjudicate(
        &decision("Cùng ảnh, cùng vân tay / same photo and fingers"),
        "hq-lan",
        &Scope::all(),
    )
    .expect("adjudicate");
    let view = hq.duplicate_view(&number, &Scope::all()).expect("group");
    assert_eq!(view.decisions.len(), 1);
    assert_eq!(view.decisions[0].verdict, "same_person");
    assert_eq!(view.decisions[0].by, "hq-lan");

    for (data, own, other) in [(&a, ra, rb), (&b, rb, ra)] {
        sync(data, &url).expect("sync");
        let r = load(data, &own);
        let d = r.review.duplicate.clone().expect("decision at the kiosk");
        assert_eq!(d.verdict, DuplicateVerdict::SamePerson);
        assert_eq!(d.by, "hq-lan");
        assert_eq!(d.reason, "Cùng ảnh, cùng vân tay / same photo and fingers");
        let json = serde_json::to_string(&r).expect("json");
        assert!(
            !json.contains(&other.to_string()) && !json.contains(&other.simple().to_string()),
            "kiosk sees the other kiosk's record id: {json}"
        );
        assert!(Store::open(data)
            .expect("store")
            .load(&other)
            .expect("load")
            .is_none());
    }
}

fn sessions_are_logged_with_signed_receipts(db: &Backend) {
    let root = TempDir::new().expect("tmp");
    let (hq, url) = start_hq(db, &root.path().join("hq"));
    let k = root.path().join("k");
    let kiosk_id = enrol(&hq, &k, "Xã Phiên", &url);
    for seed in 20..23 {
        save(&k, demo(seed).record());
    }
    sync(&k, &url).expect("sync");
    let rows = hq
        .sync_sessions(&SessionQuery {
            kiosk: Some(kiosk_id.clone()),
            before: None,
            limit: 10,
        })
        .expect("sessions");
    let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds, vec!["push", "hello"], "newest first");
    let push = &rows[0];
    assert_eq!(push.records_in, 3);
    assert_eq!(push.refused, 0);
    assert!(push.bytes > 0);
    assert_eq!(push.error, None);
    assert_eq!(push.started_at, day0() + Duration::days(1));
    let (row, receipt) = hq.sync_session(push.seq).expect("read").expect("row");
    assert_eq!(&row, push);
    assert_eq!(receipt.len() as u64, row.receipt_len);
    let verified = Reply::decode(&receipt)
        .expect("reply")
        .verified_receipt(&hq.sign_public())
        .expect("HQ's signature verifies");
    assert_eq!(Some(verified.id), row.receipt_id);
    assert_eq!(verified.acks.len(), 3);
    // Keyset paging: the page before the push is the hello.
    let older = hq
        .sync_sessions(&SessionQuery {
            kiosk: None,
            before: Some(push.seq),
            limit: 10,
        })
        .expect("older");
    assert_eq!(older[0].seq, rows[1].seq);

    // A refused stream is logged with its reason.
    hq.revoke_kiosk(&kiosk_id).expect("revoke");
    assert!(sync(&k, &url).is_err());
    let last = hq
        .sync_sessions(&SessionQuery {
            kiosk: None,
            before: None,
            limit: 1,
        })
        .expect("sessions");
    assert!(
        last[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("revoked")),
        "{last:?}"
    );
    assert_eq!(last[0].receipt_len, 0);
}

fn quality_figures_per_kiosk_and_operator(db: &Backend) {
    let root = TempDir::new().expect("tmp");
    let (hq, url) = start_hq(db, &root.path().join("hq"));
    let k = root.path().join("k");
    let kiosk_id = enrol(&hq, &k, "Xã Chất lượng", &url);
    // Captured at day0 after 12 minutes at the kiosk.
    let ids: Vec<Uuid> = (30..34)
        .map(|s| {
            let mut r = demo(s).record();
            r.capture.started_at = Some(day0() - Duration::minutes(12));
            r.capture.captured_at = Some(day0());
            save(&k, r)
        })
        .collect();
    sync(&k, &url).expect("sync");
    let records: Vec<Enrollment> = ids.iter().map(|id| load(&k, id)).collect();
    let week = week_of(records[0].capture.captured_at.expect("captured"));
    let q = |by| QualityQuery {
        by,
        from_week: week - Duration::weeks(4),
        to_week: week,
        provinces: None,
        after: None,
        limit: 50,
    };
    let rows = hq.quality(&q(QualityBy::Kiosk)).expect("quality");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let w = &rows[0];
    assert_eq!((w.key.as_str(), w.week), (kiosk_id.as_str(), Some(week)));
    assert_eq!(w.records, 4);
    assert_eq!(w.median_minutes(), Some(12));
    let fingers: u64 = records
        .iter()
        .map(|r| r.biometrics.fingers.len() as u64)
        .sum();
    assert_eq!(w.fingers_captured + w.finger_exceptions, fingers);
    assert_eq!(w.quality_bins.iter().sum::<u64>(), w.fingers_captured);
    let by_op = hq.quality(&q(QualityBy::Operator)).expect("quality");
    assert_eq!(by_op.len(), 1);
    assert_eq!(by_op[0].key, records[0].capture.operator_id);
    assert_eq!(by_op[0].records, 4);
    // Scoped to a province none of the records is in: nothing.
    let none = hq
        .quality(&QualityQuery {
            provinces: Some(vec!["no-such".into()]),
            ..q(QualityBy::Kiosk)
        })
        .expect("quality");
    assert!(none.is_empty());
    // Weeks outside the range: nothing.
    let earlier = hq
        .quality(&QualityQuery {
            to_week: week - Duration::weeks(1),
            ..q(QualityBy::Kiosk)
        })
        .expect("quality");
    assert!(earlier.is_empty());
}

on_each_backend!(
    timeline_shows_who_what_and_verified_signatures,
    comments_and_status_with_reasons_reach_the_kiosk,
    an_adjudication_reaches_both_kiosks_and_names_no_other_record,
    sessions_are_logged_with_signed_receipts,
    quality_figures_per_kiosk_and_operator,
);
