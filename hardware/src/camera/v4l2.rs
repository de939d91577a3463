//! V4L2 cameras through nokhwa: listing, mode negotiation, capture thread, reconnection.

use super::stream::{self, EventSink, Opened};
use super::{
    decode_frame, negotiate, CameraError, CameraEvent, CameraSource, FrameStream, ModeRequirements,
    PixelFormat, SourceInfo, SourceKind, VideoMode,
};
use nokhwa::utils::{
    frame_formats, ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat,
    RequestedFormatType,
};
use nokhwa::Camera;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// Consecutive read failures before the device counts as lost (an unplugged device fails
/// every read at once; a single hiccup should not alarm the operator).
const READ_FAILURES_BEFORE_LOST: u32 = 3;
/// How often to look for a lost device again.
const REOPEN_INTERVAL: Duration = Duration::from_millis(1000);

/// A V4L2 device node as the system lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeviceInfo {
    pub index: u32,
    pub name: String,
    pub description: String,
}

/// Lists V4L2 devices. An empty list is not an error here; callers decide.
pub fn list_devices() -> Result<Vec<DeviceInfo>, CameraError> {
    let infos =
        nokhwa::query(ApiBackend::Video4Linux).map_err(|e| CameraError::Query(e.to_string()))?;
    let mut out: Vec<DeviceInfo> = infos
        .into_iter()
        .filter_map(|info| match info.index() {
            CameraIndex::Index(i) => Some(DeviceInfo {
                index: *i,
                name: info.human_name(),
                description: info.description().to_owned(),
            }),
            CameraIndex::String(_) => None,
        })
        .collect();
    out.sort_by_key(|d| d.index);
    Ok(out)
}

/// Opens a device briefly and returns every mode it offers (MJPEG, YUYV and others).
/// Metadata nodes of UVC cameras fail here, which tells them apart from capture nodes.
pub fn probe_modes(index: u32) -> Result<Vec<VideoMode>, CameraError> {
    let (mut cam, _) = open_device(index)?;
    compatible_modes(&mut cam, index)
}

/// Converts nokhwa's description of a mode.
pub fn mode_from_nokhwa(f: &CameraFormat) -> VideoMode {
    let format = match f.format() {
        FrameFormat::MJPEG => PixelFormat::Mjpeg,
        FrameFormat::YUYV => PixelFormat::Yuyv,
        _ => PixelFormat::Other,
    };
    VideoMode::new(f.width(), f.height(), f.frame_rate(), format)
}

fn device_label(index: u32) -> String {
    format!("/dev/video{index}")
}

fn open_device(index: u32) -> Result<(Camera, String), CameraError> {
    // Any format is accepted for the first open: the negotiation below chooses.
    let request = RequestedFormat::with_formats(RequestedFormatType::None, frame_formats());
    let cam = Camera::with_backend(CameraIndex::Index(index), request, ApiBackend::Video4Linux)
        .map_err(|e| CameraError::Open {
            device: device_label(index),
            detail: e.to_string(),
        })?;
    let name = cam.info().human_name();
    Ok((cam, name))
}

/// How the capture thread finds and opens devices: [`V4l2Opener`] in the kiosk. The seam
/// lets tests drive the real capture loop (negotiation, decoding, loss and reopening) with
/// a scripted nokhwa backend, since no camera is attached where the tests run.
pub trait DeviceOpener: Send + Sync {
    fn list(&self) -> Result<Vec<DeviceInfo>, CameraError>;
    /// Opens the device in any mode; the capture thread negotiates the mode afterwards.
    fn open(&self, index: u32) -> Result<Camera, CameraError>;
}

/// Opens real V4L2 devices through nokhwa.
pub struct V4l2Opener;

impl DeviceOpener for V4l2Opener {
    fn list(&self) -> Result<Vec<DeviceInfo>, CameraError> {
        list_devices()
    }

    fn open(&self, index: u32) -> Result<Camera, CameraError> {
        open_device(index).map(|(cam, _)| cam)
    }
}

fn compatible_modes(cam: &mut Camera, index: u32) -> Result<Vec<VideoMode>, CameraError> {
    let formats = cam
        .compatible_camera_formats()
        .map_err(|e| CameraError::Open {
            device: device_label(index),
            detail: e.to_string(),
        })?;
    Ok(formats.iter().map(mode_from_nokhwa).collect())
}

/// Opens, negotiates the mode, asks for exactly that mode and starts streaming.
fn open_streaming(
    opener: &dyn DeviceOpener,
    index: u32,
    req: &ModeRequirements,
) -> Result<(Camera, VideoMode), CameraError> {
    let mut cam = opener.open(index)?;
    let offered = compatible_modes(&mut cam, index)?;
    let chosen = negotiate(&offered, req).ok_or_else(|| CameraError::NoUsableMode {
        device: device_label(index),
        offered: describe_modes(&offered),
    })?;
    let mode = chosen.mode;
    let frame_format: &'static [FrameFormat] = match mode.format {
        PixelFormat::Mjpeg => &[FrameFormat::MJPEG],
        _ => &[FrameFormat::YUYV],
    };
    let exact = CameraFormat::new_from(mode.width, mode.height, frame_format[0], mode.fps);
    cam.set_camera_requset(RequestedFormat::with_formats(
        RequestedFormatType::Exact(exact),
        frame_format,
    ))
    .map_err(|e| CameraError::Open {
        device: device_label(index),
        detail: format!("mode {mode}: {e}"),
    })?;
    cam.open_stream().map_err(|e| CameraError::Open {
        device: device_label(index),
        detail: e.to_string(),
    })?;
    Ok((cam, mode))
}

fn describe_modes(modes: &[VideoMode]) -> String {
    if modes.is_empty() {
        return "nothing".into();
    }
    modes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A V4L2 camera chosen by index.
#[derive(Clone)]
pub struct V4l2Camera {
    index: u32,
    name: String,
    requirements: ModeRequirements,
    opener: Arc<dyn DeviceOpener>,
}

impl std::fmt::Debug for V4l2Camera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V4l2Camera")
            .field("index", &self.index)
            .field("name", &self.name)
            .finish()
    }
}

impl V4l2Camera {
    /// Selects `/dev/video<index>`. Fails with `NoCamera` when the system lists no camera,
    /// `NotFound` when that index is absent.
    pub fn new(index: u32) -> Result<Self, CameraError> {
        Self::with_opener(index, Arc::new(V4l2Opener))
    }

    /// Like [`V4l2Camera::new`], with devices found and opened by `opener`.
    pub fn with_opener(index: u32, opener: Arc<dyn DeviceOpener>) -> Result<Self, CameraError> {
        let devices = opener.list()?;
        if devices.is_empty() {
            return Err(CameraError::NoCamera);
        }
        let dev = devices
            .into_iter()
            .find(|d| d.index == index)
            .ok_or_else(|| CameraError::NotFound(device_label(index)))?;
        Ok(Self {
            index,
            name: dev.name,
            requirements: ModeRequirements::default(),
            opener,
        })
    }

    /// The first camera the system lists that opens and offers a usable mode.
    pub fn first_available() -> Result<Self, CameraError> {
        let devices = list_devices()?;
        if devices.is_empty() {
            return Err(CameraError::NoCamera);
        }
        let mut last_err = CameraError::NoCamera;
        for dev in devices {
            match probe_modes(dev.index) {
                Ok(modes) if negotiate(&modes, &ModeRequirements::default()).is_some() => {
                    return Ok(Self {
                        index: dev.index,
                        name: dev.name,
                        requirements: ModeRequirements::default(),
                        opener: Arc::new(V4l2Opener),
                    });
                }
                Ok(modes) => {
                    last_err = CameraError::NoUsableMode {
                        device: device_label(dev.index),
                        offered: describe_modes(&modes),
                    }
                }
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    pub fn with_requirements(mut self, req: ModeRequirements) -> Self {
        self.requirements = req;
        self
    }
}

impl CameraSource for V4l2Camera {
    fn describe(&self) -> SourceInfo {
        SourceInfo {
            kind: SourceKind::V4l2,
            name: format!("{} ({})", self.name, device_label(self.index)),
        }
    }

    fn start(&self) -> Result<FrameStream, CameraError> {
        let this = self.clone();
        stream::spawn(
            &format!("camera-video{}", self.index),
            move |opened, sink| this.capture(opened, sink),
        )
    }
}

impl V4l2Camera {
    /// Body of the capture thread: the nokhwa camera lives and dies on this thread.
    fn capture(&self, opened: Opened, mut sink: EventSink) {
        let opener = self.opener.as_ref();
        let (mut cam, mut mode) = match open_streaming(opener, self.index, &self.requirements) {
            Ok(ok) => ok,
            Err(e) => return opened.report(Err(e)),
        };
        opened.report(Ok(mode));
        let mut index = self.index;
        loop {
            match read_frames(&mut cam, mode, &mut sink) {
                ReadOutcome::Stopped => return,
                ReadOutcome::Lost(detail) => {
                    drop(cam);
                    let lost = CameraError::DeviceLost {
                        device: format!("{} ({})", self.name, device_label(index)),
                        detail,
                    };
                    if !sink.event(CameraEvent::DeviceLost(lost)) {
                        return;
                    }
                    match self.reopen(&sink) {
                        Some((c, m, i)) => {
                            (cam, mode, index) = (c, m, i);
                            if !sink.event(CameraEvent::Reopened(mode)) {
                                return;
                            }
                        }
                        None => return,
                    }
                }
            }
        }
    }

    /// Waits for the device to come back: same name first (it may return under another
    /// index after a replug), else the same index. `None` when asked to stop.
    fn reopen(&self, sink: &EventSink) -> Option<(Camera, VideoMode, u32)> {
        loop {
            if !sink.sleep(REOPEN_INTERVAL) {
                return None;
            }
            let Ok(devices) = self.opener.list() else {
                continue;
            };
            let mut candidates: Vec<u32> = devices
                .iter()
                .filter(|d| d.name == self.name)
                .map(|d| d.index)
                .collect();
            candidates.sort_by_key(|i| *i != self.index);
            for i in candidates {
                if let Ok((cam, mode)) = open_streaming(self.opener.as_ref(), i, &self.requirements)
                {
                    return Some((cam, mode, i));
                }
            }
        }
    }
}

enum ReadOutcome {
    Stopped,
    Lost(String),
}

fn read_frames(cam: &mut Camera, mode: VideoMode, sink: &mut EventSink) -> ReadOutcome {
    let mut failures = 0;
    loop {
        if sink.should_stop() {
            return ReadOutcome::Stopped;
        }
        let decoded = match cam.frame_raw() {
            Ok(raw) => {
                failures = 0;
                decode_frame(mode.width, mode.height, mode.format, &raw)
            }
            Err(e) => {
                failures += 1;
                if failures >= READ_FAILURES_BEFORE_LOST {
                    return ReadOutcome::Lost(e.to_string());
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        // A corrupt frame is skipped; the next one is usually fine.
        if let Ok(image) = decoded {
            if !sink.frame(image) {
                return ReadOutcome::Stopped;
            }
        }
    }
}
