//! Capture policy: ten fingers in order, quality threshold per finger, attempts, the best
//! attempt kept, exceptions with reasons, and the same finger placed twice caught.
//!
//! Duplicate check: on the module. After Img2Tz the new features sit in CharBuffer 1; each
//! template already taken for this applicant is sent back with DownChar into CharBuffer 2 and
//! compared with Match. The module's own matcher is the only one that understands its
//! (proprietary) template format, so no host-side comparison is attempted.

use super::driver::Scanner;
use super::error::ScannerError;
use super::image::FingerImage;
use super::protocol::ConfirmationCode;
use super::quality::{assess, Quality};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Finger positions in capture order (ISO/IEC 19794 codes 1–10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Finger {
    RightThumb,
    RightIndex,
    RightMiddle,
    RightRing,
    RightLittle,
    LeftThumb,
    LeftIndex,
    LeftMiddle,
    LeftRing,
    LeftLittle,
}

impl Finger {
    /// Right thumb → right little, left thumb → left little.
    pub const ORDER: [Finger; 10] = [
        Finger::RightThumb,
        Finger::RightIndex,
        Finger::RightMiddle,
        Finger::RightRing,
        Finger::RightLittle,
        Finger::LeftThumb,
        Finger::LeftIndex,
        Finger::LeftMiddle,
        Finger::LeftRing,
        Finger::LeftLittle,
    ];

    /// ISO/IEC 19794-4 finger position code.
    pub fn code(self) -> u8 {
        Finger::ORDER.iter().position(|&f| f == self).unwrap_or(0) as u8 + 1
    }

    pub fn slug(self) -> &'static str {
        [
            "right-thumb",
            "right-index",
            "right-middle",
            "right-ring",
            "right-little",
            "left-thumb",
            "left-index",
            "left-middle",
            "left-ring",
            "left-little",
        ][usize::from(self.code() - 1)]
    }

    pub fn name_en(self) -> &'static str {
        [
            "right thumb",
            "right index finger",
            "right middle finger",
            "right ring finger",
            "right little finger",
            "left thumb",
            "left index finger",
            "left middle finger",
            "left ring finger",
            "left little finger",
        ][usize::from(self.code() - 1)]
    }

    pub fn name_vi(self) -> &'static str {
        [
            "ngón cái tay phải",
            "ngón trỏ tay phải",
            "ngón giữa tay phải",
            "ngón áp út tay phải",
            "ngón út tay phải",
            "ngón cái tay trái",
            "ngón trỏ tay trái",
            "ngón giữa tay trái",
            "ngón áp út tay trái",
            "ngón út tay trái",
        ][usize::from(self.code() - 1)]
    }
}

impl fmt::Display for Finger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

/// A finger named in a form the parser does not know.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown finger {0:?}: use right-thumb … left-little, or 1 … 10")]
pub struct UnknownFinger(pub String);

impl FromStr for Finger {
    type Err = UnknownFinger;
    /// Accepts `right-thumb`, `right_thumb`, or the position code `1`..`10`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase().replace('_', "-");
        if let Ok(n) = t.parse::<usize>() {
            if (1..=10).contains(&n) {
                return Ok(Finger::ORDER[n - 1]);
            }
        }
        Finger::ORDER
            .into_iter()
            .find(|f| f.slug() == t)
            .ok_or_else(|| UnknownFinger(s.to_string()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionReason {
    Missing,
    Amputated,
    Bandaged,
    Unreadable,
}

impl ExceptionReason {
    pub fn message_en(self) -> &'static str {
        match self {
            ExceptionReason::Missing => "finger missing",
            ExceptionReason::Amputated => "finger amputated",
            ExceptionReason::Bandaged => "finger bandaged",
            ExceptionReason::Unreadable => "fingerprint unreadable",
        }
    }
    pub fn message_vi(self) -> &'static str {
        match self {
            ExceptionReason::Missing => "không có ngón tay",
            ExceptionReason::Amputated => "ngón tay bị cụt",
            ExceptionReason::Bandaged => "ngón tay đang băng bó",
            ExceptionReason::Unreadable => "vân tay không đọc được",
        }
    }
}

/// An exception reason the parser does not know.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown exception reason {0:?}: use missing, amputated, bandaged or unreadable")]
pub struct UnknownReason(pub String);

impl FromStr for ExceptionReason {
    type Err = UnknownReason;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "missing" => Ok(ExceptionReason::Missing),
            "amputated" => Ok(ExceptionReason::Amputated),
            "bandaged" => Ok(ExceptionReason::Bandaged),
            "unreadable" => Ok(ExceptionReason::Unreadable),
            _ => Err(UnknownReason(s.to_string())),
        }
    }
}

/// Why a finger has no capture. Never implied by an empty field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerException {
    pub reason: ExceptionReason,
    pub permanent: bool,
    /// Operator's note, or what the scanner reported when the policy gave up.
    pub note: String,
    /// Set by the policy itself after every attempt failed (not declared by the operator).
    pub automatic: bool,
}

/// Per-profile limits.
#[derive(Debug, Clone, PartialEq)]
pub struct CapturePolicy {
    /// Minimum quality (0–100) per finger, indexed in [`Finger::ORDER`] order.
    pub thresholds: [u8; 10],
    pub attempts: u32,
    /// How long to wait for a finger to be placed.
    pub placement_deadline: Duration,
    /// How long to wait for the finger to be lifted.
    pub lift_deadline: Duration,
    /// Reconnects allowed per finger after an unplug or a dead line.
    pub reconnects: u32,
}

impl CapturePolicy {
    /// 3 attempts, 20 s to place a finger; little fingers need 40, others 50.
    pub fn standard() -> Self {
        CapturePolicy {
            thresholds: [50, 50, 50, 50, 40, 50, 50, 50, 50, 40],
            attempts: 3,
            placement_deadline: Duration::from_secs(20),
            lift_deadline: Duration::from_secs(15),
            reconnects: 3,
        }
    }

    /// Worn fingers of the elderly: 6 attempts and twice the time to place and lift.
    pub fn elderly() -> Self {
        CapturePolicy {
            attempts: 6,
            placement_deadline: Duration::from_secs(40),
            lift_deadline: Duration::from_secs(30),
            ..Self::standard()
        }
    }

    pub fn threshold(&self, finger: Finger) -> u8 {
        self.thresholds[usize::from(finger.code() - 1)]
    }
}

/// Bytes with their SHA-256, the name a record uses for them.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Blob {
    #[serde(skip)]
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub len: usize,
}

impl Blob {
    pub fn new(bytes: Vec<u8>) -> Self {
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Blob {
            len: bytes.len(),
            bytes,
            sha256,
        }
    }
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blob({} bytes, {})", self.len, self.sha256)
    }
}

/// Something worth recording about how a finger was captured.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "flag", rename_all = "snake_case")]
pub enum CaptureFlag {
    /// No attempt reached the threshold; the best one was kept.
    ForceCaptured,
    /// An attempt matched a finger already taken and was discarded.
    DuplicateRejected { of: Finger, score: u16 },
    /// The scanner was reconnected during this finger.
    Reconnected,
}

#[derive(Debug, Clone, Serialize)]
pub struct FingerCapture {
    pub finger: Finger,
    /// 8-bit grayscale PNG of the kept attempt.
    pub image_png: Blob,
    /// The module's template of the kept attempt.
    pub template: Blob,
    pub quality: Quality,
    pub threshold: u8,
    /// Attempts made for this finger (all of them, not only the kept one).
    pub attempts: u32,
    pub force_captured: bool,
    pub flags: Vec<CaptureFlag>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum FingerOutcome {
    Captured(FingerCapture),
    Exception {
        finger: Finger,
        exception: FingerException,
    },
}

impl FingerOutcome {
    pub fn finger(&self) -> Finger {
        match self {
            FingerOutcome::Captured(c) => c.finger,
            FingerOutcome::Exception { finger, .. } => *finger,
        }
    }
}

/// Why an attempt is repeated.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryReason {
    LowQuality { score: u8, threshold: u8 },
    NoFinger,
    Module(ConfirmationCode),
    Duplicate { of: Finger },
}

/// Progress for the UI; sent through the caller's callback without blocking the scanner.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum CaptureEvent {
    Placing {
        finger: Finger,
        attempt: u32,
        of: u32,
    },
    LiftFinger {
        finger: Finger,
    },
    Quality {
        finger: Finger,
        attempt: u32,
        score: u8,
        threshold: u8,
    },
    Retry {
        finger: Finger,
        attempt: u32,
        reason: RetryReason,
    },
    Duplicate {
        finger: Finger,
        of: Finger,
        score: u16,
    },
    Reconnecting {
        finger: Finger,
    },
    Reconnected {
        finger: Finger,
    },
    Captured {
        finger: Finger,
        score: u8,
        force_captured: bool,
    },
    Exception {
        finger: Finger,
        reason: ExceptionReason,
        automatic: bool,
    },
}

impl CaptureEvent {
    pub fn message_en(&self) -> String {
        match self {
            CaptureEvent::Placing {
                finger,
                attempt,
                of,
            } => {
                format!(
                    "Place the {} on the scanner (attempt {attempt} of {of})",
                    finger.name_en()
                )
            }
            CaptureEvent::LiftFinger { finger } => format!("Lift the {}", finger.name_en()),
            CaptureEvent::Quality {
                score, threshold, ..
            } => {
                format!("Quality {score} (needs {threshold})")
            }
            CaptureEvent::Retry { reason, .. } => match reason {
                RetryReason::LowQuality { .. } => "Quality too low, try again".into(),
                RetryReason::NoFinger => "No finger placed, try again".into(),
                RetryReason::Module(c) => format!("{}, try again", c.message_en()),
                RetryReason::Duplicate { of } => {
                    format!("This is the {} again, place the right finger", of.name_en())
                }
            },
            CaptureEvent::Duplicate { of, .. } => {
                format!("Same finger as the {} already taken", of.name_en())
            }
            CaptureEvent::Reconnecting { .. } => "Scanner disconnected, reconnecting…".into(),
            CaptureEvent::Reconnected { .. } => "Scanner reconnected".into(),
            CaptureEvent::Captured {
                finger,
                score,
                force_captured,
            } => format!(
                "{} captured, quality {score}{}",
                finger.name_en(),
                if *force_captured {
                    " (below threshold, kept the best)"
                } else {
                    ""
                }
            ),
            CaptureEvent::Exception { finger, reason, .. } => {
                format!("{}: {}", finger.name_en(), reason.message_en())
            }
        }
    }

    pub fn message_vi(&self) -> String {
        match self {
            CaptureEvent::Placing {
                finger,
                attempt,
                of,
            } => {
                format!("Đặt {} lên máy quét (lần {attempt}/{of})", finger.name_vi())
            }
            CaptureEvent::LiftFinger { finger } => format!("Nhấc {} lên", finger.name_vi()),
            CaptureEvent::Quality {
                score, threshold, ..
            } => {
                format!("Chất lượng {score} (cần {threshold})")
            }
            CaptureEvent::Retry { reason, .. } => match reason {
                RetryReason::LowQuality { .. } => "Chất lượng thấp, xin làm lại".into(),
                RetryReason::NoFinger => "Chưa đặt ngón tay, xin làm lại".into(),
                RetryReason::Module(c) => format!("{}, xin làm lại", c.message_vi()),
                RetryReason::Duplicate { of } => {
                    format!("Đây lại là {}, xin đặt đúng ngón", of.name_vi())
                }
            },
            CaptureEvent::Duplicate { of, .. } => {
                format!("Trùng với {} đã lấy", of.name_vi())
            }
            CaptureEvent::Reconnecting { .. } => "Máy quét mất kết nối, đang kết nối lại…".into(),
            CaptureEvent::Reconnected { .. } => "Đã kết nối lại máy quét".into(),
            CaptureEvent::Captured {
                finger,
                score,
                force_captured,
            } => format!(
                "Đã lấy {}, chất lượng {score}{}",
                finger.name_vi(),
                if *force_captured {
                    " (dưới ngưỡng, giữ lần tốt nhất)"
                } else {
                    ""
                }
            ),
            CaptureEvent::Exception { finger, reason, .. } => {
                format!("{}: {}", finger.name_vi(), reason.message_vi())
            }
        }
    }
}

/// What to do for a finger, asked before it is captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FingerPlan {
    Capture,
    Exception(FingerException),
}

/// One applicant's ten fingers.
#[derive(Debug, Clone, Serialize)]
pub struct TenFingers {
    pub fingers: Vec<FingerOutcome>,
}

struct Attempt {
    image: FingerImage,
    quality: Quality,
    template: Vec<u8>,
}

/// Runs the ten-finger sequence. `plan` is asked before each finger (declare an exception or
/// capture); `events` receives progress. Every finger ends captured or with an exception.
pub fn enroll(
    scanner: &mut Scanner,
    policy: &CapturePolicy,
    plan: &mut dyn FnMut(Finger) -> FingerPlan,
    events: &mut dyn FnMut(&CaptureEvent),
) -> Result<TenFingers, ScannerError> {
    let mut fingers = Vec::with_capacity(10);
    let mut taken: Vec<(Finger, Vec<u8>)> = Vec::new();
    for finger in Finger::ORDER {
        let outcome = match plan(finger) {
            FingerPlan::Exception(exception) => {
                events(&CaptureEvent::Exception {
                    finger,
                    reason: exception.reason,
                    automatic: false,
                });
                FingerOutcome::Exception { finger, exception }
            }
            FingerPlan::Capture => capture_finger(scanner, finger, policy, &taken, events)?,
        };
        if let FingerOutcome::Captured(c) = &outcome {
            taken.push((finger, c.template.bytes.clone()));
        }
        fingers.push(outcome);
    }
    Ok(TenFingers { fingers })
}

/// Captures one finger: up to `policy.attempts` placements, the best kept. `taken` are the
/// templates already captured for this applicant (checked for the same finger twice).
pub fn capture_finger(
    scanner: &mut Scanner,
    finger: Finger,
    policy: &CapturePolicy,
    taken: &[(Finger, Vec<u8>)],
    events: &mut dyn FnMut(&CaptureEvent),
) -> Result<FingerOutcome, ScannerError> {
    let threshold = policy.threshold(finger);
    let mut best: Option<Attempt> = None;
    let mut flags = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut attempt = 0;
    let mut reconnects = 0;
    while attempt < policy.attempts {
        attempt += 1;
        events(&CaptureEvent::Placing {
            finger,
            attempt,
            of: policy.attempts,
        });
        let result = one_attempt(scanner, policy, taken);
        let placed = !matches!(result, Err(ScannerError::NoFinger));
        match result {
            Ok(Outcome::Features(a)) => {
                events(&CaptureEvent::Quality {
                    finger,
                    attempt,
                    score: a.quality.score,
                    threshold,
                });
                let score = a.quality.score;
                let good = score >= threshold;
                if best
                    .as_ref()
                    .is_none_or(|b| a.quality.score > b.quality.score)
                {
                    best = Some(a);
                }
                if good {
                    lift(scanner, finger, policy, events)?;
                    break;
                }
                problems.push("quality below threshold".into());
                retry(
                    events,
                    finger,
                    attempt,
                    policy,
                    RetryReason::LowQuality { score, threshold },
                );
            }
            Ok(Outcome::Duplicate { of, score, quality }) => {
                events(&CaptureEvent::Quality {
                    finger,
                    attempt,
                    score: quality.score,
                    threshold,
                });
                events(&CaptureEvent::Duplicate { finger, of, score });
                flags.push(CaptureFlag::DuplicateRejected { of, score });
                problems.push(format!("same finger as the {}", of.name_en()));
                retry(
                    events,
                    finger,
                    attempt,
                    policy,
                    RetryReason::Duplicate { of },
                );
            }
            Ok(Outcome::NoFeatures(code, quality)) => {
                events(&CaptureEvent::Quality {
                    finger,
                    attempt,
                    score: quality.score,
                    threshold,
                });
                problems.push(code.message_en());
                retry(events, finger, attempt, policy, RetryReason::Module(code));
            }
            Err(ScannerError::NoFinger) => {
                problems.push("no finger placed".into());
                retry(events, finger, attempt, policy, RetryReason::NoFinger);
            }
            Err(
                ScannerError::Disconnected(_) | ScannerError::Timeout(_) | ScannerError::Frame(_),
            ) if reconnects < policy.reconnects => {
                reconnects += 1;
                // A dead line is not the applicant's fault: the attempt does not count.
                attempt -= 1;
                events(&CaptureEvent::Reconnecting { finger });
                scanner.reconnect()?;
                events(&CaptureEvent::Reconnected { finger });
                if !flags.contains(&CaptureFlag::Reconnected) {
                    flags.push(CaptureFlag::Reconnected);
                }
                continue;
            }
            Err(e) => return Err(e),
        }
        if placed {
            lift(scanner, finger, policy, events)?;
        }
    }
    let outcome = match best {
        Some(a) => {
            let force_captured = a.quality.score < threshold;
            if force_captured {
                flags.push(CaptureFlag::ForceCaptured);
            }
            let png = a.image.to_png().map_err(|e| ScannerError::Protocol {
                instruction: super::protocol::Instruction::UpImage,
                detail: format!("PNG encoding failed: {e}"),
            })?;
            events(&CaptureEvent::Captured {
                finger,
                score: a.quality.score,
                force_captured,
            });
            FingerOutcome::Captured(FingerCapture {
                finger,
                image_png: Blob::new(png),
                template: Blob::new(a.template),
                quality: a.quality,
                threshold,
                attempts: attempt,
                force_captured,
                flags,
            })
        }
        None => {
            problems.dedup();
            let exception = FingerException {
                reason: ExceptionReason::Unreadable,
                permanent: false,
                note: format!(
                    "no usable image in {attempt} attempts: {}",
                    problems.join("; ")
                ),
                automatic: true,
            };
            events(&CaptureEvent::Exception {
                finger,
                reason: exception.reason,
                automatic: true,
            });
            FingerOutcome::Exception { finger, exception }
        }
    };
    Ok(outcome)
}

enum Outcome {
    Features(Attempt),
    NoFeatures(ConfirmationCode, Quality),
    Duplicate {
        of: Finger,
        score: u16,
        quality: Quality,
    },
}

fn one_attempt(
    scanner: &mut Scanner,
    policy: &CapturePolicy,
    taken: &[(Finger, Vec<u8>)],
) -> Result<Outcome, ScannerError> {
    scanner.wait_finger(policy.placement_deadline)?;
    let image = scanner.up_image()?;
    let quality = assess(&image);
    match scanner.img2tz(1) {
        Ok(()) => {}
        Err(ScannerError::Module { code, .. })
            if matches!(
                code,
                ConfirmationCode::ImageTooMessy
                    | ConfirmationCode::TooFewFeatures
                    | ConfirmationCode::NoValidImage
            ) =>
        {
            return Ok(Outcome::NoFeatures(code, quality));
        }
        Err(e) => return Err(e),
    }
    let template = scanner.up_char(1)?;
    for (of, earlier) in taken {
        scanner.down_char(2, earlier)?;
        let (matched, score) = scanner.match_buffers()?;
        if matched {
            return Ok(Outcome::Duplicate {
                of: *of,
                score,
                quality,
            });
        }
    }
    Ok(Outcome::Features(Attempt {
        image,
        quality,
        template,
    }))
}

fn retry(
    events: &mut dyn FnMut(&CaptureEvent),
    finger: Finger,
    attempt: u32,
    policy: &CapturePolicy,
    reason: RetryReason,
) {
    if attempt < policy.attempts {
        events(&CaptureEvent::Retry {
            finger,
            attempt,
            reason,
        });
    }
}

fn lift(
    scanner: &mut Scanner,
    finger: Finger,
    policy: &CapturePolicy,
    events: &mut dyn FnMut(&CaptureEvent),
) -> Result<(), ScannerError> {
    events(&CaptureEvent::LiftFinger { finger });
    scanner.wait_lift(policy.lift_deadline)
}
