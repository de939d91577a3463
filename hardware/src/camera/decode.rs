//! Raw camera buffers (MJPEG or YUYV) to RGB images.

use super::{CameraError, PixelFormat};
use image::RgbImage;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{FrameFormat, Resolution};
use nokhwa::Buffer;
use std::panic::AssertUnwindSafe;

/// Decodes one raw frame as the device delivered it. MJPEG goes through nokhwa's decoder,
/// which copes with the Huffman-table-less JPEGs many webcams send.
pub fn decode_frame(
    width: u32,
    height: u32,
    format: PixelFormat,
    raw: &[u8],
) -> Result<RgbImage, CameraError> {
    let frame_format = match format {
        PixelFormat::Mjpeg => FrameFormat::MJPEG,
        PixelFormat::Yuyv => {
            let expected = width as usize * height as usize * 2;
            if raw.len() < expected {
                return Err(CameraError::Decode(format!(
                    "short YUYV frame: {} bytes, expected {expected}",
                    raw.len()
                )));
            }
            FrameFormat::YUYV
        }
        PixelFormat::Other => {
            return Err(CameraError::Decode("unsupported pixel format".into()));
        }
    };
    let buffer = Buffer::new(Resolution::new(width, height), raw, frame_format);
    // mozjpeg reports some corrupt streams (e.g. a truncated frame, which cameras do send)
    // by unwinding rather than returning an error: contain it so the capture thread lives.
    let decoded = std::panic::catch_unwind(AssertUnwindSafe(|| buffer.decode_image::<RgbFormat>()))
        .map_err(|_| CameraError::Decode("corrupt MJPEG frame".into()))?;
    let image = decoded.map_err(|e| CameraError::Decode(e.to_string()))?;
    if image.dimensions() != (width, height) {
        return Err(CameraError::Decode(format!(
            "frame is {}x{}, expected {width}x{height}",
            image.width(),
            image.height()
        )));
    }
    Ok(image)
}
