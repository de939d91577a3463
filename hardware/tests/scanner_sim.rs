//! The real driver against the simulator over real pseudo-terminals.

mod common;

use common::*;
use enroll_hardware::fingerprint::capture::{capture_finger, CaptureFlag, RetryReason};
use enroll_hardware::fingerprint::protocol::{ConfirmationCode, PacketSize, SysParam};
use enroll_hardware::fingerprint::quality::assess;
use enroll_hardware::fingerprint::sim::scenario::{FaultKind, Scenario};
use enroll_hardware::fingerprint::synth::ImageCondition;
use enroll_hardware::fingerprint::{
    enroll, CaptureEvent, CapturePolicy, ExceptionReason, Finger, FingerException, FingerOutcome,
    FingerPlan, ScannerError,
};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn fast_policy() -> CapturePolicy {
    CapturePolicy {
        placement_deadline: Duration::from_secs(5),
        lift_deadline: Duration::from_secs(5),
        ..CapturePolicy::standard()
    }
}

#[test]
fn full_ten_finger_enrollment_with_one_declared_exception() {
    let placements = Finger::ORDER
        .iter()
        .filter(|f| **f != Finger::LeftRing)
        .map(|f| good(&format!("applicant-1/{f}")))
        .collect();
    let rig = Rig::start(scenario(FAST, placements));
    let mut scanner = rig.open(Some(FAST));
    let mut events = Vec::new();
    let enrollment = enroll(
        &mut scanner,
        &fast_policy(),
        &mut |f| {
            if f == Finger::LeftRing {
                FingerPlan::Exception(FingerException {
                    reason: ExceptionReason::Bandaged,
                    permanent: false,
                    note: "cut, bandaged this week".into(),
                    automatic: false,
                })
            } else {
                FingerPlan::Capture
            }
        },
        &mut |e| events.push(e.clone()),
    )
    .unwrap();

    assert_eq!(enrollment.fingers.len(), 10);
    let order: Vec<Finger> = enrollment.fingers.iter().map(|o| o.finger()).collect();
    assert_eq!(order, Finger::ORDER);
    let mut hashes = HashSet::new();
    for outcome in &enrollment.fingers {
        match outcome {
            FingerOutcome::Captured(c) => {
                assert!(!c.force_captured, "{}: {:?}", c.finger, c.quality);
                assert!(c.quality.score >= c.threshold);
                assert_eq!(c.attempts, 1);
                assert_eq!(c.template.len, 512);
                let png = image::load_from_memory(&c.image_png.bytes).unwrap();
                assert_eq!((png.width(), png.height()), (256, 288));
                assert_eq!(png.color(), image::ColorType::L8);
                assert!(hashes.insert(c.image_png.sha256.clone()));
                assert!(hashes.insert(c.template.sha256.clone()));
                assert_eq!(c.image_png.sha256.len(), 64);
            }
            FingerOutcome::Exception { finger, exception } => {
                assert_eq!(*finger, Finger::LeftRing);
                assert_eq!(exception.reason, ExceptionReason::Bandaged);
                assert!(!exception.automatic);
            }
        }
    }
    let placing: Vec<Finger> = events
        .iter()
        .filter_map(|e| match e {
            CaptureEvent::Placing { finger, .. } => Some(*finger),
            _ => None,
        })
        .collect();
    assert_eq!(placing.len(), 9);
    assert!(events
        .iter()
        .any(|e| matches!(e, CaptureEvent::LiftFinger { .. })));
}

#[test]
fn same_finger_placed_twice_is_caught() {
    let rig = Rig::start(scenario(
        FAST,
        vec![good("a/thumb"), good("a/thumb"), good("a/index")],
    ));
    let mut scanner = rig.open(Some(FAST));
    let policy = fast_policy();
    let mut events = Vec::new();
    let mut ev = |e: &CaptureEvent| events.push(e.clone());
    let first = capture_finger(&mut scanner, Finger::RightThumb, &policy, &[], &mut ev).unwrap();
    let FingerOutcome::Captured(thumb) = first else {
        panic!("thumb not captured")
    };
    let taken = vec![(Finger::RightThumb, thumb.template.bytes.clone())];
    let second =
        capture_finger(&mut scanner, Finger::RightIndex, &policy, &taken, &mut ev).unwrap();
    let FingerOutcome::Captured(index) = second else {
        panic!("index not captured")
    };
    assert_eq!(index.attempts, 2);
    assert!(matches!(
        index.flags.as_slice(),
        [CaptureFlag::DuplicateRejected {
            of: Finger::RightThumb,
            ..
        }]
    ));
    assert!(events.iter().any(|e| matches!(
        e,
        CaptureEvent::Retry {
            reason: RetryReason::Duplicate {
                of: Finger::RightThumb
            },
            ..
        }
    )));
}

#[test]
fn quality_orders_the_simulators_degraded_images() {
    let conds = [
        ImageCondition::Good,
        ImageCondition::Smudged,
        ImageCondition::Partial,
        ImageCondition::LowContrast,
        ImageCondition::Blank,
    ];
    let rig = Rig::start(scenario(
        FAST,
        conds.iter().map(|c| poor("q/finger", *c)).collect(),
    ));
    let mut scanner = rig.open(Some(FAST));
    let mut scores = Vec::new();
    for _ in conds {
        scanner.wait_finger(Duration::from_secs(2)).unwrap();
        scores.push(assess(&scanner.up_image().unwrap()).score);
        scanner.wait_lift(Duration::from_secs(2)).unwrap();
    }
    let (good, degraded, blank) = (scores[0], &scores[1..4], scores[4]);
    for d in degraded {
        assert!(good > *d && *d > blank, "scores {scores:?}");
    }
    assert_eq!(blank, 0);
}

#[test]
fn poor_attempts_are_retried_and_the_best_kept() {
    let rig = Rig::start(scenario(
        FAST,
        vec![
            poor("b/thumb", ImageCondition::Partial),
            poor("b/thumb", ImageCondition::Smudged),
            good("b/thumb"),
            poor("b/index", ImageCondition::LowContrast),
            poor("b/index", ImageCondition::Blank),
            poor("b/index", ImageCondition::LowContrast),
        ],
    ));
    let mut scanner = rig.open(Some(FAST));
    let policy = fast_policy();
    let mut events = Vec::new();
    let mut ev = |e: &CaptureEvent| events.push(e.clone());
    let FingerOutcome::Captured(c) =
        capture_finger(&mut scanner, Finger::RightThumb, &policy, &[], &mut ev).unwrap()
    else {
        panic!("thumb not captured")
    };
    assert_eq!(c.attempts, 3);
    assert!(!c.force_captured && c.quality.score >= c.threshold);

    // Three poor placements: never silently empty — force-captured or an explicit exception.
    let outcome = capture_finger(&mut scanner, Finger::RightIndex, &policy, &[], &mut ev).unwrap();
    match outcome {
        FingerOutcome::Captured(c) => {
            assert!(c.force_captured);
            assert!(c.flags.contains(&CaptureFlag::ForceCaptured));
            assert_eq!(c.attempts, 3);
        }
        FingerOutcome::Exception { exception, .. } => {
            assert!(exception.automatic);
            assert_eq!(exception.reason, ExceptionReason::Unreadable);
            assert!(!exception.note.is_empty());
        }
    }
    let retries = events
        .iter()
        .filter(|e| matches!(e, CaptureEvent::Retry { .. }))
        .count();
    assert_eq!(retries, 4);
}

#[test]
fn force_captured_when_no_attempt_reaches_the_threshold() {
    let rig = Rig::start(scenario(FAST, vec![good("c/thumb")]));
    let mut scanner = rig.open(Some(FAST));
    let mut policy = fast_policy();
    policy.thresholds = [101; 10];
    policy.attempts = 1;
    let FingerOutcome::Captured(c) =
        capture_finger(&mut scanner, Finger::RightThumb, &policy, &[], &mut |_| {}).unwrap()
    else {
        panic!("not captured")
    };
    assert!(c.force_captured);
}

#[test]
fn no_finger_for_several_polls_then_a_finger() {
    let mut p = good("d/thumb");
    p.no_finger_polls = 8;
    let rig = Rig::start(scenario(FAST, vec![p]));
    let mut scanner = rig.open(Some(FAST));
    let before = rig.sim.stats().commands.load(Ordering::Relaxed);
    scanner.wait_finger(Duration::from_secs(3)).unwrap();
    let gen_imgs = rig.sim.stats().commands.load(Ordering::Relaxed) - before;
    assert_eq!(gen_imgs, 9);
    // Placements exhausted: the deadline passes with no finger.
    scanner.wait_lift(Duration::from_secs(1)).unwrap();
    assert!(matches!(
        scanner.wait_finger(Duration::from_millis(300)),
        Err(ScannerError::NoFinger)
    ));
}

#[test]
fn stray_bytes_are_skipped() {
    let mut s = scenario(FAST, vec![good("e/thumb")]);
    s.faults = vec![
        fault(
            "TemplateNum",
            1,
            FaultKind::StrayBytes {
                bytes: vec![0x55, 0xEF, 0x00, 0xEF],
            },
        ),
        fault(
            "UpImage",
            1,
            FaultKind::StrayBytes {
                bytes: vec![0xEF, 0x01, 0xFF, 0x13],
            },
        ),
    ];
    let rig = Rig::start(s);
    let mut scanner = rig.open(Some(FAST));
    assert_eq!(scanner.template_count().unwrap(), 0);
    scanner.wait_finger(Duration::from_secs(2)).unwrap();
    let img = scanner.up_image().unwrap();
    assert_eq!(img.pixels.len(), 256 * 288);
    assert!(scanner.stats().stray_bytes >= 8, "{:?}", scanner.stats());
}

#[test]
fn bad_checksums_are_retried() {
    let mut s = scenario(FAST, vec![good("f/thumb")]);
    s.faults = vec![
        fault("TemplateNum", 1, FaultKind::BadChecksum { packet: 0 }),
        fault("UpImage", 1, FaultKind::BadChecksum { packet: 7 }),
    ];
    let rig = Rig::start(s);
    let mut scanner = rig.open(Some(FAST));
    assert_eq!(scanner.template_count().unwrap(), 0);
    scanner.wait_finger(Duration::from_secs(2)).unwrap();
    let img = scanner.up_image().unwrap();
    assert!(assess(&img).score > 50);
    // Command count shows the retries: TemplateNum twice, UpImage twice.
    let sent = rig.sim.stats().commands.load(Ordering::Relaxed);
    assert!(sent >= 7, "{sent}");
}

#[test]
fn silence_times_out_then_the_retry_succeeds() {
    let mut s = scenario(FAST, vec![]);
    s.faults = vec![fault("TemplateNum", 1, FaultKind::Silence)];
    let rig = Rig::start(s);
    let mut scanner = rig.open(Some(FAST));
    let t = Instant::now();
    assert_eq!(scanner.template_count().unwrap(), 0);
    assert!(t.elapsed() >= Duration::from_millis(400));

    // Silent every time: the caller gets a timeout, not a hang.
    let mut s = scenario(FAST, vec![]);
    s.faults = (1..=3)
        .map(|n| fault("TemplateNum", n, FaultKind::Silence))
        .collect();
    let rig = Rig::start(s);
    let mut scanner = rig.open(Some(FAST));
    assert!(matches!(
        scanner.template_count(),
        Err(ScannerError::Timeout(_))
    ));
}

#[test]
fn unplug_and_replug_mid_capture() {
    let mut s = scenario(FAST, vec![good("g/thumb"), good("g/thumb")]);
    s.faults = vec![fault(
        "Img2Tz",
        1,
        FaultKind::Disconnect {
            replug_after_ms: 400,
        },
    )];
    let rig = Rig::start(s);
    let mut scanner = rig.open(Some(FAST));
    let mut events = Vec::new();
    let outcome = capture_finger(
        &mut scanner,
        Finger::RightThumb,
        &fast_policy(),
        &[],
        &mut |e| events.push(e.clone()),
    )
    .unwrap();
    let FingerOutcome::Captured(c) = outcome else {
        panic!("not captured: {events:?}")
    };
    assert!(c.flags.contains(&CaptureFlag::Reconnected));
    assert_eq!(c.attempts, 1);
    assert!(events.contains(&CaptureEvent::Reconnected {
        finger: Finger::RightThumb
    }));
    assert_eq!(rig.sim.stats().power_ups.load(Ordering::Relaxed), 2);
}

#[test]
fn unplugged_scanner_reports_disconnect_and_reconnects() {
    let mut s = scenario(FAST, vec![]);
    s.faults = vec![fault(
        "TemplateNum",
        1,
        FaultKind::Disconnect {
            replug_after_ms: 300,
        },
    )];
    let rig = Rig::start(s);
    let mut scanner = rig.open(Some(FAST));
    let err = scanner.template_count().unwrap_err();
    assert!(
        matches!(
            err,
            ScannerError::Disconnected(_) | ScannerError::Timeout(_)
        ),
        "{err:?}"
    );
    assert!(!err.message_vi().is_empty());
    scanner.reconnect().unwrap();
    assert_eq!(scanner.template_count().unwrap(), 0);
}

#[test]
fn baud_probe_and_baud_change_at_next_power_up() {
    let mut s = scenario(19200, vec![]);
    s.faults = vec![fault(
        "TemplateNum",
        1,
        FaultKind::Disconnect {
            replug_after_ms: 200,
        },
    )];
    let rig = Rig::start(s);
    let mut scanner = rig.open(None);
    assert_eq!(scanner.baud(), 19200);
    scanner.set_sys_para(SysParam::BaudMultiplier(12)).unwrap();
    // Stored, not yet in force: the module still talks at 19200.
    assert_eq!(scanner.params().unwrap().baud_multiplier, 12);
    assert!(scanner.read_sys_para().is_ok());
    assert!(scanner.template_count().is_err());
    scanner.reconnect().unwrap();
    assert_eq!(scanner.baud(), 115_200);
    assert!(rig.sim.stats().bytes_garbled.load(Ordering::Relaxed) > 0);
}

#[test]
fn cancel_stops_waiting_for_a_finger() {
    let mut p = good("h/thumb");
    p.no_finger_polls = 100_000;
    let rig = Rig::start(scenario(FAST, vec![p]));
    let mut scanner = rig.open(Some(FAST));
    let cancel = scanner.cancel_token();
    let t = Instant::now();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        cancel.cancel();
    });
    let r = scanner.wait_finger(Duration::from_secs(30));
    canceller.join().unwrap();
    assert!(matches!(r, Err(ScannerError::Cancelled)));
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn flash_library_store_search_load_delete() {
    let rig = Rig::start(scenario(
        FAST,
        vec![
            good("i/thumb"),
            good("i/index"),
            good("i/thumb"),
            good("j/other"),
        ],
    ));
    let mut scanner = rig.open(Some(FAST));
    let d = Duration::from_secs(2);
    for page in [4u16, 9] {
        scanner.wait_finger(d).unwrap();
        scanner.img2tz(1).unwrap();
        scanner.store(1, page).unwrap();
        scanner.wait_lift(d).unwrap();
    }
    assert_eq!(scanner.template_count().unwrap(), 2);
    // A re-scan of the thumb finds page 4; a stranger's finger finds nothing.
    scanner.wait_finger(d).unwrap();
    scanner.img2tz(1).unwrap();
    let (page, score) = scanner.search(1, 0, 1000).unwrap().unwrap();
    assert_eq!(page, 4);
    assert!(score >= 100, "{score}");
    // LoadChar + Match, UpChar/DownChar round trip.
    scanner.load_char(2, 4).unwrap();
    assert!(scanner.match_buffers().unwrap().0);
    let t = scanner.up_char(2).unwrap();
    scanner.down_char(2, &t).unwrap();
    assert!(scanner.match_buffers().unwrap().0);
    scanner.load_char(2, 9).unwrap();
    assert!(!scanner.match_buffers().unwrap().0);
    scanner.wait_lift(d).unwrap();
    scanner.wait_finger(d).unwrap();
    scanner.img2tz(1).unwrap();
    assert_eq!(scanner.search(1, 0, 1000).unwrap(), None);

    assert_eq!(
        scanner.load_char(1, 5).unwrap_err().code(),
        Some(ConfirmationCode::TemplateReadError)
    );
    assert_eq!(
        scanner.store(1, 5000).unwrap_err().code(),
        Some(ConfirmationCode::PageOutOfRange)
    );
    scanner.delete_char(4, 1).unwrap();
    assert_eq!(scanner.template_count().unwrap(), 1);
    scanner.empty().unwrap();
    assert_eq!(scanner.template_count().unwrap(), 0);
}

#[test]
fn parameters_packet_size_and_prod_info() {
    let mut s: Scenario = scenario(FAST, vec![good("k/thumb")]);
    s.prod_info = false;
    s.packet_size = 32;
    let rig = Rig::start(s);
    let mut scanner = rig.open(Some(FAST));
    assert!(scanner.prod_info().is_none());
    assert_eq!(scanner.image_size(), (256, 288));
    assert_eq!(scanner.packet_bytes(), 32);
    scanner.set_packet_size(PacketSize::B256).unwrap();
    assert_eq!(scanner.packet_bytes(), 256);
    scanner.set_sys_para(SysParam::SecurityLevel(5)).unwrap();
    let info = scanner.info().unwrap();
    assert_eq!(info.params.security_level, 5);
    assert_eq!(info.params.library_capacity, 1000);
    scanner.aura_led(1, 0x50, 6, 0).unwrap();
    // DownImage then UpImage returns the same pixels (4-bit).
    scanner.wait_finger(Duration::from_secs(2)).unwrap();
    let img = scanner.up_image().unwrap();
    scanner.down_image(&img).unwrap();
    assert_eq!(scanner.up_image().unwrap(), img);
}

#[test]
fn wrong_password_is_a_clear_error() {
    let mut s = scenario(FAST, vec![]);
    s.password = 0x1234;
    let rig = Rig::start(s);
    let err = match enroll_hardware::fingerprint::Scanner::open(rig.config(Some(FAST))) {
        Err(e) => e,
        Ok(_) => panic!("opened with a wrong password"),
    };
    assert_eq!(err.code(), Some(ConfirmationCode::WrongPassword));
    assert_eq!(err.message_vi(), "sai mật khẩu máy quét");
    let mut cfg = rig.config(Some(FAST));
    cfg.password = 0x1234;
    assert!(enroll_hardware::fingerprint::Scanner::open(cfg).is_ok());
}

#[test]
fn cancel_mid_upload_then_the_next_command_works() {
    let rig = Rig::start(scenario(115_200, vec![good("l/thumb")]));
    let mut scanner = rig.open(Some(115_200));
    scanner.wait_finger(Duration::from_secs(2)).unwrap();
    let cancel = scanner.cancel_token();
    let c2 = cancel.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(400));
        c2.cancel();
    });
    assert!(matches!(scanner.up_image(), Err(ScannerError::Cancelled)));
    canceller.join().unwrap();
    cancel.reset();
    assert_eq!(scanner.template_count().unwrap(), 0);
}
