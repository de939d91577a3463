//! Correctness under concurrent sessions, on SQLite and PostgreSQL over loopback HTTP: deduplication
//! across 20 kiosks pushing at once, HQ status changes racing kiosk pushes, and the audit
//! chain with many writers.

#[macro_use]
mod backend;
mod fixture;

use backend::Backend;

use enroll_hq::{server, Hq, HqState, Options, RecordQuery};
use enroll_sync::record::Enrollment;
use fixture::*;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

fn start(b: &Backend, dir: &std::path::Path) -> (Arc<Hq>, String) {
    let hq = Arc::new(
        Hq::open_with(Options {
            clock: fixed_clock(),
            ..b.options(dir)
        })
        .expect("hq"),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let h = hq.clone();
    std::thread::spawn(move || server::serve_shared(listener, h));
    (hq, url)
}

/// The same person enrolled again at another kiosk: their record under a new id.
fn enrolled_again(r: &Enrollment) -> Enrollment {
    let mut c = r.clone();
    c.id = Uuid::now_v7();
    c.enrollment_no.clear();
    c
}

fn twenty_kiosks_pushing_shared_id_numbers_at_once_mark_every_pair_once(b: &Backend) {
    const KIOSKS: usize = 20;
    const PEOPLE: usize = 12;
    let tmp = tempfile::tempdir().expect("tmp");
    let (hq, url) = start(b, &tmp.path().join("hq"));
    let mut g = kiosk::demo::DemoGenerator::new(99, fixed_now());
    let people: Vec<Enrollment> = (0..PEOPLE).map(|_| g.record()).collect();
    let kiosks: Vec<Kiosk> = (0..KIOSKS)
        .map(|i| {
            Kiosk::new(
                &hq,
                &tmp.path().join(format!("k{i}")),
                &format!("K{:05}", i + 1),
                &url,
            )
        })
        .collect();
    // Kiosk i enrols person p when (i + p) % 3 == 0, plus records of its own.
    let mut expected: HashMap<String, usize> = HashMap::new();
    for (i, k) in kiosks.iter().enumerate() {
        let mut records: Vec<Enrollment> = (0..PEOPLE)
            .filter(|p| (i + p) % 3 == 0)
            .map(|p| enrolled_again(&people[p]))
            .collect();
        for r in &records {
            let n = r
                .applicant
                .id_number
                .clone()
                .expect("demo records have ID numbers");
            *expected.entry(n).or_default() += 1;
        }
        let mut own = kiosk::demo::DemoGenerator::new(1000 + i as u64, fixed_now());
        records.extend((0..3).map(|_| own.record()));
        k.add(records);
    }
    let barrier = std::sync::Barrier::new(KIOSKS);
    std::thread::scope(|s| {
        for k in &kiosks {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                k.sync().expect("sync");
            });
        }
    });
    let expected_pairs: usize = expected.values().map(|m| m * (m - 1) / 2).sum();
    assert!(
        expected_pairs > 100,
        "the test shares enough: {expected_pairs}"
    );
    // Every group is complete, and every record in it is marked.
    let mut s = hq.session().expect("session");
    let mut groups = Vec::new();
    loop {
        let page = s
            .duplicate_groups(
                groups
                    .last()
                    .map(|g: &enroll_hq::storage::DuplicateGroup| g.id_number.as_str()),
                5,
            )
            .expect("groups");
        if page.is_empty() {
            break;
        }
        groups.extend(page);
    }
    assert_eq!(groups.len(), expected.len());
    for gr in &groups {
        assert_eq!(
            gr.records.len(),
            expected[&gr.id_number],
            "{}",
            gr.id_number
        );
        assert!(gr
            .records
            .iter()
            .all(|r| r.p.hq_status.as_deref() == Some("duplicate")));
    }
    // Each pair marked exactly once: two HQ status changes (one per record) per pair.
    let mut marks = 0;
    let mut after = 0;
    loop {
        let rows = s.audit_since(after, 1000).expect("audit");
        let Some(last) = rows.last() else { break };
        after = last.seq;
        marks += rows
            .iter()
            .filter(|r| r.entry.action == "record.hq_status" && r.entry.actor == "hq-dedup")
            .count();
    }
    assert_eq!(marks, 2 * expected_pairs);
    assert_audit_chain(&hq);
    // The kiosks learn of their duplicates and end in HQ's state.
    for k in &kiosks {
        k.sync().expect("sync again");
        assert_eq!(k.pending(), 0, "kiosk {} holds what HQ holds", k.id);
    }
}

fn hq_status_changes_racing_kiosk_pushes_converge(b: &Backend) {
    let tmp = tempfile::tempdir().expect("tmp");
    let (hq, url) = start(b, &tmp.path().join("hq"));
    let k = Kiosk::new(&hq, &tmp.path().join("k"), "K00001", &url);
    let ids = k.add_demo(120, 5);
    let first = k.sync().expect("first sync");
    assert!(first.rejected.is_empty(), "{:?}", first.rejected.first());
    assert_eq!(k.pending(), 0);
    for (round, name) in ["Tý", "Sửu", "Dần"].into_iter().enumerate() {
        // The kiosk edits every record while HQ sets the status of every fourth.
        let mut store = k.store();
        for id in &ids {
            let mut r = store.load(id).expect("load").expect("present");
            r.applicant.other_name = Some(name.to_owned());
            store.save(&r, &by("op")).expect("edit");
        }
        drop(store);
        std::thread::scope(|s| {
            s.spawn(|| k.sync().expect("push"));
            s.spawn(|| {
                for id in ids.iter().step_by(4) {
                    hq.set_status(
                        id,
                        HqState::RecaptureNeeded,
                        Some(format!("vòng {round}")),
                        "hq-admin",
                    )
                    .expect("status");
                }
            });
        });
        let a = k.sync().expect("settle");
        let b = k.sync().expect("settle again");
        assert!(
            a.rejected.is_empty() && b.rejected.is_empty(),
            "{:?} {:?}",
            a.rejected.first(),
            b.rejected.first()
        );
        assert_eq!(k.pending(), 0, "round {round}: everything acknowledged");
        let store = k.store();
        let mut s = hq.session().expect("session");
        for (i, id) in ids.iter().enumerate() {
            let at_hq = s.records(&[*id]).expect("read").pop().expect("at HQ");
            let mut kh = store.heads(id).expect("heads").expect("present");
            let mut hh = at_hq.heads.clone();
            kh.sort();
            hh.sort();
            assert_eq!(kh, hh, "round {round}: record {i} converged");
            let r = store.load(id).expect("load").expect("present");
            assert_eq!(r.applicant.other_name.as_deref(), Some(name));
            if i % 4 == 0 {
                assert_eq!(at_hq.p.hq_status.as_deref(), Some("recapture_needed"));
                assert_eq!(
                    r.review.hq.as_ref().and_then(|h| h.reason.clone()),
                    Some(format!("vòng {round}"))
                );
            }
        }
    }
    assert_audit_chain(&hq);
}

fn the_audit_chain_stays_one_chain_under_concurrent_writers(b: &Backend) {
    let tmp = tempfile::tempdir().expect("tmp");
    let (hq, url) = start(b, &tmp.path().join("hq"));
    let kiosks: Vec<Kiosk> = (0..4)
        .map(|i| {
            Kiosk::new(
                &hq,
                &tmp.path().join(format!("k{i}")),
                &format!("K{:05}", i + 1),
                &url,
            )
        })
        .collect();
    let ids: Vec<Vec<Uuid>> = kiosks
        .iter()
        .enumerate()
        .map(|(i, k)| k.add_demo(30, 50 + i as u64))
        .collect();
    kiosks[0].sync().expect("seed");
    let before = assert_audit_chain(&hq);
    std::thread::scope(|s| {
        for k in &kiosks[1..] {
            s.spawn(move || k.sync().expect("push"));
        }
        for t in 0..4 {
            let hq = &hq;
            let ids = &ids[0];
            s.spawn(move || {
                for id in ids.iter().skip(t).step_by(4) {
                    hq.set_status(id, HqState::CardPrinted, None, &format!("staff-{t}"))
                        .expect("status");
                }
            });
        }
    });
    let after = assert_audit_chain(&hq);
    // 90 records applied and 30 status changes, each one entry, all in the one chain.
    assert_eq!(after - before, 90 + 30);
    let printed = hq
        .list_records(
            &RecordQuery {
                hq_status: Some(Some("card_printed".into())),
                ..RecordQuery::default()
            },
            &enroll_hq::Page {
                limit: 1000,
                ..Default::default()
            },
        )
        .expect("list");
    assert_eq!(printed.len(), 30);
}

on_each_backend!(
    twenty_kiosks_pushing_shared_id_numbers_at_once_mark_every_pair_once,
    hq_status_changes_racing_kiosk_pushes_converge,
    the_audit_chain_stays_one_chain_under_concurrent_writers,
);
