//! The simulator's 512-byte templates and their matcher.
//!
//! Real modules keep their template format secret; the simulator needs one that behaves like
//! it: built from the image, so a re-scan of the same finger (shifted, noisy) matches and a
//! different finger does not. It holds the block orientation field (coarse, shift-tolerant)
//! and a 40 × 40 map of ridge/valley bits sampled every 3 pixels around the image centre
//! (fine: the ridge phase differs between fingers even where orientations agree). Layout:
//!
//! | bytes | content |
//! |---|---|
//! | 0–1 | magic `RT` |
//! | 2 | format version (2) |
//! | 3, 4 | block columns, rows (16 × 18 for a 256 × 288 image) |
//! | 5 | block size in pixels (16) |
//! | 6–7 | number of foreground blocks, big-endian |
//! | 8–295 | per block ridge orientation in 0..180 (degrees), 255 = background |
//! | 296–495 | ridge map: 1600 bits, row-major, 1 = darker than the block mean (ridge) |
//! | 496–509 | zero |
//! | 510–511 | 16-bit sum of bytes 0..510 |

use super::features::{BlockField, BLOCK};
use super::image::FingerImage;
use std::f32::consts::PI;

pub const TEMPLATE_LEN: usize = 512;
const HEADER: usize = 8;
/// Largest block grid a template holds (16 × 18 blocks of a 256 × 288 image).
const MAX_BLOCKS: usize = 288;
const BACKGROUND: u8 = 255;
/// Ridge map: side in samples, sample step in pixels.
const MAP: usize = 40;
const STEP: usize = 3;
const MAP_AT: usize = HEADER + MAX_BLOCKS;

/// Why template bytes were refused (a module answers 0x0C or 0x0E).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("template has {0} bytes, expected 512")]
    Length(usize),
    #[error("not a simulator template (bad magic, grid or checksum)")]
    Corrupt,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub cols: usize,
    pub rows: usize,
    /// Per block: `None` for background, else the ridge orientation in radians [0, π).
    pub blocks: Vec<Option<f32>>,
    /// Mean orientation coherence of the foreground blocks (0..1), in steps of 1/255.
    pub coherence: f32,
    /// MAP × MAP ridge bits; `None` where the sample falls on background.
    pub ridges: Vec<Option<bool>>,
}

fn map_origin(cols: usize, rows: usize) -> (isize, isize) {
    let half = (MAP * STEP / 2) as isize;
    (
        (cols * BLOCK / 2) as isize - half,
        (rows * BLOCK / 2) as isize - half,
    )
}

impl Template {
    /// Extracts a template: orientations smoothed over each 3×3 block neighbourhood (so single
    /// noisy blocks weigh little) and the ridge map of the image centre.
    pub fn extract(img: &FingerImage, field: &BlockField) -> Self {
        let (cols, rows) = (field.cols, field.rows);
        let mut blocks = Vec::with_capacity(cols * rows);
        for r in 0..rows {
            for c in 0..cols {
                if !field.at(c, r).foreground {
                    blocks.push(None);
                    continue;
                }
                let (mut sx, mut sy) = (0.0f32, 0.0f32);
                for nr in r.saturating_sub(1)..=(r + 1).min(rows - 1) {
                    for nc in c.saturating_sub(1)..=(c + 1).min(cols - 1) {
                        let b = field.at(nc, nr);
                        if b.foreground {
                            sx += b.coherence * (2.0 * b.orientation).cos();
                            sy += b.coherence * (2.0 * b.orientation).sin();
                        }
                    }
                }
                blocks.push(Some((0.5 * sy.atan2(sx)).rem_euclid(PI)));
            }
        }
        let fg: Vec<_> = field.foreground().collect();
        let coherence = if fg.is_empty() {
            0.0
        } else {
            fg.iter().map(|b| b.coherence).sum::<f32>() / fg.len() as f32
        };
        let (x0, y0) = map_origin(cols, rows);
        let mut ridges = Vec::with_capacity(MAP * MAP);
        for j in 0..MAP {
            for i in 0..MAP {
                let (x, y) = (x0 + (STEP * i) as isize + 1, y0 + (STEP * j) as isize + 1);
                ridges.push(ridge_bit(img, field, x, y));
            }
        }
        Template {
            cols,
            rows,
            blocks,
            coherence: (coherence * 255.0).round() / 255.0,
            ridges,
        }
    }

    pub fn foreground_blocks(&self) -> usize {
        self.blocks.iter().flatten().count()
    }

    pub fn to_bytes(&self) -> [u8; TEMPLATE_LEN] {
        let mut out = [0u8; TEMPLATE_LEN];
        out[0..2].copy_from_slice(b"RT");
        out[2] = 2;
        out[3] = self.cols as u8;
        out[4] = self.rows as u8;
        out[5] = BLOCK as u8;
        out[6..8].copy_from_slice(&(self.foreground_blocks() as u16).to_be_bytes());
        for (i, b) in self.blocks.iter().take(MAX_BLOCKS).enumerate() {
            out[HEADER + i] = match b {
                Some(o) => ((o.to_degrees().round() as u32) % 180) as u8,
                None => BACKGROUND,
            };
        }
        for (k, bit) in self.ridges.iter().enumerate() {
            if *bit == Some(true) {
                out[MAP_AT + k / 8] |= 0x80 >> (k % 8);
            }
        }
        out[MAP_AT + MAP * MAP / 8] = (self.coherence * 255.0).round() as u8;
        let sum = out[..TEMPLATE_LEN - 2]
            .iter()
            .fold(0u16, |s, &b| s.wrapping_add(u16::from(b)));
        out[TEMPLATE_LEN - 2..].copy_from_slice(&sum.to_be_bytes());
        out
    }

    pub fn from_bytes(b: &[u8]) -> Result<Self, TemplateError> {
        if b.len() != TEMPLATE_LEN {
            return Err(TemplateError::Length(b.len()));
        }
        let sum = b[..TEMPLATE_LEN - 2]
            .iter()
            .fold(0u16, |s, &x| s.wrapping_add(u16::from(x)));
        let (cols, rows) = (usize::from(b[3]), usize::from(b[4]));
        if &b[0..2] != b"RT"
            || b[2] != 2
            || usize::from(b[5]) != BLOCK
            || cols * rows > MAX_BLOCKS
            || sum.to_be_bytes() != [b[TEMPLATE_LEN - 2], b[TEMPLATE_LEN - 1]]
        {
            return Err(TemplateError::Corrupt);
        }
        let blocks: Vec<Option<f32>> = (0..cols * rows)
            .map(|i| {
                let o = b[HEADER + i];
                (o != BACKGROUND).then(|| f32::from(o).to_radians())
            })
            .collect();
        let (x0, y0) = map_origin(cols, rows);
        let ridges = (0..MAP * MAP)
            .map(|k| {
                let (x, y) = (
                    x0 + (STEP * (k % MAP)) as isize + 1,
                    y0 + (STEP * (k / MAP)) as isize + 1,
                );
                let (c, r) = (x / BLOCK as isize, y / BLOCK as isize);
                let inside = x >= 0 && y >= 0 && (c as usize) < cols && (r as usize) < rows;
                (inside && blocks[r as usize * cols + c as usize].is_some())
                    .then(|| b[MAP_AT + k / 8] & (0x80 >> (k % 8)) != 0)
            })
            .collect();
        Ok(Template {
            cols,
            rows,
            blocks,
            coherence: f32::from(b[MAP_AT + MAP * MAP / 8]) / 255.0,
            ridges,
        })
    }

    /// Orientation agreement: the best mean cos 2Δθ over block shifts of up to ±2, with the
    /// overlap (blocks) it was found on.
    pub fn orientation_agreement(&self, other: &Template) -> (f32, usize) {
        if (self.cols, self.rows) != (other.cols, other.rows) {
            return (0.0, 0);
        }
        let (cols, rows) = (self.cols as isize, self.rows as isize);
        let mut best = (0.0f32, 0usize);
        for oy in -2isize..=2 {
            for ox in -2isize..=2 {
                let (mut agree, mut n) = (0.0f32, 0usize);
                for r in 0..rows {
                    for c in 0..cols {
                        let (c2, r2) = (c + ox, r + oy);
                        if c2 < 0 || r2 < 0 || c2 >= cols || r2 >= rows {
                            continue;
                        }
                        if let (Some(a), Some(b)) = (
                            self.blocks[(r * cols + c) as usize],
                            other.blocks[(r2 * cols + c2) as usize],
                        ) {
                            agree += (2.0 * (a - b)).cos();
                            n += 1;
                        }
                    }
                }
                if n >= MIN_OVERLAP && agree / n as f32 > best.0 {
                    best = (agree / n as f32, n);
                }
            }
        }
        best
    }

    /// Ridge-map correlation (2 × agreement − 1) at the best shift of up to ±21 pixels.
    pub fn ridge_correlation(&self, other: &Template) -> f32 {
        let m = MAP as isize;
        let mut best = 0.0f32;
        for dy in -7isize..=7 {
            for dx in -7isize..=7 {
                let (mut same, mut n) = (0i32, 0i32);
                for j in 0.max(-dy)..m.min(m - dy) {
                    for i in 0.max(-dx)..m.min(m - dx) {
                        let a = self.ridges[(j * m + i) as usize];
                        let b = other.ridges[((j + dy) * m + i + dx) as usize];
                        if let (Some(a), Some(b)) = (a, b) {
                            n += 1;
                            same += i32::from(a == b);
                        }
                    }
                }
                if n >= MIN_RIDGE_SAMPLES {
                    best = best.max(2.0 * same as f32 / n as f32 - 1.0);
                }
            }
        }
        best
    }

    /// Similarity score 0..=[`MAX_SCORE`]: ridge-map correlation, required to come with
    /// agreeing orientations.
    pub fn match_score(&self, other: &Template) -> u16 {
        let (orient, overlap) = self.orientation_agreement(other);
        if overlap < MIN_OVERLAP || orient < ORIENTATION_FLOOR {
            return 0;
        }
        let r = self.ridge_correlation(other);
        let s = ((r - RIDGE_FLOOR) / (RIDGE_FULL - RIDGE_FLOOR)).clamp(0.0, 1.0);
        (s * f32::from(MAX_SCORE)).round() as u16
    }

    /// Combines two templates of one finger (RegModel): circular mean of orientations; the
    /// ridge map of the first, extended where it only had background.
    pub fn merge(&self, other: &Template) -> Template {
        let blocks = self
            .blocks
            .iter()
            .zip(&other.blocks)
            .map(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => {
                    let sx = (2.0 * a).cos() + (2.0 * b).cos();
                    let sy = (2.0 * a).sin() + (2.0 * b).sin();
                    Some((0.5 * sy.atan2(sx)).rem_euclid(PI))
                }
                (Some(a), None) | (None, Some(a)) => Some(*a),
                (None, None) => None,
            })
            .collect();
        Template {
            cols: self.cols,
            rows: self.rows,
            blocks,
            coherence: self.coherence.max(other.coherence),
            ridges: self.ridges.clone(),
        }
    }
}

fn ridge_bit(img: &FingerImage, field: &BlockField, x: isize, y: isize) -> Option<bool> {
    if x < 1 || y < 1 || x + 1 >= img.width as isize || y + 1 >= img.height as isize {
        return None;
    }
    let (c, r) = (x as usize / BLOCK, y as usize / BLOCK);
    if c >= field.cols || r >= field.rows || !field.at(c, r).foreground {
        return None;
    }
    let mut sum = 0u32;
    for yy in y - 1..=y + 1 {
        for xx in x - 1..=x + 1 {
            sum += u32::from(img.get(xx as usize, yy as usize));
        }
    }
    Some((sum as f32 / 9.0) < field.at(c, r).mean)
}

/// Scores run 0..=300, like the scores R30x modules report.
pub const MAX_SCORE: u16 = 300;
const MIN_OVERLAP: usize = 20;
/// Mean cos 2Δθ below which two templates cannot be one finger.
const ORIENTATION_FLOOR: f32 = 0.6;
const MIN_RIDGE_SAMPLES: i32 = 300;
/// Ridge correlation scoring 0 and full score.
const RIDGE_FLOOR: f32 = 0.1;
const RIDGE_FULL: f32 = 0.5;

/// Score a Match/Search needs at each security level 1..=5.
pub fn threshold(security_level: u16) -> u16 {
    match security_level {
        0 | 1 => 60,
        2 => 80,
        3 => 100,
        4 => 120,
        _ => 140,
    }
}
