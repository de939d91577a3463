//! The V4L2 path on a machine that may have no camera, and frame decoding.

use enroll_hardware::camera::v4l2::{list_devices, V4l2Camera};
use enroll_hardware::camera::{
    decode_frame, open_source, CameraError, DeviceSelector, PixelFormat, SourceKind,
};
use image::{codecs::jpeg::JpegEncoder, ExtendedColorType, Rgb, RgbImage};

#[test]
fn no_camera_is_a_clear_error_and_demo_mode_falls_back_to_the_simulator() {
    let devices = list_devices().expect("V4L2 query works without devices");
    if !devices.is_empty() {
        eprintln!("cameras present ({devices:?}); the no-camera path is not exercised here");
        return;
    }
    let err = V4l2Camera::new(0).expect_err("no camera");
    assert_eq!(err, CameraError::NoCamera);
    assert!(err.message_vi().contains("Không tìm thấy camera"));
    assert!(err.message_en().contains("No camera found"));
    assert_eq!(
        open_source(&DeviceSelector::Auto, false).err(),
        Some(CameraError::NoCamera)
    );
    assert_eq!(
        open_source(&DeviceSelector::Index(3), false).err(),
        Some(CameraError::NoCamera)
    );
    let demo = open_source(&DeviceSelector::Auto, true).expect("demo falls back");
    assert_eq!(demo.describe().kind, SourceKind::Simulated);
}

#[test]
fn selectors_parse() {
    assert_eq!("2".parse::<DeviceSelector>(), Ok(DeviceSelector::Index(2)));
    assert_eq!(
        "/dev/video4".parse::<DeviceSelector>(),
        Ok(DeviceSelector::Index(4))
    );
    assert_eq!("auto".parse::<DeviceSelector>(), Ok(DeviceSelector::Auto));
    assert!(matches!(
        "sim".parse::<DeviceSelector>(),
        Ok(DeviceSelector::Sim(_))
    ));
}

fn test_picture() -> RgbImage {
    RgbImage::from_fn(64, 48, |x, y| Rgb([(x * 4) as u8, (y * 5) as u8, 128]))
}

#[test]
fn decodes_mjpeg_frames() {
    let img = test_picture();
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 95)
        .encode(img.as_raw(), 64, 48, ExtendedColorType::Rgb8)
        .expect("encode");
    let out = decode_frame(64, 48, PixelFormat::Mjpeg, &jpeg).expect("decode");
    assert_eq!(out.dimensions(), (64, 48));
    let diff: u32 = out
        .pixels()
        .zip(img.pixels())
        .map(|(a, b)| (0..3).map(|c| a.0[c].abs_diff(b.0[c]) as u32).sum::<u32>())
        .max()
        .unwrap_or(0);
    assert!(diff < 40, "decoded picture differs too much: {diff}");
    assert!(decode_frame(64, 48, PixelFormat::Mjpeg, &jpeg[..40]).is_err());
    assert!(decode_frame(80, 48, PixelFormat::Mjpeg, &jpeg).is_err());
}

#[test]
fn decodes_yuyv_frames_and_refuses_short_ones() {
    // Mid grey with neutral chroma: Y=128, U=V=128 for every pixel pair.
    let raw: Vec<u8> = std::iter::repeat_n([128u8, 128, 128, 128], 32 * 16 / 2)
        .flatten()
        .collect();
    let out = decode_frame(32, 16, PixelFormat::Yuyv, &raw).expect("decode");
    assert_eq!(out.dimensions(), (32, 16));
    for p in out.pixels() {
        for c in p.0 {
            assert!((120..=140).contains(&c), "expected grey, got {p:?}");
        }
    }
    let err = decode_frame(32, 16, PixelFormat::Yuyv, &raw[..100]).expect_err("short");
    assert!(matches!(err, CameraError::Decode(_)));
    assert!(decode_frame(32, 16, PixelFormat::Other, &raw).is_err());
}
