//! HQ for the tour: the real `enroll-hq` binary as a child process on a loopback port, and the
//! kiosk provisioned through the real commands and files.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{io_at, TourError};

/// `explicit`, else `enroll-hq` beside the running executable.
pub fn find_binary(explicit: Option<&Path>) -> Result<PathBuf, TourError> {
    let path = match explicit {
        Some(p) => p.to_owned(),
        None => std::env::current_exe()
            .map_err(|e| TourError::Hq(e.to_string()))?
            .with_file_name("enroll-hq"),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(TourError::Hq(format!(
            "không thấy {} — hãy build: cargo build --release --bin enroll-hq, hoặc chỉ đường \
             bằng --hq-bin / {} not found — build it (cargo build --release --bin enroll-hq) \
             or give --hq-bin",
            path.display(),
            path.display()
        )))
    }
}

/// A port nobody listens on now (the OS picks it).
pub fn free_port() -> Result<u16, TourError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| TourError::Hq(e.to_string()))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| TourError::Hq(e.to_string()))
}

fn output(cmd: &mut Command, what: &str) -> Result<String, TourError> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| TourError::Hq(format!("{what}: {e}")))?;
    if !out.status.success() {
        return Err(TourError::Hq(format!(
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `kiosk provision --request`, `enroll-hq kiosk add`, `kiosk provision FILE`.
pub fn provision(
    hq_bin: &Path,
    hq_dir: &Path,
    kiosk_dir: &Path,
    url: &str,
) -> Result<(), TourError> {
    let kiosk = std::env::current_exe().map_err(|e| TourError::Hq(e.to_string()))?;
    let request = kiosk_dir.with_extension("request.json");
    let provision = kiosk_dir.with_extension("provision.json");
    output(
        Command::new(&kiosk)
            .arg("--data-dir")
            .arg(kiosk_dir)
            .arg("provision")
            .arg("--request")
            .arg(&request),
        "kiosk provision --request",
    )?;
    output(
        Command::new(hq_bin)
            .arg("--data-dir")
            .arg(hq_dir)
            .args([
                "kiosk",
                "add",
                "--name",
                "Tham quan / Tour",
                "--hq-url",
                url,
            ])
            .arg("--request")
            .arg(&request)
            .arg("--out")
            .arg(&provision),
        "enroll-hq kiosk add",
    )?;
    output(
        Command::new(&kiosk)
            .arg("--data-dir")
            .arg(kiosk_dir)
            .arg("provision")
            .arg(&provision),
        "kiosk provision",
    )?;
    Ok(())
}

/// `enroll-hq serve` on 127.0.0.1:`port`; killed on `stop` or drop.
pub struct Server {
    child: Child,
}

impl Server {
    pub fn start(bin: &Path, dir: &Path, port: u16, log: &Path) -> Result<Server, TourError> {
        let file = std::fs::File::create(log).map_err(io_at(log))?;
        let err = file.try_clone().map_err(io_at(log))?;
        // Output goes to the log, never to our stdio: an orphan holding a pipe hangs callers.
        let child = Command::new(bin)
            .arg("--data-dir")
            .arg(dir)
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| TourError::Hq(format!("enroll-hq serve: {e}")))?;
        let mut server = Server { child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = server.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                return Err(TourError::Hq(format!(
                    "enroll-hq serve không chạy / did not start: {}",
                    text.trim()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    pub fn stop(self) {}
}

impl Drop for Server {
    fn drop(&mut self) {
        // Best effort: the child may already have exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One row of `enroll-hq records list --json`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct HqRow {
    pub enrollment_no: String,
    pub status: String,
    pub hq_status: Option<String>,
}

pub fn records(bin: &Path, dir: &Path) -> Result<Vec<HqRow>, TourError> {
    let text = output(
        Command::new(bin)
            .arg("--data-dir")
            .arg(dir)
            .args(["records", "list", "--json"]),
        "enroll-hq records list",
    )?;
    serde_json::from_str(&text).map_err(|e| TourError::Hq(format!("records list: {e}")))
}
