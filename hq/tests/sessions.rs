//! Sessions are independent: each has its own pooled connection, a panic inside one leaves HQ
//! serving the next, and a session stuck reading a slow disk does not hold up another kiosk.
//! HQ runs on real SQLite and PostgreSQL behind a wrapper that injects the fault, served over loopback TCP.

#[macro_use]
mod backend;
mod fixture;

use backend::Backend;

use enroll_hq::storage::postgres::PgStorage;
use enroll_hq::storage::sqlite::SqliteStorage;
use enroll_hq::storage::*;
use enroll_hq::{server, Blobs, Hq};
use fixture::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Storage (either back-end) whose sessions panic when writing kiosk `PANIC`'s records and take
/// six seconds to read kiosk `SLOW`'s entry (a session's first read).
struct Faulty(Box<dyn HqStorage>);

struct FaultySession {
    inner: Box<dyn Session>,
}

impl HqStorage for Faulty {
    fn session(&self) -> Result<Box<dyn Session>> {
        Ok(Box::new(FaultySession {
            inner: self.0.session()?,
        }))
    }
    fn backend(&self) -> &'static str {
        "faulty"
    }
}

impl Session for FaultySession {
    fn begin(&mut self) -> Result<()> {
        self.inner.begin()
    }
    fn commit(&mut self) -> Result<()> {
        self.inner.commit()
    }
    fn rollback(&mut self) -> Result<()> {
        self.inner.rollback()
    }
    fn meta(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        self.inner.meta(key)
    }
    fn set_meta(&mut self, key: &str, value: &[u8]) -> Result<()> {
        self.inner.set_meta(key, value)
    }
    fn add_kiosk(&mut self, k: &KioskEntry) -> Result<()> {
        self.inner.add_kiosk(k)
    }
    fn kiosk(&mut self, id: &str) -> Result<Option<KioskEntry>> {
        if id == "SLOW" {
            std::thread::sleep(Duration::from_secs(6));
        }
        self.inner.kiosk(id)
    }
    fn kiosk_by_key(&mut self, public_key: &str) -> Result<Option<KioskEntry>> {
        self.inner.kiosk_by_key(public_key)
    }
    fn kiosk_count(&mut self) -> Result<u64> {
        self.inner.kiosk_count()
    }
    fn kiosks(&mut self, after: Option<&str>, limit: u32) -> Result<Vec<KioskEntry>> {
        self.inner.kiosks(after, limit)
    }
    fn revoke_kiosk(&mut self, id: &str, at: chrono::DateTime<chrono::Utc>) -> Result<bool> {
        self.inner.revoke_kiosk(id, at)
    }
    fn kiosk_seen(
        &mut self,
        id: &str,
        at: chrono::DateTime<chrono::Utc>,
        t: &KioskTelemetry,
    ) -> Result<()> {
        self.inner.kiosk_seen(id, at, t)
    }
    fn kiosk_synced(&mut self, id: &str, at: chrono::DateTime<chrono::Utc>) -> Result<()> {
        self.inner.kiosk_synced(id, at)
    }
    fn records(&mut self, ids: &[Uuid]) -> Result<Vec<StoredRecord>> {
        self.inner.records(ids)
    }
    fn record_states(&mut self, ids: &[Uuid]) -> Result<Vec<RecordState>> {
        self.inner.record_states(ids)
    }
    fn put_records(&mut self, records: &[StoredRecord]) -> Result<()> {
        self.inner.put_records(records)?;
        if records.iter().any(|r| r.kiosk_id == "PANIC") {
            panic!("injected fault while writing kiosk PANIC's records");
        }
        Ok(())
    }
    fn lock_id_numbers(&mut self, numbers: &[String]) -> Result<()> {
        self.inner.lock_id_numbers(numbers)
    }
    fn records_with_id_number(&mut self, id_number: &str) -> Result<Vec<Uuid>> {
        self.inner.records_with_id_number(id_number)
    }
    fn add_duplicate_pair(
        &mut self,
        id_number: &str,
        a: &Uuid,
        b: &Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        self.inner.add_duplicate_pair(id_number, a, b, at)
    }
    fn list_records(&mut self, q: &RecordQuery, page: &Page) -> Result<Vec<RecordRow>> {
        self.inner.list_records(q, page)
    }
    fn duplicate_groups(&mut self, after: Option<&str>, limit: u32) -> Result<Vec<DuplicateGroup>> {
        self.inner.duplicate_groups(after, limit)
    }
    fn kiosk_counts(&mut self, after: Option<&str>, limit: u32) -> Result<Vec<KioskCounts>> {
        self.inner.kiosk_counts(after, limit)
    }
    fn add_outbox(&mut self, kiosk_id: &str, record: &Uuid, change: &[u8]) -> Result<u64> {
        self.inner.add_outbox(kiosk_id, record, change)
    }
    fn outbox_since(&mut self, kiosk_id: &str, after: u64, limit: u32) -> Result<Vec<OutboxEntry>> {
        self.inner.outbox_since(kiosk_id, after, limit)
    }
    fn set_cursor(&mut self, kiosk_id: &str, cursor: u64) -> Result<()> {
        self.inner.set_cursor(kiosk_id, cursor)
    }
    fn cursor(&mut self, kiosk_id: &str) -> Result<u64> {
        self.inner.cursor(kiosk_id)
    }
    fn put_receipt(
        &mut self,
        id: &str,
        kiosk_id: &str,
        at: chrono::DateTime<chrono::Utc>,
        body: &[u8],
    ) -> Result<()> {
        self.inner.put_receipt(id, kiosk_id, at, body)
    }
    fn audit(&mut self, entries: &[AuditEntry]) -> Result<()> {
        self.inner.audit(entries)
    }
    fn audit_count(&mut self) -> Result<u64> {
        self.inner.audit_count()
    }
    fn audit_since(&mut self, after: u64, limit: u32) -> Result<Vec<AuditRow>> {
        self.inner.audit_since(after, limit)
    }
    fn add_user(&mut self, u: &DashUser) -> Result<bool> {
        self.inner.add_user(u)
    }
    fn user_by_name(&mut self, name: &str) -> Result<Option<DashUser>> {
        self.inner.user_by_name(name)
    }
    fn user(&mut self, id: &str) -> Result<Option<DashUser>> {
        self.inner.user(id)
    }
    fn set_user_login(
        &mut self,
        id: &str,
        failed: u32,
        locked_until: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<()> {
        self.inner.set_user_login(id, failed, locked_until)
    }
    fn set_user_columns(&mut self, id: &str, columns: &str) -> Result<()> {
        self.inner.set_user_columns(id, columns)
    }
    fn add_web_session(&mut self, s: &WebSession) -> Result<()> {
        self.inner.add_web_session(s)
    }
    fn web_session(&mut self, token_hash: &str) -> Result<Option<WebSession>> {
        self.inner.web_session(token_hash)
    }
    fn end_web_session(&mut self, token_hash: &str) -> Result<()> {
        self.inner.end_web_session(token_hash)
    }
    fn telemetry_history(
        &mut self,
        kiosks: &[String],
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<TelemetryPoint>> {
        self.inner.telemetry_history(kiosks, since)
    }
    fn audit_search(
        &mut self,
        q: &AuditQuery,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditRow>> {
        self.inner.audit_search(q, before, limit)
    }
    fn put_change_sigs(&mut self, sigs: &[review::ChangeSig]) -> Result<()> {
        self.inner.put_change_sigs(sigs)
    }
    fn change_sigs(
        &mut self,
        record: &Uuid,
        hashes: &[[u8; 32]],
    ) -> Result<Vec<review::ChangeSig>> {
        self.inner.change_sigs(record, hashes)
    }
    fn add_comment(&mut self, c: &review::CommentRow) -> Result<u64> {
        self.inner.add_comment(c)
    }
    fn comments(
        &mut self,
        record: &Uuid,
        after: u64,
        limit: u32,
    ) -> Result<Vec<review::CommentRow>> {
        self.inner.comments(record, after, limit)
    }
    fn put_adjudication(&mut self, a: &review::AdjudicationRow) -> Result<()> {
        self.inner.put_adjudication(a)
    }
    fn adjudications(
        &mut self,
        id_number: &str,
        limit: u32,
    ) -> Result<Vec<review::AdjudicationRow>> {
        self.inner.adjudications(id_number, limit)
    }
    fn is_duplicate_pair(&mut self, a: &Uuid, b: &Uuid) -> Result<bool> {
        self.inner.is_duplicate_pair(a, b)
    }
    fn add_sync_session(&mut self, row: &review::SyncSessionRow, receipt: &[u8]) -> Result<u64> {
        self.inner.add_sync_session(row, receipt)
    }
    fn sync_sessions(&mut self, q: &review::SessionQuery) -> Result<Vec<review::SyncSessionRow>> {
        self.inner.sync_sessions(q)
    }
    fn sync_session(&mut self, seq: u64) -> Result<Option<(review::SyncSessionRow, Vec<u8>)>> {
        self.inner.sync_session(seq)
    }
    fn put_quality(&mut self, facts: &[review::QualityFacts]) -> Result<()> {
        self.inner.put_quality(facts)
    }
    fn quality(&mut self, q: &review::QualityQuery) -> Result<Vec<review::QualityWeek>> {
        self.inner.quality(q)
    }
}

fn faulty_hq(b: &Backend, dir: &std::path::Path) -> Arc<Hq> {
    std::fs::create_dir_all(dir).expect("dir");
    let inner: Box<dyn HqStorage> = match b.database() {
        None => Box::new(SqliteStorage::open(&dir.join("hq.db")).expect("sqlite")),
        Some(url) => Box::new(PgStorage::open(&url).expect("postgres")),
    };
    let storage = Faulty(inner);
    let sign = enroll_sync::identity::DeviceKey::generate();
    let seal = enroll_sync::identity::DeviceKey::generate().seal_secret();
    let blobs = Blobs::open(dir, None).expect("blobs");
    Arc::new(Hq::new(Arc::new(storage), blobs, sign, seal, fixed_clock()).expect("hq"))
}

fn a_panic_inside_one_session_leaves_hq_serving_the_next(b: &Backend) {
    let tmp = tempfile::tempdir().expect("tmp");
    let hq = faulty_hq(b, &tmp.path().join("hq"));
    let url = serve(hq.clone());
    let bad = Kiosk::new(&hq, &tmp.path().join("bad"), "PANIC", &url);
    let good = Kiosk::new(&hq, &tmp.path().join("good"), "K00002", &url);
    bad.add_demo(5, 1);
    good.add_demo(5, 2);

    let err = bad.sync().expect_err("the panicking session fails");
    assert!(err.to_string().contains("500"), "{err}");
    // HQ still serves: the next sessions (on pooled connections) work, again and again.
    for _ in 0..3 {
        good.sync().expect("the next session is served");
    }
    assert_eq!(good.pending(), 0, "every good record acknowledged");
    let rows = all_records(&hq);
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|r| r.kiosk_id == "K00002"));
    // The panicked session's transaction was rolled back; the audit chain is whole.
    assert_audit_chain(&hq);
    let err = bad.sync().expect_err("still refused, still answered");
    assert!(err.to_string().contains("500"), "{err}");
}

fn a_session_reading_a_slow_disk_does_not_hold_up_another_kiosk(b: &Backend) {
    let tmp = tempfile::tempdir().expect("tmp");
    let hq = faulty_hq(b, &tmp.path().join("hq"));
    let url = serve(hq.clone());
    let slow = Kiosk::new(&hq, &tmp.path().join("slow"), "SLOW", &url);
    let quick = Kiosk::new(&hq, &tmp.path().join("quick"), "K00002", &url);
    slow.add_demo(5, 1);
    quick.add_demo(20, 2);
    let (slow_done, quick_done) = std::thread::scope(|s| {
        let a = s.spawn(|| {
            slow.sync().expect("slow sync");
            Instant::now()
        });
        std::thread::sleep(Duration::from_millis(500));
        let b = s.spawn(|| {
            quick.sync().expect("quick sync");
            Instant::now()
        });
        (a.join().expect("slow"), b.join().expect("quick"))
    });
    assert!(
        quick_done < slow_done,
        "the quick kiosk finished while the slow session was still reading"
    );
    assert_eq!(quick.pending(), 0);
    assert_eq!(slow.pending(), 0);
    assert_eq!(all_records(&hq).len(), 25);
    assert_audit_chain(&hq);
}

fn serve(hq: Arc<Hq>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || server::serve_shared(listener, hq));
    url
}

on_each_backend!(
    a_panic_inside_one_session_leaves_hq_serving_the_next,
    a_session_reading_a_slow_disk_does_not_hold_up_another_kiosk,
);
