//! Who may write what (issue 11): kiosks that turn hostile sign their own changes with their
//! real device key and push them over loopback HTTP to HQ's real server; HQ refuses, per
//! change, writes the rule table gives to someone else, naming the path and the rule. And the
//! other way: the kiosk refuses changes from HQ that HQ's key did not sign or that write the
//! kiosk's paths.

mod fixture;

use chrono::Utc;
use enroll_hq::HqState;
use enroll_sync::identity::DeviceKey;
use enroll_sync::protocol::SignedChange;
use enroll_sync::record::{RecordDoc, RecordStatus, ReviewAction, ReviewEvent};
use fixture::Kiosk;
use kiosk::accounts::Role;
use kiosk::store::Store;
use uuid::Uuid;

const PIN: &str = "2468101357";
const OP_PIN: &str = "1357913579";

/// The kiosk's store with supervisor `sup` and operator `op1`, both signed in once (so both
/// accounts' own keys are open, as on a kiosk where each signed in since the last lock).
fn staffed(k: &Kiosk) -> (Store, kiosk::accounts::Session) {
    let mut store = k.store();
    store.use_test_only_kdf();
    let sup = store
        .init_supervisor("sup", "Trần Văn Giám", PIN, Utc::now())
        .expect("supervisor");
    store
        .add_account(
            &sup,
            "op1",
            "Lê Thị Thu",
            Role::Operator,
            OP_PIN,
            Utc::now(),
        )
        .expect("operator");
    store
        .unlock("op1", OP_PIN, Utc::now())
        .expect("operator signs in");
    let sup = store
        .unlock("sup", PIN, Utc::now())
        .expect("supervisor signs in");
    (store, sup)
}

/// Writes an approval as `who` straight into the record with the device key only, as a
/// hostile kiosk would (no review flow); returns the new change's hash.
fn forged_approval(store: &mut Store, id: &Uuid, who: &str) -> automerge::ChangeHash {
    let mut r = store.load(id).expect("load").expect("record");
    r.review.status = RecordStatus::Approved;
    r.review.history.push(ReviewEvent {
        at: fixture::fixed_now(),
        by: who.into(),
        device: "K00001".into(),
        action: ReviewAction::Approved,
        reason: None,
        signature: None,
    });
    store.save(&r, &fixture::by(who)).expect("save");
    let heads = store.heads(id).expect("heads").expect("present");
    assert_eq!(heads.len(), 1);
    heads[0]
}

/// One of the report's refusals names every part.
fn assert_refused(report: &kiosk::sync::SyncReport, parts: &[&str]) {
    eprintln!("refused: {:?}", report.rejected);
    assert!(
        report
            .rejected
            .iter()
            .any(|x| parts.iter().all(|p| x.contains(p))),
        "no refusal names {parts:?}: {:?}",
        report.rejected
    );
}

fn hq_status_of(hq: &enroll_hq::Hq, id: &Uuid) -> String {
    let mut s = hq.session().expect("session");
    s.records(&[*id]).expect("read")[0].p.status.clone()
}

#[test]
fn an_approval_signed_with_the_device_key_only_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (hq, url) = fixture::serve_in_process(&tmp.path().join("hq"));
    let k = Kiosk::new(&hq, &tmp.path().join("k"), "K00001", &url);
    let id = k.add_demo(1, 11)[0];
    assert!(k.sync().expect("sync").rejected.is_empty());
    let (mut store, _sup) = staffed(&k);
    forged_approval(&mut store, &id, "sup");
    drop(store);
    let report = k.sync().expect("sync");
    assert_refused(
        &report,
        &[
            "[write_authority]",
            "review.status",
            "[supervisor_signature]",
            "no supervisor's signature",
        ],
    );
    assert_ne!(hq_status_of(&hq, &id), "approved");
}

#[test]
fn an_approval_endorsed_by_an_operators_certified_key_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (hq, url) = fixture::serve_in_process(&tmp.path().join("hq"));
    let k = Kiosk::new(&hq, &tmp.path().join("k"), "K00001", &url);
    let id = k.add_demo(1, 12)[0];
    assert!(k.sync().expect("sync").rejected.is_empty());
    let (mut store, _sup) = staffed(&k);
    // The operator's own key, certified by the device key as an operator's, signs an
    // approval that names the operator.
    let hash = forged_approval(&mut store, &id, "op1");
    let e = store.endorse(&k.key, "op1", &id, &hash).expect("endorse");
    assert_eq!(e.certificate.role, "operator");
    drop(store);
    let report = k.sync().expect("sync");
    assert_refused(
        &report,
        &[
            "[write_authority]",
            "[supervisor_signature]",
            "not a supervisor's",
        ],
    );
    assert_ne!(hq_status_of(&hq, &id), "approved");
}

#[test]
fn an_approval_endorsed_by_another_kiosks_supervisor_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (hq, url) = fixture::serve_in_process(&tmp.path().join("hq"));
    let a = Kiosk::new(&hq, &tmp.path().join("a"), "K00001", &url);
    let b = Kiosk::new(&hq, &tmp.path().join("b"), "K00002", &url);
    let id = a.add_demo(1, 13)[0];
    assert!(a.sync().expect("sync").rejected.is_empty());
    let (mut sa, _) = staffed(&a);
    let (mut sb, _) = staffed(&b);
    // Kiosk B's supervisor "sup" (a real supervisor, certified by B's device key) signs
    // kiosk A's approval naming "sup"; A sends it with that endorsement.
    let hash = forged_approval(&mut sa, &id, "sup");
    let e = sb.endorse(&b.key, "sup", &id, &hash).expect("endorse at B");
    assert_eq!(e.certificate.role, "supervisor");
    assert_eq!(e.certificate.kiosk_id, "K00002");
    sa.keep_endorsement(&id, &hash, &e).expect("keep at A");
    drop(sa);
    let report = a.sync().expect("sync");
    assert_refused(
        &report,
        &[
            "[write_authority]",
            "[supervisor_signature]",
            "another kiosk's",
        ],
    );
    // The same certificate relabelled as kiosk A's does not verify under A's device key.
    let mut sa = a.store();
    let mut relabelled = e.clone();
    relabelled.certificate.kiosk_id = "K00001".into();
    sa.keep_endorsement(&id, &hash, &relabelled).expect("keep");
    drop(sa);
    let report = a.sync().expect("sync");
    assert_refused(
        &report,
        &["[write_authority]", "not signed by this kiosk's device key"],
    );
    assert_ne!(hq_status_of(&hq, &id), "approved");
}

#[test]
fn an_honest_supervisor_approval_and_return_are_accepted_and_hq_knows_who() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (hq, url) = fixture::serve_in_process(&tmp.path().join("hq"));
    let k = Kiosk::new(&hq, &tmp.path().join("k"), "K00001", &url);
    let (mut store, sup) = staffed(&k);
    let mut ids = Vec::new();
    for n in 0..2u8 {
        // A complete record: its blobs are real (sealed in the store), so HQ takes it whole.
        let mut r = enroll_sync::record::example(fixture::fixed_now());
        r.id = Uuid::now_v7();
        r.applicant.id_number = Some(format!("00105801234{n}"));
        r.capture.operator_id = "op1".into();
        let mut v = serde_json::to_value(&r).expect("json");
        blobs_of(&mut v, &mut store, n);
        let r: enroll_sync::record::Enrollment = serde_json::from_value(v).expect("record");
        store.save(&r, &fixture::by("op1")).expect("save");
        ids.push(r.id);
    }
    // Captured records go to HQ before the supervisor looks at them, as on a kiosk.
    let first = signed_in_sync(&k, &mut store);
    assert!(first.rejected.is_empty(), "{:?}", first.rejected);
    kiosk::review::approve(&mut store, &k.key, &sup, &ids[0], Utc::now()).expect("approve");
    kiosk::review::return_to_operator(&mut store, &k.key, &sup, &ids[1], "ảnh mờ", Utc::now())
        .expect("return");
    let report = signed_in_sync(&k, &mut store);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(k.pending(), 0, "both acknowledged");
    assert_eq!(hq_status_of(&hq, &ids[0]), "approved");
    assert_eq!(hq_status_of(&hq, &ids[1]), "returned");
    // HQ's audit log names the supervisor whose own key signed each decision.
    let mut s = hq.session().expect("session");
    let rows = s.audit_since(0, 10_000).expect("audit");
    for id in &ids {
        let who: Vec<&str> = rows
            .iter()
            .filter(|r| r.entry.action == "record.supervisor" && r.entry.subject == id.to_string())
            .map(|r| r.entry.detail.as_str())
            .collect();
        assert_eq!(who.len(), 1, "{who:?}");
        assert!(who[0].starts_with("sup "), "{who:?}");
        assert_eq!(rows.iter().find(|r| r.entry.subject == id.to_string() && r.entry.action == "record.supervisor").map(|r| r.entry.actor.as_str()), Some("K00001"));
    }
}

/// Replaces every blob hash in the record's JSON with a blob stored at the kiosk.
fn blobs_of(v: &mut serde_json::Value, store: &mut Store, n: u8) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "sha256" || k.ends_with("_sha256") {
                    if let serde_json::Value::String(h) = x {
                        let bytes = format!("{n}:{h}").into_bytes();
                        *h = store.put_blob(&bytes, "image/jpeg").expect("blob");
                    }
                } else {
                    blobs_of(x, store, n);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| blobs_of(x, store, n)),
        _ => {}
    }
}

/// A sync by a signed-in kiosk (blobs are readable only then).
fn signed_in_sync(k: &Kiosk, store: &mut Store) -> kiosk::sync::SyncReport {
    kiosk::sync::sync(store, &k.key, &k.prov, &k.url, &mut |_| {}).expect("sync")
}

/// HQ's stored document for `id` with one more change by `actor` that `edit` makes.
fn change_at_hq(
    hq: &enroll_hq::Hq,
    id: &Uuid,
    edit: impl FnOnce(&mut enroll_sync::record::Enrollment),
) -> (automerge::ChangeHash, Vec<u8>) {
    let mut s = hq.session().expect("session");
    let rec = s.records(&[*id]).expect("read").pop().expect("held");
    let mut doc = RecordDoc::load(&rec.doc, automerge::ActorId::random()).expect("doc");
    let mut r = doc.read().expect("read");
    edit(&mut r);
    let hash = doc
        .update(&r, &fixture::by("hq-admin"))
        .expect("update")
        .expect("a change");
    let bytes = doc
        .automerge()
        .get_change_by_hash(&hash)
        .expect("change")
        .raw_bytes()
        .to_vec();
    (hash, bytes)
}

#[test]
fn the_kiosk_refuses_downlinked_changes_hq_did_not_sign_or_that_write_its_paths() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("hq");
    let (hq, url) = fixture::serve_in_process(&dir);
    let k = Kiosk::new(&hq, &tmp.path().join("k"), "K00001", &url);
    let ids = k.add_demo(2, 14);
    assert!(k.sync().expect("sync").rejected.is_empty());
    // 1. A change in HQ's outbox that HQ's key never signed (no signature kept for it): it
    // sets HQ's status, a path HQ may write, but it is not HQ's.
    let (_, unsigned) = change_at_hq(&hq, &ids[0], |r| {
        r.review.hq = Some(enroll_sync::record::HqStatus {
            status: HqState::CardPrinted,
            reason: None,
            at: fixture::fixed_now(),
        })
    });
    // 2. A change HQ's key did sign that rewrites the applicant's name, a kiosk path.
    let hq_key = DeviceKey::load_or_create(&dir.join(enroll_hq::SIGN_KEY_FILE)).expect("key");
    let (hash, renamed) = change_at_hq(&hq, &ids[1], |r| r.applicant.name.given = "Giả".into());
    let signed = SignedChange::sign(&hq_key, ids[1], &hash, Vec::new());
    {
        let mut s = hq.session().expect("session");
        s.add_outbox("K00001", &ids[0], &unsigned).expect("outbox");
        s.add_outbox("K00001", &ids[1], &renamed).expect("outbox");
        s.put_change_sigs(&[enroll_hq::storage::review::ChangeSig {
            record: ids[1],
            hash: hash.0,
            signer: enroll_hq::storage::review::HQ_SIGNER.into(),
            signature: signed.signature.to_vec(),
        }])
        .expect("sig");
    }
    let before: Vec<_> = {
        let store = k.store();
        ids.iter()
            .map(|id| store.load(id).expect("load").expect("record"))
            .collect()
    };
    let report = k.sync().expect("sync");
    eprintln!("refused from HQ: {:?}", report.refused_from_hq);
    assert_eq!(report.merged_from_hq, 0);
    assert!(
        report
            .refused_from_hq
            .iter()
            .any(|x| x.contains(&ids[0].to_string()) && x.contains("[hq_signature]")),
        "{:?}",
        report.refused_from_hq
    );
    assert!(
        report
            .refused_from_hq
            .iter()
            .any(|x| x.contains(&ids[1].to_string())
                && x.contains("[write_authority]")
                && x.contains("applicant.name.given")),
        "{:?}",
        report.refused_from_hq
    );
    let store = k.store();
    for (id, was) in ids.iter().zip(&before) {
        assert_eq!(&store.load(id).expect("load").expect("record"), was);
    }
    // HQ's own status change, signed and within HQ's paths, still reaches the kiosk.
    drop(store);
    hq.set_status(
        &ids[0],
        HqState::Rejected,
        Some("ảnh mờ".into()),
        "hq-admin",
    )
    .expect("status");
    let report = k.sync().expect("sync");
    assert!(report.merged_from_hq >= 1, "{report:?}");
    let r = k.store().load(&ids[0]).expect("load").expect("record");
    assert_eq!(r.review.hq.map(|h| h.status), Some(HqState::Rejected));
}
