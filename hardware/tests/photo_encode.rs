//! JPEG size budget, metadata stripping, content hash and EXIF-aware loading.

use enroll_hardware::camera::scene::{render, SceneSpec};
use enroll_hardware::photo::{
    crop_to_guide, encode_within, jpeg_metadata_segments, load_image, Guide, PhotoError,
    PhotoProfile,
};
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder, Rgb, RgbImage};
use sha2::{Digest, Sha256};

fn card_photo() -> RgbImage {
    let frame = render(&SceneSpec::good(1280, 720));
    crop_to_guide(&frame, &Guide::centred(), PhotoProfile::CardFace).expect("crop")
}

/// Busy texture that needs many bytes at any quality.
fn noisy(w: u32, h: u32) -> RgbImage {
    let mut s: u32 = 12345;
    RgbImage::from_fn(w, h, |_, _| {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        Rgb([s as u8, (s >> 8) as u8, (s >> 16) as u8])
    })
}

#[test]
fn budget_holds_for_several_budgets() {
    let photo = card_photo();
    let mut last_quality = u8::MAX;
    for budget in [80_000, 50_000, 35_000, 25_000] {
        let enc = encode_within(&photo, budget).expect("fits");
        assert!(enc.bytes <= budget, "{} > {budget}", enc.bytes);
        assert_eq!(enc.bytes, enc.jpeg.len());
        assert!(enc.quality <= last_quality, "quality falls with the budget");
        last_quality = enc.quality;
        let back = image::load_from_memory(&enc.jpeg)
            .expect("decodes")
            .to_rgb8();
        assert_eq!(back.dimensions(), (600, 900));
    }
}

#[test]
fn a_hard_picture_is_squeezed_into_the_budget_or_refused() {
    let busy = noisy(600, 900);
    let enc = encode_within(&busy, 200_000).expect("fits at low quality");
    assert!(enc.bytes <= 200_000);
    assert!(enc.quality < 92);
    let err = encode_within(&busy, 5_000).expect_err("cannot fit");
    match &err {
        PhotoError::OverBudget {
            max_bytes,
            smallest,
            ..
        } => {
            assert_eq!(*max_bytes, 5_000);
            assert!(*smallest > 5_000);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.message_vi().contains("5000 byte"));
}

#[test]
fn output_has_no_metadata_and_is_named_by_its_hash() {
    let enc = encode_within(&card_photo(), 50_000).expect("fits");
    assert_eq!(
        jpeg_metadata_segments(&enc.jpeg).expect("parse"),
        Vec::<String>::new()
    );
    assert_eq!(enc.sha256, hex::encode(Sha256::digest(&enc.jpeg)));
    assert_eq!(enc.sha256.len(), 64);
    // Same pixels, same bytes, same name.
    let again = encode_within(&card_photo(), 50_000).expect("fits");
    assert_eq!(again.sha256, enc.sha256);
}

/// A JPEG carrying EXIF with orientation 6 ("rotate 90 degrees clockwise to view").
fn jpeg_with_exif_orientation(img: &RgbImage) -> Vec<u8> {
    let exif: Vec<u8> = vec![
        0x49, 0x49, 0x2A, 0x00, 0x08, 0x00, 0x00,
        0x00, // TIFF header, little-endian, IFD at 8
        0x01, 0x00, // one entry
        0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00,
        0x00, // Orientation=6
        0x00, 0x00, 0x00, 0x00, // no next IFD
    ];
    let mut out = Vec::new();
    let mut enc = JpegEncoder::new_with_quality(&mut out, 90);
    enc.set_exif_metadata(exif).expect("exif supported");
    enc.write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        ExtendedColorType::Rgb8,
    )
    .expect("encode");
    out
}

#[test]
fn metadata_detector_sees_exif_and_loading_strips_it_and_turns_the_picture_upright() {
    let wide = RgbImage::from_fn(60, 40, |x, _| Rgb([if x < 30 { 0 } else { 255 }, 0, 0]));
    let with_exif = jpeg_with_exif_orientation(&wide);
    assert_eq!(jpeg_metadata_segments(&with_exif).expect("parse"), ["APP1"]);

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("phone.jpg");
    std::fs::write(&path, &with_exif).expect("write");
    let loaded = load_image(&path).expect("load");
    assert_eq!(loaded.dimensions(), (40, 60), "orientation applied");
    // Re-encoding keeps pixels only.
    let enc = encode_within(&loaded, 50_000).expect("encode");
    assert!(jpeg_metadata_segments(&enc.jpeg).expect("parse").is_empty());

    assert!(jpeg_metadata_segments(b"not a jpeg").is_err());
    let missing = load_image(&dir.path().join("missing.jpg")).expect_err("missing file");
    assert!(matches!(missing, PhotoError::Read { .. }));
}
