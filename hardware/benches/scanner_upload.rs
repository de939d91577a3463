//! Image and template upload through the real driver from the simulator over a pty, against
//! the line-time limit: bytes exchanged (both ways) × 10 bits / baud. Target ≤ 1.05 × limit.
//!
//! Run: `cargo bench -p enroll-hardware --bench scanner_upload`. Each image upload takes
//! seconds of real line time, so samples are few; the ratio lines are printed to stderr.

use criterion::{criterion_group, criterion_main, Criterion};
use enroll_hardware::fingerprint::driver::line_time;
use enroll_hardware::fingerprint::protocol::PacketSize;
use enroll_hardware::fingerprint::sim::scenario::{Placement, Scenario};
use enroll_hardware::fingerprint::sim::Simulator;
use enroll_hardware::fingerprint::{Scanner, ScannerConfig};
use std::time::{Duration, Instant};

struct Rig {
    _sim: Simulator,
    _dir: tempfile::TempDir,
    scanner: Scanner,
}

fn rig(baud: u32, packet: PacketSize) -> Rig {
    let dir = tempfile::tempdir().expect("temp dir");
    let link = dir.path().join("ttyBENCH");
    let scenario = Scenario {
        baud,
        packet_size: packet.bytes(),
        placements: vec![Placement::good("bench/finger")],
        ..Scenario::default()
    };
    let sim = Simulator::start(scenario, Some(link.clone())).expect("simulator");
    let mut cfg = ScannerConfig::new(&link);
    cfg.baud = Some(baud);
    let mut scanner = Scanner::open(cfg).expect("open scanner");
    scanner
        .wait_finger(Duration::from_secs(5))
        .expect("finger placed");
    scanner.img2tz(1).expect("features");
    Rig {
        _sim: sim,
        _dir: dir,
        scanner,
    }
}

/// Times `op` per iteration and reports mean time against the line limit.
fn measure(c: &mut Criterion, name: &str, baud: u32, packet: PacketSize, op: fn(&mut Scanner)) {
    let mut r = rig(baud, packet);
    let (mut total, mut count, mut bytes) = (Duration::ZERO, 0u32, 0u64);
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let before = r.scanner.stats();
                let t = Instant::now();
                op(&mut r.scanner);
                spent += t.elapsed();
                let after = r.scanner.stats();
                bytes = (after.bytes_sent - before.bytes_sent)
                    + (after.bytes_received - before.bytes_received);
            }
            total += spent;
            count += iters as u32;
            spent
        })
    });
    let mean = total / count.max(1);
    let limit = line_time(bytes as usize, baud);
    eprintln!(
        "{name}: {bytes} bytes exchanged, line limit {:.3} s, mean {:.3} s, ratio {:.4}",
        limit.as_secs_f64(),
        mean.as_secs_f64(),
        mean.as_secs_f64() / limit.as_secs_f64()
    );
}

fn image(s: &mut Scanner) {
    s.up_image().expect("image upload");
}

fn template(s: &mut Scanner) {
    s.up_char(1).expect("template upload");
}

fn uploads(c: &mut Criterion) {
    for baud in [57_600, 115_200] {
        measure(
            c,
            &format!("template_upload/{baud}/128"),
            baud,
            PacketSize::B128,
            template,
        );
        measure(
            c,
            &format!("image_upload/{baud}/128"),
            baud,
            PacketSize::B128,
            image,
        );
        measure(
            c,
            &format!("image_upload/{baud}/256"),
            baud,
            PacketSize::B256,
            image,
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1));
    targets = uploads
}
criterion_main!(benches);
