//! PIN check cost (Argon2id, the product parameters and neighbours, for choosing them) and
//! blob sealing throughput.

use chrono::Utc;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kiosk::store::{DataKey, KdfParams, Store};
use std::hint::black_box;
use std::time::Duration;

fn pin_check(c: &mut Criterion) {
    let mut g = c.benchmark_group("pin_check");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(6))
        .warm_up_time(Duration::from_secs(1));
    let candidates = [
        (
            "m32M_t2",
            KdfParams {
                m_kib: 32 * 1024,
                t_cost: 2,
                p_lanes: 1,
            },
        ),
        (
            "m64M_t1",
            KdfParams {
                m_kib: 64 * 1024,
                t_cost: 1,
                p_lanes: 1,
            },
        ),
        ("product", KdfParams::PRODUCT),
        (
            "m64M_t3",
            KdfParams {
                m_kib: 64 * 1024,
                t_cost: 3,
                p_lanes: 1,
            },
        ),
    ];
    for (name, p) in candidates {
        g.bench_function(BenchmarkId::new("argon2id", name), |b| {
            b.iter(|| p.derive(black_box("4829137465"), black_box(&[7u8; 16])))
        });
    }
    // The whole sign-in as the product does it: lockout bookkeeping, slot, audit entry.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("open");
    store
        .init_supervisor("sup", "Sup", "4829137465", Utc::now())
        .expect("init");
    g.bench_function("unlock_product", |b| {
        b.iter(|| {
            store
                .unlock("sup", black_box("4829137465"), Utc::now())
                .expect("unlock")
        })
    });
    g.finish();
}

fn blobs(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path()).expect("open");
    store.use_test_only_kdf();
    store
        .init_supervisor("sup", "Sup", "4829137465", Utc::now())
        .expect("init");
    let mut g = c.benchmark_group("blob");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for size in [100_000usize, 1_000_000] {
        let bytes: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        g.throughput(Throughput::Bytes(size as u64));
        let mut n = 0u64;
        g.bench_function(BenchmarkId::new("put_sealed", size), |b| {
            b.iter(|| {
                // A distinct blob each time so every put encrypts and writes.
                n += 1;
                let mut v = bytes.clone();
                v[..8].copy_from_slice(&n.to_le_bytes());
                store.put_blob(&v, "image/png").expect("put")
            })
        });
        let hash = store.put_blob(&bytes, "image/png").expect("put");
        g.bench_function(BenchmarkId::new("get_opened", size), |b| {
            b.iter(|| store.blob(black_box(&hash)).expect("get"))
        });
    }
    g.finish();
}

/// The cipher alone (no database): seal and open with the data key.
fn aead(c: &mut Criterion) {
    let key = DataKey::generate();
    let mut g = c.benchmark_group("aead");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let bytes = vec![0x5Au8; 1_000_000];
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("seal_1MB", |b| {
        b.iter(|| key.seal(black_box(&bytes), b"ad").expect("seal"))
    });
    let sealed = key.seal(&bytes, b"ad").expect("seal");
    g.bench_function("open_1MB", |b| {
        b.iter(|| key.open(black_box(&sealed), b"ad").expect("open"))
    });
    g.finish();
}

criterion_group!(benches, pin_check, blobs, aead);
criterion_main!(benches);
