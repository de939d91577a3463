//! Store speed on real SQLite files: save one record with its document, search 100,000
//! records by name, open a 100,000-record database and show the first page.
//! The 100,000-record database is built once under target/bench-data and reused.

use chrono::Utc;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use enroll_sync::record::Attribution;
use kiosk::demo::DemoGenerator;
use kiosk::store::{ListQuery, Store};
use std::path::PathBuf;
use std::time::Duration;

const LARGE: usize = 100_000;

fn by() -> Attribution {
    Attribution {
        person: "bench".into(),
        device: "BENCH".into(),
        at: Utc::now(),
    }
}

/// A data dir holding `LARGE` demo records (built on first use).
fn large_store_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("store-100k");
    let ready = dir.join("READY");
    if !ready.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        let mut store = Store::open(&dir).expect("open");
        let mut g = DemoGenerator::new(1, Utc::now());
        for _ in 0..LARGE / 1000 {
            let batch: Vec<_> = (0..1000).map(|_| g.record()).collect();
            store.save_batch(&batch, &by()).expect("save batch");
        }
        std::fs::write(&ready, b"").expect("mark ready");
    }
    dir
}

fn save_one(c: &mut Criterion) {
    // On disk every commit waits for fsync (synchronous=FULL); on tmpfs the same code shows
    // the CPU cost alone, so the two together say where the time goes.
    let disk = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let shm = std::path::Path::new("/dev/shm");
    let tmpfs = shm
        .is_dir()
        .then(|| tempfile::tempdir_in(shm).expect("tmpfs dir"));
    let places = [
        ("disk", Some(disk.path())),
        ("tmpfs", tmpfs.as_ref().map(|d| d.path())),
    ];
    for (place, dir) in places {
        let Some(dir) = dir else { continue };
        let mut store = Store::open(dir).expect("open");
        let mut g = DemoGenerator::new(2, Utc::now());
        c.bench_function(&format!("save one record, new ({place})"), |b| {
            b.iter_batched(
                || g.record(),
                |r| store.save(&r, &by()).expect("save"),
                BatchSize::SmallInput,
            )
        });
        // Edit a pool round-robin so each document keeps a realistic history (a few dozen
        // changes), not thousands of edits to one record.
        let mut pool: Vec<_> = (0..500).map(|_| g.record()).collect();
        store.save_batch(&pool, &by()).expect("save pool");
        let mut n = 0usize;
        c.bench_function(&format!("save one record, field edit ({place})"), |b| {
            b.iter(|| {
                n += 1;
                let record = &mut pool[n % 500];
                record.contact.phone = Some(format!("09{n:08}"));
                store.save(record, &by()).expect("save")
            })
        });
    }
}

fn search_large(c: &mut Criterion) {
    let dir = large_store_dir();
    let store = Store::open(&dir).expect("open");
    let mut group = c.benchmark_group("search 100k");
    for query in ["nguyen van hoa", "dang thi", "tran duc thang", "le"] {
        group.bench_function(query, |b| {
            b.iter(|| {
                store
                    .list(&ListQuery {
                        search: Some(query.into()),
                        limit: 50,
                        ..ListQuery::default()
                    })
                    .expect("search")
            })
        });
    }
    group.finish();
}

fn open_first_page(c: &mut Criterion) {
    let dir = large_store_dir();
    c.bench_function("open 100k database + first page", |b| {
        b.iter(|| {
            let store = Store::open(&dir).expect("open");
            store
                .list(&ListQuery {
                    limit: 50,
                    ..ListQuery::default()
                })
                .expect("page")
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = save_one, search_large, open_first_page
}
criterion_main!(benches);
