//! Synthetic fingerprint-like images for the simulator.
//!
//! Each finger identity (a seed) gets a pattern class (arch, tented arch, left or right loop,
//! whorl), cores and deltas placed at random, an orientation field from the zero-pole model
//! (half the sum of the angles to the deltas minus those to the cores) with a smooth random
//! perturbation, and its own ridge period. Ridges are grown from seeded noise by repeated
//! oriented Gabor filtering. A placement then shifts the pattern, varies pressure, adds sensor
//! noise and, if asked, degrades it (low contrast, partial, smudged, blank).

use super::image::FingerImage;
use serde::{Deserialize, Serialize};
use std::f32::consts::PI;

/// Image geometry of an R307 sensor.
pub const WIDTH: usize = 256;
pub const HEIGHT: usize = 288;

/// Deterministic SplitMix64: patterns must not change with a dependency's RNG algorithm.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// Approximately normal (sum of four uniforms), mean 0, sd 1.
    pub fn normal(&mut self) -> f32 {
        (self.unit() + self.unit() + self.unit() + self.unit() - 2.0) * 1.732
    }
}

/// Stable 64-bit seed for a finger identity named in a scenario (FNV-1a).
pub fn seed_of(identity: &str) -> u64 {
    identity.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// How a placement's image is spoiled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageCondition {
    #[default]
    Good,
    /// Dry or lightly pressed finger: faint ridges.
    LowContrast,
    /// Only a corner of the finger touches the sensor.
    Partial,
    /// Wet or dirty finger: blurred ridges and blotches.
    Smudged,
    /// The sensor triggered but shows no finger.
    Blank,
}

/// A finger's ridge pattern before placement: values in [-1, 1], ridges positive.
pub struct FingerPattern {
    ridges: Vec<f32>,
    /// Finger outline: centre and radii relative to the image.
    centre: (f32, f32),
    radii: (f32, f32),
}

struct Singularities {
    cores: Vec<(f32, f32)>,
    deltas: Vec<(f32, f32)>,
    arch: bool,
}

fn singularities(rng: &mut Rng) -> Singularities {
    let (cx, cy) = (rng.range(95.0, 160.0), rng.range(105.0, 165.0));
    match rng.next_u64() % 5 {
        0 => Singularities {
            cores: vec![],
            deltas: vec![],
            arch: true,
        },
        1 => Singularities {
            // Tented arch: a core right above a delta.
            cores: vec![(cx, cy)],
            deltas: vec![(cx + rng.range(-8.0, 8.0), cy + rng.range(45.0, 70.0))],
            arch: false,
        },
        2 | 3 => {
            let side = if rng.next_u64().is_multiple_of(2) {
                -1.0
            } else {
                1.0
            };
            Singularities {
                cores: vec![(cx, cy)],
                deltas: vec![(
                    cx + side * rng.range(55.0, 95.0),
                    cy + rng.range(60.0, 110.0),
                )],
                arch: false,
            }
        }
        _ => {
            let (dx, dy) = (rng.range(-14.0, 14.0), rng.range(-14.0, 14.0));
            Singularities {
                cores: vec![(cx - dx, cy - dy), (cx + dx, cy + dy)],
                deltas: vec![
                    (cx - rng.range(70.0, 100.0), cy + rng.range(70.0, 110.0)),
                    (cx + rng.range(70.0, 100.0), cy + rng.range(70.0, 110.0)),
                ],
                arch: false,
            }
        }
    }
}

/// Ridge orientation field of a finger (radians, ridges run along it).
fn orientation_field(rng: &mut Rng) -> Vec<f32> {
    let s = singularities(rng);
    let base = rng.range(-0.25, 0.25);
    let arch_height = rng.range(0.4, 1.1);
    let arch_y = rng.range(110.0, 190.0);
    // Smooth random warp so two fingers of one class still differ everywhere.
    let waves: Vec<(f32, f32, f32, f32)> = (0..4)
        .map(|_| {
            (
                rng.range(0.08, 0.22),
                rng.range(0.0, 2.0 * PI),
                rng.range(0.005, 0.02),
                rng.range(0.0, 2.0 * PI),
            )
        })
        .collect();
    let mut field = Vec::with_capacity(WIDTH * HEIGHT);
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            let (xf, yf) = (x as f32, y as f32);
            let mut theta = base;
            if s.arch {
                let u = (xf - WIDTH as f32 / 2.0) / 70.0;
                theta += -arch_height
                    * u
                    * (-(u * u) / 2.0).exp()
                    * (-((yf - arch_y) / 90.0).powi(2)).exp();
            }
            for &(dx, dy) in &s.deltas {
                theta += 0.5 * (yf - dy).atan2(xf - dx);
            }
            for &(cx, cy) in &s.cores {
                theta -= 0.5 * (yf - cy).atan2(xf - cx);
            }
            for &(amp, dir, freq, phase) in &waves {
                theta += amp * ((xf * dir.cos() + yf * dir.sin()) * freq + phase).sin();
            }
            field.push(theta);
        }
    }
    field
}

impl FingerPattern {
    /// Grows the ridge pattern of one finger identity. Deterministic in `seed`.
    pub fn generate(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let theta = orientation_field(&mut rng);
        let period = rng.range(7.5, 10.5);
        let centre = (
            WIDTH as f32 / 2.0 + rng.range(-10.0, 10.0),
            HEIGHT as f32 / 2.0 + rng.range(-8.0, 12.0),
        );
        let radii = (rng.range(88.0, 104.0), rng.range(118.0, 134.0));

        // Gabor kernels for quantised orientations.
        const BINS: usize = 32;
        const R: isize = 4;
        let side = (2 * R + 1) as usize;
        let sigma2 = 2.0 * 3.2f32 * 3.2;
        let kernels: Vec<Vec<f32>> = (0..BINS)
            .map(|b| {
                let t = b as f32 * PI / BINS as f32;
                let (s, c) = t.sin_cos();
                let mut k = Vec::with_capacity(side * side);
                for dy in -R..=R {
                    for dx in -R..=R {
                        let (fx, fy) = (dx as f32, dy as f32);
                        // Distance across the ridges (normal to direction t).
                        let across = -fx * s + fy * c;
                        k.push(
                            (-(fx * fx + fy * fy) / sigma2).exp()
                                * (2.0 * PI * across / period).cos(),
                        );
                    }
                }
                let mean = k.iter().sum::<f32>() / k.len() as f32;
                k.iter_mut().for_each(|v| *v -= mean);
                k
            })
            .collect();
        let bins: Vec<usize> = theta
            .iter()
            .map(|t| ((t.rem_euclid(PI) / PI * BINS as f32).round() as usize) % BINS)
            .collect();

        let mut cur: Vec<f32> = (0..WIDTH * HEIGHT).map(|_| rng.range(-1.0, 1.0)).collect();
        let mut next = vec![0.0f32; WIDTH * HEIGHT];
        for _ in 0..5 {
            for y in 0..HEIGHT {
                for x in 0..WIDTH {
                    let k = &kernels[bins[y * WIDTH + x]];
                    let mut acc = 0.0;
                    let mut ki = 0;
                    for dy in -R..=R {
                        let yy = (y as isize + dy).clamp(0, HEIGHT as isize - 1) as usize;
                        let row = &cur[yy * WIDTH..(yy + 1) * WIDTH];
                        for dx in -R..=R {
                            let xx = (x as isize + dx).clamp(0, WIDTH as isize - 1) as usize;
                            acc += k[ki] * row[xx];
                            ki += 1;
                        }
                    }
                    next[y * WIDTH + x] = (acc * 0.6).clamp(-1.0, 1.0);
                }
            }
            std::mem::swap(&mut cur, &mut next);
        }
        FingerPattern {
            ridges: cur,
            centre,
            radii,
        }
    }

    /// One placement of this finger on the sensor. `placement_seed` varies position, pressure
    /// and noise between placements of the same finger.
    pub fn render(&self, placement_seed: u64, condition: ImageCondition) -> FingerImage {
        let mut rng = Rng::new(placement_seed);
        let (dx, dy) = (rng.range(-10.0, 10.0), rng.range(-10.0, 10.0));
        let pressure = rng.range(0.85, 1.0);
        let depth = match condition {
            ImageCondition::LowContrast => 26.0,
            _ => 170.0 * pressure,
        };
        let background = 232.0;
        let ridges = match condition {
            ImageCondition::Smudged => smudge(&self.ridges, &mut rng),
            _ => self.ridges.clone(),
        };
        let mut pixels = Vec::with_capacity(WIDTH * HEIGHT);
        for y in 0..HEIGHT {
            for x in 0..WIDTH {
                let (sx, sy) = (x as f32 - dx, y as f32 - dy);
                let ex = (sx - self.centre.0) / self.radii.0;
                let ey = (sy - self.centre.1) / self.radii.1;
                // Soft edge over the outer tenth of the outline.
                let mut mask = ((1.0 - (ex * ex + ey * ey).sqrt()) * 10.0).clamp(0.0, 1.0);
                match condition {
                    ImageCondition::Blank => mask = 0.0,
                    ImageCondition::Partial
                        if sx > self.centre.0 - 25.0 || sy > self.centre.1 - 35.0 =>
                    {
                        mask = 0.0
                    }
                    _ => {}
                }
                let (ix, iy) = (sx.round() as isize, sy.round() as isize);
                let r = if (0..WIDTH as isize).contains(&ix) && (0..HEIGHT as isize).contains(&iy) {
                    ridges[iy as usize * WIDTH + ix as usize]
                } else {
                    0.0
                };
                let v = background - mask * depth * (0.5 + 0.5 * r) + 6.0 * rng.normal();
                pixels.push(v.clamp(0.0, 255.0) as u8);
            }
        }
        FingerImage {
            width: WIDTH,
            height: HEIGHT,
            pixels,
        }
    }
}

/// Blurs the ridges away in blotches, as a wet finger does.
fn smudge(ridges: &[f32], rng: &mut Rng) -> Vec<f32> {
    let mut out = ridges.to_vec();
    for _ in 0..3 {
        out = box_blur(&out, 3);
    }
    for _ in 0..7 {
        let (bx, by, r) = (
            rng.range(30.0, 226.0),
            rng.range(40.0, 250.0),
            rng.range(20.0, 45.0),
        );
        for y in 0..HEIGHT {
            for x in 0..WIDTH {
                let d = ((x as f32 - bx).powi(2) + (y as f32 - by).powi(2)).sqrt();
                if d < r {
                    out[y * WIDTH + x] = 0.8;
                }
            }
        }
    }
    out
}

fn box_blur(src: &[f32], r: isize) -> Vec<f32> {
    let mut tmp = vec![0.0; src.len()];
    let mut out = vec![0.0; src.len()];
    let n = (2 * r + 1) as f32;
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            let mut s = 0.0;
            for d in -r..=r {
                let xx = (x as isize + d).clamp(0, WIDTH as isize - 1) as usize;
                s += src[y * WIDTH + xx];
            }
            tmp[y * WIDTH + x] = s / n;
        }
    }
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            let mut s = 0.0;
            for d in -r..=r {
                let yy = (y as isize + d).clamp(0, HEIGHT as isize - 1) as usize;
                s += tmp[yy * WIDTH + x];
            }
            out[y * WIDTH + x] = s / n;
        }
    }
    out
}
