//! Host-side finger image quality: the module reports none.

use super::features::{analyse, BlockField};
use super::image::FingerImage;
use serde::Serialize;

/// A quality score 0–100 with the three measures it is made of.
///
/// The image is cut into 16×16-pixel blocks (see [`super::features`]); a block is finger
/// (foreground) when its gray-level standard deviation reaches 14 of 255. Then:
///
/// - `area` = foreground blocks / all blocks, divided by 0.45 and capped at 1 (a well-placed
///   finger covers about half of an R307 sensor or more);
/// - `contrast` = mean standard deviation of the foreground blocks / 50, capped at 1;
/// - `coherence` = mean ridge-orientation coherence of the foreground blocks (1 = perfectly
///   parallel ridges, 0 = no dominant direction), rescaled so 0.25 → 0 and 0.75 → 1.
///
/// `score = 100 × area × √contrast × coherence`, rounded. A blank sensor has no foreground
/// and scores 0; a partial finger loses on area, a faint one on contrast, a smudged one on
/// coherence (and contrast).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quality {
    pub score: u8,
    pub area: f32,
    pub contrast: f32,
    pub coherence: f32,
}

pub fn assess(img: &FingerImage) -> Quality {
    assess_field(&analyse(img))
}

pub fn assess_field(field: &BlockField) -> Quality {
    let total = field.blocks.len().max(1) as f32;
    let fg: Vec<_> = field.foreground().collect();
    if fg.is_empty() {
        return Quality {
            score: 0,
            area: 0.0,
            contrast: 0.0,
            coherence: 0.0,
        };
    }
    let n = fg.len() as f32;
    let area = (n / total / 0.45).min(1.0);
    let contrast = (fg.iter().map(|b| b.std).sum::<f32>() / n / 50.0).min(1.0);
    let raw_coherence = fg.iter().map(|b| b.coherence).sum::<f32>() / n;
    let coherence = ((raw_coherence - 0.25) / 0.5).clamp(0.0, 1.0);
    let score = (100.0 * area * contrast.sqrt() * coherence).round() as u8;
    Quality {
        score,
        area,
        contrast,
        coherence,
    }
}
