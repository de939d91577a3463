//! Video modes and the pure negotiation that picks one from what a device offers.
//!
//! NOTES.md: nokhwa's `Closest` and `AbsoluteHighestResolution` requests fail on real devices,
//! so the kiosk enumerates the device's own list, picks here, and asks for that exact mode.

use serde::Serialize;
use std::fmt;

/// Pixel encodings a camera can deliver; only MJPEG and YUYV are used by the kiosk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum PixelFormat {
    Mjpeg,
    Yuyv,
    /// Anything else the device lists (NV12, GREY, raw RGB...), kept for reporting.
    Other,
}

impl fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PixelFormat::Mjpeg => "MJPEG",
            PixelFormat::Yuyv => "YUYV",
            PixelFormat::Other => "other",
        })
    }
}

/// One mode offered by a device: size, frame rate and encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct VideoMode {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub format: PixelFormat,
}

impl VideoMode {
    pub const fn new(width: u32, height: u32, fps: u32, format: PixelFormat) -> Self {
        Self {
            width,
            height,
            fps,
            format,
        }
    }

    fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

impl fmt::Display for VideoMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}x{} @ {} fps",
            self.format, self.width, self.height, self.fps
        )
    }
}

/// What the kiosk wants from a camera.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModeRequirements {
    /// Smallest size worth using for a card photo.
    pub min_width: u32,
    pub min_height: u32,
    /// Largest size worth decoding; 1920x1080 gives a 648x972 2:3 crop, enough for a
    /// 600x900 photo without upscaling, while bigger modes only cost CPU.
    pub max_width: u32,
    pub max_height: u32,
    /// Slowest frame rate that still gives a fluid preview.
    pub min_fps: u32,
    /// Frame rates above this buy nothing for a portrait.
    pub max_useful_fps: u32,
}

impl Default for ModeRequirements {
    fn default() -> Self {
        Self {
            min_width: 1280,
            min_height: 720,
            max_width: 1920,
            max_height: 1080,
            min_fps: 15,
            max_useful_fps: 30,
        }
    }
}

/// The negotiated mode, and whether it meets every requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Negotiated {
    pub mode: VideoMode,
    /// False when the device offers nothing at 1280x720 or more (or only too slowly):
    /// the kiosk still works, and the UI can say the camera is below standard.
    pub meets_requirements: bool,
}

/// Picks the mode to request. Order of preference:
/// 1. MJPEG at or above the minimum size and frame rate, 2. YUYV likewise,
/// 3. MJPEG then YUYV at or above the minimum size at any frame rate,
/// 4. the largest MJPEG or YUYV mode below the minimum (flagged).
///
/// Within a tier: the largest size not above the maximum (else the smallest above it),
/// then the highest frame rate up to `max_useful_fps` (else the lowest above it).
/// Returns `None` only when the device offers neither MJPEG nor YUYV.
pub fn negotiate(offered: &[VideoMode], req: &ModeRequirements) -> Option<Negotiated> {
    let usable = |m: &&VideoMode| m.format != PixelFormat::Other && m.width > 0 && m.height > 0;
    let big_enough = |m: &VideoMode| m.width >= req.min_width && m.height >= req.min_height;
    let fast_enough = |m: &VideoMode| m.fps >= req.min_fps;

    let tiers: [&dyn Fn(&VideoMode) -> bool; 4] = [
        &|m| m.format == PixelFormat::Mjpeg && big_enough(m) && fast_enough(m),
        &|m| m.format == PixelFormat::Yuyv && big_enough(m) && fast_enough(m),
        &|m| m.format == PixelFormat::Mjpeg && big_enough(m),
        &|m| m.format == PixelFormat::Yuyv && big_enough(m),
    ];
    for tier in tiers {
        let candidates: Vec<&VideoMode> =
            offered.iter().filter(usable).filter(|m| tier(m)).collect();
        if let Some(best) = best_in_tier(&candidates, req) {
            return Some(Negotiated {
                mode: best,
                meets_requirements: fast_enough(&best),
            });
        }
    }
    // Below the minimum size: the largest picture, then the frame-rate rule, MJPEG first.
    offered
        .iter()
        .filter(usable)
        .max_by_key(|m| {
            (
                m.pixels(),
                fps_rank(m.fps, req),
                m.format == PixelFormat::Mjpeg,
            )
        })
        .map(|m| Negotiated {
            mode: *m,
            meets_requirements: false,
        })
}

fn best_in_tier(candidates: &[&VideoMode], req: &ModeRequirements) -> Option<VideoMode> {
    let within_cap = |m: &VideoMode| m.width <= req.max_width && m.height <= req.max_height;
    let capped = candidates
        .iter()
        .filter(|m| within_cap(m))
        .max_by_key(|m| (m.pixels(), fps_rank(m.fps, req)));
    let chosen = match capped {
        Some(m) => Some(**m),
        None => candidates
            .iter()
            // Smallest oversize mode; among equals, the best frame rate.
            .min_by_key(|m| (m.pixels(), std::cmp::Reverse(fps_rank(m.fps, req))))
            .map(|m| **m),
    };
    chosen
}

/// Higher is better: rates up to the useful maximum rank by value, faster ones rank below
/// every useful rate and the closest to the maximum first.
fn fps_rank(fps: u32, req: &ModeRequirements) -> i64 {
    if fps <= req.max_useful_fps {
        i64::from(fps)
    } else {
        -i64::from(fps)
    }
}
