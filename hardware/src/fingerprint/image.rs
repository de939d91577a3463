//! Finger images: the module's 4-bit upload format and 8-bit grayscale PNG.

use image::{codecs::png::PngEncoder, ExtendedColorType, ImageEncoder};

/// An 8-bit grayscale finger image, row-major, dark ridges on a light background.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FingerImage {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

/// Why uploaded image bytes could not be turned into an image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("image data has {got} bytes, expected {expected} for {width}×{height} at 4 bits per pixel")]
pub struct ImageSizeError {
    pub got: usize,
    pub expected: usize,
    pub width: usize,
    pub height: usize,
}

impl FingerImage {
    /// Unpacks the UpImage stream: two pixels per byte, the high nibble is the left pixel
    /// (R503 manual, "Buffer"). Each 4-bit level is widened to 8 bits (0x0→0x00, 0xF→0xFF).
    pub fn from_packed(width: usize, height: usize, data: &[u8]) -> Result<Self, ImageSizeError> {
        let expected = width * height / 2;
        if data.len() != expected || !width.is_multiple_of(2) {
            return Err(ImageSizeError {
                got: data.len(),
                expected,
                width,
                height,
            });
        }
        let pixels = data
            .iter()
            .flat_map(|&b| [(b >> 4) * 17, (b & 0x0F) * 17])
            .collect();
        Ok(FingerImage {
            width,
            height,
            pixels,
        })
    }

    /// Packs to the 4-bit wire format (keeps the high four bits, as the module does).
    pub fn to_packed(&self) -> Vec<u8> {
        self.pixels
            .chunks(2)
            .map(|p| (p[0] & 0xF0) | (p.get(1).copied().unwrap_or(0) >> 4))
            .collect()
    }

    /// 8-bit grayscale PNG bytes.
    pub fn to_png(&self) -> Result<Vec<u8>, image::ImageError> {
        let mut out = Vec::new();
        PngEncoder::new(&mut out).write_image(
            &self.pixels,
            self.width as u32,
            self.height as u32,
            ExtendedColorType::L8,
        )?;
        Ok(out)
    }

    pub fn get(&self, x: usize, y: usize) -> u8 {
        self.pixels[y * self.width + x]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nibble_order_and_widening() {
        let img = FingerImage::from_packed(4, 1, &[0xF0, 0x1E]).unwrap();
        assert_eq!(img.pixels, vec![255, 0, 17, 238]);
        assert_eq!(img.to_packed(), vec![0xF0, 0x1E]);
        assert!(FingerImage::from_packed(4, 2, &[0; 3]).is_err());
    }

    #[test]
    fn png_is_grayscale_and_decodes() {
        let img = FingerImage {
            width: 8,
            height: 4,
            pixels: (0..32).map(|i| i * 8).collect(),
        };
        let png = img.to_png().unwrap();
        let back = image::load_from_memory(&png).unwrap();
        assert_eq!(back.color(), image::ColorType::L8);
        assert_eq!(back.to_luma8().into_raw(), img.pixels);
    }
}
