//! The enrollment kiosk: local store, record submission, demo data, the command line and the UI.

pub mod cli;
pub mod demo;
pub mod enroll;
pub mod store;
