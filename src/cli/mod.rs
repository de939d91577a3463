//! Command-line entry: parse, run, map failures to exit codes (1 rejected by the rules,
//! 2 malformed input or usage, 3 could not complete).

mod accounts;
mod audit;
mod camera;
mod doctor;
mod input;
mod photo;
mod purge;
mod qr;
mod records;
mod review;
mod scanner;
mod sim;
mod sync;
mod tour;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "kiosk",
    version,
    about = "Ki-ốt đăng ký căn cước lưu động / Offline field enrollment kiosk"
)]
pub struct Cli {
    /// Where the kiosk keeps its database (default: the XDG data dir).
    #[arg(long, env = "KIOSK_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Start with seeded demo data (no subcommand: the kiosk UI).
    #[arg(long)]
    demo: bool,
    /// Fingerprint scanner's serial device for the kiosk screen (demo mode without it: the
    /// simulated scanner).
    #[arg(long, env = "KIOSK_SCANNER", value_name = "DEVICE")]
    scanner: Option<PathBuf>,
    /// Camera for the kiosk screen: `auto`, a V4L2 index, or `sim` (see `kiosk camera`).
    #[arg(
        long,
        env = "KIOSK_CAMERA",
        value_name = "CAMERA",
        default_value = "auto"
    )]
    camera: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Add, list, show records; print the record's JSON Schema.
    #[command(subcommand)]
    Records(records::RecordsCmd),
    /// Validate records from a JSON file without saving; findings as JSON.
    Check {
        #[arg(long = "json", value_name = "FILE")]
        file: PathBuf,
    },
    /// Generate realistic demo applicants.
    DemoData(records::DemoArgs),
    /// Operator and supervisor accounts, PINs, kiosk settings.
    #[command(subcommand)]
    Accounts(accounts::AccountsCmd),
    /// Supervisor review: list, approve, return records.
    #[command(subcommand)]
    Review(review::ReviewCmd),
    /// The tamper-evident audit log: verify, show, checkpoint.
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// Remove biometrics HQ has receipted (after the configured delay).
    Purge(purge::PurgeArgs),
    /// Check the kiosk: database, space, sync, devices, clock, audit log.
    Doctor(doctor::DoctorArgs),
    /// List cameras; take a picture.
    #[command(subcommand)]
    Camera(camera::CameraCmd),
    /// Check a picture as a card photo; prepare the card photo JPEG.
    #[command(subcommand)]
    Photo(photo::PhotoCmd),
    /// Read the QR code of an identity card (CCCD) in a picture.
    #[command(subcommand)]
    Qr(qr::QrCmd),
    /// Fingerprint scanner: parameters, one capture, the ten-finger sequence.
    #[command(subcommand)]
    Scanner(scanner::ScannerCmd),
    /// Device simulators (a fingerprint scanner on a pseudo-terminal).
    #[command(subcommand)]
    Sim(sim::SimCmd),
    /// Import HQ's provisioning file, or write this kiosk's enrolment request.
    Provision(sync::ProvisionArgs),
    /// Sync with HQ over the network (`kiosk sync status` shows what waits).
    Sync(sync::SyncArgs),
    /// Write one sealed, signed USB bundle of everything HQ has not acknowledged.
    Export(sync::ExportArgs),
    /// Import HQ's signed receipt for a USB bundle (a signed-in supervisor).
    ImportReceipt(sync::ImportReceiptArgs),
    /// A whole visit through the real UI with simulated devices and a loopback HQ: a PNG of
    /// each screen and a report (no display needed).
    Tour(tour::TourArgs),
}

/// How a command failed, and so which exit code it gives.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Malformed input or usage: nothing was written.
    #[error("{0}")]
    Input(String),
    /// The rules rejected the input: nothing was written.
    #[error("{0}")]
    Rejected(String),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl From<crate::store::StoreError> for CliError {
    fn from(e: crate::store::StoreError) -> Self {
        CliError::Failed(e.into())
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Rejected(msg)) => {
            eprintln!("{msg}");
            ExitCode::from(1)
        }
        Err(CliError::Input(msg)) => {
            eprintln!("lỗi / error: {msg}");
            ExitCode::from(2)
        }
        Err(CliError::Failed(e)) => {
            eprintln!("lỗi / error: {e:#}");
            ExitCode::from(3)
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    let data_dir = cli.data_dir.unwrap_or_else(default_data_dir);
    match cli.command {
        None => {
            let opts = crate::ui::Options {
                data_dir,
                demo: cli.demo,
                scanner: match (cli.scanner, cli.demo) {
                    (Some(path), _) => Some(crate::ui::scanner::ScannerSource::Device(path, None)),
                    (None, true) => Some(crate::ui::scanner::ScannerSource::Simulated),
                    (None, false) => None,
                },
                camera: Some(cli.camera.parse().map_err(
                    |e: enroll_hardware::camera::CameraError| {
                        CliError::Input(format!(
                            "--camera: {} / {}",
                            e.message_vi(),
                            e.message_en()
                        ))
                    },
                )?),
            };
            crate::ui::run(opts).map_err(|e| {
                CliError::Failed(anyhow::anyhow!(
                    "không mở được màn hình / cannot open the display: {e}. \
                     Set SLINT_BACKEND=winit on a desktop or linuxkms-software on the kiosk."
                ))
            })
        }
        Some(Command::Records(cmd)) => records::run(cmd, &data_dir),
        Some(Command::Check { file }) => records::check(&file),
        Some(Command::DemoData(args)) => records::demo(args, &data_dir),
        Some(Command::Accounts(cmd)) => accounts::run(cmd, &data_dir),
        Some(Command::Review(cmd)) => review::run(cmd, &data_dir),
        Some(Command::Audit(cmd)) => audit::run(cmd, &data_dir),
        Some(Command::Purge(args)) => purge::run(args, &data_dir),
        Some(Command::Doctor(args)) => doctor::run(args, &data_dir),
        Some(Command::Camera(cmd)) => camera::run(cmd),
        Some(Command::Photo(cmd)) => photo::run(cmd),
        Some(Command::Qr(cmd)) => qr::run(cmd),
        Some(Command::Scanner(cmd)) => scanner::run(cmd),
        Some(Command::Sim(cmd)) => sim::run(cmd),
        Some(Command::Provision(args)) => sync::provision(args, &data_dir),
        Some(Command::Sync(args)) => sync::run(args, &data_dir),
        Some(Command::Export(args)) => sync::export(args, &data_dir),
        Some(Command::ImportReceipt(args)) => sync::import_receipt(args, &data_dir),
        Some(Command::Tour(args)) => tour::run(args),
    }
}

/// `$XDG_DATA_HOME/enroll-kiosk`, else `~/.local/share/enroll-kiosk`.
fn default_data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("enroll-kiosk")
}
