//! The guide rectangle the UI draws its oval in, and the crop it defines.

use super::resize::resize_region;
use super::{PhotoError, PhotoProfile};
use image::RgbImage;
use serde::Serialize;

/// Smallest crop side accepted (a 640x480 camera gives 288), so the output is never more
/// than 2.5x upscaled.
const MIN_CROP_SIDE: u32 = 240;

/// Where the subject should be, in fractions of the frame: the centre of the guide and its
/// height. Its width follows from the profile's aspect ratio (2:3 or 3:2).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Guide {
    pub centre_x: f32,
    pub centre_y: f32,
    /// Height of the guide as a fraction of the frame height.
    pub height: f32,
}

impl Guide {
    /// Centred, 90% of the frame height: what the kiosk draws by default.
    pub const fn centred() -> Self {
        Self {
            centre_x: 0.5,
            centre_y: 0.5,
            height: 0.9,
        }
    }

    /// The crop rectangle in a frame of the given size, kept inside the frame.
    pub fn rect_in(&self, frame_w: u32, frame_h: u32, profile: PhotoProfile) -> CropRect {
        let (ow, oh) = profile.output_size();
        let aspect = ow as f32 / oh as f32;
        let mut h = (self.height.clamp(0.05, 1.0) * frame_h as f32).round();
        let mut w = (h * aspect).round();
        if w > frame_w as f32 {
            w = frame_w as f32;
            h = (w / aspect).round();
        }
        let (w, h) = ((w as u32).max(1), (h as u32).max(1));
        let x = (self.centre_x * frame_w as f32 - w as f32 / 2.0).round();
        let y = (self.centre_y * frame_h as f32 - h as f32 / 2.0).round();
        let x = (x.max(0.0) as u32).min(frame_w.saturating_sub(w));
        let y = (y.max(0.0) as u32).min(frame_h.saturating_sub(h));
        CropRect {
            x,
            y,
            width: w,
            height: h,
        }
    }
}

impl Default for Guide {
    fn default() -> Self {
        Self::centred()
    }
}

/// A rectangle in frame pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CropRect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// Crops the guide rectangle out of a frame and resizes it to the profile's output size.
pub fn crop_to_guide(
    frame: &RgbImage,
    guide: &Guide,
    profile: PhotoProfile,
) -> Result<RgbImage, PhotoError> {
    let (ow, oh) = profile.output_size();
    let rect = guide.rect_in(frame.width(), frame.height(), profile);
    if rect.width.min(rect.height) < MIN_CROP_SIDE {
        let scale = MIN_CROP_SIDE as f32 / rect.width.min(rect.height).max(1) as f32;
        return Err(PhotoError::TooSmall {
            width: frame.width(),
            height: frame.height(),
            min_width: (frame.width() as f32 * scale).ceil() as u32,
            min_height: (frame.height() as f32 * scale).ceil() as u32,
        });
    }
    Ok(resize_region(
        frame,
        (rect.x, rect.y, rect.width, rect.height),
        ow,
        oh,
    ))
}
