//! Process start to an interactive lock screen: spawns the real `kiosk` binary with the
//! display-less software-rendering platform and times until it has rendered the lock screen
//! (1280×800) and exits. Budget: ≤ 300 ms on the kiosk's class of machine.

use std::process::{Command, Stdio};

use criterion::{criterion_group, criterion_main, Criterion};

fn startup(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = env!("CARGO_BIN_EXE_kiosk");
    let run = || {
        let out = Command::new(bin)
            .arg("--data-dir")
            .arg(dir.path())
            .env("KIOSK_HEADLESS", "1")
            .env("KIOSK_EXIT_AFTER_FIRST_FRAME", "1")
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .expect("run kiosk");
        assert!(out.status.success(), "kiosk failed: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "first frame");
    };
    // First start creates the database; time the ordinary restarts after it.
    run();
    let mut g = c.benchmark_group("startup");
    g.sample_size(20);
    g.bench_function("process start to rendered lock screen", |b| b.iter(run));
    g.finish();
}

criterion_group!(benches, startup);
criterion_main!(benches);
