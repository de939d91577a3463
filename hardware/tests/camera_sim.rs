//! The simulated camera, driven through the same trait and stream as a V4L2 camera.

use enroll_hardware::camera::sim::{SimCamera, SimConfig, SimSource};
use enroll_hardware::camera::{
    open_source, CameraError, CameraEvent, CameraSource, DeviceSelector, FrameStream, SourceKind,
};
use enroll_hardware::photo::{process_frame, CheckKind, PhotoConfig, PhotoOutcome, PhotoProfile};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

fn start(selector: &str) -> FrameStream {
    let sel: DeviceSelector = selector.parse().expect("selector");
    let source: Box<dyn CameraSource> = open_source(&sel, false).expect("source");
    assert_eq!(source.describe().kind, SourceKind::Simulated);
    source.start().expect("start")
}

#[test]
fn delivers_paced_frames_through_the_trait() {
    let stream = start("sim");
    assert_eq!((stream.mode().width, stream.mode().height), (1280, 720));
    let first = stream.next_frame(WAIT).expect("first frame");
    assert_eq!(first.image.dimensions(), (1280, 720));
    let t0 = Instant::now();
    let mut last = first;
    for _ in 0..10 {
        let f = stream.next_frame(WAIT).expect("frame");
        assert!(f.seq > last.seq, "sequence numbers increase");
        assert!(f.timestamp >= last.timestamp);
        last = f;
    }
    // 25 fps paced in real time: ten frames cannot arrive in much less than 0.4 s.
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "frames came too fast: {took:?}"
    );
    stream.stop();
}

#[test]
fn frames_sway_so_consecutive_pictures_differ() {
    let stream = start("sim");
    let a = stream.next_frame(WAIT).expect("frame");
    let mut b = stream.next_frame(WAIT).expect("frame");
    for _ in 0..5 {
        if b.image != a.image {
            break;
        }
        b = stream.next_frame(WAIT).expect("frame");
    }
    assert_ne!(a.image, b.image);
}

#[test]
fn scripted_device_loss_is_reported_and_recovers() {
    let stream = start("sim:ok:3,lost:5,ok");
    let mut seen = Vec::new();
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        match stream.recv_timeout(Duration::from_secs(2)) {
            Some(CameraEvent::Frame(_)) => {
                seen.push("frame");
                if seen.contains(&"reopened") {
                    break;
                }
            }
            Some(CameraEvent::DeviceLost(e)) => {
                assert!(matches!(e, CameraError::DeviceLost { .. }));
                assert!(e.message_vi().contains("Mất kết nối camera"));
                assert!(e.message_en().contains("disconnected"));
                seen.push("lost");
            }
            Some(CameraEvent::Reopened(mode)) => {
                assert_eq!(mode.width, 1280);
                seen.push("reopened");
            }
            Some(CameraEvent::Failed(e)) => panic!("stream failed: {e}"),
            None => panic!("stream went silent after {seen:?}"),
        }
    }
    seen.dedup();
    assert_eq!(seen, ["frame", "lost", "reopened", "frame"]);
    // next_frame reports the loss as an error for callers that only want pictures.
    let again = start("sim:lost:50,ok");
    assert!(matches!(
        again.next_frame(WAIT),
        Err(CameraError::DeviceLost { .. })
    ));
}

fn verdict(selector: &str) -> PhotoOutcome {
    let stream = start(selector);
    let frame = stream.next_frame(WAIT).expect("frame");
    process_frame(&frame.image, &PhotoConfig::new(PhotoProfile::CardFace)).expect("pipeline")
}

#[test]
fn a_clean_simulated_frame_is_accepted() {
    let outcome = verdict("sim");
    assert!(
        matches!(outcome, PhotoOutcome::Accepted { .. }),
        "{:#?}",
        outcome.report()
    );
}

#[test]
fn each_scripted_fault_trips_its_check() {
    for (selector, check) in [
        ("sim:dark", CheckKind::Exposure),
        ("sim:blur", CheckKind::Sharpness),
        ("sim:offcentre", CheckKind::SubjectCentred),
        ("sim:background", CheckKind::BackgroundWhite),
    ] {
        let outcome = verdict(selector);
        assert!(
            outcome.report().failed(check),
            "{selector}: {:#?}",
            outcome.report()
        );
    }
}

#[test]
fn plays_a_folder_of_pictures() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, shade) in [40u8, 200].iter().enumerate() {
        let img = image::RgbImage::from_pixel(320, 240, image::Rgb([*shade, *shade, *shade]));
        img.save(dir.path().join(format!("{i}.png"))).expect("save");
    }
    std::fs::write(dir.path().join("notes.txt"), "ignored").expect("write");
    let cam = SimCamera::new(SimConfig {
        width: 640,
        height: 480,
        fps: 30,
        source: SimSource::Folder(dir.path().to_owned()),
        ..SimConfig::default()
    });
    let stream = cam.start().expect("start");
    let a = stream.next_frame(WAIT).expect("frame");
    let b = stream.next_frame(WAIT).expect("frame");
    assert_eq!(a.image.dimensions(), (640, 480));
    let mean = |f: &enroll_hardware::camera::Frame| {
        f.image.pixels().map(|p| u64::from(p.0[0])).sum::<u64>() / (640 * 480)
    };
    // Consecutive frames come from consecutive files (frames may be dropped, so only
    // check that both pictures appear).
    let mut means = vec![mean(&a), mean(&b)];
    for _ in 0..4 {
        means.push(mean(&stream.next_frame(WAIT).expect("frame")));
    }
    assert!(
        means.iter().any(|m| *m < 60) && means.iter().any(|m| *m > 180),
        "{means:?}"
    );
}

#[test]
fn bad_simulator_settings_fail_clearly() {
    let empty = tempfile::tempdir().expect("tempdir");
    let cam = SimCamera::new(SimConfig {
        source: SimSource::Folder(empty.path().to_owned()),
        ..SimConfig::default()
    });
    match cam.start() {
        Err(CameraError::Simulator(msg)) => assert!(msg.contains("no PNG or JPEG")),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("an empty folder must not start"),
    }
    assert!(matches!(
        "sim:sparkles".parse::<DeviceSelector>(),
        Err(CameraError::Simulator(_))
    ));
    assert!(matches!(
        "webcam".parse::<DeviceSelector>(),
        Err(CameraError::BadSelector(_))
    ));
}
