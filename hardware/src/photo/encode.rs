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

/// Encodes at the best quality whose file fits `max_bytes`.
///
/// Trials are few: one at the top quality (most photos fit), then one lower to learn how
/// this picture's size falls with quality, then the quality predicted by interpolating
/// log(size), stepped down until it fits.
pub fn encode_within(img: &RgbImage, max_bytes: usize) -> Result<EncodedPhoto, PhotoError> {
    let top = encode(img, MAX_QUALITY)?;
    let (jpeg, quality) = if top.len() <= max_bytes {
        (top, MAX_QUALITY)
    } else {
        search(img, max_bytes, top.len())?
    };
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

fn search(img: &RgbImage, max_bytes: usize, top_len: usize) -> Result<(Vec<u8>, u8), PhotoError> {
    const PROBE: u8 = 70;
    let probe = encode(img, PROBE)?;
    let (mut q, mut best) = if probe.len() <= max_bytes {
        // Between PROBE and the top: interpolate log(size) linearly in quality.
        let (l0, l1) = ((probe.len() as f64).ln(), (top_len as f64).ln());
        let target = (max_bytes as f64 * 0.98).ln();
        let frac = ((target - l0) / (l1 - l0)).clamp(0.0, 1.0);
        let guess = PROBE as f64 + frac * f64::from(MAX_QUALITY - PROBE);
        (guess.floor() as u8, Some((probe, PROBE)))
    } else {
        // Below the probe: extrapolate with the same slope.
        let slope =
            ((top_len as f64).ln() - (probe.len() as f64).ln()) / f64::from(MAX_QUALITY - PROBE);
        let need = (probe.len() as f64).ln() - (max_bytes as f64 * 0.98).ln();
        let guess = f64::from(PROBE) - need / slope.max(1e-3);
        (guess.floor().max(f64::from(MIN_QUALITY)) as u8, None)
    };
    // Walk down from the guess until it fits; the probe is the floor when it fitted.
    loop {
        if best.as_ref().is_some_and(|(_, bq)| *bq >= q) {
            break;
        }
        let candidate = encode(img, q)?;
        if candidate.len() <= max_bytes {
            best = Some((candidate, q));
            break;
        }
        if q <= MIN_QUALITY {
            return match best {
                Some(b) => Ok(b),
                None => Err(PhotoError::OverBudget {
                    max_bytes,
                    smallest: candidate.len(),
                    quality: q,
                }),
            };
        }
        q = q.saturating_sub(4).max(MIN_QUALITY);
    }
    best.ok_or(PhotoError::Encode("quality search ended empty".into()))
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
