//! The camera on its own thread: open (a V4L2 camera, or the simulator in demo mode), let a
//! few frames settle the exposure, run the photo pipeline (crop to the guide, quality checks,
//! JPEG within budget) and hand back the photo or, in plain words, what to fix. While the
//! photo step is on screen it also sends a live preview of the guide's crop.

use std::sync::mpsc;
use std::time::Duration;

use enroll_hardware::camera::{open_source, DeviceSelector, FrameStream};
use enroll_hardware::photo::{
    crop_to_guide, preview, process_frame, PhotoConfig, PhotoOutcome, PhotoProfile,
};
use slint::{Rgb8Pixel, SharedPixelBuffer};

/// Frames dropped before the one that is used: exposure and focus settle.
const SETTLE_FRAMES: usize = 8;

/// One photo check's verdict in words: (passed, vi, en).
pub type Verdict = (bool, String, String);

pub enum Shot {
    Taken {
        profile: PhotoProfile,
        jpeg: Vec<u8>,
        width: u32,
        height: u32,
        view: SharedPixelBuffer<Rgb8Pixel>,
        checks: Vec<Verdict>,
    },
    /// A check failed: every check's verdict (what to fix among them) and what was seen.
    Rejected(Vec<Verdict>, SharedPixelBuffer<Rgb8Pixel>),
    /// The QR code of an identity card, read and checked.
    Card(Box<enroll_hardware::qr::CardQr>),
    Failed(String, String),
    /// A live frame, cropped to the guide and scaled for the photo step.
    Preview(SharedPixelBuffer<Rgb8Pixel>),
}

/// What the camera is asked for.
pub enum Ask {
    Photo(PhotoProfile),
    /// Read the QR code on the back of an identity card.
    CardQr,
    /// Start (true) or stop (false) the live preview.
    Preview(bool),
}

/// Live preview size (the photo step's 2:3 frame) and pace.
const PREVIEW_SIZE: (u32, u32) = (300, 450);
const PREVIEW_EVERY: Duration = Duration::from_millis(100);

/// Frames tried when reading a card's QR code (about five seconds at 25 fps).
const QR_FRAMES: usize = 125;

pub struct CameraLink {
    tx: mpsc::Sender<Ask>,
}

impl CameraLink {
    pub fn start(selector: DeviceSelector, demo: bool, deliver: fn(Shot)) -> CameraLink {
        let (tx, rx) = mpsc::channel::<Ask>();
        std::thread::spawn(move || {
            let send = move |s: Shot| {
                // Fails only once the event loop is gone, when nobody waits for the photo.
                drop(slint::invoke_from_event_loop(move || deliver(s)));
            };
            let mut live: Option<FrameStream> = None;
            let mut wanted = false;
            loop {
                let ask = if live.is_some() {
                    match rx.recv_timeout(PREVIEW_EVERY) {
                        Ok(ask) => Some(ask),
                        Err(mpsc::RecvTimeoutError::Timeout) => None,
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                } else {
                    match rx.recv() {
                        Ok(ask) => Some(ask),
                        Err(_) => break,
                    }
                };
                match ask {
                    Some(Ask::Preview(on)) => wanted = on,
                    Some(Ask::Photo(profile)) => {
                        // One user of the device at a time: the shot opens it itself.
                        live = None;
                        send(take(&selector, demo, profile));
                    }
                    Some(Ask::CardQr) => {
                        live = None;
                        send(read_qr(&selector, demo));
                    }
                    None => {}
                }
                if !wanted {
                    live = None;
                    continue;
                }
                if live.is_none() {
                    match open_source(&selector, demo).and_then(|source| source.start()) {
                        Ok(stream) => live = Some(stream),
                        Err(e) => {
                            wanted = false;
                            send(Shot::Failed(e.message_vi(), e.message_en()));
                            continue;
                        }
                    }
                }
                if let Some(stream) = &live {
                    match stream.next_frame(Duration::from_secs(3)) {
                        Ok(frame) => {
                            let config = PhotoConfig::new(PhotoProfile::CardFace);
                            if let Ok(crop) =
                                crop_to_guide(&frame.image, &config.guide, PhotoProfile::CardFace)
                            {
                                send(Shot::Preview(pixels(&preview(
                                    &crop,
                                    PREVIEW_SIZE.0,
                                    PREVIEW_SIZE.1,
                                ))));
                            }
                        }
                        Err(e) => {
                            live = None;
                            wanted = false;
                            send(Shot::Failed(e.message_vi(), e.message_en()));
                        }
                    }
                }
            }
        });
        CameraLink { tx }
    }

    pub fn ask(&self, ask: Ask) -> bool {
        self.tx.send(ask).is_ok()
    }
}

fn pixels(img: &enroll_hardware::photo::RgbImage) -> SharedPixelBuffer<Rgb8Pixel> {
    SharedPixelBuffer::clone_from_slice(img.as_raw(), img.width(), img.height())
}

fn take(selector: &DeviceSelector, demo: bool, profile: PhotoProfile) -> Shot {
    let failed = |vi: String, en: String| Shot::Failed(vi, en);
    let source = match open_source(selector, demo) {
        Ok(s) => s,
        Err(e) => return failed(e.message_vi(), e.message_en()),
    };
    let stream = match source.start() {
        Ok(s) => s,
        Err(e) => return failed(e.message_vi(), e.message_en()),
    };
    let mut frame = None;
    for _ in 0..SETTLE_FRAMES {
        match stream.next_frame(Duration::from_secs(3)) {
            Ok(f) => frame = Some(f),
            Err(e) => return failed(e.message_vi(), e.message_en()),
        }
    }
    stream.stop();
    let Some(frame) = frame else {
        return failed(
            "Camera không gửi hình. Kiểm tra dây cắm rồi chụp lại.".into(),
            "The camera sent no picture. Check the cable and take it again.".into(),
        );
    };
    let config = PhotoConfig::new(profile);
    let view = match crop_to_guide(&frame.image, &config.guide, profile) {
        Ok(v) => pixels(&v),
        Err(e) => return failed(e.message_vi(), e.message_en()),
    };
    let verdicts = |report: &enroll_hardware::photo::PhotoReport| -> Vec<Verdict> {
        report
            .checks
            .iter()
            .map(|c| (c.passed, c.message_vi.clone(), c.message_en.clone()))
            .collect()
    };
    match process_frame(&frame.image, &config) {
        Ok(PhotoOutcome::Accepted { photo, report }) => Shot::Taken {
            profile,
            width: photo.width,
            height: photo.height,
            jpeg: photo.jpeg,
            view,
            checks: verdicts(&report),
        },
        Ok(PhotoOutcome::Rejected { report }) => Shot::Rejected(verdicts(&report), view),
        Err(e) => failed(e.message_vi(), e.message_en()),
    }
}

fn read_qr(selector: &DeviceSelector, demo: bool) -> Shot {
    let source = match open_source(selector, demo) {
        Ok(s) => s,
        Err(e) => return Shot::Failed(e.message_vi(), e.message_en()),
    };
    let stream = match source.start() {
        Ok(s) => s,
        Err(e) => return Shot::Failed(e.message_vi(), e.message_en()),
    };
    let mut last = None;
    for _ in 0..QR_FRAMES {
        let frame = match stream.next_frame(Duration::from_secs(3)) {
            Ok(f) => f,
            Err(e) => return Shot::Failed(e.message_vi(), e.message_en()),
        };
        match enroll_hardware::qr::read_card_qr_rgb(&frame.image) {
            Ok(card) => {
                stream.stop();
                return Shot::Card(Box::new(card));
            }
            Err(e) => last = Some(e),
        }
    }
    stream.stop();
    let (vi, en) = last
        .map(|e| (e.message_vi(), e.message_en()))
        .unwrap_or_default();
    Shot::Failed(
        format!("Không đọc được mã QR ({vi}) Hãy quét lại, hoặc gõ số định danh."),
        format!("The QR code could not be read ({en}) Scan again, or type the ID number."),
    )
}
