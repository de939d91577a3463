//! Quality checks on a cropped photo, with plain verdicts in Vietnamese and English.
//!
//! The checks run on a half-size copy (300x450 for a card photo): the measures do not need
//! full resolution, and averaging 2x2 pixels also tames sensor noise before the Laplacian.

use super::PhotoProfile;
use image::RgbImage;
use serde::Serialize;

/// Limits for the checks. Defaults were tuned on generated scenes (see the tests).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Thresholds {
    /// Mean brightness (0-255) of the face area.
    pub min_face_luma: f32,
    pub max_face_luma: f32,
    /// Share of the face area that is blown out (>= 250).
    pub max_face_clipped: f32,
    /// Spread between the 2nd and 98th percentile of brightness over the photo.
    pub min_contrast: f32,
    /// Variance of the Laplacian of the subject area, brightness-normalised.
    pub min_sharpness: f32,
    /// Mean brightness of the background samples.
    pub min_background_luma: f32,
    /// Mean colourfulness (max - min channel) of the background samples.
    pub max_background_chroma: f32,
    /// Standard deviation of background brightness, and the largest left/right difference.
    pub max_background_spread: f32,
    /// Largest horizontal offset of the head from the centre, as a fraction of the width.
    pub max_centre_offset: f32,
    /// Allowed range for the top of the head, as a fraction of the height.
    pub head_top_min: f32,
    pub head_top_max: f32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            min_face_luma: 60.0,
            max_face_luma: 230.0,
            max_face_clipped: 0.3,
            min_contrast: 100.0,
            min_sharpness: 60.0,
            min_background_luma: 170.0,
            max_background_chroma: 30.0,
            max_background_spread: 14.0,
            max_centre_offset: 0.08,
            head_top_min: 0.06,
            head_top_max: 0.30,
        }
    }
}

/// What a check looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    Exposure,
    Contrast,
    Sharpness,
    BackgroundWhite,
    BackgroundUniform,
    SubjectCentred,
}

/// The outcome of one check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckResult {
    pub check: CheckKind,
    pub passed: bool,
    /// The measured value the verdict rests on.
    pub value: f32,
    pub message_vi: String,
    pub message_en: String,
}

/// All checks on one photo and the verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PhotoReport {
    pub profile: PhotoProfile,
    pub accepted: bool,
    pub checks: Vec<CheckResult>,
}

impl PhotoReport {
    /// The checks that failed, in the order they were run.
    pub fn failures(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks.iter().filter(|c| !c.passed)
    }

    pub fn failed(&self, kind: CheckKind) -> bool {
        self.checks.iter().any(|c| c.check == kind && !c.passed)
    }
}

/// Runs the profile's checks on a cropped photo.
pub fn assess(photo: &RgbImage, profile: PhotoProfile, t: &Thresholds) -> PhotoReport {
    let a = Analysis::new(photo);
    let mut checks = Vec::with_capacity(6);
    let (face, subject) = match profile {
        PhotoProfile::CardFace => (
            Region::new(0.35, 0.36, 0.65, 0.66),
            Region::new(0.25, 0.12, 0.75, 0.72),
        ),
        PhotoProfile::FingerException => (
            Region::new(0.38, 0.25, 0.62, 0.70),
            Region::new(0.15, 0.10, 0.85, 0.85),
        ),
    };
    checks.push(exposure(&a, face, t));
    checks.push(contrast(&a, t));
    checks.push(sharpness(&a, subject, t));
    if profile == PhotoProfile::CardFace {
        let bg = Background::sample(&a);
        checks.push(background_white(&bg, t));
        checks.push(background_uniform(&bg, t));
        checks.push(centred(&a, &bg, t));
    }
    PhotoReport {
        profile,
        accepted: checks.iter().all(|c| c.passed),
        checks,
    }
}

/// Half-size brightness and colour of the photo.
struct Analysis {
    w: usize,
    h: usize,
    luma: Vec<f32>,
    rgb: Vec<[f32; 3]>,
}

impl Analysis {
    fn new(photo: &RgbImage) -> Self {
        let (w, h) = ((photo.width() / 2) as usize, (photo.height() / 2) as usize);
        let src = photo.as_raw();
        let stride = photo.width() as usize * 3;
        let mut luma = Vec::with_capacity(w * h);
        let mut rgb = Vec::with_capacity(w * h);
        for y in 0..h {
            let r0 = &src[2 * y * stride..];
            let r1 = &src[(2 * y + 1) * stride..];
            for x in 0..w {
                let i = 6 * x;
                let mut c = [0f32; 3];
                for (k, v) in c.iter_mut().enumerate() {
                    let s = u32::from(r0[i + k])
                        + u32::from(r0[i + 3 + k])
                        + u32::from(r1[i + k])
                        + u32::from(r1[i + 3 + k]);
                    *v = s as f32 * 0.25;
                }
                luma.push(0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]);
                rgb.push(c);
            }
        }
        Self { w, h, luma, rgb }
    }

    fn bounds(&self, r: Region) -> (usize, usize, usize, usize) {
        let x0 = (r.x0 * self.w as f32) as usize;
        let x1 = ((r.x1 * self.w as f32) as usize).clamp(x0 + 1, self.w);
        let y0 = (r.y0 * self.h as f32) as usize;
        let y1 = ((r.y1 * self.h as f32) as usize).clamp(y0 + 1, self.h);
        (x0, y0, x1, y1)
    }
}

/// A rectangle in fractions of the photo.
#[derive(Clone, Copy)]
struct Region {
    x0: f32,
    y0: f32,
    x1: f32,
    y1: f32,
}

impl Region {
    const fn new(x0: f32, y0: f32, x1: f32, y1: f32) -> Self {
        Self { x0, y0, x1, y1 }
    }
}

fn result(check: CheckKind, passed: bool, value: f32, vi: &str, en: &str) -> CheckResult {
    CheckResult {
        check,
        passed,
        value,
        message_vi: vi.to_owned(),
        message_en: en.to_owned(),
    }
}

fn exposure(a: &Analysis, face: Region, t: &Thresholds) -> CheckResult {
    let (x0, y0, x1, y1) = a.bounds(face);
    let (mut sum, mut clipped, mut n) = (0f32, 0usize, 0usize);
    for y in y0..y1 {
        for &l in &a.luma[y * a.w + x0..y * a.w + x1] {
            sum += l;
            clipped += usize::from(l >= 250.0);
            n += 1;
        }
    }
    let mean = sum / n.max(1) as f32;
    let clipped = clipped as f32 / n.max(1) as f32;
    let k = CheckKind::Exposure;
    if mean < t.min_face_luma {
        result(
            k,
            false,
            mean,
            "Ảnh quá tối: bật thêm đèn hoặc đưa người lại gần nguồn sáng.",
            "Photo too dark: add light or move the person closer to the light.",
        )
    } else if mean > t.max_face_luma || clipped > t.max_face_clipped {
        result(
            k,
            false,
            mean,
            "Ảnh quá sáng, mặt bị cháy sáng: giảm đèn hoặc tránh nắng chiếu thẳng.",
            "Photo too bright, the face is washed out: dim the light or avoid direct sun.",
        )
    } else {
        result(k, true, mean, "Độ sáng tốt.", "Exposure is good.")
    }
}

/// Brightness at the given percentile (0-1) of a set of values in 0-255.
fn percentile(hist: &[u32; 256], total: u32, p: f32) -> f32 {
    let target = (p * total as f32) as u32;
    let mut acc = 0;
    for (v, &c) in hist.iter().enumerate() {
        acc += c;
        if acc > target {
            return v as f32;
        }
    }
    255.0
}

fn contrast(a: &Analysis, t: &Thresholds) -> CheckResult {
    let mut hist = [0u32; 256];
    for &l in &a.luma {
        hist[l.clamp(0.0, 255.0) as usize] += 1;
    }
    let n = a.luma.len() as u32;
    let spread = percentile(&hist, n, 0.98) - percentile(&hist, n, 0.02);
    if spread < t.min_contrast {
        result(
            CheckKind::Contrast,
            false,
            spread,
            "Ảnh mờ nhạt, thiếu tương phản: lau ống kính, tránh ánh sáng ngược.",
            "Photo looks flat, too little contrast: clean the lens and avoid back light.",
        )
    } else {
        result(
            CheckKind::Contrast,
            true,
            spread,
            "Độ tương phản tốt.",
            "Contrast is good.",
        )
    }
}

fn sharpness(a: &Analysis, subject: Region, t: &Thresholds) -> CheckResult {
    let (x0, y0, x1, y1) = a.bounds(subject);
    let (x0, y0) = (x0.max(1), y0.max(1));
    let (x1, y1) = (x1.min(a.w - 1), y1.min(a.h - 1));
    // Normalise by the subject's own brightness range so a dim photo is not called blurred.
    let mut hist = [0u32; 256];
    for y in y0..y1 {
        for &l in &a.luma[y * a.w + x0..y * a.w + x1] {
            hist[l.clamp(0.0, 255.0) as usize] += 1;
        }
    }
    let n = ((x1 - x0) * (y1 - y0)) as u32;
    // The gain is capped: stretching a very dim picture would mostly amplify sensor noise.
    let range = (percentile(&hist, n, 0.98) - percentile(&hist, n, 0.02)).max(1.0);
    let scale = (255.0 / range).min(3.0);
    let (mut sum, mut sum2) = (0f64, 0f64);
    for y in y0..y1 {
        let row = y * a.w;
        for x in x0..x1 {
            let i = row + x;
            let lap =
                a.luma[i - 1] + a.luma[i + 1] + a.luma[i - a.w] + a.luma[i + a.w] - 4.0 * a.luma[i];
            let lap = f64::from(lap * scale);
            sum += lap;
            sum2 += lap * lap;
        }
    }
    let n = f64::from(n.max(1));
    let mean = sum / n;
    let var = (sum2 / n - mean * mean) as f32;
    if var < t.min_sharpness {
        result(
            CheckKind::Sharpness,
            false,
            var,
            "Ảnh bị mờ, không nét: giữ yên người và camera, chờ camera lấy nét.",
            "Photo is blurred: keep the person and camera still and let the camera focus.",
        )
    } else {
        result(
            CheckKind::Sharpness,
            true,
            var,
            "Ảnh nét.",
            "Photo is sharp.",
        )
    }
}

/// Samples of the background: a band along the top edge and the two upper sides, beside
/// the head. Colour and brightness are medians, so a head that strays into one side does
/// not hide the wall's true colour.
struct Background {
    median: [f32; 3],
    luma: f32,
    chroma: f32,
    spread: f32,
    left_right: f32,
}

impl Background {
    fn sample(a: &Analysis) -> Self {
        let parts = [
            Region::new(0.0, 0.0, 1.0, 0.06),
            Region::new(0.0, 0.06, 0.12, 0.45),
            Region::new(0.88, 0.06, 1.0, 0.45),
        ];
        let mut hist = [[0u32; 256]; 3];
        let mut luma_hist = [0u32; 256];
        let mut chroma_hist = [0u32; 256];
        let (mut sum, mut sum2, mut n) = (0f64, 0f64, 0u32);
        let mut side_means = [0f64; 2];
        for (p, r) in parts.iter().enumerate() {
            let (x0, y0, x1, y1) = a.bounds(*r);
            let (mut part_sum, mut part_n) = (0f64, 0u32);
            for y in y0..y1 {
                for i in y * a.w + x0..y * a.w + x1 {
                    let l = a.luma[i];
                    let c = a.rgb[i];
                    for k in 0..3 {
                        hist[k][c[k] as usize] += 1;
                    }
                    luma_hist[l as usize] += 1;
                    let (mx, mn) = (c[0].max(c[1]).max(c[2]), c[0].min(c[1]).min(c[2]));
                    chroma_hist[(mx - mn) as usize] += 1;
                    sum += f64::from(l);
                    sum2 += f64::from(l) * f64::from(l);
                    part_sum += f64::from(l);
                    part_n += 1;
                }
            }
            n += part_n;
            if p > 0 {
                side_means[p - 1] = part_sum / f64::from(part_n.max(1));
            }
        }
        let nf = f64::from(n.max(1));
        let mean = sum / nf;
        Self {
            median: [0, 1, 2].map(|k| percentile(&hist[k], n, 0.5)),
            luma: percentile(&luma_hist, n, 0.5),
            chroma: percentile(&chroma_hist, n, 0.5),
            spread: (sum2 / nf - mean * mean).max(0.0).sqrt() as f32,
            left_right: (side_means[0] - side_means[1]).abs() as f32,
        }
    }
}

fn background_white(bg: &Background, t: &Thresholds) -> CheckResult {
    let k = CheckKind::BackgroundWhite;
    if bg.chroma > t.max_background_chroma {
        result(
            k,
            false,
            bg.chroma,
            "Phông nền không phải màu trắng: cho người đứng trước phông trắng.",
            "Background is not white: place the person in front of a white backdrop.",
        )
    } else if bg.luma < t.min_background_luma {
        result(
            k,
            false,
            bg.luma,
            "Phông nền tối hoặc xám: chiếu sáng phông nền trắng đều hơn.",
            "Background is grey or dark: light the white backdrop better.",
        )
    } else {
        result(k, true, bg.luma, "Phông nền trắng.", "Background is white.")
    }
}

fn background_uniform(bg: &Background, t: &Thresholds) -> CheckResult {
    let worst = bg.spread.max(bg.left_right);
    if worst > t.max_background_spread {
        result(
            CheckKind::BackgroundUniform,
            false,
            worst,
            "Phông nền không đều: có bóng đổ hoặc đồ vật phía sau người chụp.",
            "Background is uneven: there is a shadow or an object behind the person.",
        )
    } else {
        result(
            CheckKind::BackgroundUniform,
            true,
            worst,
            "Phông nền đều.",
            "Background is even.",
        )
    }
}

fn centred(a: &Analysis, bg: &Background, t: &Thresholds) -> CheckResult {
    let k = CheckKind::SubjectCentred;
    // Subject = pixels clearly unlike the background colour.
    let is_subject = |i: usize| {
        let c = a.rgb[i];
        (c[0] - bg.median[0]).abs() + (c[1] - bg.median[1]).abs() + (c[2] - bg.median[2]).abs()
            > 60.0
    };
    let mut head_top = None;
    for y in 0..a.h {
        let count = (0..a.w).filter(|&x| is_subject(y * a.w + x)).count();
        if count as f32 > 0.1 * a.w as f32 {
            head_top = Some(y as f32 / a.h as f32);
            break;
        }
    }
    let (y0, y1) = ((0.10 * a.h as f32) as usize, (0.60 * a.h as f32) as usize);
    let (mut mass, mut moment) = (0f64, 0f64);
    for y in y0..y1 {
        for x in 0..a.w {
            if is_subject(y * a.w + x) {
                mass += 1.0;
                moment += x as f64;
            }
        }
    }
    let band = ((y1 - y0) * a.w) as f64;
    if mass < 0.08 * band {
        return result(
            k,
            false,
            0.0,
            "Không thấy người trong khung: mời người ngồi vào giữa khung hình bầu dục.",
            "No one in the frame: seat the person inside the oval guide.",
        );
    }
    let offset = (moment / mass) as f32 / a.w as f32 - 0.5;
    let top = head_top.unwrap_or(0.0);
    if offset.abs() > t.max_centre_offset {
        let (vi, en) = if offset > 0.0 {
            (
                "Người lệch sang phải khung hình: dịch người vào giữa khung bầu dục.",
                "Person is off to the right: move them to the middle of the oval guide.",
            )
        } else {
            (
                "Người lệch sang trái khung hình: dịch người vào giữa khung bầu dục.",
                "Person is off to the left: move them to the middle of the oval guide.",
            )
        };
        result(k, false, offset, vi, en)
    } else if top < t.head_top_min {
        result(
            k,
            false,
            offset,
            "Đầu bị cắt hoặc quá gần: lùi camera ra hoặc hạ camera xuống.",
            "Head is cut off or too close: move the camera back or lower it.",
        )
    } else if top > t.head_top_max {
        result(
            k,
            false,
            offset,
            "Người quá thấp hoặc quá xa trong khung: nâng camera lên hoặc lại gần hơn.",
            "Person sits too low or too far away: raise the camera or move closer.",
        )
    } else {
        result(
            k,
            true,
            offset,
            "Người ở giữa khung hình.",
            "Person is centred.",
        )
    }
}
