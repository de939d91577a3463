//! A generated studio scene for the simulated camera and for tests: a face-like subject
//! (head oval, hair, eyes, brows, mouth, neck, shoulders) before a softly lit white wall,
//! with the defects the photo checks must catch.

use image::{Rgb, RgbImage};

/// Background behind the subject.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Backdrop {
    /// White wall with soft lighting (a gentle fall-off toward the corners).
    White,
    /// A plain wall of another colour.
    Coloured([u8; 3]),
    /// A white wall with a dark picture frame and a door edge behind the subject.
    Cluttered,
}

/// Everything that varies between generated pictures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SceneSpec {
    pub width: u32,
    pub height: u32,
    /// Horizontal shift of the subject, as a fraction of the frame width.
    pub subject_dx: f32,
    /// Vertical shift of the subject, as a fraction of the frame height.
    pub subject_dy: f32,
    pub backdrop: Backdrop,
    /// Light gain: 1.0 normal, 0.25 dark room, 1.8 blown out.
    pub gain: f32,
    /// 0.0 none; 0.6 = strong haze pulling everything toward mid grey.
    pub haze: f32,
    /// Box-blur radius in pixels (three passes, close to a Gaussian), 0 for none.
    pub blur_radius: u32,
    /// Draw both palms raised beside the face (proof-of-exception photo).
    pub palms: bool,
    /// Seed for the skin, hair and sensor texture.
    pub seed: u32,
}

impl SceneSpec {
    /// A well-lit, centred subject on white.
    pub fn good(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            subject_dx: 0.0,
            subject_dy: 0.0,
            backdrop: Backdrop::White,
            gain: 1.0,
            haze: 0.0,
            blur_radius: 0,
            palms: false,
            seed: 1,
        }
    }
}

const SKIN: [f32; 3] = [224.0, 178.0, 146.0];
const HAIR: [f32; 3] = [28.0, 22.0, 20.0];
const SHIRT: [f32; 3] = [38.0, 58.0, 112.0];
const EYE_WHITE: [f32; 3] = [235.0, 232.0, 228.0];
const IRIS: [f32; 3] = [45.0, 30.0, 22.0];
const LIPS: [f32; 3] = [176.0, 92.0, 90.0];

/// Renders the scene.
pub fn render(spec: &SceneSpec) -> RgbImage {
    let (w, h) = (spec.width.max(8), spec.height.max(8));
    let mut img = RgbImage::new(w, h);
    let mut noise = Noise::new(spec.seed);
    draw_backdrop(&mut img, spec.backdrop, &mut noise);

    let hf = h as f32;
    let cx = w as f32 * (0.5 + spec.subject_dx);
    let cy = hf * (0.44 + spec.subject_dy);
    // Head proportions follow the 2:3 guide crop (90% of the frame height).
    let (head_rx, head_ry) = (0.17 * hf, 0.225 * hf);

    // Shoulders and neck first, the head over them.
    let shoulder = Ellipse::new(cx, cy + 0.62 * hf, 0.42 * hf, 0.36 * hf);
    fill(&mut img, &shoulder, &mut noise, 10.0, |_, _| SHIRT);
    let neck = Ellipse::new(cx, cy + 0.25 * hf, 0.075 * hf, 0.14 * hf);
    fill(&mut img, &neck, &mut noise, 4.0, |_, _| shade(SKIN, 0.82));
    // Hair: a slightly larger oval behind the face, showing above the forehead.
    let hair = Ellipse::new(cx, cy - 0.035 * hf, head_rx * 1.06, head_ry * 1.0);
    fill(&mut img, &hair, &mut noise, 22.0, |_, _| HAIR);
    let face = Ellipse::new(cx, cy + 0.03 * hf, head_rx * 0.94, head_ry * 0.92);
    let light = (cx - 0.05 * hf, cy - 0.05 * hf);
    fill(&mut img, &face, &mut noise, 5.0, |x, y| {
        // Soft key light from the upper left: brighter centre, darker rim.
        let d = ((x - light.0).powi(2) + (y - light.1).powi(2)).sqrt() / (head_ry * 1.2);
        shade(SKIN, 1.05 - 0.25 * d.min(1.0))
    });
    // Fringe across the top of the face.
    let fringe = Ellipse::new(cx, cy - 0.14 * hf, head_rx * 0.9, 0.07 * hf);
    fill(&mut img, &fringe, &mut noise, 22.0, |_, _| HAIR);
    for side in [-1.0f32, 1.0] {
        let ex = cx + side * 0.062 * hf;
        let ey = cy - 0.01 * hf;
        let brow = Ellipse::new(ex, ey - 0.042 * hf, 0.038 * hf, 0.008 * hf);
        fill(&mut img, &brow, &mut noise, 10.0, |_, _| HAIR);
        let white = Ellipse::new(ex, ey, 0.032 * hf, 0.015 * hf);
        fill(&mut img, &white, &mut noise, 3.0, |_, _| EYE_WHITE);
        let iris = Ellipse::new(ex, ey, 0.013 * hf, 0.013 * hf);
        fill(&mut img, &iris, &mut noise, 3.0, |_, _| IRIS);
    }
    let nose = Ellipse::new(cx + 0.008 * hf, cy + 0.06 * hf, 0.016 * hf, 0.01 * hf);
    fill(&mut img, &nose, &mut noise, 3.0, |_, _| shade(SKIN, 0.72));
    let mouth = Ellipse::new(cx, cy + 0.115 * hf, 0.045 * hf, 0.012 * hf);
    fill(&mut img, &mouth, &mut noise, 4.0, |_, _| LIPS);
    if spec.palms {
        for side in [-1.0f32, 1.0] {
            let palm = Ellipse::new(cx + side * 0.36 * hf, cy + 0.05 * hf, 0.09 * hf, 0.13 * hf);
            fill(&mut img, &palm, &mut noise, 5.0, |_, _| shade(SKIN, 0.95));
            for f in 0..4 {
                let fx = cx + side * (0.36 * hf) + (f as f32 - 1.5) * 0.042 * hf;
                let finger = Ellipse::new(fx, cy - 0.12 * hf, 0.017 * hf, 0.07 * hf);
                fill(&mut img, &finger, &mut noise, 5.0, |_, _| shade(SKIN, 0.92));
            }
        }
    }

    if spec.blur_radius > 0 {
        box_blur(&mut img, spec.blur_radius);
    }
    apply_light(&mut img, spec.gain, spec.haze, &mut noise);
    img
}

fn draw_backdrop(img: &mut RgbImage, backdrop: Backdrop, noise: &mut Noise) {
    let (w, h) = (img.width() as f32, img.height() as f32);
    for (x, y, px) in img.enumerate_pixels_mut() {
        let (fx, fy) = (x as f32 / w - 0.5, y as f32 / h - 0.45);
        // Soft lighting: 1.0 in the middle, about 0.93 in the far corners.
        let fall = 1.0 - 0.14 * (fx * fx + fy * fy);
        let base = match backdrop {
            Backdrop::White | Backdrop::Cluttered => [246.0, 246.0, 244.0],
            Backdrop::Coloured(c) => [f32::from(c[0]), f32::from(c[1]), f32::from(c[2])],
        };
        let n = noise.next_signed() * 2.0;
        *px = Rgb(base.map(|c| clamp(c * fall + n)));
    }
    if backdrop == Backdrop::Cluttered {
        // A dark picture frame upper left and a door edge on the right.
        let (wi, hi) = (img.width(), img.height());
        let frame = (wi * 22 / 100, hi * 8 / 100, wi * 35 / 100, hi * 34 / 100);
        for y in frame.1..frame.3 {
            for x in frame.0..frame.2 {
                let v = 60.0 + noise.next_signed() * 20.0;
                img.put_pixel(x, y, Rgb([clamp(v * 1.2), clamp(v), clamp(v * 0.8)]));
            }
        }
        for y in 0..hi {
            for x in wi * 64 / 100..wi * 69 / 100 {
                let v = 120.0 + noise.next_signed() * 10.0;
                img.put_pixel(x, y, Rgb([clamp(v * 1.1), clamp(v * 0.9), clamp(v * 0.7)]));
            }
        }
    }
}

/// Axis-aligned ellipse.
struct Ellipse {
    cx: f32,
    cy: f32,
    rx: f32,
    ry: f32,
}

impl Ellipse {
    fn new(cx: f32, cy: f32, rx: f32, ry: f32) -> Self {
        Self { cx, cy, rx, ry }
    }
}

/// Fills an ellipse with a colour function plus texture noise of the given amplitude.
fn fill(
    img: &mut RgbImage,
    e: &Ellipse,
    noise: &mut Noise,
    texture: f32,
    colour: impl Fn(f32, f32) -> [f32; 3],
) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let y0 = ((e.cy - e.ry).floor() as i64).clamp(0, h);
    let y1 = ((e.cy + e.ry).ceil() as i64).clamp(0, h);
    for y in y0..y1 {
        let dy = (y as f32 + 0.5 - e.cy) / e.ry;
        let span = 1.0 - dy * dy;
        if span <= 0.0 {
            continue;
        }
        let half = e.rx * span.sqrt();
        let x0 = ((e.cx - half).round() as i64).clamp(0, w);
        let x1 = ((e.cx + half).round() as i64).clamp(0, w);
        for x in x0..x1 {
            let c = colour(x as f32, y as f32);
            let n = noise.next_signed() * texture;
            img.put_pixel(x as u32, y as u32, Rgb(c.map(|v| clamp(v + n))));
        }
    }
}

fn shade(c: [f32; 3], k: f32) -> [f32; 3] {
    c.map(|v| v * k)
}

fn clamp(v: f32) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

/// Exposure gain, haze toward mid grey, and a little sensor noise.
fn apply_light(img: &mut RgbImage, gain: f32, haze: f32, noise: &mut Noise) {
    if gain == 1.0 && haze == 0.0 {
        return;
    }
    for px in img.pixels_mut() {
        let n = noise.next_signed() * 1.5;
        *px = Rgb(px.0.map(|v| {
            let lit = f32::from(v) * gain;
            clamp(lit * (1.0 - haze) + 128.0 * haze + n)
        }));
    }
}

/// Three passes of a box blur of the given radius, separable, with running sums.
pub fn box_blur(img: &mut RgbImage, radius: u32) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let r = radius as usize;
    let mut buf = img.as_raw().clone();
    let mut line = Vec::new();
    for _ in 0..3 {
        for y in 0..h {
            blur_line(&mut buf[y * w * 3..(y + 1) * w * 3], 3, w, r, &mut line);
        }
        for x in 0..w {
            // Columns are strided; gather, blur, scatter.
            let mut col: Vec<u8> = (0..h)
                .flat_map(|y| {
                    let i = (y * w + x) * 3;
                    [buf[i], buf[i + 1], buf[i + 2]]
                })
                .collect();
            blur_line(&mut col, 3, h, r, &mut line);
            for y in 0..h {
                let i = (y * w + x) * 3;
                buf[i..i + 3].copy_from_slice(&col[y * 3..y * 3 + 3]);
            }
        }
    }
    img.copy_from_slice(&buf);
}

fn blur_line(data: &mut [u8], ch: usize, n: usize, r: usize, scratch: &mut Vec<u8>) {
    scratch.clear();
    scratch.extend_from_slice(data);
    let win = (2 * r + 1) as u32;
    for c in 0..ch {
        let at = |i: isize| -> u32 {
            let i = i.clamp(0, n as isize - 1) as usize;
            u32::from(scratch[i * ch + c])
        };
        let mut sum: u32 = (-(r as isize)..=r as isize).map(at).sum();
        for i in 0..n {
            data[i * ch + c] = ((sum + win / 2) / win) as u8;
            sum += at(i as isize + r as isize + 1);
            sum -= at(i as isize - r as isize);
        }
    }
}

/// Small deterministic generator for texture (xorshift32).
struct Noise(u32);

impl Noise {
    fn new(seed: u32) -> Self {
        Self(seed.wrapping_mul(2_654_435_761).max(1))
    }

    /// Uniform in [-1, 1].
    fn next_signed(&mut self) -> f32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        (x as f32 / u32::MAX as f32) * 2.0 - 1.0
    }
}
