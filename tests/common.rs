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

/// PINs of the accounts made by [`with_accounts`].
pub const SUP_PIN: &str = "1357902468";
pub const OP_PIN: &str = "2468101357";

/// Runs the kiosk with `KIOSK_PIN` (and `KIOSK_NEW_PIN` when given) set, as a script signs in.
pub fn kiosk_pin(data_dir: &Path, pin: &str, new_pin: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiosk"));
    cmd.args(args)
        .env("KIOSK_DATA_DIR", data_dir)
        .env_remove("KIOSK_OPERATOR")
        .env("KIOSK_PIN", pin);
    match new_pin {
        Some(p) => cmd.env("KIOSK_NEW_PIN", p),
        None => cmd.env_remove("KIOSK_NEW_PIN"),
    };
    cmd.output().expect("run kiosk")
}

/// A kiosk with supervisor `sup` and operator `op`, made through the command line.
pub fn with_accounts(data_dir: &Path) {
    let o = kiosk_pin(
        data_dir,
        "",
        Some(SUP_PIN),
        &["accounts", "init-supervisor", "--name", "sup"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = kiosk_pin(
        data_dir,
        SUP_PIN,
        Some(OP_PIN),
        &[
            "accounts",
            "add",
            "--name",
            "op",
            "--role",
            "operator",
            "--supervisor",
            "sup",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Another package's binary of this workspace, built on first use in this test's target and
/// profile (Cargo builds only the tested package's binaries for its tests; a no-op when fresh).
pub fn workspace_bin(package: &str, bin: &str) -> std::path::PathBuf {
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

/// The real `enroll-hq`, built once per test process.
pub fn enroll_hq_bin() -> &'static Path {
    static BIN: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| workspace_bin("enroll-hq", "enroll-hq"))
}

pub fn enroll_hq(hq_dir: &Path, args: &[&str]) -> Output {
    Command::new(enroll_hq_bin())
        .arg("--data-dir")
        .arg(hq_dir)
        .args(args)
        .output()
        .expect("run enroll-hq")
}

/// `enroll-hq serve` on a free loopback port; killed when dropped.
pub struct HqServer {
    child: std::process::Child,
    pub url: String,
}

impl HqServer {
    pub fn start(hq_dir: &Path) -> HqServer {
        use std::io::BufRead;
        let mut child = Command::new(enroll_hq_bin())
            .arg("--data-dir")
            .arg(hq_dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start enroll-hq serve");
        let mut line = String::new();
        std::io::BufReader::new(child.stderr.take().expect("stderr"))
            .read_line(&mut line)
            .expect("enroll-hq says where it listens");
        let url = line.trim().rsplit(' ').next().expect("url").to_owned();
        HqServer { child, url }
    }
}

impl Drop for HqServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Enrols a kiosk at HQ the way a field team does: `kiosk provision --request`, then
/// `enroll-hq kiosk add --request`, then `kiosk provision FILE`.
pub fn provision_at_hq(hq_dir: &Path, data: &Path, name: &str, url: &str) {
    let req = data.with_extension("req.json");
    let out = kiosk(
        data,
        &["provision", "--request", req.to_str().expect("utf8")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let prov = data.with_extension("prov.json");
    let out = enroll_hq(
        hq_dir,
        &[
            "kiosk",
            "add",
            "--name",
            name,
            "--request",
            req.to_str().expect("utf8"),
            "--hq-url",
            url,
            "--out",
            prov.to_str().expect("utf8"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kiosk(data, &["provision", prov.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", stderr(&out));
}
