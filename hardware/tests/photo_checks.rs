//! Each quality check flags a generated picture with its defect and passes a good one.

use enroll_hardware::camera::scene::{render, Backdrop, SceneSpec};
use enroll_hardware::photo::{
    assess, crop_to_guide, preview, process_frame, CheckKind, Guide, PhotoConfig, PhotoError,
    PhotoOutcome, PhotoProfile, PhotoReport, Thresholds,
};
use image::RgbImage;

fn report(spec: SceneSpec, profile: PhotoProfile) -> PhotoReport {
    let frame = render(&spec);
    let photo = crop_to_guide(&frame, &Guide::centred(), profile).expect("crop");
    assess(&photo, profile, &Thresholds::default())
}

fn card(spec: SceneSpec) -> PhotoReport {
    report(spec, PhotoProfile::CardFace)
}

fn good() -> SceneSpec {
    SceneSpec::good(1280, 720)
}

fn failed(r: &PhotoReport) -> Vec<CheckKind> {
    r.failures().map(|c| c.check).collect()
}

#[test]
fn a_good_photo_passes_every_check_at_two_frame_sizes() {
    for (w, h) in [(1280, 720), (1920, 1080)] {
        let r = card(SceneSpec::good(w, h));
        assert!(r.accepted, "{w}x{h}: {r:#?}");
        assert_eq!(r.checks.len(), 6);
        for c in &r.checks {
            assert!(!c.message_vi.is_empty() && !c.message_en.is_empty());
        }
    }
}

#[test]
fn dark_photo_fails_exposure() {
    let r = card(SceneSpec {
        gain: 0.25,
        ..good()
    });
    assert!(r.failed(CheckKind::Exposure), "{r:#?}");
    let c = r
        .failures()
        .find(|c| c.check == CheckKind::Exposure)
        .expect("exposure");
    assert!(c.message_vi.contains("quá tối") && c.message_en.contains("too dark"));
    assert!(
        !r.failed(CheckKind::Sharpness),
        "a dim photo is not a blurred one: {r:#?}"
    );
}

#[test]
fn blown_out_photo_fails_exposure() {
    let r = card(SceneSpec {
        gain: 1.6,
        ..good()
    });
    let c = r
        .failures()
        .find(|c| c.check == CheckKind::Exposure)
        .unwrap_or_else(|| panic!("{r:#?}"));
    assert!(c.message_en.contains("too bright"));
}

#[test]
fn hazy_photo_fails_contrast() {
    let r = card(SceneSpec {
        haze: 0.65,
        ..good()
    });
    assert!(r.failed(CheckKind::Contrast), "{r:#?}");
    assert!(!r.failed(CheckKind::Exposure), "{r:#?}");
}

#[test]
fn blurred_photo_fails_sharpness_even_mildly() {
    for radius in [3, 8] {
        let r = card(SceneSpec {
            blur_radius: radius,
            ..good()
        });
        assert_eq!(
            failed(&r),
            [CheckKind::Sharpness],
            "radius {radius}: {r:#?}"
        );
    }
}

#[test]
fn coloured_background_fails_whiteness() {
    let r = card(SceneSpec {
        backdrop: Backdrop::Coloured([120, 150, 185]),
        ..good()
    });
    assert!(r.failed(CheckKind::BackgroundWhite), "{r:#?}");
    assert!(!r.failed(CheckKind::SubjectCentred), "{r:#?}");
    // A grey wall: colourless but too dark to count as white.
    let r = card(SceneSpec {
        backdrop: Backdrop::Coloured([150, 150, 150]),
        ..good()
    });
    assert!(r.failed(CheckKind::BackgroundWhite), "{r:#?}");
}

#[test]
fn cluttered_background_fails_uniformity() {
    let r = card(SceneSpec {
        backdrop: Backdrop::Cluttered,
        ..good()
    });
    assert!(r.failed(CheckKind::BackgroundUniform), "{r:#?}");
}

#[test]
fn off_centre_subject_fails_centring_with_the_direction() {
    let r = card(SceneSpec {
        subject_dx: 0.08,
        ..good()
    });
    let c = r
        .failures()
        .find(|c| c.check == CheckKind::SubjectCentred)
        .unwrap_or_else(|| panic!("{r:#?}"));
    assert!(c.message_en.contains("right"), "{c:?}");
    let r = card(SceneSpec {
        subject_dx: -0.08,
        ..good()
    });
    let c = r
        .failures()
        .find(|c| c.check == CheckKind::SubjectCentred)
        .unwrap_or_else(|| panic!("{r:#?}"));
    assert!(c.message_en.contains("left"), "{c:?}");
    // Slightly off is fine.
    assert!(
        card(SceneSpec {
            subject_dx: 0.015,
            ..good()
        })
        .accepted
    );
}

#[test]
fn subject_too_low_or_missing_fails_centring() {
    let r = card(SceneSpec {
        subject_dy: 0.2,
        ..good()
    });
    let c = r
        .failures()
        .find(|c| c.check == CheckKind::SubjectCentred)
        .unwrap_or_else(|| panic!("{r:#?}"));
    assert!(c.message_en.contains("too low"), "{c:?}");
    let r = card(SceneSpec {
        subject_dy: -0.1,
        ..good()
    });
    let c = r
        .failures()
        .find(|c| c.check == CheckKind::SubjectCentred)
        .unwrap_or_else(|| panic!("{r:#?}"));
    assert!(c.message_en.contains("cut off"), "{c:?}");
    let empty = RgbImage::from_pixel(1280, 720, image::Rgb([245, 245, 243]));
    let photo = crop_to_guide(&empty, &Guide::centred(), PhotoProfile::CardFace).expect("crop");
    let r = assess(&photo, PhotoProfile::CardFace, &Thresholds::default());
    let c = r
        .failures()
        .find(|c| c.check == CheckKind::SubjectCentred)
        .unwrap_or_else(|| panic!("{r:#?}"));
    assert!(c.message_en.contains("No one"), "{c:?}");
}

#[test]
fn exception_profile_is_landscape_and_skips_background_and_centring() {
    let spec = SceneSpec {
        palms: true,
        ..good()
    };
    let frame = render(&spec);
    let photo =
        crop_to_guide(&frame, &Guide::centred(), PhotoProfile::FingerException).expect("crop");
    assert_eq!(photo.dimensions(), (900, 600));
    let r = report(spec, PhotoProfile::FingerException);
    assert!(r.accepted, "{r:#?}");
    let kinds: Vec<CheckKind> = r.checks.iter().map(|c| c.check).collect();
    assert_eq!(
        kinds,
        [
            CheckKind::Exposure,
            CheckKind::Contrast,
            CheckKind::Sharpness
        ]
    );
    // Its checks still bite.
    let r = report(
        SceneSpec {
            palms: true,
            blur_radius: 8,
            ..good()
        },
        PhotoProfile::FingerException,
    );
    assert!(r.failed(CheckKind::Sharpness), "{r:#?}");
    // A coloured wall does not matter for the exception photo.
    let r = report(
        SceneSpec {
            palms: true,
            backdrop: Backdrop::Coloured([120, 150, 185]),
            ..good()
        },
        PhotoProfile::FingerException,
    );
    assert!(r.accepted, "{r:#?}");
}

#[test]
fn crop_follows_the_guide_and_stays_in_the_frame() {
    let g = Guide::centred();
    let r = g.rect_in(1280, 720, PhotoProfile::CardFace);
    assert_eq!((r.x, r.y, r.width, r.height), (424, 36, 432, 648));
    let shifted = Guide {
        centre_x: 0.99,
        ..g
    }
    .rect_in(1280, 720, PhotoProfile::CardFace);
    assert_eq!(shifted.x + shifted.width, 1280);
    let wide = g.rect_in(640, 480, PhotoProfile::FingerException);
    assert!(wide.width <= 640 && wide.x + wide.width <= 640);
    assert!((wide.width * 2).abs_diff(wide.height * 3) <= 3, "{wide:?}");
    let frame = render(&good());
    let photo = crop_to_guide(&frame, &g, PhotoProfile::CardFace).expect("crop");
    assert_eq!(photo.dimensions(), (600, 900));
    let tiny = RgbImage::new(320, 240);
    let err = crop_to_guide(&tiny, &g, PhotoProfile::CardFace).expect_err("too small");
    assert!(matches!(err, PhotoError::TooSmall { .. }));
    assert!(err.message_vi().contains("quá nhỏ"));
}

#[test]
fn process_frame_accepts_or_lists_failures() {
    let config = PhotoConfig::new(PhotoProfile::CardFace);
    match process_frame(&render(&good()), &config).expect("pipeline") {
        PhotoOutcome::Accepted { photo, report } => {
            assert!(report.accepted);
            assert_eq!((photo.width, photo.height), (600, 900));
            assert!(photo.bytes <= config.max_bytes);
        }
        PhotoOutcome::Rejected { report } => panic!("rejected: {report:#?}"),
    }
    let dark = render(&SceneSpec {
        gain: 0.25,
        blur_radius: 6,
        ..good()
    });
    match process_frame(&dark, &config).expect("pipeline") {
        PhotoOutcome::Rejected { report } => {
            let f = failed(&report);
            assert!(
                f.contains(&CheckKind::Exposure) && f.contains(&CheckKind::Sharpness),
                "{f:?}"
            );
        }
        PhotoOutcome::Accepted { .. } => panic!("a dark blurred frame was accepted"),
    }
}

#[test]
fn preview_fits_and_averages() {
    let frame = render(&good());
    let p = preview(&frame, 640, 360);
    assert_eq!(p.dimensions(), (640, 360));
    // 2x2 box average: compare one pixel by hand.
    let (x, y) = (320, 100);
    for c in 0..3 {
        let s: u32 = [(0, 0), (1, 0), (0, 1), (1, 1)]
            .iter()
            .map(|(dx, dy)| u32::from(frame.get_pixel(2 * x + dx, 2 * y + dy).0[c]))
            .sum();
        assert_eq!(u32::from(p.get_pixel(x, y).0[c]), (s + 2) / 4);
    }
    // Aspect kept for a 4:3 frame; never enlarged.
    let four_three = RgbImage::new(640, 480);
    assert_eq!(preview(&four_three, 640, 360).dimensions(), (480, 360));
    let small = RgbImage::new(320, 180);
    assert_eq!(preview(&small, 640, 360).dimensions(), (320, 180));
}

#[test]
fn crop_resize_keeps_flat_areas_flat_and_gradients_ordered() {
    let flat = RgbImage::from_pixel(1280, 720, image::Rgb([200, 100, 50]));
    let photo = crop_to_guide(&flat, &Guide::centred(), PhotoProfile::CardFace).expect("crop");
    assert!(photo.pixels().all(|p| p.0 == [200, 100, 50]));
    let ramp = RgbImage::from_fn(1280, 720, |x, _| image::Rgb([(x / 5) as u8, 0, 0]));
    let photo = crop_to_guide(&ramp, &Guide::centred(), PhotoProfile::CardFace).expect("crop");
    let row: Vec<u8> = (0..600).map(|x| photo.get_pixel(x, 450).0[0]).collect();
    assert!(row.windows(2).all(|w| w[0] <= w[1]), "monotonic");
    // The crop spans frame x 424..856, i.e. ramp values 84..171.
    assert!(
        row[0].abs_diff(84) <= 1 && row[599].abs_diff(171) <= 1,
        "{} {}",
        row[0],
        row[599]
    );
    // A big frame shrinks through the anti-aliased path and still fills the output.
    let big = RgbImage::from_pixel(3840, 2160, image::Rgb([10, 20, 30]));
    let photo = crop_to_guide(&big, &Guide::centred(), PhotoProfile::CardFace).expect("crop");
    assert_eq!(photo.dimensions(), (600, 900));
    assert!(photo.pixels().all(|p| p.0 == [10, 20, 30]));
}
