use chrono::Utc;
use enroll_sync::record::{example, Attribution, Enrollment, PersonName, RecordStatus};

use super::*;

fn by() -> Attribution {
    Attribution {
        person: "op-1".into(),
        device: "KS01".into(),
        at: Utc::now(),
    }
}

fn named(family: &str, middle: &str, given: &str) -> Enrollment {
    let mut r = example(Utc::now());
    r.id = enroll_sync::record::new_record_id();
    r.applicant.name = PersonName {
        family: family.into(),
        middle: middle.into(),
        given: given.into(),
    };
    r
}

fn names(store: &Store, search: &str) -> Vec<String> {
    let q = ListQuery {
        search: Some(search.into()),
        limit: 50,
        ..ListQuery::default()
    };
    let mut v: Vec<String> = store
        .list(&q)
        .expect("list")
        .into_iter()
        .map(|s| s.full_name)
        .collect();
    v.sort();
    v
}

#[test]
fn migrates_an_empty_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    // An existing, empty file is a valid empty SQLite database at version 0.
    std::fs::write(dir.path().join(DB_FILE), b"").expect("touch");
    let store = Store::open(dir.path()).expect("open");
    let version: i64 = store
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, schema::VERSION as i64);
    let mode: String = store
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
    store.integrity_check().expect("integrity");
}

#[test]
fn refuses_a_newer_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(Store::open(dir.path()).expect("open"));
    let conn = super::open_keyed(dir.path()).expect("raw open");
    conn.pragma_update(None, "user_version", 99).expect("bump");
    drop(conn);
    assert!(matches!(
        Store::open(dir.path()),
        Err(StoreError::TooNew { found: 99, .. })
    ));
}

#[test]
fn saves_and_reopens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let record = named("Nguyễn", "Văn", "Hoà");
    let (code, outcome) = {
        let mut store = Store::open(dir.path()).expect("open");
        (
            store.kiosk().code.clone(),
            store.save(&record, &by()).expect("save"),
        )
    };
    assert!(outcome.created && outcome.changed);
    assert!(
        outcome.enrollment_no.starts_with(&format!("{code}-")),
        "{}",
        outcome.enrollment_no
    );
    let store = Store::open(dir.path()).expect("reopen");
    assert_eq!(store.kiosk().code, code, "the kiosk keeps its code");
    let loaded = store.load(&record.id).expect("load").expect("present");
    assert_eq!(
        loaded,
        Enrollment {
            enrollment_no: outcome.enrollment_no.clone(),
            ..record
        }
    );
    assert_eq!(
        store.resolve(&outcome.enrollment_no).expect("resolve"),
        Some(loaded.id)
    );
}

#[test]
fn enrollment_numbers_count_up_per_day() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("open");
    let a = store
        .save(&named("Lê", "Thị", "Lan"), &by())
        .expect("save")
        .enrollment_no;
    let b = store
        .save(&named("Lê", "Thị", "Mai"), &by())
        .expect("save")
        .enrollment_no;
    assert!(a.ends_with("-0001") && b.ends_with("-0002"), "{a} {b}");
}

#[test]
fn updates_append_chunks_then_compact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("open");
    let mut record = named("Phạm", "Minh", "Tuấn");
    store.save(&record, &by()).expect("save");
    let unchanged = store.save(&record, &by()).expect("save again");
    assert!(
        !unchanged.changed,
        "saving an identical record writes nothing"
    );
    for i in 0..40 {
        record.contact.phone = Some(format!("09123456{i:02}"));
        record.review.status = if i % 2 == 0 {
            RecordStatus::Captured
        } else {
            RecordStatus::Returned
        };
        store.save(&record, &by()).expect("update");
        let chunks: i64 = store
            .conn
            .query_row(
                "SELECT chunk_count FROM records WHERE id = ?1",
                [record.id.to_string()],
                |r| r.get(0),
            )
            .expect("count");
        assert!(
            chunks < 16,
            "compaction keeps the chunk count bounded, got {chunks}"
        );
    }
    let loaded = store.load(&record.id).expect("load").expect("present");
    assert_eq!(loaded.contact.phone.as_deref(), Some("0912345639"));
    assert_eq!(loaded.review.status, RecordStatus::Returned);
    let listed = store
        .list(&ListQuery {
            status: Some(RecordStatus::Returned),
            limit: 10,
            ..ListQuery::default()
        })
        .expect("list");
    assert_eq!(listed.len(), 1);
}

#[test]
fn search_ignores_accents_tone_placement_and_d() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("open");
    for (f, m, g) in [
        ("NGUYỄN", "VĂN", "HOÀ"),
        ("Nguyễn", "Văn", "Hòa"),
        ("Đặng", "Thị", "Thu"),
        ("Nguyễn", "Văn", "Hùng"),
        ("Trần", "Dăng", "Khoa"),
    ] {
        store.save(&named(f, m, g), &by()).expect("save");
    }
    assert_eq!(
        names(&store, "nguyen van hoa"),
        vec!["NGUYỄN VĂN HOÀ", "NGUYỄN VĂN HÒA"]
    );
    assert_eq!(
        names(&store, "Nguyễn Văn Hoà"),
        vec!["NGUYỄN VĂN HOÀ", "NGUYỄN VĂN HÒA"]
    );
    assert_eq!(
        names(&store, "dang"),
        vec!["TRẦN DĂNG KHOA", "ĐẶNG THỊ THU"]
    );
    assert_eq!(
        names(&store, "nguy h"),
        vec!["NGUYỄN VĂN HOÀ", "NGUYỄN VĂN HÒA", "NGUYỄN VĂN HÙNG"]
    );
    assert!(names(&store, "xyz").is_empty());
    // ID number and enrollment number prefixes find records too.
    assert_eq!(names(&store, "001058").len(), 5);
}

#[test]
fn lists_pages_newest_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("open");
    for given in ["An", "Bình", "Chi", "Dũng", "Hà"] {
        store.save(&named("Vũ", "Văn", given), &by()).expect("save");
    }
    let first = store
        .list(&ListQuery {
            limit: 2,
            ..ListQuery::default()
        })
        .expect("page 1");
    assert_eq!(
        first
            .iter()
            .map(|s| s.full_name.as_str())
            .collect::<Vec<_>>(),
        ["VŨ VĂN HÀ", "VŨ VĂN DŨNG"]
    );
    let next = store
        .list(&ListQuery {
            limit: 2,
            before: first.last().map(|s| s.seq),
            ..ListQuery::default()
        })
        .expect("page 2");
    assert_eq!(
        next.iter()
            .map(|s| s.full_name.as_str())
            .collect::<Vec<_>>(),
        ["VŨ VĂN CHI", "VŨ VĂN BÌNH"]
    );
}

#[test]
fn blobs_are_content_addressed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("open");
    store.use_test_only_kdf();
    store
        .init_supervisor("sup", "Sup", "1234567890", chrono::Utc::now())
        .expect("init");
    let h1 = store.put_blob(b"photo bytes", "image/jpeg").expect("put");
    let h2 = store
        .put_blob(b"photo bytes", "image/jpeg")
        .expect("put twice");
    assert_eq!(h1, h2);
    assert_eq!(h1, blobs::sha256_hex(b"photo bytes"));
    assert_eq!(
        store.blob(&h1).expect("get"),
        Some((b"photo bytes".to_vec(), "image/jpeg".into()))
    );
    assert_eq!(store.blob(&"0".repeat(64)).expect("get"), None);
}

#[test]
fn drafts_autosave_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open(dir.path()).expect("open");
        store
            .save_draft("d1", "op-1", "identity", r#"{"id_number":"0010"}"#)
            .expect("save");
        store
            .save_draft(
                "d1",
                "op-1",
                "demographics",
                r#"{"id_number":"001058012345"}"#,
            )
            .expect("update");
    }
    let store = Store::open(dir.path()).expect("reopen");
    let d = store.latest_draft().expect("latest").expect("present");
    assert_eq!((d.id.as_str(), d.step.as_str()), ("d1", "demographics"));
    store.delete_draft("d1").expect("delete");
    assert_eq!(store.draft("d1").expect("get"), None);
}

#[test]
fn audit_chain_detects_tampering() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("open");
    for given in ["An", "Bình", "Chi"] {
        store.save(&named("Vũ", "Văn", given), &by()).expect("save");
    }
    assert_eq!(store.verify_audit().expect("verify"), Ok(3));
    store
        .conn
        .execute("UPDATE audit SET actor = 'mallory' WHERE seq = 2", [])
        .expect("tamper");
    assert_eq!(store.verify_audit().expect("verify"), Err(2));
}

#[test]
fn cursors_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    assert_eq!(store.cursor("hq").expect("get"), None);
    store.set_cursor("hq", b"abc", Utc::now()).expect("set");
    store.set_cursor("hq", b"def", Utc::now()).expect("set");
    assert_eq!(store.cursor("hq").expect("get"), Some(b"def".to_vec()));
}

#[test]
fn acknowledgements_track_what_hq_holds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("open");
    let mut a = named("Hồ", "Thị", "Yến");
    let b = named("Hồ", "Văn", "Nam");
    store.save(&a, &by()).expect("save");
    store.save(&b, &by()).expect("save");
    assert_eq!(store.unacknowledged().expect("list"), vec![a.id, b.id]);
    let heads: Vec<u8> = store
        .conn
        .query_row(
            "SELECT heads FROM records WHERE id = ?1",
            [a.id.to_string()],
            |r| r.get(0),
        )
        .expect("heads");
    let heads = records::heads_from(&heads);
    assert!(store
        .mark_acknowledged(&a.id, &heads, "rcpt-1", Utc::now())
        .expect("ack"));
    assert!(!store
        .mark_acknowledged(&uuid::Uuid::now_v7(), &heads, "rcpt-1", Utc::now())
        .expect("ack"));
    assert_eq!(store.unacknowledged().expect("list"), vec![b.id]);
    assert_eq!(
        store
            .acknowledgement(&a.id)
            .expect("get")
            .expect("acked")
            .receipt_id,
        "rcpt-1"
    );
    // Editing after the ack makes the record due for sync again.
    a.contact.phone = Some("0900000001".into());
    store.save(&a, &by()).expect("edit");
    assert_eq!(store.unacknowledged().expect("list"), vec![a.id, b.id]);
}

#[test]
fn changes_after_reads_stored_changes_as_the_document_would_give_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("open");
    let mut record = named("Võ", "Thị", "Sáu");
    store.save(&record, &by()).expect("save");
    let first = store.heads(&record.id).expect("heads").expect("present");
    // Numbers other than the example's, so that each save is an edit.
    record.contact.phone = Some("0987654321".into());
    assert!(store.save(&record, &by()).expect("edit").changed);
    record.contact.phone = Some("0987654322".into());
    assert!(store.save(&record, &by()).expect("edit again").changed);
    let (_, mut doc) = store.doc_of(&record.id).expect("doc").expect("present");
    let mut from_doc = |have: &[automerge::ChangeHash]| -> Vec<automerge::ChangeHash> {
        doc.automerge()
            .get_changes(have)
            .iter()
            .map(|c| c.hash())
            .collect()
    };
    let all = from_doc(&[]);
    let later = from_doc(&first);
    let stored = |have: &[automerge::ChangeHash]| -> Vec<automerge::ChangeHash> {
        let changes = store.changes_after(&record.id, have).expect("changes");
        for (hash, bytes) in &changes {
            let c = automerge::Change::from_bytes(bytes.clone()).expect("a change");
            assert_eq!(c.hash(), *hash);
        }
        changes.into_iter().map(|(h, _)| h).collect()
    };
    assert_eq!(all.len(), 3);
    assert_eq!(stored(&[]), all);
    assert_eq!(stored(&first), later);
    assert_eq!(later.len(), 2);
    let now = store.heads(&record.id).expect("heads").expect("present");
    assert!(stored(&now).is_empty());
    // Heads this store never saw are ignored, as the document does.
    assert_eq!(stored(&[automerge::ChangeHash([7; 32])]), all);
}

#[test]
fn pending_sync_reads_blob_references_off_the_row_as_the_document_gives_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("open");
    let mut edited = named("Lò", "Văn", "Pả");
    let once = named("Lò", "Thị", "Mai");
    store.save(&edited, &by()).expect("save");
    store.save(&once, &by()).expect("save");
    // A new photo: the blob list changes with the record.
    if let Some(photo) = edited.biometrics.photo.as_mut() {
        photo.sha256 = "ab".repeat(32);
    }
    assert!(store.save(&edited, &by()).expect("edit").changed);
    let from_rows = store.pending_sync().expect("pending");
    let want = |r: &Enrollment| records::blob_refs_of(r);
    assert_eq!(from_rows.len(), 2);
    assert_eq!(from_rows[0].id, edited.id);
    assert_eq!(from_rows[0].blobs, want(&edited));
    assert!(from_rows[0].blobs.contains(&"ab".repeat(32)));
    assert_eq!(from_rows[1].blobs, want(&once));
    assert_eq!(
        want(&once).len(),
        21,
        "a photo, ten images and ten templates"
    );
    // Rows written before the column existed are decoded instead, with the same answer.
    store
        .conn
        .execute("UPDATE records SET blob_refs = NULL", [])
        .expect("clear");
    let decoded = store.pending_sync().expect("pending");
    for (a, b) in from_rows.iter().zip(&decoded) {
        assert_eq!((a.id, &a.heads, &a.blobs), (b.id, &b.heads, &b.blobs));
    }
}

// ---- encryption at rest: the plain → SQLCipher migration ----

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A data directory as an older kiosk left it: a plain SQLite file and a plain 32-byte device
/// key. Made by exporting a store written by this build (SQLCipher's `sqlcipher_export` to an
/// unkeyed file); the vault file comes along so that its key slots keep opening.
fn plain_data_dir(records: usize) -> (tempfile::TempDir, Vec<Enrollment>, String, Vec<u8>) {
    let src = tempfile::tempdir().expect("tempdir");
    let old = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(src.path()).expect("open");
    store.use_test_only_kdf();
    store
        .init_supervisor("sup", "Trần Văn Giám", "1357902468", Utc::now())
        .expect("supervisor");
    let photo = store
        .put_blob(b"PLAINTEXT-FACE-MARKER", "image/jpeg")
        .expect("blob");
    let mut saved = Vec::new();
    for i in 0..records {
        let mut r = named("Phùng", "Thị", "Xuyến");
        r.applicant.id_number = Some(format!("0792030{i:05}"));
        let outcome = store.save(&r, &by()).expect("save");
        saved.push(store.load(&outcome.id).expect("load").expect("saved"));
    }
    let conn = &store.conn;
    let dest = old.path().join(DB_FILE);
    conn.execute(
        "ATTACH DATABASE ?1 AS plain KEY ''",
        [dest.to_str().expect("utf-8")],
    )
    .expect("attach");
    conn.query_row("SELECT sqlcipher_export('plain')", [], |_| Ok(()))
        .expect("export");
    conn.pragma_update(Some("plain"), "user_version", schema::VERSION as i64)
        .expect("version");
    conn.execute("DETACH DATABASE plain", []).expect("detach");
    drop(store);
    std::fs::copy(
        src.path().join(vault::VAULT_KEY_FILE),
        old.path().join(vault::VAULT_KEY_FILE),
    )
    .expect("vault");
    let key_path = old.path().join(crate::DEVICE_KEY_FILE);
    enroll_sync::identity::DeviceKey::load_or_create(&key_path).expect("plain device key");
    let seed = std::fs::read(&key_path).expect("seed");
    (old, saved, photo, seed)
}

#[test]
fn a_plain_data_dir_is_encrypted_in_place_keeping_records_and_the_device_key() {
    let (old, saved, photo, seed) = plain_data_dir(30);
    let db = old.path().join(DB_FILE);
    assert!(is_plain_sqlite(&db).expect("head"));
    assert!(contains(
        &std::fs::read(&db).expect("read"),
        b"079203000007"
    ));
    let legacy =
        enroll_sync::identity::DeviceKey::load_or_create(&old.path().join(crate::DEVICE_KEY_FILE))
            .expect("legacy key");

    let mut store = Store::open(old.path()).expect("open migrates");
    assert!(!is_plain_sqlite(&db).expect("head"));
    for r in &saved {
        assert_eq!(store.load(&r.id).expect("load").as_ref(), Some(r));
    }
    assert_eq!(store.record_ids().expect("ids").len(), saved.len());
    assert_eq!(names(&store, "xuyen").len(), saved.len());
    store
        .unlock("sup", "1357902468", Utc::now())
        .expect("slot opens");
    assert_eq!(
        store.blob(&photo).expect("blob").map(|(b, _)| b),
        Some(b"PLAINTEXT-FACE-MARKER".to_vec())
    );
    store.integrity_check().expect("integrity");
    drop(store);

    let key = vault::device_key(old.path()).expect("wrapped key");
    assert_eq!(key.public(), legacy.public());
    for entry in std::fs::read_dir(old.path()).expect("dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read");
        let name = path.display();
        assert!(
            !contains(&bytes, b"079203000007"),
            "{name} holds an ID number"
        );
        assert!(!contains(&bytes, "Xuyến".as_bytes()), "{name} holds a name");
        assert!(!contains(&bytes, &seed), "{name} holds the device key");
    }
    // Opening again does not migrate again.
    drop(Store::open(old.path()).expect("reopen"));
}

#[test]
fn a_crash_while_encrypting_leaves_the_plain_file_whole() {
    let (old, saved, _, _) = plain_data_dir(12);
    let db = old.path().join(DB_FILE);
    let vault = vault::Vault::open(old.path()).expect("vault");
    let key = database_key(&vault);
    // Power lost after the encrypted copy was written and synced, before the rename.
    encrypt_plain(&db, &key, true).expect("copy");
    assert!(db.with_extension("db-encrypting").exists());
    assert!(is_plain_sqlite(&db).expect("head"));
    let plain = Connection::open(&db).expect("plain opens");
    let n: i64 = plain
        .query_row("SELECT count(*) FROM records", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n as usize, saved.len());
    drop(plain);
    // The next start encrypts again from the whole plain file.
    let store = Store::open(old.path()).expect("open");
    assert!(!is_plain_sqlite(&db).expect("head"));
    assert!(!db.with_extension("db-encrypting").exists());
    for r in &saved {
        assert_eq!(store.load(&r.id).expect("load").as_ref(), Some(r));
    }
}

#[test]
fn a_version_1_slot_opens_and_is_rewrapped_bound_to_the_vault() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("open");
    store.use_test_only_kdf();
    store
        .init_supervisor("sup", "Trần Văn Giám", "1357902468", Utc::now())
        .expect("init");
    let key = store.data_key().expect("unlocked").clone();
    keyslots::write_v1_slot_for_tests(&store.conn, "sup", "1357902468", &key, KdfParams::TEST_ONLY)
        .expect("v1 slot");
    let wrapped = |s: &Store| -> Vec<u8> {
        s.conn
            .query_row(
                "SELECT wrapped FROM key_slots WHERE account = 'sup'",
                [],
                |r| r.get(0),
            )
            .expect("slot")
    };
    let v1 = wrapped(&store);
    // A version 1 slot opens without the vault: it is re-wrapped at this sign-in.
    store.lock();
    store
        .unlock("sup", "1357902468", Utc::now())
        .expect("v1 opens");
    assert_ne!(wrapped(&store), v1);
    store.lock();
    store
        .unlock("sup", "1357902468", Utc::now())
        .expect("v2 opens");
    // Now it needs the vault: with another vault secret the right PIN fails.
    store.slot_binding = keyslots::SlotBinding {
        secret: zeroize::Zeroizing::new([9u8; 32]),
        tpm: None,
    };
    store.lock();
    assert!(store.unlock("sup", "1357902468", Utc::now()).is_err());
}

#[test]
fn each_saved_change_is_signed_by_the_device_key_as_a_push_would_sign_it() {
    use enroll_sync::identity::DeviceKey;
    use enroll_sync::protocol::change_signature;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("open");
    let mut record = named("Hà", "Văn", "Tú");
    store.save(&record, &by()).expect("save");
    // Enough edits that the record's chunks are compacted into one document on the way.
    for i in 0..20 {
        record.contact.phone = Some(format!("09876543{i:02}"));
        assert!(store.save(&record, &by()).expect("edit").changed);
    }
    assert!(!store.save(&record, &by()).expect("unchanged").changed);
    let others = [named("Hà", "Thị", "Lan"), named("Hà", "Văn", "Nam")];
    store.save_batch(&others, &by()).expect("batch");
    // The store made the device key at its first save; a sync loads the same one.
    let key = vault::device_key(dir.path()).expect("device key");
    for r in [&record, &others[0], &others[1]] {
        let kept = store.change_signatures(&r.id, &key.public()).expect("kept");
        let changes = store.changes_after(&r.id, &[]).expect("changes");
        assert_eq!(kept.len(), changes.len());
        for (hash, _) in &changes {
            assert_eq!(kept[hash], change_signature(&key, r.id, hash));
        }
    }
    assert_eq!(store.changes_after(&record.id, &[]).expect("all").len(), 21);
    // Kept by another key (a kiosk whose key was replaced): none, so the push signs afresh.
    let other = DeviceKey::generate();
    assert!(store
        .change_signatures(&record.id, &other.public())
        .expect("none")
        .is_empty());
}

#[test]
fn a_device_key_that_cannot_be_read_does_not_stop_a_save() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(crate::DEVICE_KEY_FILE), b"not a key").expect("write");
    let mut store = Store::open(dir.path()).expect("open");
    let record = named("Đinh", "Thị", "Hằng");
    assert!(store.save(&record, &by()).expect("saved").created);
    assert!(store.load(&record.id).expect("read").is_some());
    let n: i64 = store
        .conn
        .query_row("SELECT COUNT(*) FROM change_signatures", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 0);
}

/// A cached statement SQLite prepares again at every new binding costs a parse and a plan
/// each time (a bare `?` compared to a column, with an ORDER BY or a join, does: a quarter of a
/// kiosk's CPU per record pushed went there). After a day's work and a push's reads, none has.
#[test]
fn no_cached_statement_is_prepared_again_for_each_binding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("open");
    let mut rs: Vec<Enrollment> = (0..20).map(|_| named("Hà", "Văn", "Tú")).collect();
    store.save_batch(&rs, &by()).expect("batch");
    for r in rs.iter_mut() {
        r.contact.phone = Some("0987654321".into());
        store.save(r, &by()).expect("edit");
    }
    let key = vault::device_key(dir.path()).expect("device key");
    let waiting = store.pending_sync().expect("pending");
    assert_eq!(waiting.len(), rs.len());
    for r in &rs {
        store.load(&r.id).expect("load");
        store.heads(&r.id).expect("heads");
        store.changes_after(&r.id, &[]).expect("changes");
        store.change_signatures(&r.id, &key.public()).expect("kept");
    }
    let acks: Vec<_> = rs
        .iter()
        .map(|r| (r.id, store.heads(&r.id).expect("heads").unwrap_or_default()))
        .collect();
    store
        .mark_acknowledged_many(&acks, "receipt-1", Utc::now())
        .expect("acks");
    let mut again = Vec::new();
    // SAFETY: the handle is this open connection's; sqlite3_next_stmt, sqlite3_sql and
    // sqlite3_stmt_status only read the statements it owns, and nothing else uses it meanwhile.
    unsafe {
        use rusqlite::ffi;
        let db = store.conn.handle();
        let mut stmt = ffi::sqlite3_next_stmt(db, std::ptr::null_mut());
        while !stmt.is_null() {
            let n = ffi::sqlite3_stmt_status(stmt, ffi::SQLITE_STMTSTATUS_REPREPARE, 0);
            if n > 1 {
                let sql = std::ffi::CStr::from_ptr(ffi::sqlite3_sql(stmt));
                again.push(format!("{n}× {}", sql.to_string_lossy()));
            }
            stmt = ffi::sqlite3_next_stmt(db, stmt);
        }
    }
    assert!(again.is_empty(), "prepared again per binding: {again:#?}");
}
