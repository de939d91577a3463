//! The receipt's QR code: the enrollment number as a QR image the resident can photograph.

use qrcode::{Color, QrCode};
use slint::{Image, Rgb8Pixel, SharedPixelBuffer};

/// Black modules on white, `scale` pixels per module, a 4-module quiet zone.
pub fn qr_image(text: &str, scale: u32) -> Option<Image> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let width = code.width() as u32;
    let colors = code.to_colors();
    let quiet = 4;
    let side = (width + 2 * quiet) * scale;
    let mut buf = SharedPixelBuffer::<Rgb8Pixel>::new(side, side);
    let pixels = buf.make_mut_slice();
    for (i, px) in pixels.iter_mut().enumerate() {
        let (x, y) = (i as u32 % side / scale, i as u32 / side / scale);
        let dark = x >= quiet
            && y >= quiet
            && x < width + quiet
            && y < width + quiet
            && colors[((y - quiet) * width + (x - quiet)) as usize] == Color::Dark;
        let v = if dark { 0 } else { 255 };
        *px = Rgb8Pixel { r: v, g: v, b: v };
    }
    Some(Image::from_rgb8(buf))
}
