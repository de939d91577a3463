//! Device drivers and simulators for the enrollment kiosk: the R30x fingerprint scanner,
//! V4L2 cameras, and the photo pipeline that turns a camera frame into a card photo.

pub mod camera;
pub mod fingerprint;
pub mod photo;
pub mod qr;
