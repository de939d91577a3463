//! USB cameras (V4L2 through nokhwa) and the simulated camera, behind one trait.
//!
//! A [`CameraSource`] is started into a [`FrameStream`]: a capture thread delivers
//! [`CameraEvent`]s (frames, device lost, device reopened) on a channel until the stream is
//! stopped or dropped. The UI never learns which kind of camera it is talking to.

mod decode;
mod error;
mod mode;
pub mod scene;
mod select;
pub mod sim;
mod stream;
pub mod v4l2;

pub use decode::decode_frame;
pub use error::CameraError;
pub use mode::{negotiate, ModeRequirements, Negotiated, PixelFormat, VideoMode};
pub use select::{open_source, DeviceSelector};
pub use stream::{CameraEvent, Frame, FrameStream};

use serde::Serialize;

/// A camera the kiosk can start: a V4L2 device or the simulator.
pub trait CameraSource: Send {
    /// Name and kind, for the operator and the logs.
    fn describe(&self) -> SourceInfo;
    /// Opens the device on its own capture thread and starts delivering frames.
    /// Fails synchronously when the device cannot be opened at all.
    fn start(&self) -> Result<FrameStream, CameraError>;
}

/// What a camera is, for display.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceInfo {
    pub kind: SourceKind,
    pub name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    V4l2,
    Simulated,
}
