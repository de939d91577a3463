//! Helpers for HQ tests that drive real kiosks: the real `kiosk` binary (another package of
//! the workspace, built on first use) and HQ's library on real SQLite and loopback TCP.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Another package's binary of this workspace, built in this test's target and profile
/// (Cargo builds only the tested package's binaries for its tests; a no-op when fresh).
pub fn workspace_bin(package: &str, bin: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    // <target>/<profile>/deps/<test>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir")
        .to_owned();
    let target = profile_dir.parent().expect("target dir").to_owned();
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--quiet"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.args(["--release", "-p", package, "--bin", bin]);
    } else {
        // The same selection as the test command's own build step (`--workspace --bins`), so
        // features resolve alike and this is a no-op; `-p` alone resolved them differently and
        // rebuilt Slint and Tokio in every fresh checkout.
        cmd.args(["--workspace", "--bins"]);
    }
    let status = cmd.status().expect("run cargo build");
    assert!(status.success(), "building {bin} failed");
    profile_dir.join(bin)
}

pub fn kiosk_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("kiosk", "kiosk"))
}

pub fn kiosk(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(kiosk_bin())
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
