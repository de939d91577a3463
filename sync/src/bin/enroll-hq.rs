//! `enroll-hq`: the headquarters server and its administration commands.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use enroll_sync::hq::{self, Hq, HqError};
use enroll_sync::provision::{fingerprint, EnrolmentRequest};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "enroll-hq",
    version,
    about = "Trụ sở (HQ) / enrollment headquarters"
)]
struct Cli {
    /// HQ's data directory (database and keys).
    #[arg(
        long,
        env = "ENROLL_HQ_DATA_DIR",
        global = true,
        default_value = "hq-data"
    )]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve kiosk sync sessions over HTTP.
    Serve {
        #[arg(long, default_value = "127.0.0.1:7070")]
        listen: String,
    },
    /// Enrol or revoke one kiosk.
    #[command(subcommand)]
    Kiosk(KioskCmd),
    /// List enrolled kiosks.
    #[command(subcommand)]
    Kiosks(KiosksCmd),
    /// List records, set a record's HQ status.
    #[command(subcommand)]
    Records(RecordsCmd),
    /// Import USB bundles (any number, any order); writes a signed receipt beside each.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Where receipts go (default: beside each bundle, `<bundle>.receipt`).
        #[arg(long)]
        receipt_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KioskCmd {
    /// Allow a kiosk's device key and write its provisioning file.
    Add {
        #[arg(long)]
        name: String,
        /// The kiosk's public key (hex), as `kiosk provision --request` printed it.
        #[arg(long, required_unless_present = "request", conflicts_with = "request")]
        key: Option<String>,
        /// The enrolment request file `kiosk provision --request FILE` wrote.
        #[arg(long)]
        request: Option<PathBuf>,
        /// Kiosk id/code (default: the next `K00001`-style id).
        #[arg(long)]
        code: Option<String>,
        /// The address kiosks sync to.
        #[arg(long, default_value = "http://127.0.0.1:7070")]
        hq_url: String,
        /// Provisioning file to write (default: `<id>.provision.json`).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Refuse everything from this kiosk from now on.
    Revoke { id: String },
}

#[derive(Subcommand)]
enum KiosksCmd {
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum RecordsCmd {
    List {
        #[arg(long)]
        json: bool,
    },
    /// received, duplicate, recapture_needed, card_printed, rejected
    SetStatus {
        id: String,
        status: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long, default_value = "hq-admin")]
        by: String,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lỗi / error: {e:#}");
            ExitCode::from(3)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut hq = Hq::open(&cli.data_dir)
        .with_context(|| format!("opening HQ data in {}", cli.data_dir.display()))?;
    match cli.command {
        Command::Serve { listen } => {
            let listener = std::net::TcpListener::bind(&listen)
                .with_context(|| format!("listening on {listen}"))?;
            eprintln!("enroll-hq listening on http://{}", listener.local_addr()?);
            hq::server::serve(listener, hq)?;
        }
        Command::Kiosk(KioskCmd::Add {
            name,
            key,
            request,
            code,
            hq_url,
            out,
        }) => {
            let key = match (key, request) {
                (Some(k), _) => k,
                (None, Some(path)) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    let req: EnrolmentRequest = serde_json::from_str(&text).with_context(|| {
                        format!("{} is not an enrolment request", path.display())
                    })?;
                    req.kiosk_public
                }
                (None, None) => bail!("give --key HEX or --request FILE"),
            };
            let entry = hq.add_kiosk(&name, &key, code.as_deref())?;
            let file = hq.provisioning(&entry, &hq_url);
            let out = out.unwrap_or_else(|| PathBuf::from(format!("{}.provision.json", entry.id)));
            std::fs::write(&out, serde_json::to_string_pretty(&file)?)
                .with_context(|| format!("writing {}", out.display()))?;
            println!(
                "đã đăng ký ki-ốt / kiosk enrolled: {} ({}) key {}\nprovisioning file: {}",
                entry.id,
                entry.name,
                fingerprint(&entry.public_key),
                out.display()
            );
        }
        Command::Kiosk(KioskCmd::Revoke { id }) => {
            hq.revoke_kiosk(&id)?;
            println!("đã thu hồi / revoked {id}");
        }
        Command::Kiosks(KiosksCmd::List { json }) => {
            let kiosks = hq.storage_kiosks()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&kiosks)?);
            } else {
                for k in &kiosks {
                    println!(
                        "{:<10} {:<24} {} {}",
                        k.id,
                        k.name,
                        fingerprint(&k.public_key),
                        k.revoked_at
                            .as_deref()
                            .map_or("active".to_owned(), |t| format!("REVOKED {t}"))
                    );
                }
            }
        }
        Command::Records(RecordsCmd::List { json }) => {
            let rows = hq.storage_records()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in &rows {
                    println!(
                        "{} {:<8} {:<22} {:<30} {:<12} {}",
                        r.id,
                        r.kiosk_id,
                        r.enrollment_no,
                        r.full_name,
                        r.id_number.as_deref().unwrap_or("-"),
                        r.hq_status.as_deref().unwrap_or("-")
                    );
                }
                println!("{} hồ sơ / records", rows.len());
            }
        }
        Command::Records(RecordsCmd::SetStatus {
            id,
            status,
            reason,
            by,
        }) => {
            let Some(state) = hq::parse_hq_state(&status) else {
                eprintln!(
                    "lỗi / error: trạng thái không hợp lệ / unknown status `{status}` \
                     (received, duplicate, recapture_needed, card_printed, rejected)"
                );
                return Ok(ExitCode::from(2));
            };
            let id =
                uuid::Uuid::parse_str(&id).with_context(|| format!("`{id}` is not a record id"))?;
            hq.set_status(&id, state, reason, &by)?;
            println!("đã đặt / set {id} → {status}");
        }
        Command::Import { files, receipt_dir } => {
            return import(&mut hq, &files, receipt_dir.as_deref())
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn import(
    hq: &mut Hq<hq::sqlite::SqliteStorage>,
    files: &[PathBuf],
    receipt_dir: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let mut failed = 0;
    for file in files {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        match hq.import_bundle(&bytes) {
            Ok((sealed, receipt)) => {
                let name = format!(
                    "{}.receipt",
                    file.file_name()
                        .map_or("bundle".into(), |n| n.to_string_lossy())
                );
                let out = match receipt_dir {
                    Some(d) => d.join(name),
                    None => file.with_file_name(name),
                };
                std::fs::write(&out, sealed)
                    .with_context(|| format!("writing {}", out.display()))?;
                println!(
                    "{}: ki-ốt / kiosk {}: {} hồ sơ đã nhận / records acknowledged, {} bị từ chối / refused; receipt {}",
                    file.display(),
                    receipt.kiosk_id,
                    receipt.acks.len(),
                    receipt.rejections.len(),
                    out.display()
                );
                for r in &receipt.rejections {
                    println!(
                        "  {} [{}] {} / {}",
                        r.record, r.code, r.message_vi, r.message_en
                    );
                }
            }
            Err(HqError::Refused(r)) => {
                failed += 1;
                eprintln!(
                    "{}: từ chối cả tệp / whole file refused: {r}",
                    file.display()
                );
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
