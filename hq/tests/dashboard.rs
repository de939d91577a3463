//! The HQ dashboard in a real browser (Chromium headless) against the real `enroll-hq serve`:
//! sign-in and lockout, CSRF refusal, fleet colours and forecast, filters and accent-free
//! search, bulk approval with a refused record reported and the change reaching the kiosk,
//! the viewer role, province scope, CSV export, a record's page (timeline, HQ status, comments)
//! with its change reaching the kiosk, duplicate adjudication reaching both kiosks, quality and
//! sessions, and axe-core on every page.

mod backend;
mod browser;
mod common;
mod fixture;

use browser::{Browser, HqServer};
use chrono::{Duration, Utc};
use common::replace_hashes;
use enroll_hq::{Hq, KioskTelemetry, Options};
use enroll_sync::record::{DuplicateVerdict, FingerOutcome, HqState, PersonName, RecordStatus};
use enroll_sync::refdata::refdata;
use fixture::*;
use kiosk::store::Store;
use std::path::Path;
use std::sync::Arc;
use uuid::Uuid;

const PASSWORD: &str = "mật khẩu đủ dài 2026";

/// What the seeded HQ holds.
struct Seeded {
    /// The time the fleet's sync times and telemetry are counted back from.
    now: chrono::DateTime<Utc>,
    hq: Arc<Hq>,
    k1: Kiosk,
    k2: Kiosk,
    /// Province 1 (kiosk K00001): Nguyễn Văn An and Nguyễn Thị Bình (approved at the kiosk),
    /// Trần Văn Cường (captured, not yet approved by a supervisor).
    an: Uuid,
    binh: Uuid,
    cuong: Uuid,
    /// Province 2 (kiosk K00002): Lê Thị Dung (approved).
    dung: Uuid,
    p1: String,
    p2: String,
}

const PIN: &str = "2468101357";

/// The kiosk's supervisor (cheap test KDF); the store is left unlocked, so blobs can be stored.
fn supervised(k: &Kiosk) -> Store {
    let mut store = Store::open(&k.data).expect("store");
    store.use_test_only_kdf();
    store
        .init_supervisor("sup", "Trần Văn Giám", PIN, Utc::now())
        .expect("supervisor");
    store
}

/// A kiosk with biometrics syncs signed in (its blobs are readable only then).
fn sync(k: &Kiosk) -> kiosk::sync::SyncReport {
    let mut store = Store::open(&k.data).expect("store");
    let _ = store.unlock("sup", PIN, Utc::now());
    kiosk::sync::sync(&mut store, &k.key, &k.prov, &k.url, &mut |_| {}).expect("sync")
}

/// A complete record (photo, fingers, consent) of this person, saved at the kiosk.
fn person(
    store: &mut Store,
    seed: u64,
    name: (&str, &str, &str),
    province: &str,
    status: RecordStatus,
) -> Uuid {
    let mut r = enroll_sync::record::example(fixed_now());
    r.id = Uuid::now_v7();
    r.enrollment_no.clear();
    r.applicant.id_number = Some(format!("001058{:06}", 700_000 + seed));
    r.applicant.name = PersonName {
        family: name.0.into(),
        middle: name.1.into(),
        given: name.2.into(),
    };
    let commune = refdata()
        .communes_of(province)
        .next()
        .expect("a commune")
        .code
        .clone();
    for a in [
        r.applicant.permanent_residence.as_mut(),
        r.applicant.current_residence.as_mut(),
    ]
    .into_iter()
    .flatten()
    {
        a.province_code = province.into();
        a.commune_code = commune.clone();
    }
    r.review.status = status;
    r.capture.captured_at = Some(fixed_now() - Duration::hours(seed as i64));
    let sha = store
        .put_blob(&photo_jpeg(seed), "image/jpeg")
        .expect("blob");
    let mut v = serde_json::to_value(&r).expect("json");
    replace_hashes(&mut v, store, &sha);
    let mut r: enroll_sync::record::Enrollment = serde_json::from_value(v).expect("record");
    for (i, f) in r.biometrics.fingers.iter_mut().enumerate() {
        if let FingerOutcome::Captured { image_sha256, .. } = &mut f.outcome {
            *image_sha256 = store
                .put_blob(&ridges_png(seed, i), "image/png")
                .expect("blob");
        }
    }
    // An approved record is approved as a kiosk approves: by the signed-in supervisor, whose
    // own key signs the change (HQ refuses an approval without it).
    let approve = status == RecordStatus::Approved;
    if approve {
        r.review.status = RecordStatus::Captured;
    }
    store.save(&r, &by("op")).expect("save");
    if approve {
        let dir = store.path().parent().expect("data dir").to_owned();
        let key = kiosk::store::vault::device_key(&dir).expect("device key");
        let sup = kiosk::accounts::Session::new(
            "sup",
            "Trần Văn Giám",
            kiosk::accounts::Role::Supervisor,
            Utc::now(),
        );
        kiosk::review::approve(store, &key, &sup, &r.id, fixed_now()).expect("approve");
    }
    r.id
}

/// Real images, so the pages and their screenshots show what HQ staff see: an oval on a plain
/// background (the photo, JPEG) and a ridge pattern per finger (PNG).
fn photo_jpeg(seed: u64) -> Vec<u8> {
    let skin = image::Rgb([224, 180u8.wrapping_sub(seed as u8 * 9), 150]);
    let img = image::RgbImage::from_fn(120, 160, |x, y| {
        let (dx, dy) = (x as f32 - 60.0, y as f32 - 70.0);
        if (dx / 38.0).powi(2) + (dy / 50.0).powi(2) < 1.0 {
            skin
        } else {
            image::Rgb([200, 210, 225])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("jpeg");
    out.into_inner()
}

fn ridges_png(seed: u64, finger: usize) -> Vec<u8> {
    let shift = (seed + finger as u64) as f32;
    let img = image::GrayImage::from_fn(96, 96, |x, y| {
        let (dx, dy) = (x as f32 - 48.0 + shift, (y as f32 - 52.0) * 0.8);
        let r = (dx * dx + dy * dy).sqrt();
        image::Luma([if ((r / 3.0) as u32).is_multiple_of(2) {
            40
        } else {
            235
        }])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageLuma8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

/// An HQ data directory (SQLite, or `database`) with two kiosks' records synced in, a third
/// kiosk that never synced, and sync times and telemetry set relative to now for the fleet.
fn seed(dir: &Path, database: Option<String>) -> Seeded {
    let hq = Arc::new(
        Hq::open_with(Options {
            database,
            ..Options::in_dir(dir)
        })
        .expect("hq"),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let h = hq.clone();
    std::thread::spawn(move || enroll_hq::server::serve_shared(listener, h));
    let tmp = dir.join("kiosks");
    let k1 = Kiosk::new(&hq, &tmp.join("k1"), "K00001", &url);
    let k2 = Kiosk::new(&hq, &tmp.join("k2"), "K00002", &url);
    Kiosk::new(&hq, &tmp.join("k3"), "K00003", &url);
    let p1 = refdata().provinces[0].code.clone();
    let p2 = refdata().provinces[1].code.clone();
    let mut s1 = supervised(&k1);
    let an = person(
        &mut s1,
        1,
        ("Nguyễn", "Văn", "An"),
        &p1,
        RecordStatus::Approved,
    );
    let binh = person(
        &mut s1,
        2,
        ("Nguyễn", "Thị", "Bình"),
        &p1,
        RecordStatus::Approved,
    );
    let cuong = person(
        &mut s1,
        3,
        ("Trần", "Văn", "Cường"),
        &p1,
        RecordStatus::Captured,
    );
    drop(s1);
    let mut s2 = supervised(&k2);
    let dung = person(
        &mut s2,
        4,
        ("Lê", "Thị", "Dung"),
        &p2,
        RecordStatus::Approved,
    );
    drop(s2);
    for k in [&k1, &k2] {
        let report = sync(k);
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        assert!(report.acknowledged > 0, "{report:?}");
    }
    // Fleet: K00001 synced a day ago, K00002 4 days ago, K00003 8 days ago; K00003 said in its
    // last three daily hellos that it had 10, 9 and 8 GB free (1 GB a day).
    let now = Utc::now();
    let mut s = hq.session().expect("session");
    for (i, free) in [(3, 10u64), (2, 9), (1, 8)] {
        let t = KioskTelemetry {
            software_version: "0.1.0".into(),
            free_bytes: free * 1_000_000_000,
            records_waiting: 2,
            oldest_waiting_at: Some(now - Duration::hours(5)),
            last_capture_at: None,
            clock: now,
            ..KioskTelemetry::default()
        };
        s.kiosk_seen("K00003", now - Duration::days(i), &t)
            .expect("seen");
    }
    s.kiosk_synced("K00001", now - Duration::days(1))
        .expect("synced");
    s.kiosk_synced("K00002", now - Duration::days(4))
        .expect("synced");
    s.kiosk_synced("K00003", now - Duration::days(8))
        .expect("synced");
    drop(s);
    Seeded {
        now,
        hq,
        k1,
        k2,
        an,
        binh,
        cuong,
        dung,
        p1,
        p2,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The record ids in the records table, in order.
async fn row_ids(b: &Browser) -> Vec<String> {
    let v = b
        .js("return [...document.querySelectorAll('#records tbody tr')].map(r => r.dataset.id)")
        .await;
    serde_json::from_value(v).expect("ids")
}

fn hq_status(hq: &Hq, id: &Uuid) -> Option<String> {
    let mut s = hq.session().expect("session");
    s.records(&[*id]).expect("records")[0].p.hq_status.clone()
}

#[test]
fn sign_in_lockout_csrf_fleet_audit_and_axe_on_every_page() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("hq");
    let seeded = seed(&dir, None);
    let server = HqServer::start(&dir, None);
    server.add_user("admin", "admin", &[], PASSWORD);
    server.add_user("rev", "reviewer", &[], PASSWORD);
    runtime().block_on(async {
        let b = Browser::start(&server.url).await;
        // Not signed in: every page leads to the sign-in form.
        b.goto("/fleet").await;
        b.wait_for("#password").await;
        b.axe_check().await;
        b.screenshot("signin").await;

        b.sign_in("admin", PASSWORD).await;
        b.goto("/fleet").await;
        let class = |k: &str| format!("return document.querySelector('tr[data-kiosk={k}]').className");
        assert_eq!(b.js(&class("K00001")).await, "ok");
        assert_eq!(b.js(&class("K00002")).await, "amber");
        assert_eq!(b.js(&class("K00003")).await, "red");
        let k3 = b.text("tr[data-kiosk=K00003]").await;
        assert!(k3.contains("8.0 GB") && k3.contains("0.1.0"), "{k3}");
        // 8 GB left a day before `now` at 1 GB a day, the guard at 100 MiB: 6.9 days on.
        let secs = (8e9 - 104_857_600.0) / 1e9 * 86_400.0;
        let at = seeded.now - Duration::days(1) + Duration::seconds(secs as i64);
        let hour = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%d %H:").to_string();
        assert!(
            k3.contains(&hour(at)) || k3.contains(&hour(at - Duration::minutes(2))),
            "forecast {} in {k3}",
            hour(at)
        );
        b.axe_check().await;
        b.screenshot("fleet").await;

        // Revoke, after the confirmation page.
        b.click("tr[data-kiosk=K00003] a[href$='/revoke']").await;
        b.wait_for("#confirm-revoke").await;
        b.axe_check().await;
        b.click("#confirm-revoke").await;
        b.wait_for("#fleet").await;
        assert!(b.text("tr[data-kiosk=K00003]").await.contains("đã thu hồi"));

        b.goto("/records").await;
        assert_eq!(row_ids(&b).await.len(), 4);
        b.axe_check().await;
        b.screenshot("records").await;

        b.goto("/audit?action=kiosk.revoke").await;
        let audit = b.text("#audit").await;
        assert!(audit.contains("admin") && audit.contains("K00003"), "{audit}");
        b.goto("/audit").await;
        assert!(b.text("#audit").await.contains("user.sign_in"));
        b.axe_check().await;
        b.screenshot("audit").await;

        // English on request; the choice stays.
        b.click("header .who a[lang=en]").await;
        b.wait_until("English nav", |t| t.contains("Fleet") && t.contains("Audit")).await;
        b.goto("/fleet").await;
        assert!(b.text("nav").await.contains("Records"));
        b.axe_check().await;

        // A form POST without its CSRF token (or with another) is refused; with it, it works.
        let csrf = b.csrf().await;
        assert_eq!(b.post_form("/records/columns", &[("col", "kiosk")]).await, 403);
        assert_eq!(
            b.post_form("/records/columns", &[("col", "kiosk"), ("csrf", "00ff")]).await,
            403
        );
        assert_eq!(
            b.post_form("/records/columns", &[("col", "kiosk"), ("col", "full_name"), ("csrf", &csrf)]).await,
            200
        );
        // The browser's own form with its token field taken out.
        b.goto("/records").await;
        b.js("const f = document.querySelector('form[action=\"/records/columns\"]'); f.querySelector('input[name=csrf]').remove(); f.submit(); return 1")
            .await;
        b.wait_until("refusal page", |t| t.contains("CSRF")).await;
        b.goto("/records").await;
        let heads = b.text("#records thead").await;
        assert!(!heads.contains("ID number") && heads.contains("Kiosk"), "{heads}");

        b.sign_out().await;
        // Lockout: five wrong passwords lock the account; then the right one is refused too.
        for _ in 0..4 {
            b.try_sign_in("rev", "wrong password!").await;
            assert!(b.text("#signin-error").await.contains("Wrong"));
        }
        b.try_sign_in("rev", "wrong password!").await;
        assert!(b.text("#signin-error").await.contains("locked"));
        b.try_sign_in("rev", PASSWORD).await;
        assert!(b.text("#signin-error").await.contains("locked"));
        assert!(!b.exists("nav a[aria-current=page]").await);
        b.axe_check().await;
        b.close().await;
    });
}

#[test]
fn filters_accent_free_search_bulk_approve_and_export() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("hq");
    let s = seed(&dir, None);
    let server = HqServer::start(&dir, None);
    server.add_user("rev", "reviewer", &[], PASSWORD);
    runtime().block_on(async {
        let b = Browser::start(&server.url).await;
        b.sign_in("rev", PASSWORD).await;

        // Without JS: the GET form's URL. With and without diacritics, the same rows.
        b.goto("/records?q=Nguy%E1%BB%85n").await;
        let mut with = row_ids(&b).await;
        b.goto("/records?q=nguyen").await;
        let mut without = row_ids(&b).await;
        with.sort();
        without.sort();
        let mut expected = vec![s.an.to_string(), s.binh.to_string()];
        expected.sort();
        assert_eq!(with, expected);
        assert_eq!(without, expected);
        b.goto("/records?q=nguyen+binh").await;
        assert_eq!(row_ids(&b).await, vec![s.binh.to_string()]);

        // With htmx: typing swaps only the table.
        b.goto("/records").await;
        b.js("window.__marker = 1; return 1").await;
        b.fill("#q", "NGUYỄN").await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let mut ids = row_ids(&b).await;
            ids.sort();
            if ids == expected {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "htmx search: {ids:?}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(b.js("return window.__marker").await, 1, "the page was not reloaded");
        // Province → the table and the commune list follow.
        b.fill("#q", "").await;
        b.js(&format!(
            "const s = document.querySelector('#province'); s.value = '{}'; s.dispatchEvent(new Event('change', {{bubbles: true}})); return 1",
            s.p2
        ))
        .await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while row_ids(&b).await != vec![s.dung.to_string()] {
            assert!(std::time::Instant::now() < deadline, "province filter");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let first_commune = refdata().communes_of(&s.p2).next().expect("commune").code.clone();
        b.wait_for(&format!("#commune option[value='{first_commune}']")).await;
        // ID-number lookup.
        let idno = s.hq.session().expect("s").records(&[s.dung]).expect("r")[0]
            .p
            .id_number
            .clone()
            .expect("id number");
        b.goto(&format!("/records?idno={idno}")).await;
        assert_eq!(row_ids(&b).await, vec![s.dung.to_string()]);

        // Bulk approve three, one of which the kiosk's supervisor has not approved.
        b.goto(&format!("/records?province={}", s.p1)).await;
        for id in [s.an, s.binh, s.cuong] {
            b.click(&format!("tr[data-id='{id}'] input[type=checkbox]")).await;
        }
        b.click("#bulk-submit").await;
        b.wait_for("#bulk-results li").await;
        assert_eq!(b.count("#bulk-results li.done").await, 2);
        assert_eq!(b.count("#bulk-results li.failed").await, 1);
        let failed = b.text("#bulk-results li.failed").await;
        assert!(failed.contains("CƯỜNG") && failed.contains("chưa duyệt"), "{failed}");
        b.axe_check().await;
        b.screenshot("records-bulk").await;
        assert_eq!(hq_status(&s.hq, &s.an).as_deref(), Some("received"));
        assert_eq!(hq_status(&s.hq, &s.binh).as_deref(), Some("received"));
        assert_eq!(hq_status(&s.hq, &s.cuong), None);
        // The table refreshed itself with the new statuses.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !b.text(&format!("tr[data-id='{}']", s.an)).await.contains("HQ đã nhận") {
            assert!(std::time::Instant::now() < deadline, "table not refreshed");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }

        // The change travels to the owning kiosk on its next sync.
        sync(&s.k1);
        let on_kiosk = s.k1.store().load(&s.an).expect("load").expect("present");
        assert_eq!(on_kiosk.review.hq.map(|h| h.status), Some(HqState::Received));

        // CSV export of the current filter: UTF-8 with a BOM, one row per record.
        let csv = b
            .js_async(
                "fetch('/records/export.csv?q=nguyen').then(r => r.arrayBuffer()).then(a => {\
                 const u = new Uint8Array(a); done({ bom: [u[0], u[1], u[2]], text: new TextDecoder().decode(u) }); });",
            )
            .await;
        assert_eq!(csv["bom"], serde_json::json!([0xEF, 0xBB, 0xBF]));
        let text = csv["text"].as_str().expect("text");
        let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(text.contains("NGUYỄN VĂN AN") && text.contains("NGUYỄN THỊ BÌNH"), "{text}");
        b.goto("/audit?action=records.").await;
        let audit = b.text("#audit").await;
        assert!(audit.contains("records.export_csv") && audit.contains("records.bulk"), "{audit}");
        b.close().await;
    });
}

#[test]
fn viewer_cannot_act_and_province_scope_limits_rows_and_actions() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("hq");
    let s = seed(&dir, None);
    let server = HqServer::start(&dir, None);
    server.add_user("view", "viewer", &[], PASSWORD);
    server.add_user("rev1", "reviewer", &[s.p1.as_str()], PASSWORD);
    runtime().block_on(async {
        let b = Browser::start(&server.url).await;
        b.sign_in("view", PASSWORD).await;
        b.goto("/records").await;
        assert_eq!(row_ids(&b).await.len(), 4);
        assert!(!b.exists("#bulk").await && !b.exists("#records input[type=checkbox]").await);
        b.axe_check().await;
        let csrf = b.csrf().await;
        let an = s.an.to_string();
        let status = b
            .post_form("/records/bulk", &[("csrf", &csrf), ("action", "approve"), ("id", &an)])
            .await;
        assert_eq!(status, 403);
        assert_eq!(hq_status(&s.hq, &s.an), None);
        b.goto("/fleet").await;
        assert!(!b.exists("a[href$='/revoke']").await);
        b.sign_out().await;

        // A reviewer of province 1 only.
        b.sign_in("rev1", PASSWORD).await;
        b.goto("/records").await;
        let ids = row_ids(&b).await;
        assert_eq!(ids.len(), 3);
        assert!(!ids.contains(&s.dung.to_string()));
        assert!(!b.exists(&format!("#province option[value='{}']", s.p2)).await);
        // Asking for the other province by URL shows nothing either.
        b.goto(&format!("/records?province={}", s.p2)).await;
        assert!(b.exists("#no-records").await);
        let idno = s.hq.session().expect("s").records(&[s.dung]).expect("r")[0]
            .p
            .id_number
            .clone()
            .expect("id number");
        b.goto(&format!("/records?idno={idno}")).await;
        assert!(b.exists("#no-records").await);
        // Acting on it by a crafted form is refused per record, and nothing changes.
        let csrf = b.csrf().await;
        let dung = s.dung.to_string();
        let out = b
            .js_async(&format!(
                "fetch('/records/bulk', {{ method: 'POST', headers: {{ 'HX-Request': 'true' }}, body: new URLSearchParams([['csrf','{csrf}'],['action','approve'],['id','{dung}']]) }})\
                 .then(r => r.text()).then(done);"
            ))
            .await;
        let out = out.as_str().expect("text");
        assert!(out.contains("ngoài phạm vi") && !out.contains("DUNG"), "{out}");
        assert_eq!(hq_status(&s.hq, &s.dung), None);
        // Nor does the export carry it.
        let csv = b
            .js_async("fetch('/records/export.csv').then(r => r.text()).then(done);")
            .await;
        let csv = csv.as_str().expect("csv");
        assert!(!csv.contains(&dung) && csv.contains(&s.an.to_string()));
        b.close().await;
    });
}

#[test]
fn postgres_sign_in_search_and_fleet() {
    let pg = backend::Backend::postgres();
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("hq");
    let s = seed(&dir, pg.database());
    let server = HqServer::start(&dir, pg.database());
    server.add_user("admin", "admin", &[], PASSWORD);
    runtime().block_on(async {
        let b = Browser::start(&server.url).await;
        b.sign_in("admin", PASSWORD).await;
        b.goto("/records?q=nguyen").await;
        let mut ids = row_ids(&b).await;
        ids.sort();
        let mut expected = vec![s.an.to_string(), s.binh.to_string()];
        expected.sort();
        assert_eq!(ids, expected);
        b.axe_check().await;
        b.goto("/fleet").await;
        assert_eq!(b.count("#fleet tbody tr").await, 3);
        b.goto("/audit?actor=admin").await;
        assert!(b.text("#audit").await.contains("user.sign_in"));
        b.close().await;
    });
}

/// `kiosk sync` with the real binary, signed in as the kiosk's supervisor.
fn kiosk_sync(k: &Kiosk) {
    let out = std::process::Command::new(common::kiosk_bin())
        .args(["sync", "--supervisor", "sup"])
        .env("KIOSK_DATA_DIR", &k.data)
        .env("KIOSK_PIN", PIN)
        .env_remove("KIOSK_OPERATOR")
        .output()
        .expect("run kiosk sync");
    assert!(
        out.status.success(),
        "kiosk sync: {}{}",
        common::stdout(&out),
        common::stderr(&out)
    );
}

/// A GET from inside the page: (status, content type, body length).
async fn fetch(b: &Browser, path: &str) -> (u64, String, u64) {
    let v = b
        .js_async(&format!(
            "fetch({path:?}).then(r => r.arrayBuffer().then(a => done([r.status, r.headers.get('content-type') || '', a.byteLength])));"
        ))
        .await;
    (
        v[0].as_u64().expect("status"),
        v[1].as_str().unwrap_or_default().to_owned(),
        v[2].as_u64().expect("length"),
    )
}

#[test]
fn record_timeline_status_comments_duplicates_quality_and_sessions() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("hq");
    let s = seed(&dir, None);
    // A second record with An's ID number, enrolled at the other kiosk in the other province.
    let an2 = {
        let mut store = s.k2.store();
        store.unlock("sup", PIN, Utc::now()).expect("unlock");
        person(
            &mut store,
            1,
            ("Nguyễn", "Văn", "Ân"),
            &s.p2,
            RecordStatus::Approved,
        )
    };
    assert!(sync(&s.k2).rejected.is_empty());
    let idno = s.hq.session().expect("s").records(&[s.an]).expect("r")[0]
        .p
        .id_number
        .clone()
        .expect("id number");
    let server = HqServer::start(&dir, None);
    server.add_user("rev", "reviewer", &[], PASSWORD);
    server.add_user("view", "viewer", &[], PASSWORD);
    server.add_user("rev1", "reviewer", &[s.p1.as_str()], PASSWORD);
    runtime().block_on(async {
        let b = Browser::start(&server.url).await;
        b.sign_in("rev", PASSWORD).await;

        // The record from the table: fields, photo, fingers, and a timeline from its history.
        b.goto("/records?q=binh").await;
        b.click(&format!("tr[data-id='{}'] a", s.binh)).await;
        b.wait_for("#timeline").await;
        assert!(b.text("#record-heading").await.contains("NGUYỄN THỊ BÌNH"));
        assert!(b.text("#fields").await.contains("Họ"));
        assert_eq!(b.count("#fingers li img").await, 10);
        let first = b.text("#timeline li:last-child").await;
        assert!(
            first.contains("Cán bộ thu nhận") && first.contains("op"),
            "{first}"
        );
        assert!(first.contains("Chữ ký hợp lệ (K00001)"), "{first}");
        let photo = b
            .js("return document.querySelector('.photo img').getAttribute('src')")
            .await;
        let photo = photo.as_str().expect("photo src").to_owned();
        let (status, kind, len) = fetch(&b, &photo).await;
        assert_eq!((status, kind.as_str()), (200, "image/jpeg"));
        assert!(len > 4);
        // Only blobs the record refers to are served.
        let other = format!("/records/{}/image/{}", s.binh, "ab".repeat(32));
        assert_eq!(fetch(&b, &other).await.0, 404);
        b.axe_check().await;
        b.screenshot("record").await;

        // A return for recapture needs a reason; with one it is saved, shown and signed by HQ.
        b.js("document.querySelector('#state').value = 'recapture_needed'; return 1")
            .await;
        b.click("#status-submit").await;
        b.wait_for("#record-error").await;
        assert!(b.text("#record-error").await.contains("lý do"));
        b.js("document.querySelector('#state').value = 'recapture_needed'; return 1")
            .await;
        b.fill("#reason", "Ảnh mờ, chụp lại").await;
        b.click("#status-submit").await;
        b.wait_until("status saved", |t| {
            t.contains("Ảnh mờ, chụp lại") && !t.contains("cần nhập")
        })
        .await;
        assert!(b.text("#record-hq").await.contains("Ảnh mờ, chụp lại"));
        let newest = b.text("#timeline li:first-child").await;
        assert!(
            newest.contains("Người dùng HQ") && newest.contains("rev"),
            "{newest}"
        );
        assert!(
            newest.contains("Chữ ký hợp lệ (HQ)") && newest.contains("Ảnh mờ"),
            "{newest}"
        );
        b.js("document.querySelector('#timeline-h').scrollIntoView(); return 1")
            .await;
        b.screenshot("record-timeline").await;
        // A comment thread.
        b.fill(
            "#comment-body",
            "Đã gọi điện cho người dân, hẹn chụp lại thứ Hai",
        )
        .await;
        b.click("#comment-submit").await;
        b.wait_until("comment", |t| t.contains("hẹn chụp lại thứ Hai"))
            .await;
        assert!(b.text("#comment-list").await.contains("rev"));
        // The change reaches the owning kiosk on its next `kiosk sync`.
        kiosk_sync(&s.k1);
        let at_kiosk = s.k1.store().load(&s.binh).expect("load").expect("present");
        let hq = at_kiosk.review.hq.expect("HQ status at the kiosk");
        assert_eq!(hq.status, HqState::RecaptureNeeded);
        assert_eq!(hq.reason.as_deref(), Some("Ảnh mờ, chụp lại"));

        // Duplicates: the group, side by side, decided with a reason.
        b.goto("/duplicates").await;
        assert_eq!(b.count("#duplicates tbody tr").await, 1);
        b.axe_check().await;
        b.click(&format!("tr[data-idno='{idno}'] a")).await;
        b.wait_for("#sides").await;
        assert_eq!(b.count("#sides article").await, 2);
        let diff = b.text("#dup-diff").await;
        assert!(diff.contains("Ân") && diff.contains("An"), "{diff}");
        assert!(b.exists("#no-decision").await);
        b.axe_check().await;
        b.screenshot("duplicate").await;
        b.click("#verdict-different_people").await;
        b.click("#decide-submit").await;
        b.wait_for("#dup-error").await;
        b.click("#verdict-different_people").await;
        b.fill("#dup-reason", "Hai người khác nhau: năm sinh và ảnh khác")
            .await;
        b.click("#decide-submit").await;
        b.wait_for("#decision-list").await;
        assert!(b
            .text("#decision-list")
            .await
            .contains("năm sinh và ảnh khác"));
        // The decision arrives at both kiosks; neither learns the other's record id.
        kiosk_sync(&s.k1);
        kiosk_sync(&s.k2);
        for (k, id, other) in [(&s.k1, s.an, an2), (&s.k2, an2, s.an)] {
            let r = k.store().load(&id).expect("load").expect("present");
            let d = r.review.duplicate.clone().expect("decision at the kiosk");
            assert_eq!(d.verdict, DuplicateVerdict::DifferentPeople);
            assert_eq!(d.reason, "Hai người khác nhau: năm sinh và ảnh khác");
            let json = serde_json::to_string(&r).expect("json");
            assert!(!json.contains(&other.to_string()), "{} names {other}", k.id);
        }

        // Quality per kiosk and per operator, for the weeks up to the capture day.
        b.goto("/quality?to=2026-06-01").await;
        assert!(b.exists("tr[data-key=K00001]").await && b.exists("tr[data-key=K00002]").await);
        assert_eq!(b.text("tr[data-key=K00001] td").await, "3");
        assert_eq!(b.text("tr[data-key=K00002] td").await, "2");
        assert!(b.exists("#quality-chart svg polyline").await);
        b.axe_check().await;
        b.screenshot("quality").await;
        b.goto("/quality?by=operator&to=2026-06-01").await;
        // The operator the records name (the example record's), across both kiosks.
        assert_eq!(b.text("tr[data-key=op-1] td").await, "5");
        b.goto("/quality?to=2025-01-06").await;
        assert!(b.exists("#no-quality").await);

        // Sessions: every sync above, with its signed receipt.
        b.goto("/sessions?kiosk=K00002").await;
        assert!(b.count("#sessions tbody tr").await >= 3);
        let link = b
            .js("return document.querySelector('#sessions a[download]').getAttribute('href')")
            .await;
        let link = link.as_str().expect("receipt link").to_owned();
        let (status, kind, len) = fetch(&b, &link).await;
        assert_eq!((status, kind.as_str()), (200, "application/octet-stream"));
        assert!(len > 64, "{len}");
        b.axe_check().await;
        b.screenshot("sessions").await;

        // On a tablet held upright nothing runs off the side of the page (wide tables scroll
        // inside their own box).
        b.client.set_window_size(820, 1180).await.expect("tablet size");
        for path in [
            "/fleet".to_owned(),
            "/records".to_owned(),
            format!("/records/{}", s.binh),
            format!("/duplicates/{idno}"),
            "/quality?to=2026-06-01".to_owned(),
            "/sessions".to_owned(),
            "/audit".to_owned(),
        ] {
            b.goto(&path).await;
            let overflow = b
                .js("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
                .await;
            assert_eq!(overflow.as_i64(), Some(0), "{path} is wider than a tablet");
        }
        b.goto(&format!("/records/{}", s.binh)).await;
        b.screenshot("record-tablet").await;
        b.client.set_window_size(1366, 768).await.expect("laptop size");
        b.sign_out().await;

        // A viewer reads the record but cannot act on it.
        b.sign_in("view", PASSWORD).await;
        b.goto(&format!("/records/{}", s.binh)).await;
        assert!(b.exists("#timeline").await);
        assert!(!b.exists("#status-form").await && !b.exists("#comment-form").await);
        let csrf = b.csrf().await;
        let path = format!("/records/{}/status", s.binh);
        let refused = b
            .post_form(
                &path,
                &[("csrf", &csrf), ("state", "rejected"), ("reason", "x")],
            )
            .await;
        assert_eq!(refused, 403);
        b.sign_out().await;

        // A reviewer of province 1 sees half the group and nothing of the other record.
        b.sign_in("rev1", PASSWORD).await;
        b.goto(&format!("/duplicates/{idno}")).await;
        assert_eq!(b.count("#sides article").await, 1);
        assert!(!b.text("main").await.contains("ÂN"));
        b.goto(&format!("/records/{an2}")).await;
        assert!(b.text("main").await.contains("Không tìm thấy"));
        assert_eq!(fetch(&b, &format!("/records/{an2}")).await.0, 404);
        b.close().await;
    });
}
