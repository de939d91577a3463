//! Fast frame-to-preview downscale for the live camera view.

use image::RgbImage;

/// Default preview size: half of a 1280x720 frame.
pub const PREVIEW_WIDTH: u32 = 640;
pub const PREVIEW_HEIGHT: u32 = 360;

/// Scales a frame to fit within `max_w`x`max_h`, keeping its aspect ratio, never enlarging.
/// Each output pixel averages four samples spread over its footprint: exactly a 2x2 box
/// filter at half size, and cheap at any other ratio.
pub fn preview(frame: &RgbImage, max_w: u32, max_h: u32) -> RgbImage {
    let (fw, fh) = frame.dimensions();
    if fw == 0 || fh == 0 || max_w == 0 || max_h == 0 {
        return RgbImage::new(0, 0);
    }
    let scale = (max_w as f32 / fw as f32)
        .min(max_h as f32 / fh as f32)
        .min(1.0);
    let ow = ((fw as f32 * scale).round() as u32).clamp(1, fw);
    let oh = ((fh as f32 * scale).round() as u32).clamp(1, fh);
    let sx = fw as f32 / ow as f32;
    let sy = fh as f32 / oh as f32;
    let taps = |n: u32, s: f32, limit: u32| -> Vec<(usize, usize)> {
        (0..n)
            .map(|o| {
                let a = (((o as f32 + 0.25) * s) as u32).min(limit - 1) as usize;
                let b = (((o as f32 + 0.75) * s) as u32).min(limit - 1) as usize;
                (a, b)
            })
            .collect()
    };
    let xs = taps(ow, sx, fw);
    let ys = taps(oh, sy, fh);
    let src = frame.as_raw();
    let stride = fw as usize * 3;
    let mut out = vec![0u8; ow as usize * oh as usize * 3];
    for (row, &(ya, yb)) in out.chunks_exact_mut(ow as usize * 3).zip(&ys) {
        let ra = &src[ya * stride..(ya + 1) * stride];
        let rb = &src[yb * stride..(yb + 1) * stride];
        for (px, &(xa, xb)) in row.chunks_exact_mut(3).zip(&xs) {
            let (a, b) = (xa * 3, xb * 3);
            for c in 0..3 {
                let s = u16::from(ra[a + c])
                    + u16::from(ra[b + c])
                    + u16::from(rb[a + c])
                    + u16::from(rb[b + c]);
                px[c] = ((s + 2) >> 2) as u8;
            }
        }
    }
    // The buffer length is exactly ow*oh*3 by construction, so this cannot fail.
    RgbImage::from_raw(ow, oh, out).unwrap_or_else(|| RgbImage::new(ow, oh))
}
