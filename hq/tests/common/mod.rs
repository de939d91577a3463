//! Helpers for HQ tests that drive real kiosks: the real `kiosk` binary (another package of
//! the workspace, built on first use) and HQ's library on real SQLite and loopback TCP.
#![allow(dead_code)]

use kiosk::store::Store;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

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

/// Forwards connections to `to`, cutting each once `cuts` bytes (read at its start) have gone
/// either way.
pub fn proxy(listener: TcpListener, to: String, cuts: Arc<AtomicI64>) {
    for client in listener.incoming() {
        let Ok(client) = client else { continue };
        let Ok(server) = TcpStream::connect(&to) else {
            continue;
        };
        let budget = Arc::new(AtomicI64::new(cuts.load(Ordering::SeqCst)));
        for (mut from, mut into) in [
            (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            ),
            (server, client),
        ] {
            let budget = budget.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    let n = match from.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let left = budget.fetch_sub(n as i64, Ordering::SeqCst);
                    if left < n as i64 {
                        let _ = into.write_all(&buf[..left.max(0) as usize]);
                        break;
                    }
                    if into.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = from.shutdown(std::net::Shutdown::Both);
                let _ = into.shutdown(std::net::Shutdown::Both);
            });
        }
    }
}

/// Points the photo at `photo` and every other blob reference at a small real blob.
pub fn replace_hashes(v: &mut serde_json::Value, store: &Store, photo: &str) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "sha256" {
                    *x = photo.into();
                } else if k.ends_with("_sha256") && x.is_string() {
                    let bytes = format!("{k}-{x}").into_bytes();
                    *x = store
                        .put_blob(&bytes, "application/octet-stream")
                        .expect("blob")
                        .into();
                } else {
                    replace_hashes(x, store, photo);
                }
            }
        }
        serde_json::Value::Array(items) => items
            .iter_mut()
            .for_each(|x| replace_hashes(x, store, photo)),
        _ => {}
    }
}

/// A running `enroll-hq serve`, killed when dropped; its log goes to the test's output.
pub struct Serve {
    pub child: Child,
    /// The address it said it listens on (`http://…` or `https://…`).
    pub url: String,
}

impl Serve {
    /// Spawns `cmd` (an `enroll-hq … serve` command) and waits for its "listening" line.
    pub fn spawn(cmd: &mut Command) -> Serve {
        let mut child = cmd.stderr(Stdio::piped()).spawn().expect("serve");
        let mut err = BufReader::new(child.stderr.take().expect("stderr"));
        let mut line = String::new();
        err.read_line(&mut line).expect("line");
        assert!(line.contains("listening"), "enroll-hq serve: {line}");
        // Keep draining the log so HQ never blocks on a full pipe.
        std::thread::spawn(move || {
            for l in err.lines().map_while(Result::ok) {
                eprintln!("enroll-hq: {l}");
            }
        });
        let url = line.trim().rsplit(' ').next().expect("url").to_owned();
        Serve { child, url }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
