//! Mode negotiation on format lists as real webcams report them.

use enroll_hardware::camera::v4l2::mode_from_nokhwa;
use enroll_hardware::camera::{negotiate, ModeRequirements, PixelFormat, VideoMode};
use nokhwa::utils::{CameraFormat, FrameFormat};

const M: PixelFormat = PixelFormat::Mjpeg;
const Y: PixelFormat = PixelFormat::Yuyv;

fn mode(w: u32, h: u32, fps: u32, f: PixelFormat) -> VideoMode {
    VideoMode::new(w, h, fps, f)
}

/// A C920-like list: YUYV everywhere but slow at high sizes, MJPEG fast up to 1080p.
fn c920() -> Vec<VideoMode> {
    let mut v = vec![];
    for &(w, h) in &[
        (640, 480),
        (800, 600),
        (1280, 720),
        (1600, 896),
        (1920, 1080),
        (2304, 1536),
    ] {
        let fps = if w * h > 1_000_000 {
            5
        } else if w >= 1280 {
            10
        } else {
            30
        };
        v.push(mode(w, h, fps, Y));
        v.push(mode(w, h, 2, Y));
    }
    for &(w, h) in &[
        (640, 480),
        (800, 600),
        (1280, 720),
        (1600, 896),
        (1920, 1080),
    ] {
        for fps in [30, 24, 20, 15, 10, 5] {
            v.push(mode(w, h, fps, M));
        }
    }
    v
}

#[test]
fn picks_mjpeg_1080p30_on_a_c920() {
    let got = negotiate(&c920(), &ModeRequirements::default()).expect("a mode");
    assert_eq!(got.mode, mode(1920, 1080, 30, M));
    assert!(got.meets_requirements);
}

#[test]
fn prefers_yuyv_at_720p_when_mjpeg_is_only_small() {
    let offered = vec![
        mode(640, 480, 30, M),
        mode(320, 240, 30, M),
        mode(1280, 720, 15, Y),
        mode(1280, 720, 7, Y),
        mode(640, 480, 30, Y),
    ];
    let got = negotiate(&offered, &ModeRequirements::default()).expect("a mode");
    assert_eq!(got.mode, mode(1280, 720, 15, Y));
    assert!(got.meets_requirements);
}

#[test]
fn slow_large_mjpeg_beats_fast_small_modes_but_is_flagged() {
    let offered = vec![
        mode(640, 480, 30, M),
        mode(1280, 720, 10, Y),
        mode(1280, 720, 8, M),
    ];
    let got = negotiate(&offered, &ModeRequirements::default()).expect("a mode");
    assert_eq!(got.mode, mode(1280, 720, 8, M));
    assert!(!got.meets_requirements);
}

#[test]
fn caps_size_at_1080p_and_takes_the_smallest_oversize_when_nothing_fits_under() {
    let offered = vec![
        mode(3840, 2160, 30, M),
        mode(1920, 1080, 30, M),
        mode(2560, 1440, 30, M),
    ];
    let got = negotiate(&offered, &ModeRequirements::default()).expect("a mode");
    assert_eq!(got.mode, mode(1920, 1080, 30, M));
    let only_big = vec![mode(3840, 2160, 30, M), mode(2560, 1440, 30, M)];
    let got = negotiate(&only_big, &ModeRequirements::default()).expect("a mode");
    assert_eq!(got.mode, mode(2560, 1440, 30, M));
}

#[test]
fn prefers_30fps_over_60fps_and_never_picks_other_formats() {
    let offered = vec![
        mode(1280, 720, 60, M),
        mode(1280, 720, 30, M),
        mode(1920, 1080, 30, PixelFormat::Other),
    ];
    let got = negotiate(&offered, &ModeRequirements::default()).expect("a mode");
    assert_eq!(got.mode, mode(1280, 720, 30, M));
    let only_fast = vec![mode(1280, 720, 120, M), mode(1280, 720, 60, M)];
    let got = negotiate(&only_fast, &ModeRequirements::default()).expect("a mode");
    assert_eq!(got.mode.fps, 60);
}

#[test]
fn small_camera_gets_its_largest_mode_flagged() {
    let offered = vec![
        mode(320, 240, 30, Y),
        mode(640, 480, 30, Y),
        mode(640, 480, 30, M),
    ];
    let got = negotiate(&offered, &ModeRequirements::default()).expect("a mode");
    assert_eq!(got.mode, mode(640, 480, 30, M));
    assert!(!got.meets_requirements);
}

#[test]
fn nothing_usable_gives_none() {
    assert_eq!(negotiate(&[], &ModeRequirements::default()), None);
    let odd = vec![mode(1920, 1080, 30, PixelFormat::Other), mode(0, 0, 30, M)];
    assert_eq!(negotiate(&odd, &ModeRequirements::default()), None);
}

#[test]
fn converts_nokhwa_formats() {
    let f = CameraFormat::new_from(1280, 720, FrameFormat::MJPEG, 30);
    assert_eq!(mode_from_nokhwa(&f), mode(1280, 720, 30, M));
    let f = CameraFormat::new_from(640, 480, FrameFormat::NV12, 15);
    assert_eq!(mode_from_nokhwa(&f).format, PixelFormat::Other);
}
