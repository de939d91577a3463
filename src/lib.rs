//! The enrollment kiosk: local store, record submission, demo data, the command line and the UI.

pub mod accounts;
pub mod cli;
pub mod demo;
pub mod doctor;
pub mod enroll;
pub mod guards;
pub mod purge;
pub mod review;
pub mod store;
pub mod sync;
pub mod tour;
pub mod ui;

/// The kiosk's Ed25519 device key, beside the database in the data directory (mode 0600).
pub const DEVICE_KEY_FILE: &str = "device.key";
