//! Finding and decoding QR codes in pictures (rqrr), and drawing them (qrcode).

use super::{parse_card_qr, CardQr, QrError};
use image::{GrayImage, Luma, RgbImage};
use qrcode::{Color, QrCode};

/// Decodes every readable QR code in a greyscale picture.
/// `NoCode` when none is present, `Unreadable` when codes are seen but none decodes.
pub fn decode_qr_texts(img: &GrayImage) -> Result<Vec<String>, QrError> {
    let mut prepared = rqrr::PreparedImage::prepare(img.clone());
    let grids = prepared.detect_grids();
    if grids.is_empty() {
        return Err(QrError::NoCode);
    }
    let mut texts = Vec::new();
    let mut last_err = None;
    for grid in &grids {
        match grid.decode() {
            Ok((_, text)) => texts.push(text),
            Err(e) => last_err = Some(e.to_string()),
        }
    }
    if texts.is_empty() {
        return Err(QrError::Unreadable(last_err.unwrap_or_default()));
    }
    Ok(texts)
}

/// Reads the identity card QR code in a picture. When several codes are visible, the first
/// that parses as a card wins; otherwise the first code's parse error is returned.
pub fn read_card_qr(img: &GrayImage) -> Result<CardQr, QrError> {
    let texts = decode_qr_texts(img)?;
    let mut first_err = None;
    for text in &texts {
        match parse_card_qr(text) {
            Ok(card) => return Ok(card),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or(QrError::NoCode))
}

/// [`read_card_qr`] on a colour picture (a camera frame or a loaded file).
pub fn read_card_qr_rgb(img: &RgbImage) -> Result<CardQr, QrError> {
    let gray: GrayImage = GrayImage::from_fn(img.width(), img.height(), |x, y| {
        let p = img.get_pixel(x, y).0;
        let l = (299 * u32::from(p[0]) + 587 * u32::from(p[1]) + 114 * u32::from(p[2])) / 1000;
        Luma([l as u8])
    });
    read_card_qr(&gray)
}

/// Draws a QR code for `text`: black modules `module_px` wide on white, with the standard
/// four-module quiet zone. Used by the simulator and the tests.
pub fn render_qr(text: &str, module_px: u32) -> Result<GrayImage, QrError> {
    let code = QrCode::new(text.as_bytes()).map_err(|e| QrError::Render(e.to_string()))?;
    let n = code.width() as u32;
    let colors = code.to_colors();
    let m = module_px.max(1);
    let quiet = 4;
    let side = (n + 2 * quiet) * m;
    let mut img = GrayImage::from_pixel(side, side, Luma([255]));
    for (i, c) in colors.iter().enumerate() {
        if *c != Color::Dark {
            continue;
        }
        let (mx, my) = (i as u32 % n, i as u32 / n);
        for dy in 0..m {
            for dx in 0..m {
                img.put_pixel((mx + quiet) * m + dx, (my + quiet) * m + dy, Luma([0]));
            }
        }
    }
    Ok(img)
}
