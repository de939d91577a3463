//! `kiosk tour --out DIR`: a complete visit through the real UI on Slint's software renderer,
//! with the simulated camera and the R307 simulator on a pseudo-terminal, synced to the real
//! `enroll-hq` binary started on loopback. It writes a PNG of each screen and `tour.md` (each
//! step, what was seen, how long it took). `scripts/run.sh` runs it on a machine with no
//! display. The kiosk never links HQ's server: HQ is a child process found beside `kiosk`.

mod drive;
mod hq;
mod report;
mod visit;

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::Utc;

pub use report::{Report, Step};

/// The tour's accounts: (sign-in name, display name, PIN). Shown in the report, so they are
/// demo accounts in the tour's own throw-away data directory.
pub const OPERATOR: (&str, &str, &str) = ("mai", "Trần Thị Mai", "2468101357");
pub const SUPERVISOR: (&str, &str, &str) = ("lan", "Lê Thị Lan", "1357902468");

/// Marks a data directory as the tour's own, so a later tour may replace it.
const MARKER: &str = ".kiosk-tour";

#[derive(Debug, thiserror::Error)]
pub enum TourError {
    #[error("không tìm thấy \"{label}\" trên trang {page} / no element labelled \"{label}\" on page {page}")]
    NoElement { label: String, page: String },
    #[error("\"{0}\" đang bị khoá / \"{0}\" is disabled")]
    Disabled(String),
    #[error("quá thời gian chờ: {0} / timed out waiting for {0}")]
    Timeout(String),
    #[error("{0}")]
    Step(String),
    #[error("giao diện / UI: {0}")]
    Ui(String),
    #[error("trung tâm (enroll-hq) / HQ (enroll-hq): {0}")]
    Hq(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub(crate) fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> TourError + '_ {
    move |source| TourError::Io {
        path: path.to_owned(),
        source,
    }
}

pub struct TourOptions {
    /// Where the PNGs, `tour.md` and the tour's data go.
    pub out: PathBuf,
    /// The `enroll-hq` binary (default: beside this executable).
    pub hq_bin: Option<PathBuf>,
}

/// Runs the whole tour; HQ is stopped whatever happens.
pub fn run(opts: &TourOptions) -> Result<Report, TourError> {
    let started = Instant::now();
    std::fs::create_dir_all(&opts.out).map_err(io_at(&opts.out))?;
    let data = fresh_dir(&opts.out.join("tour-data"))?;
    let kiosk_dir = data.join("kiosk");
    let hq_dir = data.join("hq");
    let hq_bin = hq::find_binary(opts.hq_bin.as_deref())?;
    seed_accounts(&kiosk_dir)?;
    let port = hq::free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    hq::provision(&hq_bin, &hq_dir, &kiosk_dir, &url)?;
    let server = hq::Server::start(&hq_bin, &hq_dir, port, &data.join("enroll-hq.log"))?;
    let visit = visit::run(&kiosk_dir, &opts.out);
    server.stop();
    let mut report = visit?;
    report.hq_url = url;
    let rows = hq::records(&hq_bin, &hq_dir)?;
    report.hq_status = rows
        .iter()
        .find(|r| r.enrollment_no == report.receipt)
        .map(|r| r.hq_status.clone().unwrap_or_else(|| r.status.clone()));
    report.total_ms = started.elapsed().as_millis();
    report.finished = Utc::now();
    report.write(&opts.out.join("tour.md"))?;
    Ok(report)
}

/// `dir`, empty. An existing directory is replaced only if an earlier tour made it.
fn fresh_dir(dir: &Path) -> Result<PathBuf, TourError> {
    if dir.exists() {
        if !dir.join(MARKER).exists() {
            return Err(TourError::Step(format!(
                "{} đã có và không phải của chuyến tham quan: chọn thư mục --out khác / \
                 exists and was not made by a tour: choose another --out",
                dir.display()
            )));
        }
        std::fs::remove_dir_all(dir).map_err(io_at(dir))?;
    }
    std::fs::create_dir_all(dir).map_err(io_at(dir))?;
    std::fs::write(dir.join(MARKER), b"kiosk tour data\n").map_err(io_at(dir))?;
    Ok(dir.to_owned())
}

/// The tour's supervisor and operator, created as `kiosk accounts` would.
fn seed_accounts(dir: &Path) -> Result<(), TourError> {
    use crate::accounts::Role;
    let fail = |e: String| TourError::Step(format!("tài khoản / accounts: {e}"));
    let mut store = crate::store::Store::open(dir).map_err(|e| fail(e.to_string()))?;
    let now = Utc::now();
    let sup = store
        .init_supervisor(SUPERVISOR.0, SUPERVISOR.1, SUPERVISOR.2, now)
        .map_err(|e| fail(e.to_string()))?;
    store
        .add_account(
            &sup,
            OPERATOR.0,
            OPERATOR.1,
            Role::Operator,
            OPERATOR.2,
            now,
        )
        .map_err(|e| fail(e.to_string()))?;
    Ok(())
}
