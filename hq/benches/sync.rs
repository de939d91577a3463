//! Sync figures on loopback against the real `enroll-hq serve` (its own process, release):
//! wall time, kiosk and HQ CPU per record, bytes on the wire against payload bytes, round
//! trips, an idle sync, HQ's peak RSS. One-shot scenarios (each is seconds long), so a plain
//! bench binary rather than criterion's repeated sampling.
//!
//! `cargo bench -p enroll-hq --bench sync` (env BENCH_TEXT_RECORDS, BENCH_BIO_RECORDS scale it;
//! BENCH_HQ_BIN runs another `enroll-hq` binary against the same kiosk side).

use chrono::Utc;
use enroll_sync::record::{Attribution, Enrollment};
use kiosk::store::Store;
use kiosk::sync::{self as ksync, Provisioned};
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
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

/// `enroll-hq` with `args` on `hq_dir`; `BENCH_HQ_BIN` runs another build of it (a
/// before/after comparison with the same kiosk side).
fn hq_cmd(hq_dir: &Path) -> Command {
    let bin =
        std::env::var_os("BENCH_HQ_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_enroll-hq").into());
    let mut c = Command::new(bin);
    c.arg("--data-dir").arg(hq_dir);
    c
}

fn provision(hq_dir: &Path, data: &Path, name: &str, url: &str) -> Provisioned {
    let mut store = Store::open(data).expect("store");
    let key = ksync::device_key(data).expect("key");
    let file = data.with_extension("prov.json");
    let out = hq_cmd(hq_dir)
        .args([
            "kiosk",
            "add",
            "--name",
            name,
            "--key",
            &hex::encode(key.public()),
        ])
        .args(["--hq-url", url, "--out"])
        .arg(&file)
        .output()
        .expect("enroll-hq kiosk add");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).expect("provisioning file");
    ksync::provision(&mut store, &key, &text, &by(), None).expect("provision")
}

/// CPU seconds (user + system) of a process, from /proc.
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime and stime are 12th and 13th.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident memory of a process in MB, from /proc.
fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A timed sync: wall, kiosk CPU and HQ CPU per record.
fn timed(label: &str, hq_pid: u32, f: impl FnOnce() -> ksync::SyncReport) -> ksync::SyncReport {
    let (k0, h0) = (cpu_secs("self"), cpu_secs(&hq_pid.to_string()));
    let t = Instant::now();
    let r = f();
    let secs = t.elapsed().as_secs_f64();
    let (k1, h1) = (cpu_secs("self"), cpu_secs(&hq_pid.to_string()));
    report(label, &r, secs);
    let n = r.records_sent.max(1) as f64;
    println!(
        "  CPU: kiosk {:.2} s ({:.3} ms/record), HQ {:.2} s ({:.3} ms/record)",
        k1 - k0,
        (k1 - k0) * 1000.0 / n,
        h1 - h0,
        (h1 - h0) * 1000.0 / n
    );
    r
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
    let mut child = hq_cmd(&hq_dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("enroll-hq serve");
    let mut line = String::new();
    std::io::BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut line)
        .expect("listening line");
    let url = line.trim().rsplit(' ').next().expect("url").to_owned();
    let hq_pid = child.id();
    let _server = Server(child);

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
    timed(&format!("text x{text_n}, first sync"), hq_pid, || {
        ksync::sync(&mut store, &key, &prov, &url, &mut |_| {}).expect("sync")
    });
    timed(&format!("text x{text_n}, nothing changed"), hq_pid, || {
        ksync::sync(&mut store, &key, &prov, &url, &mut |_| {}).expect("sync")
    });
    let ids = store.record_ids().expect("ids");
    for id in ids.iter().take(100) {
        let id = Uuid::parse_str(id).expect("uuid");
        let mut rec = store.load(&id).expect("load").expect("present");
        rec.applicant.other_name = Some("Bench".into());
        store.save(&rec, &by()).expect("edit");
    }
    timed(&format!("text x{text_n}, 100 edited"), hq_pid, || {
        ksync::sync(&mut store, &key, &prov, &url, &mut |_| {}).expect("sync")
    });
    drop(store);

    // 2. Records with a photo and ten finger captures.
    let b = base.path().join("bio");
    let prov = provision(&hq_dir, &b, "bio", &url);
    let key = ksync::device_key(&b).expect("key");
    let mut store = Store::open(&b).expect("store");
    // Blobs are sealed at rest: a signed-in supervisor (cheap KDF: this is about sync).
    store.use_test_only_kdf();
    store
        .init_supervisor("sup", "Bench", "2468101357", Utc::now())
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
    timed(
        &format!("photo+10 fingers x{bio_n}, first sync"),
        hq_pid,
        || ksync::sync(&mut store, &key, &prov, &url, &mut |_| {}).expect("sync"),
    );
    timed(
        &format!("photo+10 fingers x{bio_n}, nothing changed"),
        hq_pid,
        || ksync::sync(&mut store, &key, &prov, &url, &mut |_| {}).expect("sync"),
    );
    println!("HQ peak RSS: {:.0} MB", peak_rss_mb(hq_pid));
}
