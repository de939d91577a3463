//! HQ's queries on real SQLite after real syncs: keyset-paged filtered listing, accent-free
//! name search with the kiosk's key, ID-number lookup, duplicate groups, per-kiosk counts, and
//! the fleet telemetry each hello leaves behind.

mod fixture;

use enroll_hq::{server, Hq, Options, Page, RecordQuery};
use enroll_sync::text::search_key;
use fixture::*;
use std::sync::Arc;
use uuid::Uuid;

fn start(dir: &std::path::Path) -> (Arc<Hq>, String) {
    let hq = Arc::new(
        Hq::open_with(Options {
            clock: fixed_clock(),
            ..Options::in_dir(dir)
        })
        .expect("hq"),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let h = hq.clone();
    std::thread::spawn(move || server::serve_shared(listener, h));
    (hq, url)
}

fn page(limit: u32) -> Page {
    Page {
        limit,
        ..Page::default()
    }
}

#[test]
fn listing_search_lookup_duplicates_counts_and_fleet() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (hq, url) = start(&tmp.path().join("hq"));
    let a = Kiosk::new(&hq, &tmp.path().join("a"), "K00001", &url);
    let b = Kiosk::new(&hq, &tmp.path().join("b"), "K00002", &url);
    let ids_a = a.add_demo(40, 3);
    let ids_b = b.add_demo(25, 4);
    // One person enrolled at both kiosks.
    let mut again = a.store().load(&ids_a[0]).expect("load").expect("present");
    again.id = Uuid::now_v7();
    again.enrollment_no.clear();
    b.add(vec![again.clone()]);
    a.sync().expect("sync a");
    b.sync().expect("sync b");

    // Keyset pages cover every record once, in id order, either way round.
    let mut seen: Vec<Uuid> = Vec::new();
    loop {
        let rows = hq
            .list_records(
                &RecordQuery::default(),
                &Page {
                    after: seen.last().copied(),
                    limit: 7,
                    newest_first: false,
                },
            )
            .expect("page");
        if rows.is_empty() {
            break;
        }
        assert!(rows.len() <= 7);
        seen.extend(rows.iter().map(|r| r.id));
    }
    assert_eq!(seen.len(), 66);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    let newest = hq
        .list_records(
            &RecordQuery::default(),
            &Page {
                limit: 3,
                newest_first: true,
                ..Page::default()
            },
        )
        .expect("newest");
    assert_eq!(newest[0].id, *seen.last().expect("last"));

    // Filters: kiosk, and kiosk + province (the applicant's residence).
    let of_b = |q: RecordQuery| hq.list_records(&q, &page(1000)).expect("list");
    assert_eq!(
        of_b(RecordQuery {
            kiosk: Some("K00002".into()),
            ..RecordQuery::default()
        })
        .len(),
        26
    );
    let everything = all_records(&hq);
    // A record of B's with a residence and a name that carries diacritics.
    let first = everything
        .iter()
        .find(|r| {
            let name = r.p.full_name.to_lowercase();
            ids_b.contains(&r.id) && r.p.province_code.is_some() && search_key(&name) != name
        })
        .expect("such a record")
        .clone();
    let province = first.p.province_code.clone().expect("province");
    let in_province = of_b(RecordQuery {
        kiosk: Some("K00002".into()),
        province: Some(province.clone()),
        ..RecordQuery::default()
    });
    assert!(!in_province.is_empty());
    assert!(in_province
        .iter()
        .all(|r| r.kiosk_id == "K00002" && r.p.province_code.as_deref() == Some(&province)));

    // Name search with and without diacritics, by the kiosk's key; ID-number lookup.
    let name = first.p.full_name.to_lowercase();
    let plain = search_key(&name);
    for q in [name.clone(), plain.clone(), plain.to_uppercase()] {
        let hits = of_b(RecordQuery {
            name_key: Some(search_key(&q)),
            ..RecordQuery::default()
        });
        assert!(hits.iter().any(|r| r.id == first.id), "search `{q}`");
        for r in &hits {
            let words: Vec<&str> = r.p.search_key.split_whitespace().collect();
            assert!(plain
                .split_whitespace()
                .all(|w| words.iter().any(|x| x.starts_with(w))));
        }
    }
    let n = again.applicant.id_number.clone().expect("id number");
    let same = of_b(RecordQuery {
        id_number: Some(n.clone()),
        ..RecordQuery::default()
    });
    assert_eq!(same.len(), 2);

    // Capture date range: everything demo made is before the fixed now, nothing after.
    let after_now = of_b(RecordQuery {
        captured_from: Some(fixed_now()),
        ..RecordQuery::default()
    });
    assert!(after_now.is_empty());
    let from = fixed_now() - chrono::Duration::hours(5);
    let window = of_b(RecordQuery {
        captured_from: Some(from),
        captured_to: Some(fixed_now()),
        ..RecordQuery::default()
    });
    let expected = everything
        .iter()
        .filter(|r| {
            r.p.captured_at
                .is_some_and(|t| t >= from && t < fixed_now())
        })
        .count();
    assert_eq!(
        expected, 11,
        "5 hours of each kiosk and the one enrolled again"
    );
    assert_eq!(window.len(), expected);
    // A date range pages by capture time, newest first, in pages of 3 (the kiosks' records
    // interleave in time, so id order would differ).
    let mut paged: Vec<enroll_hq::storage::RecordRow> = Vec::new();
    loop {
        let q = RecordQuery {
            captured_from: Some(from),
            captured_to: Some(fixed_now()),
            ..RecordQuery::default()
        };
        let p = Page {
            after: paged.last().map(|r| r.id),
            limit: 3,
            newest_first: true,
        };
        let got = hq.list_records(&q, &p).expect("page");
        if got.is_empty() {
            break;
        }
        paged.extend(got);
    }
    assert_eq!(paged.len(), expected);
    let keys: Vec<_> = paged.iter().map(|r| (r.p.captured_at, r.id)).collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(keys, sorted);

    // HQ status: the duplicate pair, and records without an HQ status.
    let dups = of_b(RecordQuery {
        hq_status: Some(Some("duplicate".into())),
        ..RecordQuery::default()
    });
    assert_eq!(dups.len(), 2);
    let none = of_b(RecordQuery {
        hq_status: Some(None),
        ..RecordQuery::default()
    });
    assert_eq!(none.len(), 64);

    let mut s = hq.session().expect("session");
    let groups = s.duplicate_groups(None, 10).expect("groups");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].id_number, n);
    assert_eq!(groups[0].records.len(), 2);
    assert!(s.duplicate_groups(Some(&n), 10).expect("next").is_empty());

    let counts = s.kiosk_counts(None, 10).expect("counts");
    assert_eq!(counts.len(), 2);
    assert_eq!(
        (counts[0].kiosk_id.as_str(), counts[0].records),
        ("K00001", 40)
    );
    assert_eq!(
        (counts[1].kiosk_id.as_str(), counts[1].records),
        ("K00002", 26)
    );
    assert_eq!(
        counts[1].by_hq_status,
        vec![("duplicate".to_owned(), 1), ("none".to_owned(), 25)]
    );

    // Fleet: each kiosk's last hello and last sync, with what it said about itself.
    let kiosks = hq.kiosks().expect("kiosks");
    for k in &kiosks {
        assert_eq!(k.last_seen_at, Some(fixed_now()));
        assert_eq!(k.last_sync_at, Some(fixed_now()));
        let t = k.telemetry.as_ref().expect("telemetry");
        assert_eq!(t.software_version, "0.1.0");
        assert!(t.free_bytes > 0);
        assert!(t.last_capture_at.is_some());
    }
    // The second kiosk's hello came before its push: it said 26 records were waiting.
    let kb = kiosks.iter().find(|k| k.id == "K00002").expect("b");
    assert_eq!(kb.telemetry.as_ref().map(|t| t.records_waiting), Some(26));
    assert!(kb
        .telemetry
        .as_ref()
        .and_then(|t| t.oldest_waiting_at)
        .is_some());
}
