//! The fingerprint scanner on its own thread: the R30x driver (a real serial device, or in
//! demo mode the R307 simulator on a pseudo-terminal). Capture never blocks the UI thread;
//! progress and results come back through the Slint event loop.

use std::path::PathBuf;
use std::sync::mpsc;

use enroll_hardware::fingerprint::capture::capture_finger;
use enroll_hardware::fingerprint::driver::CancelToken;
use enroll_hardware::fingerprint::error::ScannerError;
use enroll_hardware::fingerprint::sim::scenario::{Placement, Scenario};
use enroll_hardware::fingerprint::sim::Simulator;
use enroll_hardware::fingerprint::{
    CapturePolicy, Finger as HwFinger, FingerOutcome as HwOutcome, Scanner, ScannerConfig,
};

/// Where the scanner is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScannerSource {
    /// A serial device (`/dev/ttyUSB0`, `/dev/fingerprint0`); baud probed when `None`.
    Device(PathBuf, Option<u32>),
    /// The R307 simulator on a pseudo-terminal, for demo mode and tests.
    Simulated,
}

/// Baud rate of the simulated module: fast, so a demo finger takes about a second.
const SIM_BAUD: u32 = 460_800;

pub enum Update {
    Progress(String, String),
    Done(Box<HwOutcome>),
    Failed(String, String),
    /// The capture was stopped (the kiosk locked).
    Cancelled,
}

pub struct Request {
    pub finger: HwFinger,
    pub policy: CapturePolicy,
    pub taken: Vec<(HwFinger, Vec<u8>)>,
}

pub struct ScannerLink {
    tx: mpsc::Sender<Request>,
    cancel: CancelToken,
}

impl ScannerLink {
    /// Starts the scanner thread; `deliver` runs each update on the UI thread.
    pub fn start(source: ScannerSource, deliver: fn(Update)) -> ScannerLink {
        let (tx, rx) = mpsc::channel::<Request>();
        let cancel = CancelToken::new();
        let token = cancel.clone();
        std::thread::spawn(move || {
            let send = move |u: Update| {
                // Fails only once the event loop is gone, when nobody waits for the result.
                drop(slint::invoke_from_event_loop(move || deliver(u)));
            };
            let mut simulator: Option<Simulator> = None;
            let mut scanner: Option<Scanner> = None;
            while let Ok(req) = rx.recv() {
                if scanner.is_none() {
                    match open(&source, &mut simulator) {
                        Ok(s) => scanner = Some(s.with_cancel(token.clone())),
                        Err((vi, en)) => {
                            send(Update::Failed(vi, en));
                            continue;
                        }
                    }
                }
                let Some(sc) = scanner.as_mut() else { continue };
                let mut events = |e: &enroll_hardware::fingerprint::CaptureEvent| {
                    send(Update::Progress(e.message_vi(), e.message_en()));
                };
                match capture_finger(sc, req.finger, &req.policy, &req.taken, &mut events) {
                    Ok(outcome) => send(Update::Done(Box::new(outcome))),
                    Err(ScannerError::Cancelled) => send(Update::Cancelled),
                    Err(e) => {
                        // Open afresh next time: the line may have gone away.
                        scanner = None;
                        send(Update::Failed(
                            format!(
                                "Máy quét báo lỗi: {}. Kiểm tra dây cắm rồi bấm lấy lại.",
                                e.message_vi()
                            ),
                            format!(
                                "The scanner reported: {}. Check the cable, then capture again.",
                                e.message_en()
                            ),
                        ));
                    }
                }
            }
        });
        ScannerLink { tx, cancel }
    }

    pub fn capture(&self, req: Request) -> bool {
        // A cancel asked while no capture ran must not stop this one.
        self.cancel.reset();
        self.tx.send(req).is_ok()
    }

    /// Stops a capture in progress (the scanner stops waiting for a finger).
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}

fn open(source: &ScannerSource, sim: &mut Option<Simulator>) -> Result<Scanner, (String, String)> {
    let cfg = match source {
        ScannerSource::Device(path, baud) => {
            let mut cfg = ScannerConfig::new(path);
            cfg.baud = *baud;
            cfg
        }
        ScannerSource::Simulated => {
            if sim.is_none() {
                // Ten distinct synthetic fingers of one demo applicant, served again and again.
                let placements = HwFinger::ORDER
                    .iter()
                    .map(|f| Placement::good(format!("demo-applicant/{}", f.slug())))
                    .collect();
                let scenario = Scenario {
                    baud: SIM_BAUD,
                    placements,
                    repeat: true,
                    ..Scenario::default()
                };
                *sim = Some(Simulator::start(scenario, None).map_err(|e| {
                    (
                        format!("Không chạy được máy quét mô phỏng: {e}."),
                        format!("The simulated scanner could not start: {e}."),
                    )
                })?);
            }
            let path = sim.as_ref().map(Simulator::path).unwrap_or_default();
            let mut cfg = ScannerConfig::new(path);
            cfg.baud = Some(SIM_BAUD);
            cfg
        }
    };
    let shown = cfg.path.display().to_string();
    Scanner::open(cfg).map_err(|e| {
        (
            format!("Không mở được máy quét vân tay ({shown}): {}. Kiểm tra dây cắm rồi thử lại.", e.message_vi()),
            format!("The fingerprint scanner ({shown}) could not be opened: {}. Check the cable and try again.", e.message_en()),
        )
    })
}
