//! The storage trait itself, the same assertions on SQLite and on a real PostgreSQL: filtered
//! keyset listings, word-prefix name search, duplicate groups, per-kiosk counts, outbox and
//! audit chain; and PostgreSQL's schema (migrations recorded once, partitions, a newer schema
//! refused).

#[macro_use]
mod backend;

use backend::Backend;
use chrono::{DateTime, TimeZone, Utc};
use enroll_hq::storage::*;
use uuid::Uuid;

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, 8, 0, 0)
        .single()
        .expect("valid date")
}

fn record(i: u128, kiosk: &str, name: &str, key: &str, id_number: Option<&str>) -> StoredRecord {
    StoredRecord {
        // Increasing ids, like UUIDv7's creation order.
        id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + i),
        kiosk_id: kiosk.into(),
        doc: vec![i as u8; 10],
        chunks: 1,
        heads: vec![],
        blobs: vec![[i as u8; 32]],
        p: Projection {
            enrollment_no: format!("{kiosk}-{i}"),
            full_name: name.into(),
            search_key: key.into(),
            id_number: id_number.map(Into::into),
            province_code: Some(if i.is_multiple_of(2) { "01" } else { "79" }.into()),
            commune_code: Some(format!("c{}", i % 3)),
            operator_id: "op".into(),
            captured_at: Some(at(1 + i as u32)),
            status: if i < 4 { "approved" } else { "draft" }.into(),
            hq_status: (i == 2).then(|| "card_printed".to_string()),
            hq_reason: None,
            updated_at: at(20),
        },
    }
}

fn ids(rows: &[RecordRow]) -> Vec<u128> {
    rows.iter()
        .map(|r| r.id.as_u128() - 0x0190_0000_0000_7000_8000_0000_0000_0000)
        .collect()
}

fn page(limit: u32) -> Page {
    Page {
        limit,
        ..Page::default()
    }
}

fn queries_and_chains_agree(db: &Backend) {
    let tmp = tempfile::tempdir().expect("tmp");
    let storage = db.storage(tmp.path());
    let mut s = storage.session().expect("session");
    for k in ["K00001", "K00002"] {
        s.add_kiosk(&KioskEntry {
            id: k.into(),
            name: k.into(),
            public_key: format!("key-{k}"),
            added_at: at(1),
            revoked_at: None,
            last_seen_at: None,
            last_sync_at: None,
            telemetry: None,
        })
        .expect("kiosk");
    }
    let records = vec![
        record(1, "K00001", "NGUYỄN VĂN AN", "nguyen van an", Some("001")),
        record(2, "K00001", "TRẦN THỊ BÌNH", "tran thi binh", None),
        record(3, "K00002", "NGUYỄN AN", "nguyen an", Some("001")),
        record(4, "K00002", "LÊ 100% _X", "le 100% _x", Some("002")),
        record(5, "K00001", "PHẠM ANH", "pham anh", Some("002")),
    ];
    s.begin().expect("begin");
    s.put_records(&records).expect("put");
    s.commit().expect("commit");
    // Read back whole, in the order asked, missing ids left out.
    let back = s
        .records(&[records[2].id, Uuid::nil(), records[0].id])
        .expect("records");
    assert_eq!(back, vec![records[2].clone(), records[0].clone()]);

    let q = |s: &mut Box<dyn Session>, q: RecordQuery, p: Page| {
        ids(&s.list_records(&q, &p).expect("list"))
    };
    assert_eq!(
        q(&mut s, RecordQuery::default(), page(10)),
        vec![1, 2, 3, 4, 5]
    );
    let kiosk = RecordQuery {
        kiosk: Some("K00001".into()),
        ..Default::default()
    };
    assert_eq!(q(&mut s, kiosk.clone(), page(2)), vec![1, 2]);
    let next = Page {
        after: Some(records[1].id),
        ..page(2)
    };
    assert_eq!(q(&mut s, kiosk, next), vec![5]);
    let newest = Page {
        newest_first: true,
        after: Some(records[4].id),
        limit: 2,
    };
    assert_eq!(q(&mut s, RecordQuery::default(), newest), vec![4, 3]);
    let place = RecordQuery {
        province: Some("79".into()),
        commune: Some("c0".into()),
        ..Default::default()
    };
    assert_eq!(q(&mut s, place, page(10)), vec![3]);
    let unseen = RecordQuery {
        hq_status: Some(None),
        status: Some("approved".into()),
        ..Default::default()
    };
    assert_eq!(q(&mut s, unseen, page(10)), vec![1, 3]);
    let printed = RecordQuery {
        hq_status: Some(Some("card_printed".into())),
        ..Default::default()
    };
    assert_eq!(q(&mut s, printed, page(10)), vec![2]);
    let captured = RecordQuery {
        captured_from: Some(at(3)),
        captured_to: Some(at(5)),
        ..Default::default()
    };
    assert_eq!(q(&mut s, captured, page(10)), vec![2, 3]);
    let name = |key: &str| RecordQuery {
        name_key: Some(key.into()),
        ..Default::default()
    };
    // Each word begins a word of the key; not inside one ("an" inside "tran" does not count).
    assert_eq!(q(&mut s, name("ngu an"), page(10)), vec![1, 3]);
    assert_eq!(q(&mut s, name("an"), page(10)), vec![1, 3, 5]);
    // LIKE's own characters are literal.
    assert_eq!(q(&mut s, name("100%"), page(10)), vec![4]);
    assert_eq!(q(&mut s, name("_"), page(10)), vec![4]);
    let idn = RecordQuery {
        id_number: Some("002".into()),
        ..Default::default()
    };
    assert_eq!(q(&mut s, idn, page(10)), vec![4, 5]);

    // Duplicate pairs: order-free, recorded once; groups keyset-paged by ID number.
    s.begin().expect("begin");
    s.lock_id_numbers(&["002".into(), "001".into(), "001".into()])
        .expect("lock");
    assert!(s
        .add_duplicate_pair("001", &records[2].id, &records[0].id, at(9))
        .expect("pair"));
    assert!(!s
        .add_duplicate_pair("001", &records[0].id, &records[2].id, at(9))
        .expect("pair"));
    assert!(s
        .add_duplicate_pair("002", &records[3].id, &records[4].id, at(9))
        .expect("pair"));
    s.commit().expect("commit");
    assert_eq!(
        s.records_with_id_number("001").expect("ids"),
        vec![records[0].id, records[2].id]
    );
    let groups = s.duplicate_groups(None, 1).expect("groups");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].id_number, "001");
    assert_eq!(ids(&groups[0].records), vec![1, 3]);
    let groups = s.duplicate_groups(Some("001"), 10).expect("groups");
    assert_eq!(groups.len(), 1);
    assert_eq!(ids(&groups[0].records), vec![4, 5]);

    let counts = s.kiosk_counts(None, 10).expect("counts");
    assert_eq!(counts.len(), 2);
    assert_eq!(counts[0].kiosk_id, "K00001");
    assert_eq!(counts[0].records, 3);
    assert_eq!(
        counts[0].by_status,
        vec![("approved".into(), 2), ("draft".into(), 1)]
    );
    assert_eq!(
        counts[0].by_hq_status,
        vec![("card_printed".into(), 1), ("none".into(), 2)]
    );

    // Outbox and cursors: sequences increase per kiosk, the cursor never moves back.
    let a = s
        .add_outbox("K00001", &records[0].id, b"c1")
        .expect("outbox");
    let b = s
        .add_outbox("K00001", &records[1].id, b"c2")
        .expect("outbox");
    assert!(b > a);
    let out = s.outbox_since("K00001", a, 10).expect("since");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].change, b"c2");
    s.set_cursor("K00001", b).expect("cursor");
    s.set_cursor("K00001", a).expect("cursor");
    assert_eq!(s.cursor("K00001").expect("cursor"), b);

    // The audit chain across months (PostgreSQL: one partition per month, made on demand).
    let entry = |t: DateTime<Utc>, n: u32| AuditEntry {
        at: t,
        actor: "hq".into(),
        action: "test".into(),
        subject: format!("s{n}"),
        detail: String::new(),
    };
    s.audit(&[entry(at(1), 1), entry(at(2), 2)]).expect("audit");
    let april = Utc
        .with_ymd_and_hms(2026, 4, 2, 0, 0, 0)
        .single()
        .expect("date");
    s.audit(&[entry(april, 3)]).expect("audit");
    // A rolled-back append leaves no trace and no gap.
    s.begin().expect("begin");
    s.audit(&[entry(april, 4)]).expect("audit");
    s.rollback().expect("rollback");
    s.audit(&[entry(april, 5)]).expect("audit");
    let rows = s.audit_since(0, 10).expect("audit rows");
    assert_eq!(
        rows.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(rows[3].entry.subject, "s5");
    verify_audit_chain([0; 32], &rows).expect("one unbroken chain");
    assert_eq!(s.audit_count().expect("count"), 4);
}

/// PostgreSQL only: SQLite's migrations are `PRAGMA user_version`, checked by its own tests.
#[test]
fn postgres_migrations_once_partitions_and_newer_schema_refused() {
    let db = &Backend::postgres();
    let url = db.database().expect("a database URL");
    let tmp = tempfile::tempdir().expect("tmp");
    drop(db.storage(tmp.path()));
    // Opening again applies nothing twice.
    drop(db.storage(tmp.path()));
    let (client, rt) = connect(&url);
    let q = |sql: &str| one_number(&client, &rt, sql);
    // The first schema, the dashboard's tables, the review tables, the ID-number table,
    // fewer record indexes and the audit chain's one-statement append.
    assert_eq!(q("SELECT count(*) FROM schema_migrations"), 6);
    assert_eq!(
        q("SELECT count(*) FROM pg_inherits WHERE inhparent = 'records'::regclass"),
        i64::from(enroll_hq::storage::postgres::RECORD_PARTITIONS)
    );
    rt.block_on(client.batch_execute("INSERT INTO schema_migrations(version) VALUES (99)"))
        .expect("newer version");
    match enroll_hq::storage::postgres::PgStorage::open(&url) {
        Err(StorageError::TooNew {
            found: 99,
            known: 6,
        }) => {}
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
}

/// A database HQ wrote before migrations 4 to 6 (no `id_numbers`, ten record indexes, the
/// audit chain appended by HQ) is upgraded in place: the records it held are found by their ID
/// numbers afterwards, and the chain it began goes on unbroken.
#[test]
fn postgres_upgrade_keeps_every_record_findable_and_the_audit_chain_whole() {
    let db = &Backend::postgres();
    let url = db.database().expect("a database URL");
    let tmp = tempfile::tempdir().expect("tmp");
    let r = |i: u128, n: Option<&str>| record(i, "K00001", "A", "a", n);
    let entry = |n: u32| AuditEntry {
        at: Utc
            .with_ymd_and_hms(2026, 3, n, 9, 0, 0)
            .single()
            .expect("date"),
        actor: "hq".into(),
        action: "test".into(),
        subject: format!("s{n}"),
        detail: "Đã duyệt".into(),
    };
    {
        let storage = db.storage(tmp.path());
        let mut s = storage.session().expect("session");
        s.put_records(&[r(1, Some("001")), r(2, Some("001")), r(3, None)])
            .expect("put");
        s.audit(&[entry(1), entry(2)]).expect("audit");
    }
    let (client, rt) = connect(&url);
    // Schema 3, as an HQ of that version left it.
    rt.block_on(client.batch_execute(
        "DROP TRIGGER id_numbers_inserted ON records;
         DROP TRIGGER id_numbers_updated ON records;
         DROP TRIGGER id_numbers_deleted ON records;
         DROP FUNCTION id_numbers_inserted(), id_numbers_updated(), id_numbers_deleted();
         DROP TABLE id_numbers;
         DROP INDEX records_kiosk;
         DROP INDEX records_hq_status;
         CREATE INDEX records_kiosk ON records (kiosk_id, id);
         CREATE INDEX records_hq_status ON records (hq_status, id);
         CREATE INDEX records_id_number ON records (id_number) WHERE id_number IS NOT NULL;
         CREATE INDEX records_counts ON records (kiosk_id, status, hq_status);
         DROP FUNCTION audit_append;
         DELETE FROM schema_migrations WHERE version >= 4;",
    ))
    .expect("back to schema 3");
    let storage = db.storage(tmp.path());
    let mut s = storage.session().expect("session");
    let found: Vec<(String, u128)> = s
        .records_with_id_numbers(&["001".to_string()])
        .expect("lookup")
        .into_iter()
        .map(|(n, id)| (n, id.as_u128() & 0xff))
        .collect();
    assert_eq!(found, vec![("001".to_string(), 1), ("001".to_string(), 2)]);
    // Entries appended after the upgrade go on from the two before it, one in a new month.
    s.audit(&[entry(3)]).expect("audit");
    let april = AuditEntry {
        at: Utc
            .with_ymd_and_hms(2026, 4, 1, 0, 0, 0)
            .single()
            .expect("date"),
        ..entry(4)
    };
    s.audit(&[april]).expect("audit in a new month");
    let rows = s.audit_since(0, 10).expect("audit rows");
    assert_eq!(rows.len(), 4);
    verify_audit_chain([0; 32], &rows).expect("one unbroken chain");
    let q = |sql: &str| one_number(&client, &rt, sql);
    assert_eq!(q("SELECT count(*) FROM schema_migrations"), 6);
    assert_eq!(
        q("SELECT count(*) FROM pg_indexes WHERE tablename = 'records'"),
        8,
        "the primary key and seven record indexes"
    );
}

/// The single number a query answers.
fn one_number(client: &tokio_postgres::Client, rt: &tokio::runtime::Runtime, sql: &str) -> i64 {
    rt.block_on(client.query_one(sql, &[]))
        .expect("query")
        .get(0)
}

fn connect(url: &str) -> (tokio_postgres::Client, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (client, conn) = rt
        .block_on(tokio_postgres::connect(url, tokio_postgres::NoTls))
        .expect("connect");
    rt.spawn(conn);
    (client, rt)
}

on_each_backend!(queries_and_chains_agree);
on_each_backend!(conditional_writes_leave_records_written_meanwhile_alone);
on_each_backend!(id_number_lookups_follow_every_kind_of_record_write);

/// `put_records_if`: a record is written only if its stored heads are still the ones it was
/// read with (none: not stored); the others come back unwritten, for merging again.
fn conditional_writes_leave_records_written_meanwhile_alone(db: &Backend) {
    let tmp = tempfile::tempdir().expect("tmp");
    let storage = db.storage(tmp.path());
    let mut s = storage.session().expect("session");
    let h = |b: u8| vec![automerge::ChangeHash([b; 32])];
    let with = |i: u128, heads: Vec<automerge::ChangeHash>, name: &str| StoredRecord {
        heads,
        ..record(i, "K00001", name, "k", None)
    };
    s.put_records(&[with(1, h(1), "A"), with(2, h(2), "B")])
        .expect("put");
    s.begin().expect("begin");
    let stale = s
        .put_records_if(vec![
            // Read as held: written.
            (with(1, h(11), "A2"), Some(h(1))),
            // Read with heads another session has since replaced: left alone.
            (with(2, h(12), "B2"), Some(h(9))),
            // Read as new, but stored meanwhile: left alone.
            (with(2, h(13), "B3"), None),
            // New: written.
            (with(3, h(3), "C"), None),
        ])
        .expect("conditional put");
    s.commit().expect("commit");
    let mut stale: Vec<u128> = stale.iter().map(|id| id.as_u128() & 0xff).collect();
    stale.sort();
    assert_eq!(stale, vec![2, 2]);
    let held = s
        .records(&[
            with(1, h(0), "").id,
            with(2, h(0), "").id,
            with(3, h(0), "").id,
        ])
        .expect("read");
    let seen: Vec<(String, Vec<automerge::ChangeHash>)> =
        held.into_iter().map(|r| (r.p.full_name, r.heads)).collect();
    assert_eq!(
        seen,
        vec![("A2".into(), h(11)), ("B".into(), h(2)), ("C".into(), h(3))]
    );
}

/// Deduplication's lookups see each record under the ID number it holds now: after inserts,
/// upserts and conditional writes that set, change or clear it (on PostgreSQL a separate
/// table kept by triggers).
fn id_number_lookups_follow_every_kind_of_record_write(db: &Backend) {
    let tmp = tempfile::tempdir().expect("tmp");
    let storage = db.storage(tmp.path());
    let mut s = storage.session().expect("session");
    let r = |i: u128, n: Option<&str>| record(i, "K00001", "A", "a", n);
    let holders = |s: &mut Box<dyn Session>| -> Vec<(String, u128)> {
        let numbers = ["001".to_string(), "002".to_string()];
        s.records_with_id_numbers(&numbers)
            .expect("lookup")
            .into_iter()
            .map(|(n, id)| (n, id.as_u128() & 0xff))
            .collect()
    };
    let pairs = |v: &[(&str, u128)]| -> Vec<(String, u128)> {
        v.iter().map(|(n, i)| (n.to_string(), *i)).collect()
    };
    s.put_records(&[
        r(1, Some("001")),
        r(2, Some("001")),
        r(3, None),
        r(5, Some("002")),
    ])
    .expect("put");
    assert_eq!(
        holders(&mut s),
        pairs(&[("001", 1), ("001", 2), ("002", 5)])
    );
    // An upsert that changes one record's number and clears another's.
    s.put_records(&[r(2, Some("002")), r(5, None)])
        .expect("upsert");
    assert_eq!(holders(&mut s), pairs(&[("001", 1), ("002", 2)]));
    // Conditional writes: an update that sets a number, and a new record.
    s.begin().expect("begin");
    let stale = s
        .put_records_if(vec![
            (r(3, Some("002")), Some(vec![])),
            (r(4, Some("001")), None),
        ])
        .expect("conditional put");
    s.commit().expect("commit");
    assert!(stale.is_empty(), "{stale:?}");
    assert_eq!(
        holders(&mut s),
        pairs(&[("001", 1), ("001", 4), ("002", 2), ("002", 3)])
    );
    let one: Vec<u128> = s
        .records_with_id_number("001")
        .expect("lookup")
        .iter()
        .map(|id| id.as_u128() & 0xff)
        .collect();
    assert_eq!(one, vec![1, 4]);
}
