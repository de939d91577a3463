//! The V4L2 capture thread (negotiation through nokhwa, exact mode request, MJPEG decoding,
//! loss after repeated read failures, reopening by name) driven by a scripted nokhwa
//! backend: no camera is attached where these tests run.

use enroll_hardware::camera::scene::{render, SceneSpec};
use enroll_hardware::camera::v4l2::{DeviceInfo, DeviceOpener, V4l2Camera};
use enroll_hardware::camera::{
    CameraError, CameraEvent, CameraSource, PixelFormat, SourceKind, VideoMode,
};
use image::codecs::jpeg::JpegEncoder;
use image::ExtendedColorType;
use nokhwa::camera_traits::CaptureBackendTrait;
use nokhwa::utils::{
    ApiBackend, CameraControl, CameraFormat, CameraIndex, CameraInfo, ControlValueSetter,
    FrameFormat, KnownCameraControl, Resolution,
};
use nokhwa::{Buffer, Camera, NokhwaError};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the fake device does, shared with the test.
struct Device {
    plugged: bool,
    /// Index the device has while plugged (a replug may change it).
    index: u32,
    formats: Vec<CameraFormat>,
    /// The mode the kiosk asked for.
    requested: Option<CameraFormat>,
    frames_served: u32,
}

type Shared = Arc<Mutex<Device>>;

struct FakeBackend {
    device: Shared,
    info: CameraInfo,
    format: CameraFormat,
    open: bool,
    jpeg: Vec<u8>,
}

fn nokhwa_err(msg: &str) -> NokhwaError {
    NokhwaError::ReadFrameError(msg.to_owned())
}

fn jpeg_of(w: u32, h: u32) -> Vec<u8> {
    let img = render(&SceneSpec::good(w, h));
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 85)
        .encode(img.as_raw(), w, h, ExtendedColorType::Rgb8)
        .expect("encode");
    out
}

impl CaptureBackendTrait for FakeBackend {
    fn backend(&self) -> ApiBackend {
        ApiBackend::Video4Linux
    }
    fn camera_info(&self) -> &CameraInfo {
        &self.info
    }
    fn refresh_camera_format(&mut self) -> Result<(), NokhwaError> {
        Ok(())
    }
    fn camera_format(&self) -> CameraFormat {
        self.format
    }
    fn set_camera_format(&mut self, f: CameraFormat) -> Result<(), NokhwaError> {
        let mut d = self.device.lock().expect("lock");
        if !d.formats.contains(&f) {
            return Err(NokhwaError::SetPropertyError {
                property: "format".into(),
                value: f.to_string(),
                error: "not offered".into(),
            });
        }
        d.requested = Some(f);
        self.format = f;
        if f.format() == FrameFormat::MJPEG {
            self.jpeg = jpeg_of(f.width(), f.height());
        }
        Ok(())
    }
    fn compatible_list_by_resolution(
        &mut self,
        fourcc: FrameFormat,
    ) -> Result<HashMap<Resolution, Vec<u32>>, NokhwaError> {
        let mut map: HashMap<Resolution, Vec<u32>> = HashMap::new();
        for f in self.device.lock().expect("lock").formats.iter() {
            if f.format() == fourcc {
                map.entry(f.resolution()).or_default().push(f.frame_rate());
            }
        }
        Ok(map)
    }
    fn compatible_fourcc(&mut self) -> Result<Vec<FrameFormat>, NokhwaError> {
        let mut v: Vec<FrameFormat> = self
            .device
            .lock()
            .expect("lock")
            .formats
            .iter()
            .map(|f| f.format())
            .collect();
        v.sort();
        v.dedup();
        Ok(v)
    }
    fn resolution(&self) -> Resolution {
        self.format.resolution()
    }
    fn set_resolution(&mut self, _: Resolution) -> Result<(), NokhwaError> {
        Err(NokhwaError::NotImplementedError("fake".into()))
    }
    fn frame_rate(&self) -> u32 {
        self.format.frame_rate()
    }
    fn set_frame_rate(&mut self, _: u32) -> Result<(), NokhwaError> {
        Err(NokhwaError::NotImplementedError("fake".into()))
    }
    fn frame_format(&self) -> FrameFormat {
        self.format.format()
    }
    fn set_frame_format(&mut self, _: FrameFormat) -> Result<(), NokhwaError> {
        Err(NokhwaError::NotImplementedError("fake".into()))
    }
    fn camera_control(&self, _: KnownCameraControl) -> Result<CameraControl, NokhwaError> {
        Err(NokhwaError::NotImplementedError("fake".into()))
    }
    fn camera_controls(&self) -> Result<Vec<CameraControl>, NokhwaError> {
        Ok(Vec::new())
    }
    fn set_camera_control(
        &mut self,
        _: KnownCameraControl,
        _: ControlValueSetter,
    ) -> Result<(), NokhwaError> {
        Err(NokhwaError::NotImplementedError("fake".into()))
    }
    fn open_stream(&mut self) -> Result<(), NokhwaError> {
        if !self.device.lock().expect("lock").plugged {
            return Err(NokhwaError::OpenStreamError("No such device".into()));
        }
        self.open = true;
        Ok(())
    }
    fn is_stream_open(&self) -> bool {
        self.open
    }
    fn frame(&mut self) -> Result<Buffer, NokhwaError> {
        let res = self.format.resolution();
        let fmt = self.format.format();
        let raw = self.frame_raw()?.into_owned();
        Ok(Buffer::new(res, &raw, fmt))
    }
    fn frame_raw(&mut self) -> Result<Cow<'_, [u8]>, NokhwaError> {
        // Pace like a 30 fps camera.
        std::thread::sleep(Duration::from_millis(33));
        let mut d = self.device.lock().expect("lock");
        if !d.plugged {
            return Err(nokhwa_err("No such device (os error 19)"));
        }
        if !self.open {
            return Err(nokhwa_err("Stream Not Started"));
        }
        d.frames_served += 1;
        Ok(Cow::Borrowed(&self.jpeg))
    }
    fn stop_stream(&mut self) -> Result<(), NokhwaError> {
        self.open = false;
        Ok(())
    }
}

struct FakeOpener(Shared);

impl DeviceOpener for FakeOpener {
    fn list(&self) -> Result<Vec<DeviceInfo>, CameraError> {
        let d = self.0.lock().expect("lock");
        Ok(if d.plugged {
            vec![DeviceInfo {
                index: d.index,
                name: "Fake HD Webcam".into(),
                description: format!("/dev/video{}", d.index),
            }]
        } else {
            Vec::new()
        })
    }

    fn open(&self, index: u32) -> Result<Camera, CameraError> {
        let d = self.0.lock().expect("lock");
        if !d.plugged || d.index != index {
            return Err(CameraError::Open {
                device: format!("/dev/video{index}"),
                detail: "No such device".into(),
            });
        }
        let first = d.formats[0];
        let backend = FakeBackend {
            device: Arc::clone(&self.0),
            info: CameraInfo::new("Fake HD Webcam", "fake", "", CameraIndex::Index(index)),
            format: first,
            open: false,
            jpeg: Vec::new(),
        };
        Ok(Camera::with_custom(
            CameraIndex::Index(index),
            ApiBackend::Video4Linux,
            Box::new(backend),
        ))
    }
}

fn device(formats: Vec<CameraFormat>) -> Shared {
    Arc::new(Mutex::new(Device {
        plugged: true,
        index: 0,
        formats,
        requested: None,
        frames_served: 0,
    }))
}

fn webcam_formats() -> Vec<CameraFormat> {
    vec![
        CameraFormat::new_from(640, 480, FrameFormat::YUYV, 30),
        CameraFormat::new_from(1280, 720, FrameFormat::YUYV, 10),
        CameraFormat::new_from(640, 480, FrameFormat::MJPEG, 30),
        CameraFormat::new_from(1280, 720, FrameFormat::MJPEG, 30),
        CameraFormat::new_from(1280, 720, FrameFormat::MJPEG, 15),
        CameraFormat::new_from(3840, 2160, FrameFormat::MJPEG, 5),
    ]
}

#[test]
fn negotiates_asks_exactly_and_delivers_decoded_frames() {
    let dev = device(webcam_formats());
    let cam = V4l2Camera::with_opener(0, Arc::new(FakeOpener(Arc::clone(&dev)))).expect("camera");
    assert_eq!(cam.describe().kind, SourceKind::V4l2);
    assert!(cam.describe().name.contains("Fake HD Webcam"));
    let stream = cam.start().expect("start");
    let expected = VideoMode::new(1280, 720, 30, PixelFormat::Mjpeg);
    assert_eq!(stream.mode(), expected);
    assert_eq!(
        dev.lock().expect("lock").requested,
        Some(CameraFormat::new_from(1280, 720, FrameFormat::MJPEG, 30))
    );
    for _ in 0..3 {
        let f = stream.next_frame(Duration::from_secs(5)).expect("frame");
        assert_eq!(f.image.dimensions(), (1280, 720));
    }
    stream.stop();
}

#[test]
fn a_device_without_mjpeg_or_yuyv_is_refused_with_what_it_offers() {
    let dev = device(vec![CameraFormat::new_from(
        1280,
        720,
        FrameFormat::NV12,
        30,
    )]);
    let cam = V4l2Camera::with_opener(0, Arc::new(FakeOpener(dev))).expect("camera");
    match cam.start() {
        Err(CameraError::NoUsableMode { offered, .. }) => {
            assert!(offered.contains("other 1280x720"))
        }
        Err(e) => panic!("unexpected {e}"),
        Ok(_) => panic!("must not start"),
    }
}

#[test]
fn unplug_is_reported_and_replug_under_a_new_index_is_picked_up() {
    let dev = device(webcam_formats());
    let cam = V4l2Camera::with_opener(0, Arc::new(FakeOpener(Arc::clone(&dev)))).expect("camera");
    let stream = cam.start().expect("start");
    stream.next_frame(Duration::from_secs(5)).expect("frame");

    dev.lock().expect("lock").plugged = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    let lost = loop {
        assert!(Instant::now() < deadline, "loss never reported");
        match stream.recv_timeout(Duration::from_secs(1)) {
            Some(CameraEvent::DeviceLost(e)) => break e,
            Some(CameraEvent::Frame(_)) | None => continue,
            Some(other) => panic!("unexpected {other:?}"),
        }
    };
    assert!(matches!(lost, CameraError::DeviceLost { .. }));
    assert!(
        lost.message_vi().contains("Fake HD Webcam"),
        "{}",
        lost.message_vi()
    );

    // The kernel gives the replugged camera another node.
    {
        let mut d = dev.lock().expect("lock");
        d.index = 2;
        d.plugged = true;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "reopen never reported");
        match stream.recv_timeout(Duration::from_secs(1)) {
            Some(CameraEvent::Reopened(mode)) => {
                assert_eq!(mode.width, 1280);
                break;
            }
            Some(CameraEvent::Frame(_)) | None => continue,
            Some(other) => panic!("unexpected {other:?}"),
        }
    }
    let before = dev.lock().expect("lock").frames_served;
    let f = stream
        .next_frame(Duration::from_secs(5))
        .expect("frames again");
    assert_eq!(f.image.dimensions(), (1280, 720));
    assert!(dev.lock().expect("lock").frames_served > before);
}

#[test]
fn a_missing_index_is_not_found() {
    let dev = device(webcam_formats());
    let err = V4l2Camera::with_opener(5, Arc::new(FakeOpener(dev))).expect_err("absent");
    assert_eq!(err, CameraError::NotFound("/dev/video5".into()));
}
