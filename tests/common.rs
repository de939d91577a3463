//! Helpers for tests that run the real `kiosk` binary.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

pub fn kiosk(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiosk"))
        .args(args)
        .env("KIOSK_DATA_DIR", data_dir)
        .env_remove("KIOSK_OPERATOR")
        .output()
        .expect("run kiosk")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
