//! The R30x fingerprint scanner: codec, driver, simulator, quality and capture policy.
//!
//! - [`codec`]: frames, checksums and a resynchronising reader;
//! - [`protocol`]: instructions, confirmation codes (with Vietnamese and English messages),
//!   parameter blocks;
//! - [`driver`]: [`driver::Scanner`] over `serialport` (baud probe, handshake, deadlines,
//!   cancel, reconnect);
//! - [`sim`]: an R307 on a pseudo-terminal, with synthetic fingers and scripted faults;
//! - [`quality`]: the host-side quality score;
//! - [`capture`]: the ten-finger capture policy.

pub mod capture;
pub mod codec;
pub mod driver;
pub mod error;
pub mod features;
pub mod image;
pub mod protocol;
pub mod quality;
pub mod sim;
pub mod synth;
pub mod template;

pub use capture::{
    enroll, CaptureEvent, CapturePolicy, ExceptionReason, Finger, FingerException, FingerOutcome,
    FingerPlan, TenFingers,
};
pub use driver::{CancelToken, Scanner, ScannerConfig};
pub use error::ScannerError;
