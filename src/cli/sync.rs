//! `kiosk provision`, `kiosk sync [status]`, `kiosk export`, `kiosk import-receipt`.

use anyhow::Context;
use chrono::Utc;
use clap::{Args, Subcommand};
use enroll_sync::provision::fingerprint;
use enroll_sync::record::Attribution;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::CliError;
use crate::store::Store;
use crate::sync::{self, Progress, Provisioned, SyncError};

#[derive(Args)]
pub struct ProvisionArgs {
    /// The provisioning file HQ wrote (`enroll-hq kiosk add`).
    #[arg(required_unless_present = "request", conflicts_with = "request")]
    file: Option<PathBuf>,
    /// Write this kiosk's enrolment request (its device key) for HQ, and print the key.
    #[arg(long, value_name = "OUT")]
    request: Option<PathBuf>,
    /// Sign in as this supervisor (PIN from KIOSK_PIN or the terminal): needed to move an
    /// already provisioned kiosk to another HQ.
    #[arg(long)]
    supervisor: Option<String>,
}

#[derive(Args)]
pub struct ImportReceiptArgs {
    /// HQ's receipt file for a bundle this kiosk exported.
    file: PathBuf,
    /// The supervisor taking the receipt in (PIN from KIOSK_PIN or the terminal).
    #[arg(long)]
    supervisor: String,
}

#[derive(Args)]
pub struct SyncArgs {
    #[command(subcommand)]
    command: Option<SyncCmd>,
    /// HQ address (default: the provisioned one).
    #[arg(long)]
    hq: Option<String>,
    /// Sign in as this supervisor (PIN from KIOSK_PIN or the terminal): biometric blobs are
    /// sealed at rest and can only be read for sending by a signed-in person.
    #[arg(long, global = true)]
    supervisor: Option<String>,
}

#[derive(Args)]
pub struct ExportArgs {
    #[arg(long)]
    out: PathBuf,
    /// Sign in as this supervisor so biometric blobs can be read (PIN from KIOSK_PIN).
    #[arg(long)]
    supervisor: Option<String>,
}

#[derive(Subcommand)]
enum SyncCmd {
    /// What waits for HQ, and the provisioned HQ.
    Status,
}

fn by(store: &Store) -> Attribution {
    Attribution {
        person: "sync".into(),
        device: store.kiosk().code.clone(),
        at: Utc::now(),
    }
}

fn failed(e: SyncError) -> CliError {
    match e {
        SyncError::NotProvisioned
        | SyncError::WrongDevice(_)
        | SyncError::BadProvisioning(_)
        | SyncError::Unsigned(_)
        | SyncError::NotSealedToThisKiosk
        | SyncError::WrongKiosk { .. }
        | SyncError::Reply(_)
        | SyncError::Seal(_) => CliError::Input(e.to_string()),
        SyncError::Refused { .. }
        | SyncError::HqChangeNeedsSupervisor { .. }
        | SyncError::NotOurRequest
        | SyncError::ForeignReceipt
        | SyncError::ReceiptAlreadyImported(_)
        | SyncError::StaleReceipt { .. } => CliError::Rejected(e.to_string()),
        other => CliError::Failed(other.into()),
    }
}

pub fn provision(args: ProvisionArgs, data_dir: &Path) -> Result<(), CliError> {
    let mut store = Store::open(data_dir)?;
    let key = sync::device_key(data_dir).map_err(failed)?;
    if let Some(out) = args.request {
        let req = sync::enrolment_request(&store, &key);
        let text = serde_json::to_string_pretty(&req).context("encoding JSON")?;
        std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
        println!("{}", req.kiosk_public);
        eprintln!(
            "khóa thiết bị / device key {} (dấu / fingerprint {}) → {}",
            req.kiosk_public,
            fingerprint(&req.kiosk_public),
            out.display()
        );
        return Ok(());
    }
    let file = args.file.unwrap_or_default();
    let text = std::fs::read_to_string(&file).map_err(|e| {
        CliError::Input(format!(
            "không đọc được / cannot read {}: {e}",
            file.display()
        ))
    })?;
    let session = match &args.supervisor {
        Some(name) => Some(super::accounts::supervisor(&mut store, name)?),
        None => None,
    };
    let by = by(&store);
    let p = sync::provision(&mut store, &key, &text, &by, session.as_ref()).map_err(failed)?;
    println!(
        "đã cấp cấu hình / provisioned: ki-ốt / kiosk {} → HQ {}\n\
         dấu khóa HQ / HQ key fingerprint: {}\n\
         So với dấu khóa HQ đọc cho bạn; nếu khác, báo giám sát viên ngay. / \
         Compare it with the fingerprint HQ read to you; if it differs, tell your supervisor at once.",
        p.kiosk_id,
        p.hq_url,
        p.hq_fingerprint()
    );
    Ok(())
}

fn human_bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MB", n as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KB", n as f64 / 1024.0)
    }
}

pub fn run(args: SyncArgs, data_dir: &Path) -> Result<(), CliError> {
    let mut store = Store::open(data_dir)?;
    if let Some(SyncCmd::Status) = args.command {
        let (acked, waiting) = store.sync_counts()?;
        match Provisioned::load(&store) {
            Ok(p) => println!("HQ: {} (ki-ốt / kiosk {})", p.hq_url, p.kiosk_id),
            Err(_) => println!("HQ: chưa cấp cấu hình / not provisioned"),
        }
        println!("đã được HQ xác nhận / acknowledged by HQ: {acked}");
        println!("chờ gửi / waiting to sync: {waiting}");
        println!(
            "con trỏ HQ / HQ cursor: {}",
            sync::cursor(&store).map_err(failed)?
        );
        return Ok(());
    }
    let prov = Provisioned::load(&store).map_err(failed)?;
    let key = sync::device_key(data_dir).map_err(failed)?;
    if let Some(name) = &args.supervisor {
        super::accounts::supervisor(&mut store, name)?;
    }
    let url = args.hq.unwrap_or_else(|| prov.hq_url.clone());
    let started = Instant::now();
    let mut progress = |p: Progress| {
        let secs = started.elapsed().as_secs_f64().max(0.001);
        let rate = p.bytes_done as f64 / secs;
        let left = (p.bytes_total.saturating_sub(p.bytes_done)) as f64 / rate.max(1.0);
        eprint!(
            "\r{}/{} hồ sơ/records, {}, {}/s, còn/left ~{:.0}s   ",
            p.records_done,
            p.records_total,
            human_bytes(p.bytes_done),
            human_bytes(rate as u64),
            left
        );
        let _ = std::io::stderr().flush();
    };
    let report = sync::sync(&mut store, &key, &prov, &url, &mut progress).map_err(failed)?;
    eprintln!();
    println!(
        "đồng bộ xong / sync done: {} hồ sơ gửi / records sent, {} được xác nhận / acknowledged, {} từ HQ / changed by HQ, {} bị từ chối / refused; {} lượt / round trips, gửi/sent {}, nhận/received {}, {:.1}s",
        report.records_sent,
        report.acknowledged,
        report.merged_from_hq,
        report.rejected.len(),
        report.round_trips,
        human_bytes(report.traffic.sent),
        human_bytes(report.traffic.received),
        started.elapsed().as_secs_f64()
    );
    for r in &report.rejected {
        println!("  {r}");
    }
    Ok(())
}

pub fn export(args: ExportArgs, data_dir: &Path) -> Result<(), CliError> {
    let out = args.out.as_path();
    let mut store = Store::open(data_dir)?;
    if let Some(name) = &args.supervisor {
        super::accounts::supervisor(&mut store, name)?;
    }
    let prov = Provisioned::load(&store).map_err(failed)?;
    let key = sync::device_key(data_dir).map_err(failed)?;
    let (records, bytes) = sync::export(&store, &key, &prov, out).map_err(failed)?;
    store.audit(
        &by(&store),
        "sync.export",
        Some(&out.display().to_string()),
        Some(&records.to_string()),
    )?;
    println!(
        "đã xuất / exported {records} hồ sơ / records, {} → {}",
        human_bytes(bytes),
        out.display()
    );
    Ok(())
}

pub fn import_receipt(args: ImportReceiptArgs, data_dir: &Path) -> Result<(), CliError> {
    let mut store = Store::open(data_dir)?;
    let prov = Provisioned::load(&store).map_err(failed)?;
    let key = sync::device_key(data_dir).map_err(failed)?;
    let session = super::accounts::supervisor(&mut store, &args.supervisor)?;
    let (receipt, acked, merged) =
        sync::import_receipt(&mut store, &key, &prov, &session, &args.file).map_err(failed)?;
    println!(
        "biên nhận / receipt {}: {acked} hồ sơ được xác nhận / records acknowledged, {merged} thay đổi từ HQ / changed by HQ, {} bị từ chối / refused",
        receipt.id,
        receipt.rejections.len()
    );
    for r in &receipt.rejections {
        println!(
            "  {} [{}] {} / {}",
            r.record, r.code, r.message_vi, r.message_en
        );
    }
    Ok(())
}
