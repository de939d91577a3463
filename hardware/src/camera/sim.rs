//! The simulated camera: a generated studio scene or a folder of pictures, paced in real
//! time, with scripted faults. It runs on a capture thread exactly like a V4L2 camera.
//!
//! Script syntax (also after `sim:` on the command line): comma-separated steps
//! `fault[:frames]`, faults `ok`, `dark`, `blur`, `offcentre`, `background`, `lost`.
//! A step without a count lasts forever; a script whose steps all have counts loops.
//! `lost` makes the device vanish for its frame count (default 30) and come back.

use super::scene::{self, Backdrop, SceneSpec};
use super::stream::{self, EventSink, Opened};
use super::{
    CameraError, CameraEvent, CameraSource, FrameStream, PixelFormat, SourceInfo, SourceKind,
    VideoMode,
};
use image::{imageops, Rgb, RgbImage};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// A defect the simulator can put into its pictures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SimFault {
    None,
    Dark,
    Blurred,
    OffCentre,
    Background,
    DeviceLost,
}

impl FromStr for SimFault {
    type Err = CameraError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "ok" | "none" => SimFault::None,
            "dark" => SimFault::Dark,
            "blur" | "blurred" => SimFault::Blurred,
            "offcentre" | "offcenter" | "off-centre" | "off-center" => SimFault::OffCentre,
            "background" | "bg" => SimFault::Background,
            "lost" | "device-lost" => SimFault::DeviceLost,
            other => {
                return Err(CameraError::Simulator(format!(
                    "unknown fault {other:?} (ok, dark, blur, offcentre, background, lost)"
                )))
            }
        })
    }
}

/// One step of a fault script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScriptStep {
    pub fault: SimFault,
    /// Frames this step lasts; `None` forever.
    pub frames: Option<u32>,
}

/// A sequence of faults over time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimScript(pub Vec<ScriptStep>);

impl Default for SimScript {
    fn default() -> Self {
        SimScript(vec![ScriptStep {
            fault: SimFault::None,
            frames: None,
        }])
    }
}

impl FromStr for SimScript {
    type Err = CameraError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut steps = Vec::new();
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (name, count) = match part.split_once(':') {
                Some((n, c)) => {
                    let c: u32 = c.trim().parse().map_err(|_| {
                        CameraError::Simulator(format!("bad frame count in {part:?}"))
                    })?;
                    (n, Some(c))
                }
                None => (part, None),
            };
            let fault: SimFault = name.parse()?;
            let frames = match (fault, count) {
                (SimFault::DeviceLost, None) => Some(30),
                _ => count,
            };
            steps.push(ScriptStep { fault, frames });
        }
        if steps.is_empty() {
            return Ok(SimScript::default());
        }
        Ok(SimScript(steps))
    }
}

impl SimScript {
    /// The step in force at frame `n` (frames counted across lost periods too).
    fn step_at(&self, n: u64) -> ScriptStep {
        let total: Option<u64> = self
            .0
            .iter()
            .map(|s| s.frames.map(u64::from))
            .sum::<Option<u64>>();
        let mut n = match total {
            Some(t) if t > 0 => n % t,
            _ => n,
        };
        for step in &self.0 {
            match step.frames {
                Some(f) if n >= u64::from(f) => n -= u64::from(f),
                _ => return *step,
            }
        }
        // Unreachable for a looping script; a forever step returns above.
        self.0.last().copied().unwrap_or(ScriptStep {
            fault: SimFault::None,
            frames: None,
        })
    }
}

/// Where the simulator's pictures come from.
#[derive(Clone, Debug, PartialEq)]
pub enum SimSource {
    /// The generated studio scene.
    Scene,
    /// Every PNG/JPEG in a folder, in name order, looped.
    Folder(PathBuf),
}

/// Settings of the simulated camera.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    pub width: u32,
    pub height: u32,
    /// Frames per second, 15 to 30.
    pub fps: u32,
    pub source: SimSource,
    pub script: SimScript,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            width: 1280,
            height: 720,
            fps: 25,
            source: SimSource::Scene,
            script: SimScript::default(),
        }
    }
}

/// The simulated camera.
#[derive(Clone, Debug)]
pub struct SimCamera {
    config: SimConfig,
}

impl SimCamera {
    pub fn new(mut config: SimConfig) -> Self {
        config.fps = config.fps.clamp(15, 30);
        config.width = config.width.max(64);
        config.height = config.height.max(64);
        Self { config }
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }
}

impl CameraSource for SimCamera {
    fn describe(&self) -> SourceInfo {
        let name = match &self.config.source {
            SimSource::Scene => "simulated camera (generated scene)".to_owned(),
            SimSource::Folder(p) => format!("simulated camera ({})", p.display()),
        };
        SourceInfo {
            kind: SourceKind::Simulated,
            name,
        }
    }

    fn start(&self) -> Result<FrameStream, CameraError> {
        let config = self.config.clone();
        stream::spawn("camera-sim", move |opened, sink| run(config, opened, sink))
    }
}

fn run(config: SimConfig, opened: Opened, mut sink: EventSink) {
    let mut pictures = match Pictures::load(&config) {
        Ok(p) => p,
        Err(e) => return opened.report(Err(e)),
    };
    let mode = VideoMode::new(config.width, config.height, config.fps, PixelFormat::Mjpeg);
    opened.report(Ok(mode));

    let period = Duration::from_secs_f64(1.0 / f64::from(config.fps));
    let mut deadline = Instant::now();
    let mut n: u64 = 0;
    let mut lost = false;
    while !sink.should_stop() {
        let step = config.script.step_at(n);
        if step.fault == SimFault::DeviceLost {
            if !lost {
                lost = true;
                let e = CameraError::DeviceLost {
                    device: "simulated camera".into(),
                    detail: "scripted disconnection".into(),
                };
                if !sink.event(CameraEvent::DeviceLost(e)) {
                    return;
                }
            }
        } else {
            if lost {
                lost = false;
                if !sink.event(CameraEvent::Reopened(mode)) {
                    return;
                }
            }
            let frame = pictures.frame(n, step.fault);
            if !sink.frame(frame) {
                return;
            }
        }
        n += 1;
        deadline += period;
        let now = Instant::now();
        if deadline > now {
            if !sink.sleep(deadline - now) {
                return;
            }
        } else if now - deadline > period {
            // Fell behind (a slow machine): keep the pace from now rather than bursting.
            deadline = now;
        }
    }
}

/// Rendered pictures, cached per fault, with a small sway so frames differ.
struct Pictures {
    width: u32,
    height: u32,
    margin: u32,
    bases: Vec<RgbImage>,
    cache: HashMap<(usize, SimFault), RgbImage>,
    from_scene: bool,
}

impl Pictures {
    fn load(config: &SimConfig) -> Result<Self, CameraError> {
        let margin = (config.width / 100).max(2);
        let (cw, ch) = (config.width + 2 * margin, config.height + 2 * margin);
        let (bases, from_scene) = match &config.source {
            SimSource::Scene => (Vec::new(), true),
            SimSource::Folder(dir) => (load_folder(dir, cw, ch)?, false),
        };
        Ok(Self {
            width: config.width,
            height: config.height,
            margin,
            bases,
            cache: HashMap::new(),
            from_scene,
        })
    }

    fn frame(&mut self, n: u64, fault: SimFault) -> RgbImage {
        let idx = if self.from_scene {
            0
        } else {
            (n as usize) % self.bases.len().max(1)
        };
        let (cw, ch) = (self.width + 2 * self.margin, self.height + 2 * self.margin);
        let canvas = if self.from_scene {
            self.cache
                .entry((idx, fault))
                .or_insert_with(|| scene::render(&scene_for(fault, cw, ch)))
        } else {
            let base = &self.bases[idx];
            self.cache
                .entry((idx, fault))
                .or_insert_with(|| degrade(base, fault))
        };
        // Sway a few pixels on a three-second cycle, like a person breathing.
        let phase = (n as f32) * 0.07;
        let m = self.margin as f32;
        let ox = (m + m * phase.sin()).round() as u32;
        let oy = (m + 0.5 * m * (phase * 0.7).cos()).round() as u32;
        imageops::crop_imm(canvas, ox, oy, self.width, self.height).to_image()
    }
}

fn scene_for(fault: SimFault, w: u32, h: u32) -> SceneSpec {
    let mut spec = SceneSpec::good(w, h);
    match fault {
        SimFault::None | SimFault::DeviceLost => {}
        SimFault::Dark => spec.gain = 0.25,
        SimFault::Blurred => spec.blur_radius = (h / 90).max(2),
        SimFault::OffCentre => spec.subject_dx = 0.2,
        SimFault::Background => spec.backdrop = Backdrop::Coloured([120, 150, 185]),
    }
    spec
}

/// Applies a fault to a folder picture.
fn degrade(base: &RgbImage, fault: SimFault) -> RgbImage {
    let mut img = base.clone();
    match fault {
        SimFault::None | SimFault::DeviceLost => {}
        SimFault::Dark => img.pixels_mut().for_each(|p| p.0 = p.0.map(|v| v / 4)),
        SimFault::Blurred => {
            let radius = (img.height() / 90).max(2);
            scene::box_blur(&mut img, radius);
        }
        SimFault::OffCentre => {
            let shift = img.width() / 5;
            let edge = *base.get_pixel(0, 0);
            for (x, y, p) in img.enumerate_pixels_mut() {
                *p = if x >= shift {
                    *base.get_pixel(x - shift, y)
                } else {
                    edge
                };
            }
        }
        // Repaint the bright (wall) pixels blue-grey.
        SimFault::Background => img.pixels_mut().for_each(|p| {
            if p.0.iter().all(|&v| v > 200) {
                *p = Rgb([120, 150, 185]);
            }
        }),
    }
    img
}

fn load_folder(dir: &Path, w: u32, h: u32) -> Result<Vec<RgbImage>, CameraError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        CameraError::Simulator(format!("cannot read folder {}: {e}", dir.display()))
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(CameraError::Simulator(format!(
            "no PNG or JPEG pictures in {}",
            dir.display()
        )));
    }
    paths
        .iter()
        .map(|p| {
            let img = image::open(p)
                .map_err(|e| CameraError::Simulator(format!("{}: {e}", p.display())))?
                .to_rgb8();
            Ok(fit_cover(&img, w, h))
        })
        .collect()
}

/// Scales and centre-crops a picture to exactly `w`x`h`, as a camera sensor would frame it.
fn fit_cover(img: &RgbImage, w: u32, h: u32) -> RgbImage {
    let scale = (w as f32 / img.width() as f32).max(h as f32 / img.height() as f32);
    let sw = ((img.width() as f32 * scale).ceil() as u32).max(w);
    let sh = ((img.height() as f32 * scale).ceil() as u32).max(h);
    let scaled = imageops::resize(img, sw, sh, imageops::FilterType::Triangle);
    imageops::crop_imm(&scaled, (sw - w) / 2, (sh - h) / 2, w, h).to_image()
}
