//! QR codes made with the `qrcode` crate, drawn into pictures, read back with rqrr.

use enroll_hardware::qr::{decode_qr_texts, read_card_qr, render_qr, QrError, Sex};
use image::{imageops, GrayImage, Luma};
use qrcode::{Color, EcLevel, QrCode};

const CARD: &str = "038185012345|173456789|Lê Thị Mai|12031985|Nữ|Thôn Thượng, Xã Quảng Phú, Tỉnh Thanh Hóa|20052021";

/// Draws a code with the qrcode crate directly (independent of `render_qr`).
fn draw(code: &QrCode, module: u32) -> GrayImage {
    let n = code.width() as u32;
    let side = (n + 8) * module;
    let colors = code.to_colors();
    GrayImage::from_fn(side, side, |x, y| {
        let (mx, my) = ((x / module) as i64 - 4, (y / module) as i64 - 4);
        if mx < 0 || my < 0 || mx >= n as i64 || my >= n as i64 {
            return Luma([255]);
        }
        match colors[(my as u32 * n + mx as u32) as usize] {
            Color::Dark => Luma([0]),
            Color::Light => Luma([255]),
        }
    })
}

/// Puts a code on a grey "table" the size of a camera frame, slightly softened.
fn in_frame(code: &GrayImage, x: i64, y: i64) -> GrayImage {
    let mut frame = GrayImage::from_pixel(1280, 720, Luma([110]));
    imageops::overlay(&mut frame, code, x, y);
    imageops::blur(&frame, 0.8)
}

#[test]
fn card_code_round_trips_through_a_camera_sized_frame() {
    let code = QrCode::with_error_correction_level(CARD.as_bytes(), EcLevel::M).expect("encode");
    let img = in_frame(&draw(&code, 4), 500, 200);
    let card = read_card_qr(&img).expect("read");
    assert_eq!(card.id_number, "038185012345");
    assert_eq!(card.full_name, "Lê Thị Mai");
    assert_eq!(card.sex, Sex::Female);
    assert!(card.warnings.is_empty(), "{:?}", card.warnings);
}

#[test]
fn render_qr_output_decodes() {
    let img = render_qr(CARD, 3).expect("render");
    assert_eq!(decode_qr_texts(&img).expect("decode"), [CARD]);
}

#[test]
fn foreign_and_malformed_codes_are_refused_whole() {
    let url = in_frame(
        &render_qr("https://dichvucong.gov.vn", 4).expect("render"),
        100,
        100,
    );
    assert_eq!(read_card_qr(&url), Err(QrError::Url));
    let short = render_qr("001090123456|012345678|A B|01011990|Nam", 4).expect("render");
    assert_eq!(read_card_qr(&short), Err(QrError::FieldCount { found: 5 }));
    let bad_date = render_qr("001090123456||A B|32011990|Nam|X|15042021", 4).expect("render");
    assert!(matches!(
        read_card_qr(&bad_date),
        Err(QrError::BadField { .. })
    ));
}

#[test]
fn card_code_wins_over_another_code_in_the_same_picture() {
    let mut frame = GrayImage::from_pixel(1280, 720, Luma([200]));
    imageops::overlay(
        &mut frame,
        &render_qr("https://example.org", 4).expect("r"),
        40,
        40,
    );
    imageops::overlay(&mut frame, &render_qr(CARD, 4).expect("r"), 700, 200);
    assert_eq!(decode_qr_texts(&frame).expect("decode").len(), 2);
    assert_eq!(
        read_card_qr(&frame).expect("card").id_number,
        "038185012345"
    );
}

#[test]
fn no_code_and_damaged_code_are_told_apart() {
    let blank = GrayImage::from_pixel(640, 480, Luma([180]));
    assert_eq!(read_card_qr(&blank), Err(QrError::NoCode));
    // Scribble over most of the data area: finder patterns survive, data does not.
    let mut img = render_qr(CARD, 4).expect("render");
    let side = img.width();
    for y in side / 4..side * 3 / 4 {
        for x in side / 4..side * 3 / 4 {
            if (x / 4 + y / 4) % 3 == 0 {
                img.put_pixel(x, y, Luma([0]));
            } else {
                img.put_pixel(x, y, Luma([255]));
            }
        }
    }
    match read_card_qr(&img) {
        Err(QrError::Unreadable(_)) | Err(QrError::NoCode) => {}
        other => panic!("a damaged code must not parse: {other:?}"),
    }
}
