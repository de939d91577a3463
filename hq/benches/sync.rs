//! Sync figures on loopback against a real HQ server: wall time, bytes on the wire against
//! payload bytes, round trips per session, and an idle sync. One-shot scenarios (each is
//! seconds long), so a plain bench binary rather than criterion's repeated sampling.
//!
//! `cargo bench --bench sync` (env BENCH_TEXT_RECORDS, BENCH_BIO_RECORDS scale it down).

use chrono::Utc;
use enroll_hq::{server, Hq};
use enroll_sync::record::{Attribution, Enrollment};
use kiosk::store::Store;
use kiosk::sync::{self as ksync, Provisioned};
use std::net::TcpListener;
use std::path::Path;
use std::time::Instant;
use uuid::Uuid;

fn by() -> Attribution {
    Attribution {
        person: "bench".into(),
        device: "bench".into(),
        at: Utc::now(),
    }
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn random_bytes(n: usize, seed: &mut u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (*seed >> 24) as u8
        })
        .collect()
}

fn provision(hq_dir: &Path, data: &Path, name: &str, url: &str) -> Provisioned {
    let mut store = Store::open(data).expect("store");
    let key = ksync::device_key(data).expect("key");
    let hq = Hq::open(hq_dir).expect("hq");
    let entry = hq
        .add_kiosk(name, &hex::encode(key.public()), None)
        .expect("add");
    let text = serde_json::to_string(&hq.provisioning(&entry, url)).expect("json");
    ksync::provision(&mut store, &key, &text, &by()).expect("provision")
}

/// A valid record whose photo and ten fingers point at synthetic blobs of realistic size.
fn bio_record(store: &Store, i: usize, seed: &mut u64) -> Enrollment {
    let mut r = enroll_sync::record::example(Utc::now());
    r.id = Uuid::now_v7();
    r.enrollment_no.clear();
    r.applicant.id_number = Some(format!("001058{:06}", i));
    let mut v = serde_json::to_value(&r).expect("json");
    fn walk(v: &mut serde_json::Value, store: &Store, seed: &mut u64) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    let (size, media) = match k.as_str() {
                        "sha256" => (50_000, "image/jpeg"),
                        "image_sha256" => (40_000, "image/png"),
                        "template_sha256" => (512, "application/x-r30x-template"),
                        "proof_photo_sha256" => (50_000, "image/jpeg"),
                        _ => {
                            walk(x, store, seed);
                            continue;
                        }
                    };
                    if x.is_string() {
                        let blob = random_bytes(size, seed);
                        *x = store.put_blob(&blob, media).expect("blob").into();
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|x| walk(x, store, seed)),
            _ => {}
        }
    }
    walk(&mut v, store, seed);
    serde_json::from_value(v).expect("record")
}

fn report(label: &str, r: &ksync::SyncReport, secs: f64) {
    let ratio = if r.payload > 0 {
        format!("{:.3}", r.traffic.sent as f64 / r.payload as f64)
    } else {
        "-".into()
    };
    println!(
        "{label}: {:.2} s, {} round trips, sent {} B, received {} B, payload {} B, sent/payload {ratio}, records sent {}, acknowledged {}",
        secs, r.round_trips, r.traffic.sent, r.traffic.received, r.payload, r.records_sent, r.acknowledged
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let text_n = env_count("BENCH_TEXT_RECORDS", 10_000);
    let bio_n = env_count("BENCH_BIO_RECORDS", 1_000);
    // tmpfs when there is one: the figures are about sync, not about the disk's fsync.
    let base = if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm")
    } else {
        tempfile::tempdir()
    }
    .expect("tmp");
    let hq_dir = base.path().join("hq");
    let hq = Hq::open(&hq_dir).expect("hq");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || server::serve(listener, hq));

    // 1. Text records.
    let a = base.path().join("text");
    let prov = provision(&hq_dir, &a, "text", &url);
    let key = ksync::device_key(&a).expect("key");
    let mut store = Store::open(&a).expect("store");
    let t = Instant::now();
    let mut g = kiosk::demo::DemoGenerator::new(42, Utc::now());
    for _ in 0..text_n {
        store.save(&g.record(), &by()).expect("save");
    }
    println!(
        "setup: {text_n} text records saved in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let r = ksync::sync(&mut store, &key, &prov, &url, &mut |_| {}).expect("sync");
    report(
        &format!("text x{text_n}, first sync"),
        &r,
        t.elapsed().as_secs_f64(),
    );
    let t = Instant::now();
    let r = ksync::sync(&mut store, &key, &prov, &url, &mut |_| {}).expect("sync");
    report(
        &format!("text x{text_n}, nothing changed"),
        &r,
        t.elapsed().as_secs_f64(),
    );
    let ids = store.record_ids().expect("ids");
    for id in ids.iter().take(100) {
        let id = Uuid::parse_str(id).expect("uuid");
        let mut rec = store.load(&id).expect("load").expect("present");
        rec.applicant.other_name = Some("Bench".into());
        store.save(&rec, &by()).expect("edit");
    }
    let t = Instant::now();
    let r = ksync::sync(&mut store, &key, &prov, &url, &mut |_| {}).expect("sync");
    report(
        &format!("text x{text_n}, 100 edited"),
        &r,
        t.elapsed().as_secs_f64(),
    );
    drop(store);

    // 2. Records with a photo and ten finger captures.
    let b = base.path().join("bio");
    let prov = provision(&hq_dir, &b, "bio", &url);
    let key = ksync::device_key(&b).expect("key");
    let mut store = Store::open(&b).expect("store");
    // Blobs are sealed at rest: a signed-in supervisor (cheap KDF: this is about sync).
    store.use_test_only_kdf();
    store
        .init_supervisor("sup", "Bench", "246810", Utc::now())
        .expect("supervisor");
    let t = Instant::now();
    let mut seed = 0x9E3779B97F4A7C15u64;
    for i in 0..bio_n {
        let r = bio_record(&store, i, &mut seed);
        store.save(&r, &by()).expect("save");
    }
    println!(
        "setup: {bio_n} biometric records saved in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let r = ksync::sync(&mut store, &key, &prov, &url, &mut |_| {}).expect("sync");
    report(
        &format!("photo+10 fingers x{bio_n}, first sync"),
        &r,
        t.elapsed().as_secs_f64(),
    );
    let t = Instant::now();
    let r = ksync::sync(&mut store, &key, &prov, &url, &mut |_| {}).expect("sync");
    report(
        &format!("photo+10 fingers x{bio_n}, nothing changed"),
        &r,
        t.elapsed().as_secs_f64(),
    );
}
