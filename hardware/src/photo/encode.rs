//! JPEG encoding to a size budget, metadata verification and the content hash.

use super::PhotoError;
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, RgbImage};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Default size budget for a card photo.
pub const DEFAULT_MAX_BYTES: usize = 50_000;
/// Best quality tried; above this files grow fast for no visible gain.
const MAX_QUALITY: u8 = 92;
/// Below this a face photo is too blocky to be worth keeping.
const MIN_QUALITY: u8 = 20;

/// An encoded photo, ready to store as a content-addressed blob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EncodedPhoto {
    #[serde(skip)]
    pub jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub quality: u8,
    pub bytes: usize,
    /// SHA-256 of the JPEG bytes, lower-case hex: the blob's name.
    pub sha256: String,
}

fn encode(img: &RgbImage, quality: u8) -> Result<Vec<u8>, PhotoError> {
    let mut out = Vec::with_capacity(64 * 1024);
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode(
            img.as_raw(),
            img.width(),
            img.height(),
            ExtendedColorType::Rgb8,
        )
        .map_err(|e| PhotoError::Encode(e.to_string()))?;
    Ok(out)
}

/// Encodes at (nearly) the best quality whose file fits `max_bytes`.
///
/// Each trial costs a full encode, so the search predicts rather than bisects: one trial at
/// quality 80, then the quality where log(size) reaches the budget assuming it grows by
/// [`LOG_SIZE_PER_QUALITY`] per step; when that misses, the slope measured between the
/// trials so far predicts the next one. Two encodes are usual, three or four rare.
pub fn encode_within(img: &RgbImage, max_bytes: usize) -> Result<EncodedPhoto, PhotoError> {
    let (jpeg, quality) = search(img, max_bytes)?;
    let segments = jpeg_metadata_segments(&jpeg)?;
    if !segments.is_empty() {
        return Err(PhotoError::Metadata(segments.join(", ")));
    }
    Ok(EncodedPhoto {
        sha256: hex::encode(Sha256::digest(&jpeg)),
        bytes: jpeg.len(),
        width: img.width(),
        height: img.height(),
        quality,
        jpeg,
    })
}

/// First trial quality: close to where a 600x900 portrait meets a 50 KB budget.
const FIRST_QUALITY: u8 = 80;
/// Typical growth of ln(JPEG size) per quality step between 60 and 92, measured on
/// portraits; only shapes the second guess.
const LOG_SIZE_PER_QUALITY: f64 = 0.03;

fn search(img: &RgbImage, max_bytes: usize) -> Result<(Vec<u8>, u8), PhotoError> {
    // Aim a little under the budget so the predicted quality usually fits first time.
    let target = (max_bytes as f64 * 0.97).ln();
    let predict = |q: u8, len: usize, slope: f64| -> u8 {
        let guess = f64::from(q) + (target - (len as f64).ln()) / slope;
        guess
            .floor()
            .clamp(f64::from(MIN_QUALITY), f64::from(MAX_QUALITY)) as u8
    };
    let first = encode(img, FIRST_QUALITY)?;
    if first.len() <= max_bytes {
        let up = predict(FIRST_QUALITY, first.len(), LOG_SIZE_PER_QUALITY);
        if up > FIRST_QUALITY {
            let better = encode(img, up)?;
            if better.len() <= max_bytes {
                return Ok((better, up));
            }
        }
        return Ok((first, FIRST_QUALITY));
    }
    let (mut last_q, mut last_len) = (FIRST_QUALITY, first.len());
    let mut q = predict(FIRST_QUALITY, first.len(), LOG_SIZE_PER_QUALITY).min(FIRST_QUALITY - 1);
    loop {
        let candidate = encode(img, q)?;
        if candidate.len() <= max_bytes {
            return Ok((candidate, q));
        }
        if q <= MIN_QUALITY {
            return Err(PhotoError::OverBudget {
                max_bytes,
                smallest: candidate.len(),
                quality: q,
            });
        }
        // Slope between this trial and the previous one; flat curves step down faster.
        let slope =
            ((last_len as f64).ln() - (candidate.len() as f64).ln()) / f64::from(last_q - q);
        let next = if slope > 0.005 {
            predict(q, candidate.len(), slope)
        } else {
            q.saturating_sub(8)
        };
        (last_q, last_len) = (q, candidate.len());
        q = next.min(q - 1).max(MIN_QUALITY);
    }
}

/// Lists the metadata segments of a JPEG (EXIF/XMP and other APPn beyond the JFIF header,
/// and comments). Empty for what the kiosk writes; tests and the encoder check it.
pub fn jpeg_metadata_segments(jpeg: &[u8]) -> Result<Vec<String>, PhotoError> {
    let bad = |why: &str| PhotoError::Encode(format!("malformed JPEG: {why}"));
    if jpeg.len() < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8 {
        return Err(bad("no start-of-image marker"));
    }
    let mut found = Vec::new();
    let mut i = 2;
    loop {
        if i + 4 > jpeg.len() {
            return Err(bad("truncated before the image data"));
        }
        if jpeg[i] != 0xFF {
            return Err(bad("segment does not start with 0xFF"));
        }
        let marker = jpeg[i + 1];
        if marker == 0xDA {
            // Start of scan: entropy-coded data follows, no more header segments.
            return Ok(found);
        }
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        match marker {
            0xE0 => {
                let body = jpeg.get(i + 4..i + 2 + len).unwrap_or(&[]);
                if !body.starts_with(b"JFIF\0") {
                    found.push("APP0 (not JFIF)".to_owned());
                }
            }
            0xE1..=0xEF => found.push(format!("APP{}", marker - 0xE0)),
            0xFE => found.push("COM".to_owned()),
            _ => {}
        }
        i += 2 + len;
    }
}
