//! `kiosk purge [--dry-run]`: remove biometrics HQ has receipted, after the configured delay.

use chrono::Utc;
use clap::Args;
use enroll_sync::record::Attribution;
use std::path::Path;

use super::CliError;
use crate::store::Store;

#[derive(Args)]
pub struct PurgeArgs {
    /// Only list what would be purged.
    #[arg(long)]
    dry_run: bool,
    #[arg(long)]
    json: bool,
}

pub fn run(args: PurgeArgs, data_dir: &Path) -> Result<(), CliError> {
    let store = Store::open(data_dir)?;
    let now = Utc::now();
    let by = Attribution {
        person: "kiosk".into(),
        device: store.kiosk().code.clone(),
        at: now,
    };
    let report = crate::purge::purge(&store, &by, now, args.dry_run)?;
    if args.json {
        return super::records::print_json(&report);
    }
    let verb = if args.dry_run {
        "sẽ xoá / would purge"
    } else {
        "đã xoá / purged"
    };
    println!(
        "{verb}: {} tệp sinh trắc / biometric blobs ({} bytes) của / of {} hồ sơ / records",
        report.blobs,
        report.bytes,
        report.records.len()
    );
    for id in &report.records {
        println!("  {id}");
    }
    Ok(())
}
