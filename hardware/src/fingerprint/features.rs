//! Block-wise ridge analysis of a finger image: foreground, contrast, ridge orientation and
//! its coherence (structure tensor of the gray-level gradient over 16×16-pixel blocks).
//! The host's quality score and the simulator's templates are both built on it.

use super::image::FingerImage;

/// Side of a square analysis block in pixels.
pub const BLOCK: usize = 16;
/// Standard deviation (0–255 scale) above which a block is taken as finger, not background.
pub const FOREGROUND_STD: f32 = 14.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Block {
    pub foreground: bool,
    pub mean: f32,
    /// Gray-level standard deviation in the block.
    pub std: f32,
    /// Ridge direction in radians, in [0, π).
    pub orientation: f32,
    /// How strongly one direction dominates: 0 (none) ..= 1 (parallel ridges).
    pub coherence: f32,
}

#[derive(Debug, Clone)]
pub struct BlockField {
    pub cols: usize,
    pub rows: usize,
    pub blocks: Vec<Block>,
}

impl BlockField {
    pub fn at(&self, c: usize, r: usize) -> &Block {
        &self.blocks[r * self.cols + c]
    }

    pub fn foreground(&self) -> impl Iterator<Item = &Block> {
        self.blocks.iter().filter(|b| b.foreground)
    }
}

/// Analyses every whole block of the image.
pub fn analyse(img: &FingerImage) -> BlockField {
    let (w, h) = (img.width, img.height);
    let cols = w / BLOCK;
    let rows = h / BLOCK;
    let px = |x: usize, y: usize| f32::from(img.pixels[y * w + x]);
    let mut blocks = Vec::with_capacity(cols * rows);
    for r in 0..rows {
        for c in 0..cols {
            let (x0, y0) = (c * BLOCK, r * BLOCK);
            let (mut sum, mut sum2) = (0.0f32, 0.0f32);
            let (mut gxx, mut gyy, mut gxy) = (0.0f32, 0.0f32, 0.0f32);
            for y in y0..y0 + BLOCK {
                for x in x0..x0 + BLOCK {
                    let v = px(x, y);
                    sum += v;
                    sum2 += v * v;
                    // Central differences, clamped at the image border.
                    let gx = px((x + 1).min(w - 1), y) - px(x.saturating_sub(1), y);
                    let gy = px(x, (y + 1).min(h - 1)) - px(x, y.saturating_sub(1));
                    gxx += gx * gx;
                    gyy += gy * gy;
                    gxy += gx * gy;
                }
            }
            let n = (BLOCK * BLOCK) as f32;
            let mean = sum / n;
            let std = (sum2 / n - mean * mean).max(0.0).sqrt();
            let energy = gxx + gyy;
            let coherence = if energy > 0.0 {
                ((gxx - gyy).powi(2) + 4.0 * gxy * gxy).sqrt() / energy
            } else {
                0.0
            };
            // Dominant gradient direction, turned 90° to lie along the ridges.
            let gradient = 0.5 * (2.0 * gxy).atan2(gxx - gyy);
            let orientation =
                (gradient + std::f32::consts::FRAC_PI_2).rem_euclid(std::f32::consts::PI);
            blocks.push(Block {
                foreground: std >= FOREGROUND_STD,
                mean,
                std,
                orientation,
                coherence,
            });
        }
    }
    BlockField { cols, rows, blocks }
}
