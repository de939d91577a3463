//! Camera frame to card photo: crop to the on-screen guide, resize, quality checks,
//! JPEG encoding within a size budget, and a fast preview for the UI.
//!
//! Two profiles share the pipeline:
//! - [`PhotoProfile::CardFace`]: the 2:3 portrait printed on the card (600x900), checked for
//!   exposure, contrast, sharpness, a white and even background, and a centred subject.
//! - [`PhotoProfile::FingerException`]: proof for a finger exception, the face with both palms
//!   raised beside it. Landscape 3:2 (900x600) so both hands fit; checked for exposure,
//!   contrast and sharpness only (hands cover the background and the face sits anywhere).
//!
//! No face detection: no well-kept pure-Rust crate does it offline, so the crop follows the
//! guide rectangle the UI draws its oval in, and the centring check finds the subject
//! against the background instead.

mod checks;
mod encode;
mod error;
mod guide;
mod preview;
mod resize;

pub use checks::{assess, CheckKind, CheckResult, PhotoReport, Thresholds};
pub use encode::{encode_within, jpeg_metadata_segments, EncodedPhoto, DEFAULT_MAX_BYTES};
pub use error::PhotoError;
pub use guide::{crop_to_guide, CropRect, Guide};
/// The picture type every function here takes and returns (re-exported so callers need
/// not depend on `image` themselves).
pub use image::RgbImage;
pub use preview::{preview, PREVIEW_HEIGHT, PREVIEW_WIDTH};

use serde::Serialize;
use std::path::Path;

/// Which kind of photo is being taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhotoProfile {
    CardFace,
    FingerException,
}

impl PhotoProfile {
    /// Output size in pixels (width, height).
    pub const fn output_size(self) -> (u32, u32) {
        match self {
            PhotoProfile::CardFace => (600, 900),
            PhotoProfile::FingerException => (900, 600),
        }
    }
}

/// Settings for turning a frame into a photo.
#[derive(Clone, Debug, PartialEq)]
pub struct PhotoConfig {
    pub profile: PhotoProfile,
    pub guide: Guide,
    /// JPEG size budget in bytes.
    pub max_bytes: usize,
    pub thresholds: Thresholds,
}

impl PhotoConfig {
    pub fn new(profile: PhotoProfile) -> Self {
        Self {
            profile,
            guide: Guide::centred(),
            max_bytes: DEFAULT_MAX_BYTES,
            thresholds: Thresholds::default(),
        }
    }
}

/// The result of running the pipeline on one frame.
#[derive(Clone, Debug)]
pub enum PhotoOutcome {
    /// Every check passed; the photo is encoded and ready to store as a blob.
    Accepted {
        report: PhotoReport,
        photo: EncodedPhoto,
    },
    /// At least one check failed; the report lists which, with messages for the operator.
    Rejected { report: PhotoReport },
}

impl PhotoOutcome {
    pub fn report(&self) -> &PhotoReport {
        match self {
            PhotoOutcome::Accepted { report, .. } | PhotoOutcome::Rejected { report } => report,
        }
    }
}

/// Crops and checks a frame without encoding: live feedback while the operator frames.
pub fn check_frame(frame: &RgbImage, config: &PhotoConfig) -> Result<PhotoReport, PhotoError> {
    let photo = crop_to_guide(frame, &config.guide, config.profile)?;
    Ok(assess(&photo, config.profile, &config.thresholds))
}

/// Crops, checks and, when accepted, encodes a frame.
pub fn process_frame(frame: &RgbImage, config: &PhotoConfig) -> Result<PhotoOutcome, PhotoError> {
    let photo = crop_to_guide(frame, &config.guide, config.profile)?;
    let report = assess(&photo, config.profile, &config.thresholds);
    if !report.accepted {
        return Ok(PhotoOutcome::Rejected { report });
    }
    let photo = encode_within(&photo, config.max_bytes)?;
    Ok(PhotoOutcome::Accepted { report, photo })
}

/// Saves a picture as PNG or JPEG (by the file extension) through a temporary file in the
/// same folder and a rename, so a failure never leaves a half-written file under `path`.
pub fn save_image(img: &RgbImage, path: &Path) -> Result<(), PhotoError> {
    let write_err = |detail: String| PhotoError::Write {
        path: path.display().to_string(),
        detail,
    };
    let format = image::ImageFormat::from_path(path)
        .ok()
        .filter(|f| matches!(f, image::ImageFormat::Png | image::ImageFormat::Jpeg))
        .ok_or_else(|| write_err("the file name must end in .png or .jpg".into()))?;
    let mut bytes = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut bytes), format)
        .map_err(|e| write_err(e.to_string()))?;
    write_atomically(path, &bytes).map_err(|e| write_err(e.to_string()))
}

/// Writes bytes through a temporary file beside `path`, synced, then renamed over it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    match result.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Reads a picture file (PNG or JPEG), turned upright by its EXIF orientation tag.
pub fn load_image(path: &Path) -> Result<RgbImage, PhotoError> {
    use image::{DynamicImage, ImageDecoder, ImageReader};
    let read = |e: image::ImageError| PhotoError::Read {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    let reader = ImageReader::open(path)
        .map_err(|e| PhotoError::Read {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?
        .with_guessed_format()
        .map_err(|e| PhotoError::Read {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
    let mut decoder = reader.into_decoder().map_err(read)?;
    let orientation = decoder.orientation().map_err(read)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(read)?;
    img.apply_orientation(orientation);
    Ok(img.to_rgb8())
}
