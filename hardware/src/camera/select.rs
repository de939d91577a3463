//! Choosing a camera: a V4L2 index, the simulator, or the first one found.

use super::sim::{SimCamera, SimConfig, SimSource};
use super::v4l2::V4l2Camera;
use super::{CameraError, CameraSource};
use std::path::PathBuf;
use std::str::FromStr;

/// Which camera to use, as given on the command line or in the settings.
#[derive(Clone, Debug, PartialEq)]
pub enum DeviceSelector {
    /// The first usable V4L2 camera; in demo mode the simulator when there is none.
    Auto,
    /// `/dev/video<N>`.
    Index(u32),
    Sim(SimConfig),
}

impl FromStr for DeviceSelector {
    type Err = CameraError;

    /// `auto`, a number, `sim`, `sim:<script>` (see `camera::sim`), or `sim:dir=<folder>`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.is_empty() || t.eq_ignore_ascii_case("auto") {
            return Ok(DeviceSelector::Auto);
        }
        if let Ok(i) = t.parse::<u32>() {
            return Ok(DeviceSelector::Index(i));
        }
        if let Some(rest) = t.strip_prefix("/dev/video") {
            return rest
                .parse()
                .map(DeviceSelector::Index)
                .map_err(|_| CameraError::BadSelector(s.to_owned()));
        }
        if t == "sim" {
            return Ok(DeviceSelector::Sim(SimConfig::default()));
        }
        if let Some(spec) = t.strip_prefix("sim:") {
            let mut config = SimConfig::default();
            match spec.strip_prefix("dir=") {
                Some(dir) => config.source = SimSource::Folder(PathBuf::from(dir)),
                None => config.script = spec.parse()?,
            }
            return Ok(DeviceSelector::Sim(config));
        }
        Err(CameraError::BadSelector(s.to_owned()))
    }
}

/// Resolves a selector to a camera. With `Auto`, no camera found is `NoCamera` unless
/// `demo` is set, in which case the simulator stands in.
pub fn open_source(
    selector: &DeviceSelector,
    demo: bool,
) -> Result<Box<dyn CameraSource>, CameraError> {
    match selector {
        DeviceSelector::Index(i) => Ok(Box::new(V4l2Camera::new(*i)?)),
        DeviceSelector::Sim(config) => Ok(Box::new(SimCamera::new(config.clone()))),
        DeviceSelector::Auto => match V4l2Camera::first_available() {
            Ok(cam) => Ok(Box::new(cam)),
            Err(CameraError::NoCamera) if demo => {
                Ok(Box::new(SimCamera::new(SimConfig::default())))
            }
            Err(e) => Err(e),
        },
    }
}
