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
pub const SUP_PIN: &str = "135790";
pub const OP_PIN: &str = "246810";

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
