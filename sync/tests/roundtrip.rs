//! Random records survive struct → document → struct and struct → JSON → struct unchanged,
//! and document updates write only what changed.

use automerge::ActorId;
use chrono::{DateTime, TimeZone, Utc};
use enroll_sync::record::*;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What Automerge gives for each change: its hash and uncompressed bytes.
fn raw_changes(bytes: &[u8]) -> Vec<(automerge::ChangeHash, Vec<u8>)> {
    split_changes(bytes)
        .expect("change chunks")
        .iter()
        .map(|c| (c.hash(), c.raw_bytes().to_vec()))
        .collect()
}

fn attribution(person: &str, device: &str) -> Attribution {
    Attribution {
        person: person.into(),
        device: device.into(),
        at: Utc::now(),
    }
}

fn text(rng: &mut StdRng) -> String {
    const PIECES: &[&str] = &[
        "Nguyễn",
        "Đặng",
        "hoà",
        "",
        " ",
        "H'Điêu",
        "😀",
        "a\u{0300}",
        "\"q\"",
        "\\",
        "\n",
        "Ω",
        "0",
    ];
    (0..rng.random_range(0..4))
        .map(|_| PIECES[rng.random_range(0..PIECES.len())])
        .collect()
}

fn opt<T>(rng: &mut StdRng, f: impl FnOnce(&mut StdRng) -> T) -> Option<T> {
    rng.random_bool(0.5).then(|| f(rng))
}

fn time(rng: &mut StdRng) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(rng.random_range(0..4_000_000_000_000))
        .single()
        .unwrap_or_default()
}

fn pick<T: Copy>(rng: &mut StdRng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

fn address(rng: &mut StdRng) -> Address {
    Address {
        province_code: text(rng),
        commune_code: text(rng),
        detail: text(rng),
        list_version: text(rng),
    }
}

fn relative(rng: &mut StdRng) -> Relative {
    Relative {
        name: text(rng),
        id_number: opt(rng, text),
        nationality: opt(rng, text),
    }
}

fn random_record(seed: u64) -> Enrollment {
    let rng = &mut StdRng::seed_from_u64(seed);
    let mut r = example(time(rng));
    r.enrollment_no = text(rng);
    r.application = Application {
        kind: pick(rng, &ApplicationKind::ALL),
        exchange_reason: opt(rng, |g| {
            pick(g, &[ExchangeReason::Age14, ExchangeReason::Damaged])
        }),
        reason: opt(rng, text),
    };
    let a = &mut r.applicant;
    a.id_number = opt(rng, text);
    a.old_id_number = opt(rng, text);
    a.name = PersonName {
        family: text(rng),
        middle: text(rng),
        given: text(rng),
    };
    a.other_name = opt(rng, text);
    a.birth_date = PartialDate {
        year: rng.random_range(-5000..5000),
        month: opt(rng, |g| g.random()),
        day: opt(rng, |g| g.random()),
        provenance: pick(
            rng,
            &[
                DateProvenance::Documented,
                DateProvenance::Declared,
                DateProvenance::Estimated,
            ],
        ),
    };
    a.sex = pick(rng, &[Sex::Male, Sex::Female]);
    a.nationality = text(rng);
    a.ethnicity = opt(rng, |g| Ethnicity {
        code: text(g),
        list: pick(g, &[EthnicList::Qd121_1979, EthnicList::Qd1019_2008]),
    });
    a.religion = opt(rng, text);
    a.birth_place = opt(rng, address);
    a.home_town = opt(rng, address);
    a.temporary_residence = opt(rng, address);
    a.blood_type = opt(rng, |g| pick(g, &[BloodType::AbNeg, BloodType::OPos]));
    r.relatives = Relatives {
        father: opt(rng, relative),
        mother: opt(rng, relative),
        spouse: opt(rng, relative),
        representative: opt(rng, relative),
        household_head: opt(rng, |g| HouseholdHead {
            name: text(g),
            id_number: opt(g, text),
            relation: text(g),
        }),
    };
    r.contact = Contact {
        phone: opt(rng, text),
        email: opt(rng, text),
    };
    let n = rng.random_range(0..12);
    r.biometrics.fingers.truncate(n);
    if rng.random_bool(0.3) {
        r.biometrics.fingers.push(FingerRecord {
            finger: Finger::LeftLittle,
            outcome: FingerOutcome::Exception {
                reason: ExceptionReason::Bandaged,
                permanent: false,
                note: opt(rng, text),
                proof_photo_sha256: opt(rng, text),
            },
        });
    }
    r.biometrics.photo = opt(rng, |g| PhotoRef {
        sha256: text(g),
        width: g.random(),
        height: g.random(),
    });
    r.capture.gps = opt(rng, |g| Gps {
        lat: g.random_range(-90.0..90.0),
        lon: g.random_range(-1e300..1e300),
    });
    r.capture.operator_id = text(rng);
    r.review.status = pick(rng, &RecordStatus::ALL);
    for _ in 0..rng.random_range(0..3) {
        let at = time(rng);
        r.review.history.push(ReviewEvent {
            at,
            by: text(rng),
            device: text(rng),
            action: ReviewAction::Edited,
            reason: opt(rng, text),
            signature: None,
        });
    }
    r.review.hq = opt(rng, |g| HqStatus {
        status: HqState::RecaptureNeeded,
        reason: opt(g, text),
        at: time(g),
    });
    r
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn document_round_trip(seed in any::<u64>()) {
        let record = random_record(seed);
        let mut doc = RecordDoc::create(&record, ActorId::random(), &attribution("op", "KS01"))
            .expect("create");
        prop_assert_eq!(&doc.read().expect("read"), &record);
        let reloaded = RecordDoc::load(&doc.save(), ActorId::random()).expect("load");
        prop_assert_eq!(reloaded.read().expect("read"), record);
    }

    #[test]
    fn change_chunks_give_changes_and_blob_refs_without_a_document(seed in any::<u64>()) {
        let record = random_record(seed);
        let mut doc = RecordDoc::create(&record, ActorId::random(), &attribution("op", "KS01")).expect("create");
        let stored = doc.save_changes();
        let loaded = RecordDoc::load(&stored, ActorId::random()).expect("loads like a snapshot");
        prop_assert_eq!(loaded.read().expect("read"), record.clone());
        let changes = split_changes(&stored).expect("change chunks");
        prop_assert_eq!(changes.iter().map(|c| c.hash()).collect::<Vec<_>>(), doc.heads());
        prop_assert_eq!(raw_changes(&stored), change_hashes(&stored).expect("headers read"));
        let mut fast = first_change_blob_refs(&changes[0]).expect("a first change");
        let mut slow = Vec::new();
        enroll_sync::protocol::blob_refs(&serde_json::to_value(&record).expect("json"), &mut slow);
        fast.sort();
        slow.sort();
        prop_assert_eq!(fast, slow);
        prop_assert!(split_changes(&doc.save()).is_none(), "a snapshot is not change chunks");
        // A later edit is a second chunk; it is not a first change.
        let heads = doc.heads();
        let mut edited = random_record(seed ^ 1);
        edited.id = record.id;
        if doc.update(&edited, &attribution("sup", "KS01")).expect("update").is_some() {
            let mut both = stored.clone();
            both.extend(doc.save_after(&heads));
            let changes = split_changes(&both).expect("change chunks");
            prop_assert_eq!(changes.len(), 2);
            prop_assert_eq!(raw_changes(&both), change_hashes(&both).expect("headers read"));
            // A damaged byte in a change's data (not the last, which may hold a compressed
            // stream's unused bits), or in a checksum: the hash no longer matches.
            let mut damaged = both.clone();
            let at = both.len() - 3 - (seed as usize % 20);
            damaged[at] ^= 0x20;
            prop_assert!(change_hashes(&damaged).is_none(), "damage at {} went unseen", at);
            let mut checksum = both.clone();
            checksum[5] ^= 1;
            prop_assert!(change_hashes(&checksum).is_none());
            prop_assert!(first_change_blob_refs(&changes[1]).is_none());
        }
    }

    #[test]
    fn json_round_trip(seed in any::<u64>()) {
        let record = random_record(seed);
        let json = serde_json::to_string(&record).expect("serialise");
        let back: Enrollment = serde_json::from_str(&json).expect("parse");
        prop_assert_eq!(back, record);
    }

    #[test]
    fn updates_converge_to_the_new_record(a in any::<u64>(), b in any::<u64>()) {
        let first = random_record(a);
        let mut second = random_record(b);
        second.id = first.id;
        let mut doc = RecordDoc::create(&first, ActorId::random(), &attribution("op", "KS01")).expect("create");
        let heads = doc.heads();
        doc.update(&second, &attribution("sup", "KS01")).expect("update");
        prop_assert_eq!(&doc.read().expect("read"), &second);
        // A replica that already has the change ignores it when it comes again.
        let mut replica = RecordDoc::load(&doc.save(), ActorId::random()).expect("load");
        replica.apply(&doc.save_after(&heads)).expect("apply again is idempotent");
        prop_assert_eq!(replica.read().expect("read"), second);
    }
}

#[test]
fn an_unchanged_record_makes_no_change() {
    let record = random_record(7);
    let mut doc =
        RecordDoc::create(&record, ActorId::random(), &attribution("op", "KS01")).expect("create");
    assert_eq!(
        doc.update(&record, &attribution("op", "KS01"))
            .expect("update"),
        None
    );
}

#[test]
fn one_field_edit_is_a_small_change() {
    let record = example(Utc::now());
    let mut doc =
        RecordDoc::create(&record, ActorId::random(), &attribution("op", "KS01")).expect("create");
    let heads = doc.heads();
    let mut edited = record.clone();
    edited.contact.phone = Some("0987654321".into());
    doc.update(&edited, &attribution("op", "KS01"))
        .expect("update");
    let delta = doc.save_after(&heads);
    assert!(
        delta.len() < 300,
        "one field edit took {} bytes",
        delta.len()
    );
}

#[test]
fn concurrent_edits_to_different_fields_merge() {
    let record = example(Utc::now());
    let mut kiosk =
        RecordDoc::create(&record, ActorId::random(), &attribution("op", "KS01")).expect("create");
    let mut hq = RecordDoc::load(&kiosk.save(), ActorId::random()).expect("load");
    let base = kiosk.heads();
    let mut at_kiosk = record.clone();
    at_kiosk.contact.phone = Some("0987654321".into());
    kiosk
        .update(&at_kiosk, &attribution("op", "KS01"))
        .expect("kiosk edit");
    let mut at_hq = record.clone();
    at_hq.review.status = RecordStatus::Synced;
    hq.update(&at_hq, &attribution("hq", "HQ"))
        .expect("hq edit");
    let hq_heads = base.clone();
    kiosk.apply(&hq.save_after(&hq_heads)).expect("merge hq");
    hq.apply(&kiosk.save_after(&base)).expect("merge kiosk");
    let merged = kiosk.read().expect("read");
    assert_eq!(merged, hq.read().expect("read"));
    assert_eq!(merged.contact.phone.as_deref(), Some("0987654321"));
    assert_eq!(merged.review.status, RecordStatus::Synced);
}
